"""Header decoding that never raises: RFC 2047 encoded-words (well-formed or not), raw 8-bit, addresses, ids, dates.

The standard library's `email.header.decode_header` and the `default` policy both trip over what real mail contains:
encoded-words split in the middle of a multibyte character (each word decoded alone gives two halves of garbage),
unpadded base64, a charset like "gb2312" whose mail really is GBK, encoded-words glued to text, and plain 8-bit
UTF-8 or GBK with no encoding at all. We take the raw header bytes and do it ourselves.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from ingest.email.charsets import decode_bytes, decode_unlabelled

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_WS = re.compile(r"\s+")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$")  # RFC 5322 dot-atom text, no domain
_BARE_ADDRESS = re.compile(r"[\w.+\-=']+@[\w\-]+(?:\.[\w\-]+)+")


@dataclass
class HeaderNotes:
    """Collects charset fallback notes while decoding many headers."""

    notes: list[str] = field(default_factory=list)
    hint: str | None = None  # the message's body charset: mailers that put raw 8-bit in headers usually use it there

    def add(self, note: str | None) -> None:
        if note and note not in self.notes:
            self.notes.append(note)


def raw_header(msg: Message, name: str) -> bytes | None:
    """The first raw value of header `name`, as the bytes that were on the wire (unfolded), or None."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return _FOLD.sub(b"", _to_bytes(value))
    return None


def raw_headers(msg: Message, name: str) -> list[bytes]:
    wanted = name.lower()
    return [_FOLD.sub(b"", _to_bytes(v)) for k, v in msg.raw_items() if k.lower() == wanted]


def _to_bytes(value: object) -> bytes:
    return wire_bytes(str(value))


def wire_bytes(text: str) -> bytes:
    """Back to the bytes that were on the wire: compat32 keeps 8-bit bytes as surrogate escapes in its strs.

    Anything else that is not ASCII (rare: a damaged message can yield U+FFFD) is written as UTF-8.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _decode_word_payload(encoding: bytes, payload: bytes) -> bytes:
    if encoding in (b"b", b"B"):
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload
    return binascii.a2b_qp(payload, header=True)


@dataclass
class _Piece:
    charset: str | None  # None: literal text between encoded-words
    data: bytes  # decoded bytes for encoded-words, raw bytes for literals
    b64_tail: bytes = b""  # base64 text of a word that stopped mid-quantum, waiting for its next word


def decode_header_bytes(raw: bytes, notes: HeaderNotes, *, where: str = "header") -> str:
    """Decode one header value: encoded-words, with adjacent same-charset words joined before decoding."""
    pieces: list[_Piece] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(raw):
        literal = raw[pos : match.start()]
        previous_is_word = bool(pieces) and pieces[-1].charset is not None
        # RFC 2047 6.2: whitespace between two encoded-words is not displayed.
        if literal and not (previous_is_word and not literal.strip()):
            _append(pieces, _Piece(None, literal))
        charset = match.group(1).split(b"*", 1)[0].decode("ascii", "replace")  # RFC 2231 "charset*lang"
        _append_word(pieces, charset, match.group(2), match.group(3))
        pos = match.end()
    if pos < len(raw):
        _append(pieces, _Piece(None, raw[pos:]))
    out: list[str] = []
    for piece in pieces:
        data = piece.data + (_decode_word_payload(b"b", piece.b64_tail) if piece.b64_tail else b"")
        if piece.charset is None:
            decoded = decode_unlabelled(data, notes.hint, where=where)
        else:
            decoded = decode_bytes(data, piece.charset, where=where)
        notes.add(decoded.note)
        out.append(decoded.text)
    return _WS.sub(" ", "".join(out)).strip()


def _append(pieces: list[_Piece], piece: _Piece) -> None:
    """Join neighbouring pieces of one charset so a character split across two encoded-words decodes whole."""
    last = pieces[-1] if pieces else None
    same = last is not None and (last.charset or "").lower() == (piece.charset or "").lower()
    if last is not None and same and (last.charset is None) == (piece.charset is None):
        last.data += piece.data
    else:
        pieces.append(piece)


def _append_word(pieces: list[_Piece], charset: str, encoding: bytes, payload: bytes) -> None:
    last = pieces[-1] if pieces else None
    is_b64 = encoding in (b"b", b"B")
    if last is not None and last.b64_tail and last.charset is not None and last.charset.lower() == charset.lower():
        if is_b64:
            # Some encoders split the base64 text itself, not the bytes: the first word has no padding.
            payload = last.b64_tail + payload
        else:
            last.data += _decode_word_payload(b"b", last.b64_tail)
        last.b64_tail = b""
    elif last is not None and last.b64_tail:
        last.data += _decode_word_payload(b"b", last.b64_tail)
        last.b64_tail = b""
    stripped = payload.rstrip(b"=")
    if is_b64 and not payload.endswith(b"=") and _stops_mid_quantum(stripped):
        whole = len(stripped) - len(stripped) % 4
        _append(pieces, _Piece(charset, _decode_word_payload(encoding, stripped[:whole])))
        pieces[-1].b64_tail = stripped[whole:]
        return
    _append(pieces, _Piece(charset, _decode_word_payload(encoding, payload)))


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _stops_mid_quantum(text: bytes) -> bool:
    """True when unpadded base64 ends with bits that belong to a next word (an encoder split the text itself).

    A complete-but-unpadded word ends with zero filler bits, so those are told apart by the last character.
    """
    rest = len(text) % 4
    if rest == 0:
        return False
    if rest == 1:
        return True
    value = _B64_ALPHABET.find(text[-1:])
    filler = 0b1111 if rest == 2 else 0b11
    return value < 0 or bool(value & filler)


def decode_header(msg: Message, name: str, notes: HeaderNotes) -> str:
    raw = raw_header(msg, name)
    return "" if raw is None else decode_header_bytes(raw, notes, where=name)


@dataclass(frozen=True)
class Address:
    address: str
    name: str | None


def addresses(msg: Message, name: str, notes: HeaderNotes, *, local_parts: bool = False) -> list[Address]:
    """Every address in header(s) `name`, lowercased, with decoded display names; never raises.

    With `local_parts`, an address without a domain (`MAILER-DAEMON`) is kept as it is, and a display name whose
    address is empty (`"Name" <>`) is kept with an empty address, so the caller can still show the name.
    """
    found: list[Address] = []
    for raw in raw_headers(msg, name):
        text = raw.decode("ascii", "surrogateescape")
        parsed = getaddresses([text])
        pairs = [(n, a) for n, a in parsed if "@" in a]
        if local_parts:
            pairs = [(n, a) for n, a in parsed if "@" in a or _LOCAL_PART.match(a) or (n.strip() and not a)]
        if not pairs:
            # getaddresses gives up on some broken headers; a bare address is still worth keeping.
            pairs = [("", a) for a in _BARE_ADDRESS.findall(text)]
        for display, addr in pairs:
            decoded = decode_header_bytes(wire_bytes(display), notes, where=name)
            clean = wire_bytes(addr).decode("utf-8", "replace").strip().lower()
            found.append(Address(clean, decoded.strip("\"' ") or None))
    return found


def message_ids(raw: bytes | None) -> list[str]:
    """Message-ids in order without angle brackets or duplicates; a bracket-less value is split on whitespace."""
    if raw is None:
        return []
    text = raw.decode("ascii", "replace")
    ids = _MSG_ID.findall(text) or [t for t in text.split() if "@" in t]
    return list(dict.fromkeys(i.strip() for i in ids if i.strip()))


def parse_date(raw: bytes | None) -> datetime | None:
    """The Date header as an aware datetime (UTC when it has no zone), or None when absent or unreadable."""
    if raw is None:
        return None
    try:
        parsed = parsedate_to_datetime(raw.decode("ascii", "replace").strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
