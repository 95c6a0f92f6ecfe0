"""Mask secrets inside payloads as they came over the wire: a raw mail, a webhook's form or JSON body, a file.

`mask_payload(kind, raw)` returns the payload with every secret core.sensitive finds in its text-like parts masked,
in the same format, so that what reads it later (`helpline replay`, an agent opening an attachment) still can:
- a mail (`EMAIL`): its bytes as text (headers and plain bodies, every other byte kept), then every text-like MIME
  part (text/*, JSON, XML, a forwarded mail, an unlabelled part that is UTF-8) decoded (transfer encoding and
  charset), masked, and written back as UTF-8 (base64) when something was found; the Subject and other free-text
  headers likewise. Parts that were clean are written back as they came.
- a JSON body (`JSON`): every string value, at any depth.
- a form body (`FORM`, Twilio's webhooks): every value.
- anything else, or a payload its format cannot even be read as (the reason it was dead-lettered, often): the bytes
  as UTF-8 text, undecodable bytes kept as they are.
Binary content (an image, a PDF, an archive) is not scanned: a photo of a card stays a photo of a card.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32
from enum import StrEnum
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from charset_normalizer import from_bytes

from core.sensitive import mask_sensitive


class PayloadKind(StrEnum):
    EMAIL = "email"
    JSON = "json"
    FORM = "form"
    TEXT = "text"


@dataclass
class MaskedPayload:
    data: bytes
    kinds: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.kinds)


# Headers a person writes in; address, id and trace headers are left as they are (threading and replay need them).
FREE_TEXT_HEADERS = ("Subject", "Thread-Topic", "Comments", "Keywords")
_TEXT_APPLICATION = {
    "application/json", "application/xml", "application/x-www-form-urlencoded", "application/csv",
    "application/javascript", "application/x-yaml", "application/yaml", "application/rtf", "message/delivery-status",
    "message/disposition-notification", "text/rfc822-headers", "message/rfc822-headers",
}  # fmt: skip
_TAG = re.compile(r"<[^>]*>")


def is_text_like(content_type: str) -> bool:
    content_type = content_type.lower()
    return (
        content_type.startswith("text/")
        or content_type in _TEXT_APPLICATION
        or content_type.endswith(("+json", "+xml"))
    )


def mask_text(value: str, kinds: list[str]) -> str:
    masked = mask_sensitive(value)
    kinds.extend(masked.kinds)
    return masked.text


def html_has_secret(html: str) -> list[str]:
    """The kinds of secret in an HTML document's text: tags become blanks (a secret can be split by markup:
    "<td>Password:</td><td>hunter2</td>") and entities characters ("&#52;111 …")."""
    return mask_sensitive(unescape(_TAG.sub(" ", html))).kinds


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Bytes as text: the declared charset if it works, UTF-8, then detection, then latin-1 (never fails)."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):  # unknown or garbage label, wrong bytes
            continue
    best = from_bytes(data[:1_000_000]).best() if data else None
    if best is not None:
        try:
            return data.decode(best.encoding)
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("latin-1")


def mask_file(data: bytes, content_type: str) -> MaskedPayload:
    """An attachment's content: a forwarded mail as a mail, other text-like files as text; binary as it is."""
    if content_type.lower() == "message/rfc822":
        return mask_payload(PayloadKind.EMAIL, data)
    if not is_text_like(content_type) and not _looks_like_text(data):
        return MaskedPayload(data)
    kinds: list[str] = []
    masked = mask_bytes_as_text(data, None, kinds)
    return MaskedPayload(data if masked is None else masked.encode(), list(dict.fromkeys(kinds)))


def mask_bytes_as_text(data: bytes, charset: str | None, kinds: list[str]) -> str | None:
    """The masked text of `data` in the first reading of it that shows a secret; None when none does."""
    for text in _readings(data, charset):
        found: list[str] = []
        masked = mask_text(text, found)
        if found:
            kinds.extend(found)
            return masked
    return None


_SINGLE_BYTE = ("latin", "iso-8859", "iso8859", "windows-125", "cp125", "ascii", "us-ascii")


def _readings(data: bytes, charset: str | None) -> Iterator[str]:
    """The ways `data` may read as text, likeliest first. A declared multi-byte charset or UTF-8 that decodes is
    trusted; otherwise (no label, a wrong one, a single-byte one that decodes anything) detection and the big CJK
    charsets are tried too: a short GBK or Big5 text ("密码是…") is easily mis-detected."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield from _decoded(data, "utf-16")
    for name in (charset, "utf-8"):
        if not name:
            continue
        text = next(_decoded(data, name), None)
        if text is not None:
            yield text
            if not name.lower().startswith(_SINGLE_BYTE):
                return
    if data.isascii():
        return
    best = from_bytes(data[:1_000_000]).best()
    for name in (best.encoding if best is not None else None, "gb18030", "big5", "utf-16"):
        if name:
            yield from _decoded(data, name)
    for name in (charset, "gb18030", "utf-8"):  # text with a few broken bytes in it: the rest still reads
        if name:
            yield from _decoded(data, name, "replace")


def _decoded(data: bytes, charset: str, errors: str = "strict") -> Iterator[str]:
    try:
        yield data.decode(charset, errors)
    except (LookupError, UnicodeDecodeError, ValueError):  # unknown or garbage label, wrong bytes
        return


def _looks_like_text(data: bytes) -> bool:
    """An unlabelled file (application/octet-stream) that is UTF-8 text: a `.txt` some clients send that way."""
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def mask_payload(kind: PayloadKind, raw: bytes) -> MaskedPayload:
    """`raw` with its secrets masked, in its own format; the original bytes when nothing was found."""
    kinds: list[str] = []
    try:
        if kind is PayloadKind.EMAIL:
            data = _mask_email(raw, kinds)
        elif kind is PayloadKind.JSON:
            data = _mask_json(raw, kinds)
        elif kind is PayloadKind.FORM:
            data = _mask_form(raw, kinds)
        else:
            data = _mask_bytes(raw, kinds)
    except Exception:  # a payload its own format cannot read (why it was dead-lettered, often): read it as text
        kinds = []
        data = _unescape_json_unicode(raw) if kind is PayloadKind.JSON else raw
        data = _mask_bytes(data, kinds)
    if not kinds:
        return MaskedPayload(raw)
    return MaskedPayload(data, list(dict.fromkeys(kinds)))


def payload_kind(raw: bytes, *, email: bool, form: bool) -> PayloadKind:
    """What a stored payload is: a mail on the email channel; JSON if it reads as JSON (Telegram updates, the voice
    intake's own record); a form on the Twilio channels; text otherwise."""
    if email:
        return PayloadKind.EMAIL
    if raw.lstrip()[:1] in (b"{", b"["):
        return PayloadKind.JSON
    return PayloadKind.FORM if form else PayloadKind.TEXT


# ---- formats --------------------------------------------------------------------------------------------------------


def _mask_bytes(raw: bytes, kinds: list[str]) -> bytes:
    """The bytes as UTF-8 text; bytes that are not UTF-8 pass through untouched (surrogateescape)."""
    masked = mask_text(raw.decode("utf-8", "surrogateescape"), kinds)
    return masked.encode("utf-8", "surrogateescape") if kinds else raw


def _mask_json(raw: bytes, kinds: list[str]) -> bytes:
    data = json.loads(raw)  # raises on anything not JSON (and on nesting too deep): the caller falls back to text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return mask_text(value, kinds)
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    masked = walk(data)
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode() if kinds else raw


_JSON_ESCAPE = re.compile(r"\\(?:u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|u([0-9a-f]{4})|.)", re.I | re.S)


def _unescape_json_unicode(raw: bytes) -> bytes:
    """A JSON text (or what is left of one) with its `\\uXXXX` escapes written as the characters they stand for
    ("\\u5bc6\\u7801" is 密码), so the text pass can read them. Quotes, backslashes and control characters stay
    escaped: a valid JSON text stays valid, with the same value."""

    def one(match: re.Match[str]) -> str:
        high, low, single = match.group(1), match.group(2), match.group(3)
        if high and low:
            return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
        if single:
            char = chr(int(single, 16))
            if char not in '"\\' and char >= " " and not 0xD800 <= ord(char) <= 0xDFFF:
                return char
        return match.group(0)  # \\", \\\\, \\n…, a lone surrogate: as it was

    text = raw.decode("utf-8", "surrogateescape")
    return _JSON_ESCAPE.sub(one, text).encode("utf-8", "surrogateescape")


def _mask_form(raw: bytes, kinds: list[str]) -> bytes:
    """Each value, decoded; bytes that are not UTF-8 (escaped or not) go back as they came (surrogateescape)."""
    text = raw.decode("utf-8", "surrogateescape")
    pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
    masked = [(name, mask_text(value, kinds)) for name, value in pairs]
    return urlencode(masked, encoding="utf-8", errors="surrogateescape").encode() if kinds else raw


# The email parser's compat32 reading of the mail it parsed last in this context (thread or task), offered to the
# gate so that storing the mail right after parsing it does not parse it a second time (a quarter of accepting one).
_parsed_mail: ContextVar[tuple[bytes, Message] | None] = ContextVar("parsed_mail", default=None)


def offer_parsed_mail(raw: bytes, message: Message) -> None:
    """`message` is `BytesParser(policy=compat32).parsebytes(raw)`, read for nothing else since: the next
    `_mask_email` of this very `raw` object (in this context) may use it, once, instead of parsing `raw` again."""
    _parsed_mail.set((raw, message))


def _parsed(raw: bytes, start: int) -> Message:
    offered = _parsed_mail.get()
    if offered is not None:
        _parsed_mail.set(None)  # once: the gate may rewrite the parts it masks
        if offered[0] is raw and start == 0:
            return offered[1]
    return message_from_bytes(raw[start:], policy=compat32)


def _mask_email(raw: bytes, kinds: list[str]) -> bytes:
    """Two passes. Part by part first, decoded: what only shows once a transfer encoding, a charset or an RFC 2047
    header is undone; a part with a secret is rewritten (as UTF-8 base64), and only then is the mail written back
    (`as_bytes`), the clean parts as they were. Then the bytes as text: headers and plain bodies, every other byte
    kept (a dead letter is often a mail the parser could not read: rewriting its structure would change what a
    replay sees). In that order, the text pass cannot mistake a quoted-printable escape ("PASSWORD =3D x") for
    the secret and hide the real one from the decoding pass."""
    start = _header_start(raw)
    message = _parsed(raw, start)
    found: list[str] = []
    for part in message.walk():
        _mask_headers(part, found)
        if part.is_multipart():
            continue  # message/rfc822 and multipart/*: walk() goes into their parts
        _mask_part(part, found)
    if found:
        kinds.extend(found)
        linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        try:
            raw = raw[:start] + message.as_bytes(policy=compat32.clone(linesep=linesep))
        except Exception:  # a mail too broken to write back: keep its headers and its (masked) text, nothing else
            raw = raw[:start] + _flattened(message, linesep.encode())
    return _mask_bytes(raw, kinds)


_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_FIRST_HEADER = re.compile(rb"\n(?=[!-9;-~]+[ \t]*:[^\r\n]*\r?\n)")


def _header_start(raw: bytes) -> int:
    """Where the headers begin: 0, or after junk lines before them (a client's "---- Original message ----" when a
    mail is saved raw, bytes of a broken transfer), within the first 4 KB."""
    if _HEADER_LINE.match(raw):
        return 0
    match = _FIRST_HEADER.search(raw, 0, 4096)
    return match.end() if match else 0


def _flattened(message: Message, linesep: bytes) -> bytes:
    """The mail as one UTF-8 text part: its headers as masked (without its MIME headers), then the text of every
    text-like part, masked."""
    newline = linesep.decode()
    headers = [
        f"{name}: {value}".replace("\r\n", "\n").replace("\n", newline).encode("utf-8", "surrogateescape")
        for name, value in message.items()
        if not name.lower().startswith("content-") and name.lower() != "mime-version"
    ]
    texts = []
    for part in message.walk():
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        if isinstance(payload, bytes) and is_text_like(part.get_content_type()):
            texts.append(mask_sensitive(decode_text(payload, _charset(part))).text)
    body = base64.encodebytes("\n\n".join(texts).encode()).replace(b"\n", linesep)
    mime = [b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: base64"]
    return linesep.join([*headers, *mime, b"", body])


def _mask_headers(part: Message, kinds: list[str]) -> None:
    for name in FREE_TEXT_HEADERS:
        values = part.get_all(name)
        if not values:
            continue
        found: list[str] = []
        masked_values = [mask_text(_header_text(value), found) for value in values]
        if not found:
            continue
        kinds.extend(found)
        del part[name]
        for masked in masked_values:
            part[name] = masked if masked.isascii() else Header(masked, "utf-8").encode()


def _header_text(value: Any) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeDecodeError, ValueError, binascii.Error):
        return str(value)


def _mask_part(part: Message, kinds: list[str]) -> None:
    content_type = part.get_content_type()
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    unlabelled_text = content_type == "application/octet-stream" and _looks_like_text(payload)
    if not is_text_like(content_type) and not unlabelled_text:
        return
    if _seen_as_text(part):
        return  # its bytes are its text: the first pass (the mail as text) has masked it already
    found: list[str] = []
    masked = mask_bytes_as_text(payload, _charset(part), found)
    if masked is None:
        return
    kinds.extend(found)
    # Written back as UTF-8 in base64: safe for any text and any line length, and replay decodes it like any part.
    del part["Content-Transfer-Encoding"]
    part.set_payload(base64.encodebytes(masked.encode()).decode("ascii"))
    part["Content-Transfer-Encoding"] = "base64"
    if content_type.startswith("text/") or part.get_param("charset") is not None:
        part.set_param("charset", "utf-8")


def _seen_as_text(part: Message) -> bool:
    """A part not transfer-encoded, in ASCII or UTF-8: the first pass read exactly its text."""
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    return encoding in ("7bit", "8bit", "binary") and (_charset(part) or "us-ascii") in ("us-ascii", "ascii", "utf-8")


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except (LookupError, ValueError):
        return None
    return charset if isinstance(charset, str) else None
