"""The Telegram Sender and the other Bot API calls, through the real python-telegram-bot against the fake."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from channels.registry import sender_for
from channels.telegram import FileTooLarge, TelegramNotConfigured, fetch_file, split_text
from core.envelope import Channel, Envelope, Party
from core.errors import PermanentSendError, TransientSendError
from core.records import Reply
from core.settings import Settings
from core.store import Store
from tests.support.fake_telegram import SECRET, FakeTelegram


def original(user_id: int = 1001, message_id: int = 55) -> Envelope:
    return Envelope(
        channel=Channel.TELEGRAM,
        provider_id="9",
        sender=Party(address=str(user_id), name="Alice"),
        text="help",
        extras={"chat_id": user_id, "message_id": message_id},
    )


def reply(text: str = "We got your message.", to: str = "1001") -> Reply:
    return Reply(id="r-1", message_id="m-1", channel=Channel.TELEGRAM, to=to, purpose="ack", language="en", text=text)


def test_a_reply_quotes_the_message_it_answers(tg_settings: Settings, store: Store, fake: FakeTelegram) -> None:
    sender = sender_for(Channel.TELEGRAM, tg_settings, store)
    provider_id = sender.send(reply(), original())
    (call,) = fake.calls("sendMessage")
    assert call.params["chat_id"] == "1001" and call.params["text"] == "We got your message."
    assert call.params["reply_parameters"] == {"message_id": 55, "allow_sending_without_reply": True}
    assert provider_id.isdigit() and int(provider_id) > 1000


def test_the_sender_works_when_called_repeatedly_in_one_process(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    sender = sender_for(Channel.TELEGRAM, tg_settings, store)
    ids = {sender.send(reply(f"reply {i}"), original()) for i in range(3)}
    assert len(ids) == 3
    assert [c.params["text"] for c in fake.calls("sendMessage")] == ["reply 0", "reply 1", "reply 2"]


def test_long_replies_are_split_at_telegrams_limit(tg_settings: Settings, store: Store, fake: FakeTelegram) -> None:
    text = ("word " * 1000).strip() + "\n\n" + "x" * 4000
    sender_for(Channel.TELEGRAM, tg_settings, store).send(reply(text), original())
    pieces = [c.params["text"] for c in fake.calls("sendMessage")]
    assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert "reply_parameters" in fake.calls("sendMessage")[0].params
    assert "reply_parameters" not in fake.calls("sendMessage")[1].params


def test_split_text_counts_utf16_units_and_keeps_short_text_whole() -> None:
    assert split_text("hello") == ["hello"]
    emoji = "😀" * 3000  # 2 UTF-16 units each: 6000 units
    pieces = split_text(emoji)
    assert "".join(pieces) == emoji
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in pieces)


def test_a_blocked_bot_is_a_permanent_failure_recorded_on_the_contact(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(PermanentSendError, match="blocked"):
        sender_for(Channel.TELEGRAM, tg_settings, store).send(reply(), original(user_id=3003))
    assert store.contact(store.contact_for("telegram:3003"))["telegram_blocked"] == "1"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # raised inside PTB
def test_flood_control_is_transient_with_telegrams_wait(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TransientSendError) as caught:
        sender_for(Channel.TELEGRAM, tg_settings, store).send(reply(), original())
    assert caught.value.retry_after == 7


def test_a_bad_request_is_permanent_and_a_server_error_transient(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    sender = sender_for(Channel.TELEGRAM, tg_settings, store)
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(PermanentSendError, match="not found"):
        sender.send(reply(), original())
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(TransientSendError):
        sender.send(reply(), original())


def test_an_unreachable_api_is_transient(tg_settings: Settings, store: Store, fake: FakeTelegram) -> None:
    fake.stop()
    with pytest.raises(TransientSendError):
        sender_for(Channel.TELEGRAM, tg_settings, store).send(reply(), original())


def test_no_token_is_a_permanent_failure(settings: Settings, store: Store) -> None:
    with pytest.raises(TelegramNotConfigured, match="HELPLINE_TELEGRAM__TOKEN"):
        sender_for(Channel.TELEGRAM, settings, store).send(reply(), original())


def test_files_are_fetched_lazily_under_the_cap(tg_settings: Settings, fake: FakeTelegram) -> None:
    fake.add_file("photo1", b"\x89PNG" + b"0" * 96)
    assert fetch_file(tg_settings.telegram, "photo1") == b"\x89PNG" + b"0" * 96
    with pytest.raises(FileTooLarge):
        fetch_file(tg_settings.telegram, "photo1", cap=50)
    assert len(fake.calls("getFile")) == 2


def test_set_webhook_command_registers_the_public_url_and_secret(
    tg_settings: Settings, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from helpline.cli import app

    monkeypatch.setenv("HELPLINE_TELEGRAM__TOKEN", fake.token)
    monkeypatch.setenv("HELPLINE_TELEGRAM__WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("HELPLINE_TELEGRAM__API_BASE_URL", fake.url)
    monkeypatch.setenv("HELPLINE_WEB__PUBLIC_URL", "https://support.example.com/")
    result = CliRunner().invoke(app, ["telegram", "set-webhook", "--settings", "settings.toml"])
    assert result.exit_code == 0, result.output
    assert "https://support.example.com/telegram/webhook" in result.output
    (call,) = fake.calls("setWebhook")
    assert call.params["url"] == "https://support.example.com/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query"]


def test_set_webhook_without_a_public_url_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpline.cli import app

    monkeypatch.setenv("HELPLINE_TELEGRAM__TOKEN", "1:x")
    monkeypatch.setenv("HELPLINE_TELEGRAM__WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("HELPLINE_WEB__PUBLIC_URL", raising=False)
    result = CliRunner().invoke(app, ["telegram", "set-webhook", "--settings", "settings.toml"])
    assert result.exit_code == 1 and "public_url" in result.output
