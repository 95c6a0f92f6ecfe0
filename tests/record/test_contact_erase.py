"""`helpline contact erase`: after an export and an erasure, nothing of the contact is left anywhere (every table,
every Redis key and value, the attachment store: a folder or an S3 bucket), in-flight messages of theirs are
dropped, and another contact's data is untouched."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner, Result

from core.envelope import Channel
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from ingest.email.parse import parse_email
from record.attachment_store import open_attachment_store
from record.engine import engine_for
from record.models import AuditEntry, Base, Contact, Message
from tests.conftest import ROOT
from tests.record.conftest import Backend
from tests.support.s3 import attachments_env
from tests.support.work import drain

PDF = b"%PDF-1.4 the same statement \x00\x01"
ALICE_SAYS = "Zyxwv my card was blocked"  # text no one else writes: found anywhere = not erased


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings.database.url or "")
    yield engine
    engine.dispose()


@pytest.fixture
def settings(settings: Settings, attachment_backend: Backend) -> Settings:
    """Every test here runs on the folder backend and on an S3 bucket (tests/record/conftest.py)."""
    return attachment_backend(settings)


def mail(sender: str, number: int, body: str, *, name: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"{name} <{sender}>", "support@wallet.example", body
    message["Message-ID"] = f"<erase-{number}@mail.example>"
    message.set_content(body)
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"{name}-statement.pdf")
    return bytes(message)


def accept(store: Store, raw: bytes) -> str:
    return store.accept(parse_email(raw), raw).message_id


def cli(settings: Settings, *args: str) -> Result:
    env = {
        "HELPLINE_DATABASE__URL": settings.database.url or "", "HELPLINE_REDIS__URL": settings.redis.url or "",
        **attachments_env(settings),
    }  # fmt: skip
    return CliRunner().invoke(app, ["contact", *args, "--settings", str(ROOT / "settings.toml")], env=env)


def redis_dump(redis: Redis) -> str:
    """Every key and every value in Redis, as one lower-case text."""
    parts: list[str] = []
    readers = {"string": "get", "hash": "hgetall", "set": "smembers"}
    for key in redis.scan_iter(count=1000):
        kind = str(redis.type(key), "ascii")  # type: ignore[arg-type]
        if kind in ("list", "zset"):
            value: object = redis.lrange(key, 0, -1) if kind == "list" else redis.zrange(key, 0, -1)
        else:
            value = getattr(redis, readers[kind])(key) if kind in readers else b""
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts).lower()


def record_dump(engine: Engine) -> str:
    with engine.connect() as connection:
        return "\n".join(
            str(row[0]) for table in Base.metadata.sorted_tables
            for row in connection.execute(text(f"SELECT t::text FROM {table.name} t"))
        ).lower()  # fmt: skip


def test_export_then_erase_leaves_nothing_of_the_contact(
    store: Store, settings: Settings, record: Engine, tmp_path: Path
) -> None:
    alice = accept(store, mail("alice@example.com", 1, ALICE_SAYS, name="Alice"))
    accept(store, mail("alice@example.com", 2, f"{ALICE_SAYS} again", name="Alice"))
    bob = accept(store, mail("bob@example.com", 3, "Bob's top-up failed", name="Bob"))
    drain(settings)
    store.dead_letter(Channel.EMAIL, b"From: alice@example.com\r\n\r\nbroken", "could not parse")
    bob_letter = store.dead_letter(Channel.EMAIL, b"From: bob@example.com\r\n\r\nbroken", "could not parse")
    in_flight = accept(store, mail("alice@example.com", 4, f"{ALICE_SAYS} still", name="Alice"))  # job not run yet
    folder = open_attachment_store(settings)
    assert len(list(folder.refs())) == 2  # alice's (both mails: one file) and bob's
    bob_ref = store.get_message(bob).envelope.attachments[0].ref  # type: ignore[union-attr]

    assert cli(settings, "export", "alice@example.com", "--out", str(tmp_path / "a.json")).exit_code == 0
    dry = cli(settings, "erase", "alice@example.com", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would erase 1 identities, 2 conversations, 2 messages, 2 replies, 1 attachment_files" in dry.output
    assert "alice" in record_dump(record) and len(list(folder.refs())) == 2  # a dry run changes nothing

    result = cli(settings, "erase", "Alice@Example.com", "--as", "dpo@wallet.example")
    assert result.exit_code == 0, result.output
    drain(settings)  # the message accepted before the erasure is dropped by its job, not recorded

    everywhere = {"record": record_dump(record), "redis": redis_dump(store.redis)}
    for where, dump in everywhere.items():
        for trace in ("alice", ALICE_SAYS.lower(), "zyxwv"):
            assert trace not in dump, (where, trace)
    assert list(folder.refs()) == [bob_ref]  # alice's file is gone from the folder or the bucket
    assert store.get_message(in_flight) is None

    # Bob's data is untouched.
    assert "bob@example.com" in everywhere["record"] and "bob's top-up failed" in everywhere["record"]
    assert store.get_message(bob) is not None and store.get_raw(bob) is not None
    assert [letter.id for letter in store.dead_letters()] == [bob_letter]
    # The rows reports count stay, and the erasure is audited: who, when, how many, nothing of what.
    with record.connect() as connection:
        assert connection.scalar(select(Message.state).where(Message.id == alice)) == "routed"
        assert connection.scalar(select(Contact.erased_at).where(Contact.erased_at.is_not(None))) is not None
        audit = connection.execute(select(AuditEntry).where(AuditEntry.action == "contact erase")).one()
    assert audit.actor == "dpo@wallet.example" and audit.detail["messages"] == 2

    again = cli(settings, "erase", "alice@example.com")
    assert again.exit_code == 1 and "no contact is known as email:alice@example.com" in again.output
