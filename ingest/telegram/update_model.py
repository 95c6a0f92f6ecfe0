"""The part of a Telegram `Update` Helpline reads, as pydantic models that check every field's type.

Payload reference: https://core.telegram.org/bots/api#update. Only the fields normalisation uses are declared; the
rest of the payload is ignored (not validated), so a field Telegram adds or changes tomorrow cannot turn a good
update into a dead letter. What is declared is strict: an id is an int (not "42", not 4.2, not true), an object is
an object, a text is a string. A payload that breaks any of that raises `ParseError` naming the field, never an
`AttributeError` or an `int()` error halfway through storing it.

`decode_update_json` is the one way raw bytes become a payload: pydantic's JSON parser (jiter, in Rust) is linear,
refuses invalid UTF-8, lone surrogates, NaN and Infinity, and stops at a nesting depth of 200 with an error instead
of a `RecursionError` (a real update nests a handful of levels).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic_core import from_json

from core.errors import ParseError

# Telegram ids fit in 52 bits (https://core.telegram.org/bots/api#chat); anything past 64 is not an id.
TelegramId = Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
# Unix time in the 32 unsigned bits the Bot API sends it in (up to 2106): later dates only break SLA arithmetic.
UnixTime = Annotated[StrictInt, Field(ge=0, lt=2**32)]
FileSize = Annotated[StrictInt, Field(ge=0, lt=2**63)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class User(_Part):
    id: TelegramId
    is_bot: StrictBool = False
    first_name: StrictStr = ""
    last_name: StrictStr | None = None
    username: StrictStr | None = None
    language_code: StrictStr | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


class Chat(_Part):
    id: TelegramId
    type: StrictStr


class File(_Part):
    """PhotoSize, Document, Voice, Audio, Video: the fields of theirs we keep."""

    file_id: StrictStr
    file_unique_id: StrictStr
    file_size: FileSize | None = None
    file_name: StrictStr | None = None
    mime_type: StrictStr | None = None


class Contact(_Part):
    phone_number: StrictStr
    first_name: StrictStr = ""
    user_id: TelegramId | None = None


class Message(_Part):
    message_id: TelegramId
    date: UnixTime
    chat: Chat
    from_user: User | None = Field(None, alias="from")
    text: StrictStr | None = None
    caption: StrictStr | None = None
    photo: list[File] | None = None
    document: File | None = None
    voice: File | None = None
    audio: File | None = None
    video: File | None = None
    contact: Contact | None = None

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.date, UTC)


class ChatRef(_Part):
    """A callback query's message, which may be an InaccessibleMessage: only its chat is read."""

    chat: Chat


class CallbackQuery(_Part):
    id: StrictStr
    from_user: User = Field(alias="from")
    data: StrictStr | None = None
    message: ChatRef | None = None


class Update(_Part):
    update_id: TelegramId
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None


def decode_update_json(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`, or `ParseError` (not JSON, not UTF-8, too deeply nested, not an object)."""
    try:
        data = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ParseError("not a JSON object")
    return data


def validate_update(data: dict[str, Any]) -> Update:
    """The typed update, or `ParseError` naming each bad field (never its value: it may be a customer's secret)."""
    try:
        return Update.model_validate(data)
    except ValidationError as exc:
        raise ParseError(f"not a Telegram update: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'update'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return "; ".join(problems[:5]) + more
