"""The pure part: Telegram update payloads -> Incoming / Edit / CategoryChoice / Ignored."""

from __future__ import annotations

from typing import Any

import pytest

from core.envelope import Channel
from core.errors import ParseError
from core.phone import to_e164 as phone_to_e164
from core.settings import TelegramSettings
from ingest.telegram.normalize import (
    CategoryChoice,
    Edit,
    Ignored,
    Incoming,
    command_of,
    contact_card_e164,
    parse_update,
)
from tests.support.fake_telegram import callback, update

SETTINGS = TelegramSettings(bot_username="support_test_bot")


def incoming(data: dict[str, Any], settings: TelegramSettings = SETTINGS) -> Incoming:
    parsed = parse_update(data, settings)
    assert isinstance(parsed, Incoming), parsed
    return parsed


def test_text_message_becomes_an_envelope_with_ids_kept_for_replies() -> None:
    parsed = incoming(update(7, "My top up failed", user_id=42, message_id=99, first_name="Ann", last_name="Lee"))
    env = parsed.envelope
    assert env.channel is Channel.TELEGRAM
    assert env.provider_id == "7"
    assert env.sender.address == "42" and env.sender.name == "Ann Lee"
    assert env.recipient is not None and env.recipient.address == "support_test_bot"
    assert env.text == "My top up failed" and env.language == "en"
    assert env.extras["chat_id"] == 42 and env.extras["message_id"] == 99 and env.extras["language_code"] == "en"
    assert parsed.command is None and env.suppress_ack_reason is None


def test_language_comes_from_text_then_from_language_code() -> None:
    assert incoming(update(1, "我的充值没到账", language_code="en")).envelope.language == "zh"
    assert incoming(update(2, "12345", language_code="zh-hans")).envelope.language == "zh"
    assert incoming(update(3, "12345", language_code="de")).envelope.language == "en"
    # A command word is not evidence: /start from a Chinese client is answered in Chinese.
    assert incoming(update(4, "/start", language_code="zh-hant")).envelope.language == "zh"


def test_recipient_defaults_to_telegram_without_a_bot_username() -> None:
    env = incoming(update(1, "hi"), TelegramSettings()).envelope
    assert env.recipient is not None and env.recipient.address == "telegram"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/start", "start"),
        ("/start@support_test_bot", "start"),
        ("/help please", "help"),
        ("/HELP", "help"),
        ("/stop", None),
        ("hi /start", None),
        ("/", None),
    ],
)
def test_commands(text: str, command: str | None) -> None:
    assert command_of(text) == command


def test_start_and_help_are_service_messages_never_acknowledged() -> None:
    parsed = incoming(update(5, "/start"))
    assert parsed.command == "start"
    assert parsed.envelope.suppress_ack_reason == "telegram /start command"
    assert parsed.envelope.no_auto_reply_reason
    assert parsed.envelope.service == "start"
    assert incoming(update(6, "/help@support_test_bot")).envelope.service == "help"
    assert incoming(update(7, "how do I /start a top-up?")).envelope.service is None


def test_photo_document_and_voice_become_metadata_only_attachments() -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 120000},
    ]
    env = incoming(update(1, "", photo=photo, caption="receipt")).envelope
    assert env.text == "receipt"
    (att,) = env.attachments
    assert att.size == 120000 and att.content_type == "image/jpeg" and att.content_b64 is None
    assert att.url == "telegram-file:big"
    assert env.extras["files"] == [{"type": "photo", "file_id": "big", "file_unique_id": "b", "size": 120000}]

    doc = {"file_id": "d1", "file_unique_id": "ud1", "file_name": "statement.pdf", "mime_type": "application/pdf",
           "file_size": 5000}  # fmt: skip
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 3, "mime_type": "audio/ogg", "file_size": 800}
    env = incoming(update(2, "", document=doc)).envelope
    assert [(a.filename, a.content_type, a.size) for a in env.attachments] == [
        ("statement.pdf", "application/pdf", 5000)
    ]
    env = incoming(update(3, "", voice=voice)).envelope
    assert env.extras["files"][0]["type"] == "voice" and env.attachments[0].content_type == "audio/ogg"


def test_group_chats_are_ignored_unless_enabled() -> None:
    data = update(1, "hello", chat_id=-100, chat_type="group")
    parsed = parse_update(data, SETTINGS)
    assert isinstance(parsed, Ignored) and "group" in parsed.reason
    allowed = parse_update(data, TelegramSettings(allow_groups=True))
    assert isinstance(allowed, Incoming) and allowed.envelope.extras["chat_id"] == -100


def test_edited_message_is_an_edit() -> None:
    data = update(9, "corrected text", message_id=3)
    data["edited_message"] = data.pop("message")
    parsed = parse_update(data, SETTINGS)
    assert isinstance(parsed, Edit)
    assert (parsed.update_id, parsed.chat_id, parsed.message_id, parsed.text) == (9, 1001, 3, "corrected text")


def test_category_button_press_is_a_service_message_keyed_by_update_id() -> None:
    parsed = parse_update(callback(4, "cat:security", user_id=77, language_code="zh"), SETTINGS)
    assert isinstance(parsed, CategoryChoice)
    assert (parsed.callback_query_id, parsed.user_id, parsed.category, parsed.language) == ("cq4", 77, "security", "zh")
    env = parsed.envelope
    assert (env.channel, env.provider_id, env.sender.address, env.service) == (Channel.TELEGRAM, "4", "77", "callback")
    assert env.no_auto_reply_reason and env.extras["chat_id"] == 77
    assert isinstance(parse_update(callback(5, "other"), SETTINGS), Ignored)


def test_only_the_users_own_contact_card_links_a_phone_number() -> None:
    own = {"phone_number": "8613800138000", "first_name": "Alice", "user_id": 1001}
    parsed = incoming(update(1, "", contact=own))
    assert parsed.shared_phone == "+8613800138000"
    assert parsed.envelope.suppress_ack_reason == "telegram contact shared"
    assert parsed.envelope.service == "contact"
    someone_else = {**own, "user_id": 555}
    forwarded = incoming(update(2, "", contact=someone_else))
    assert forwarded.shared_phone is None
    assert forwarded.envelope.service is None  # may be what the customer is reporting: it goes to the agents
    no_user = {"phone_number": "8613800138000", "first_name": "Bob"}
    assert incoming(update(3, "", contact=no_user)).shared_phone is None


def test_phone_numbers_are_normalised_to_e164_by_the_shared_rule() -> None:
    assert contact_card_e164("+44 7911 123456") == "+447911123456"
    assert contact_card_e164("14155552671") == "+14155552671"
    assert contact_card_e164("123") is None
    assert contact_card_e164("not a number") is None
    # Possible but not in a range the library knows as allocated: the rule Twilio's numbers follow (core.phone)
    # accepts it, so the same customer is one contact on every channel.
    assert contact_card_e164("15550100000") == "+15550100000" == phone_to_e164("+15550100000")


def test_bots_and_unknown_update_kinds_are_ignored() -> None:
    data = update(1, "hi")
    data["message"]["from"]["is_bot"] = True
    assert isinstance(parse_update(data, SETTINGS), Ignored)
    assert isinstance(parse_update({"update_id": 2, "poll": {"id": "p"}}, SETTINGS), Ignored)


def test_a_payload_without_update_id_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_update({"message": {}}, SETTINGS)
