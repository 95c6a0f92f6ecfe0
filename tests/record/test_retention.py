"""Retention of the record: attachment files past `attachments_days` and cases resolved more than
`resolved_case_years` ago go, and nothing else does. Times are relative to now, passed in (SQL never calls now())."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from core.records import utcnow
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from ingest.email.parse import parse_email
from record.attachment_store import open_attachment_store
from record.engine import engine_for
from record.models import AttachmentRow, Conversation, Message
from tests.conftest import ROOT
from tests.record.conftest import Backend
from tests.support.work import drain
from workers.retention import run_retention

SHARED = b"%PDF-1.4 alice's statement \x00"
BOBS = b"%PDF-1.4 bob's statement \x00"


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings.database.url or "")
    yield engine
    engine.dispose()


@pytest.fixture
def settings(settings: Settings, attachment_backend: Backend) -> Settings:
    """Every test here runs on the folder backend and on an S3 bucket (tests/record/conftest.py)."""
    return attachment_backend(settings)


def accept(store: Store, sender: str, number: int, body: str, content: bytes) -> str:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@wallet.example", body
    mail["Message-ID"] = f"<keep-{number}@mail.example>"
    mail.set_content(body)
    mail.add_attachment(content, maintype="application", subtype="pdf", filename="statement.pdf")
    return store.accept(parse_email(bytes(mail)), bytes(mail)).message_id


def test_retention_removes_what_is_due_and_nothing_else(store: Store, settings: Settings, record: Engine) -> None:
    settings = settings.model_copy(
        update={"retention": settings.retention.model_copy(update={"attachments_days": 365, "resolved_case_years": 5})}
    )
    old_case = accept(store, "alice@example.com", 1, "old question", SHARED)
    recent = accept(store, "alice@example.com", 2, "new question", SHARED)  # the same file: one file on disk
    bobs = accept(store, "bob@example.com", 3, "bob's question", BOBS)
    drain(settings)
    now = utcnow()
    conversations = {m: str(store.get_message(m).conversation_id) for m in (old_case, recent, bobs)}  # type: ignore[union-attr]

    def age(message_id: str, *, stored: timedelta, resolved: timedelta | None = None) -> None:
        with record.begin() as connection:
            connection.execute(
                update(AttachmentRow).where(AttachmentRow.message_id == message_id).values(stored_at=now - stored)
            )
            if resolved is not None:
                connection.execute(
                    update(Conversation)
                    .where(Conversation.id == conversations[message_id])
                    .values(resolved_at=now - resolved)
                )

    age(old_case, stored=timedelta(days=6 * 365), resolved=timedelta(days=6 * 365))  # both due
    age(recent, stored=timedelta(days=364))  # neither due: one day short
    age(bobs, stored=timedelta(days=366), resolved=timedelta(days=4 * 365))  # the file is due; the case is not
    folder = open_attachment_store(settings)
    assert len(list(folder.refs())) == 2

    env = {"HELPLINE_DATABASE__URL": settings.database.url or "", "HELPLINE_REDIS__URL": settings.redis.url or ""}
    dry = CliRunner().invoke(app, ["retention", "--dry-run", "--settings", str(ROOT / "settings.toml")], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would remove 2 attachments, 1 resolved_cases, 1 case_messages (dry run" in dry.output
    assert len(list(folder.refs())) == 2 and store.get_message(old_case) is not None  # nothing changed

    plan = run_retention(settings, store, now)
    assert plan.counts() == {"attachments": 2, "resolved_cases": 1, "case_messages": 1}
    recent_ref = store.get_message(recent).envelope.attachments[0].ref  # type: ignore[union-attr]
    assert list(folder.refs()) == [recent_ref]  # alice's file stays for her recent message; bob's went
    with record.connect() as connection:
        rows = {r.message_id: r for r in connection.execute(select(AttachmentRow))}
        texts = dict(connection.execute(select(Message.id, Message.text)).all())
        anonymised = dict(connection.execute(select(Conversation.id, Conversation.anonymised_at)).all())
    assert old_case not in rows  # the anonymised case's attachments go with it
    assert rows[bobs].ref is None and rows[bobs].removed_at == now and rows[bobs].filename == "statement.pdf"
    assert rows[recent].ref == recent_ref and rows[recent].removed_at is None
    assert texts[old_case] == "" and "new question" in texts[recent] and "bob's question" in texts[bobs]
    assert anonymised[conversations[old_case]] == now
    assert anonymised[conversations[recent]] is None and anonymised[conversations[bobs]] is None
    assert store.get_message(old_case) is None and store.get_message(recent) is not None
    assert store.get_message(bobs) is not None

    assert not run_retention(settings, store, now)  # a second pass at the same time has nothing left to do
    assert run_retention(settings, store, now + timedelta(days=2)).counts()["attachments"] == 1  # now the recent one
    assert list(folder.refs()) == []


def test_the_scheduler_applies_retention(store: Store, settings: Settings, record: Engine) -> None:
    from workers.scheduler import serve

    message_id = accept(store, "carol@example.com", 4, "a question", BOBS)
    drain(settings)
    with record.begin() as connection:
        connection.execute(update(AttachmentRow).values(stored_at=utcnow() - timedelta(days=400)))
    folder = open_attachment_store(settings)
    assert len(list(folder.refs())) == 1
    serve(settings, max_runs=1)
    assert list(folder.refs()) == []
    with record.connect() as connection:
        assert connection.scalar(select(AttachmentRow.removed_at).where(AttachmentRow.message_id == message_id))
