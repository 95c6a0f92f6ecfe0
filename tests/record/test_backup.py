"""`helpline backup` and `helpline restore`: back up, wipe Redis, the record and the attachment store (a folder or an S3
bucket), restore: the data is back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from core.records import MessageState
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from record.attachment_store import open_attachment_store
from record.engine import engine_for
from record.models import Message, Reply
from tests.record.conftest import Backend
from tests.record.test_pipeline_record import email
from tests.support.s3 import attachments_env
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain

RECEIPT = "ab" * 32  # an attachment's ref (record/attachments.py: a SHA-256)
LATER = "cd" * 32


@pytest.fixture
def settings(settings: Settings, attachment_backend: Backend) -> Settings:
    """Backed up and restored on the folder backend and on an S3 bucket (tests/record/conftest.py)."""
    return attachment_backend(settings)


def counts(url: str) -> tuple[int, int, str]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return (
                int(connection.scalar(select(func.count()).select_from(Message)) or 0),
                int(connection.scalar(select(func.count()).select_from(Reply)) or 0),
                str(connection.scalar(text("SELECT version_num FROM alembic_version"))),
            )
    finally:
        engine.dispose()


def test_backup_wipe_restore_brings_everything_back(
    store: Store, settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    assert settings.database.url is not None and settings.redis.url is not None
    recorded = store.accept(email("b1@example.com", "My top-up failed"), b"raw mail one")
    drain(settings)
    waiting = store.accept(email("b2@example.com", "Where is my refund"), b"raw mail two")  # not yet recorded
    store.redis.set(store.key("expiring"), "x", ex=3600)
    before = counts(settings.database.url)
    assert before[:2] == (1, 1)
    settings_file = tmp_path / "settings.toml"
    attachments = open_attachment_store(settings)
    attachments.put(RECEIPT, b"a customer's receipt")
    settings_file.write_text(
        f'[redis]\nurl = "{settings.redis.url}"\n[database]\nurl = "{settings.database.url}"\n', encoding="utf-8"
    )
    env = attachments_env(settings)  # the folder, or the bucket (its secret only from the environment)
    folder = tmp_path / "backup"
    taken = CliRunner().invoke(app, ["backup", str(folder), "--settings", str(settings_file)], env=env)
    assert taken.exit_code == 0, taken.output
    assert {p.name for p in folder.iterdir()} == {"redis.rdb", "record.dump", "manifest.json", "attachments"}
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["attachments_from"] == attachments.describe()
    assert (folder / "attachments" / "ab" / "ab" / RECEIPT).read_bytes() == b"a customer's receipt"  # as files

    store.redis.flushdb()  # the wipe: Redis emptied, the record's tables gone
    engine = engine_for(settings.database.url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    attachments.delete(RECEIPT)
    attachments.put(LATER, b"written after the backup")
    assert store.get_message(recorded.message_id) is None

    restored = CliRunner().invoke(app, ["restore", str(folder), "--yes", "--settings", str(settings_file)], env=env)
    assert restored.exit_code == 0, restored.output
    assert counts(settings.database.url) == before
    assert attachments.get(RECEIPT) == b"a customer's receipt"
    assert list(attachments.refs()) == [RECEIPT]  # the store holds what the backup holds, nothing newer
    back = store.get_message(recorded.message_id)
    assert back is not None and back.state is MessageState.ROUTED
    assert store.redis.get(store.key("raw", recorded.message_id)) == b"raw mail one"
    assert 0 < int(store.redis.ttl(store.key("expiring"))) <= 3600  # expiries kept
    drain(settings)  # the message still waiting then is recorded now: its job came back with Redis
    assert counts(settings.database.url)[0] == 2
    again = store.get_message(waiting.message_id)
    assert again is not None and again.state is MessageState.ROUTED

    refused = CliRunner().invoke(app, ["backup", str(folder), "--settings", str(settings_file)], env=env)
    assert refused.exit_code == 1 and "is not empty" in refused.output
    missing = CliRunner().invoke(app, ["restore", str(tmp_path), "--yes", "--settings", str(settings_file)], env=env)
    assert missing.exit_code == 1 and "not a Helpline backup" in missing.output
