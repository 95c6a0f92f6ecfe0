"""`helpline contact export`: everything held about one contact, nobody else's, and the export audited."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from core.envelope import Channel, Envelope, Party
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from record.engine import engine_for
from record.models import AuditEntry
from tests.support.work import drain

ROOT = Path(__file__).resolve().parent.parent.parent


def test_export_holds_the_contacts_data_and_is_audited(store: Store, settings: Settings, tmp_path: Path) -> None:
    def mail(provider_id: str, sender: str, text: str) -> Envelope:
        return Envelope(
            channel=Channel.EMAIL, provider_id=provider_id, sender=Party(address=sender), subject="Help",
            text=text, message_id=provider_id,
        )  # fmt: skip

    mine = store.accept(mail("e1@example.com", "alice@example.com", "my top-up failed"), b"alice's raw mail")
    store.accept(mail("e2@example.com", "bob@example.com", "bob's own question"), b"bob's raw mail")
    drain(settings)
    env = {"HELPLINE_DATABASE__URL": settings.database.url or "", "HELPLINE_REDIS__URL": settings.redis.url or ""}
    out = tmp_path / "alice.json"
    result = CliRunner().invoke(
        app,
        ["contact", "export", "Alice@Example.com", "--settings", str(ROOT / "settings.toml"), "--out", str(out),
         "--as", "dpo@wallet.example"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [i["identity"] for i in data["identities"]] == ["email:alice@example.com"]
    assert [m["id"] for m in data["messages"]] == [mine.message_id]
    assert data["messages"][0]["text"] == "my top-up failed"
    assert len(data["conversations"]) == 1 and data["conversations"][0]["reference"].startswith("HL-")
    assert base64.b64decode(data["hot_store"]["raw_payloads"][mine.message_id]) == b"alice's raw mail"
    assert "bob" not in out.read_text(encoding="utf-8")  # nobody else's data
    engine = engine_for(settings.database.url or "")
    try:
        with engine.connect() as connection:
            (audit,) = connection.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)).all()
    finally:
        engine.dispose()
    assert audit.actor == "dpo@wallet.example" and audit.action == "contact export"
    assert audit.detail["messages"] == 1 and "top-up" not in json.dumps(audit.detail)  # counts, not content


def test_export_of_an_unknown_contact_says_so(settings: Settings) -> None:
    env = {"HELPLINE_DATABASE__URL": settings.database.url or "", "HELPLINE_REDIS__URL": settings.redis.url or ""}
    for who, code, message in [
        ("nobody@example.com", 1, "no contact is known as email:nobody@example.com"),
        ("not a number", 2, "is neither an email address nor a phone number"),
    ]:
        result = CliRunner().invoke(app, ["contact", "export", who, "--settings", str(ROOT / "settings.toml")], env=env)
        assert result.exit_code == code and message in result.output, result.output
