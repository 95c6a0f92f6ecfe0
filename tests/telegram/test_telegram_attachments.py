"""`helpline agent attachment MESSAGE_ID INDEX --out FILE`: Telegram files fetched lazily from the (fake) Bot API with
getFile and a download, email attachments from the store, provider-hosted media named by URL."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from core.envelope import Attachment, Channel, Envelope, Party
from core.settings import Settings
from core.store import Store
from helpline.cli import app
from ingest.email.parse import parse_email
from ingest.telegram.intake import take_update
from tests.conftest import ROOT
from tests.support.fake_telegram import FakeTelegram, settings_for, update

PHOTO = [
    {"file_id": "thumb", "file_unique_id": "t", "width": 90, "height": 90, "file_size": 10},
    {"file_id": "receipt-photo", "file_unique_id": "r", "width": 1280, "height": 960, "file_size": 2048},
]


@pytest.fixture
def cli_env(settings: Settings, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads the shipped settings file; the environment points it at the test Redis and the fake."""
    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_TELEGRAM__TOKEN", fake.token)
    monkeypatch.setenv("HELPLINE_TELEGRAM__API_BASE_URL", fake.url)


def attachment(message_id: str, index: int, out: Path) -> Result:
    args = ["agent", "attachment", message_id, str(index), "--out", str(out), "--settings", str(ROOT / "settings.toml")]
    return CliRunner().invoke(app, args)


def telegram_photo(settings: Settings, fake: FakeTelegram, store: Store) -> str:
    payload = update(70, "", user_id=7001, photo=PHOTO, caption="the receipt")
    outcome = take_update(json.dumps(payload).encode(), settings_for(settings, fake), store)
    assert outcome.message_id is not None
    return outcome.message_id


def test_a_telegram_photo_is_fetched_with_getfile_on_demand(
    settings: Settings, store: Store, fake: FakeTelegram, cli_env: None, tmp_path: Path
) -> None:
    content = bytes(range(256)) * 8
    fake.add_file("receipt-photo", content)
    message_id = telegram_photo(settings, fake, store)
    assert fake.calls("getFile") == []  # nothing is downloaded when the message arrives

    out = tmp_path / "receipt.jpg"
    result = attachment(message_id, 1, out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == content
    assert [call.params["file_id"] for call in fake.calls("getFile")] == ["receipt-photo"]


def test_a_telegram_file_over_the_cap_is_refused_before_download(
    settings: Settings, store: Store, fake: FakeTelegram, cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_TELEGRAM__MAX_FILE_BYTES", "1000")
    fake.add_file("receipt-photo", b"x" * 2048)
    message_id = telegram_photo(settings, fake, store)
    out = tmp_path / "receipt.jpg"
    result = attachment(message_id, 1, out)
    assert result.exit_code == 1 and "the cap is 1000" in result.output
    assert not out.exists()


def test_an_unknown_telegram_file_is_a_clear_error(
    settings: Settings, store: Store, fake: FakeTelegram, cli_env: None, tmp_path: Path
) -> None:
    message_id = telegram_photo(settings, fake, store)  # the fake holds no such file: getFile answers 400
    result = attachment(message_id, 1, tmp_path / "x")
    assert result.exit_code == 1 and "invalid file_id" in result.output.lower()


def test_an_email_attachment_comes_from_the_store(
    store: Store, settings: Settings, cli_env: None, tmp_path: Path
) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bo@example.com", "support@wallet.example", "statement"
    mail.set_content("Here is my statement.")
    pdf = b"%PDF-1.4 statement \x00\x01\x02"
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="statement.pdf")
    accepted = store.accept(parse_email(bytes(mail)), bytes(mail))

    out = tmp_path / "statement.pdf"
    result = attachment(accepted.message_id, 1, out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == pdf
    missing = attachment(accepted.message_id, 2, tmp_path / "none")
    assert missing.exit_code == 1 and "has 1 attachment(s); there is no number 2" in missing.output


def test_provider_hosted_media_is_named_by_url_not_fetched(store: Store, cli_env: None, tmp_path: Path) -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    envelope = Envelope(channel=Channel.WHATSAPP, provider_id="MM1", sender=Party(address="whatsapp:+8613800138000"),
                        attachments=[Attachment(content_type="image/jpeg", url=url)])  # fmt: skip
    accepted = store.accept(envelope, b"raw")
    out = tmp_path / "photo.jpg"
    result = attachment(accepted.message_id, 1, out)
    assert result.exit_code == 3
    assert url in result.output and "credentials" in result.output
    assert not out.exists()


def test_an_unknown_message_is_a_clear_error(
    store: Store, cli_env: None, record_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_DATABASE__URL", record_url)  # neither Redis nor the record holds it
    result = attachment("m-nope", 1, tmp_path / "x")
    assert result.exit_code == 1 and "no message m-nope" in result.output
