"""Attachments in the attachment store (a folder, an S3 bucket): written by the pipeline job (never at accept), named
per contact, referenced from the record, gone from the hot copy, and still served by `helpline agent attachment`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from core.records import MessageState
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from ingest.email.parse import parse_email
from record.attachment_store import open_attachment_store
from record.engine import engine_for
from record.models import AttachmentRow
from tests.conftest import ROOT
from tests.record.conftest import Backend
from tests.support.s3 import attachments_env
from tests.support.work import drain
from workers import context
from workers.jobs import process_message

PDF = b"%PDF-1.4 statement \x00\x01\x02"


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings.database.url or "")
    yield engine
    engine.dispose()


@pytest.fixture
def settings(settings: Settings, attachment_backend: Backend) -> Settings:
    """Every test here runs on the folder backend and on an S3 bucket (tests/record/conftest.py)."""
    return attachment_backend(settings)


def mail_with(sender: str, number: int, *files: tuple[bytes, str, str]) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, "support@wallet.example", "statement"
    mail["Message-ID"] = f"<att-{number}-{sender}>"
    mail.set_content("Here is my statement.")
    for content, subtype, name in files:
        maintype, _, sub = subtype.partition("/")
        mail.add_attachment(content, maintype=maintype, subtype=sub, filename=name)
    return bytes(mail)


def accept(store: Store, raw: bytes) -> str:
    return store.accept(parse_email(raw), raw).message_id


def test_the_job_writes_attachments_to_the_store_and_drops_them_from_redis(
    store: Store, settings: Settings, record: Engine, tmp_path: Path
) -> None:
    note = b"card 4111 1111 1111 1111 please"
    message_id = accept(
        store,
        mail_with("alice@example.com", 1, (PDF, "application/pdf", "statement.pdf"), (note, "text/plain", "n.txt")),
    )
    folder = open_attachment_store(settings)
    hot = store.get_message(message_id)
    assert hot is not None and hot.envelope.attachments[0].content_b64 is not None  # the 250 path writes no file
    assert list(folder.refs()) == []

    drain(settings)
    hot = store.get_message(message_id)
    assert hot is not None and hot.state is MessageState.ROUTED
    pdf, text = hot.envelope.attachments
    assert pdf.content_b64 is None and text.content_b64 is None  # the content left Redis...
    assert (pdf.filename, pdf.content_type, pdf.size) == ("statement.pdf", "application/pdf", len(PDF))  # metadata
    assert pdf.ref is not None and text.ref is not None
    assert folder.get(pdf.ref) == PDF
    assert b"4111" not in folder.get(text.ref)  # the masked content is what is written
    assert base64.b64encode(PDF) not in bytes(store.redis.get(store.key("msg", message_id)) or b"")  # type: ignore[arg-type]
    with record.connect() as connection:
        rows = connection.execute(select(AttachmentRow).order_by(AttachmentRow.position)).all()
    assert [(r.message_id, r.position, r.filename, r.ref) for r in rows] == [
        (message_id, 0, "statement.pdf", pdf.ref), (message_id, 1, "n.txt", text.ref)
    ]  # fmt: skip

    # `helpline agent attachment` reads it from the store now.
    out = tmp_path / "statement.pdf"
    env = {"HELPLINE_REDIS__URL": str(settings.redis.url), **attachments_env(settings)}
    args = ["agent", "attachment", message_id, "1", "--out", str(out), "--settings", str(ROOT / "settings.toml")]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PDF
    folder.delete(pdf.ref)
    assert not folder.exists(pdf.ref) and folder.exists(text.ref)
    gone = CliRunner().invoke(app, args, env=env)
    assert gone.exit_code == 1 and "no longer kept" in gone.output


def test_file_names_are_per_contact_and_a_rerun_writes_nothing_twice(
    store: Store, settings: Settings, record: Engine
) -> None:
    pdf = (PDF, "application/pdf", "statement.pdf")
    alice_first = accept(store, mail_with("alice@example.com", 1, pdf))
    accept(store, mail_with("alice@example.com", 2, pdf))
    bob = accept(store, mail_with("bob@example.com", 3, pdf))
    drain(settings)
    refs = {m: store.get_message(m).envelope.attachments[0].ref for m in (alice_first, bob)}  # type: ignore[union-attr]
    folder = open_attachment_store(settings)
    assert list(folder.refs()) == sorted(
        str(ref) for ref in refs.values()
    )  # alice's two copies are one file; bob's is his own
    assert refs[alice_first] != refs[bob]

    # A crash after the record and the files were written, before Redis heard the message was routed: the re-run
    # finds the content gone from the hot copy and the rows there, and writes nothing twice.
    store.update_message(alice_first, lambda m: setattr(m, "state", MessageState.RECEIVED))
    context.install(context.context_for(settings, store))
    assert process_message(alice_first).startswith("routed")
    with record.connect() as connection:
        assert len(connection.execute(select(AttachmentRow)).all()) == 3
    assert store.get_message(alice_first).envelope.attachments[0].ref == refs[alice_first]  # type: ignore[union-attr]
    assert len(list(folder.refs())) == 2
