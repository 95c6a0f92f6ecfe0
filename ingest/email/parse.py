"""Raw email bytes to an `Envelope`: the one pure function the SMTP server and the IMAP poller call.

We parse from bytes with the compat32 policy, which keeps every header as the bytes that were on the wire: decoding
the whole message first (django-helpdesk) loses GB2312 and Big5 bodies, and the modern `default` policy raises on
headers real mailers write. Each header and body part is then decoded on its own (headers.py, charsets.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import TypeVar

from core.envelope import Channel, Envelope, Party
from core.errors import ParseError
from core.language import detect_language
from core.payload_masking import offer_parsed_mail
from ingest.email.autoreply import detect_flags
from ingest.email.body import Body, WalkOptions, body_text, read_body
from ingest.email.headers import Address, HeaderNotes, addresses, decode_header, message_ids, parse_date, raw_header
from ingest.email.html_text import sanitise_html
from ingest.email.quotes import split_reply
from ingest.email.repair import repair_headers

_T = TypeVar("_T")
DEFAULT_MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 100_000
# The sanitised HTML copy for agents is bounded too (nh3 costs ~0.1 s a MB): this many times the text bound.
HTML_COPY_FACTOR = 10
_CHARSET_HINT_PARTS = 200  # MIME parts looked at for the body charset hint
# Headers that make a block of "Name: value" lines an email rather than any other colon-separated text.
_EMAIL_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "received",
        "return-path",
        "mime-version",
        "content-type",
        "sender",
        "delivered-to",
        "reply-to",
        "cc",
    }
)


def parse_email(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    received_at: datetime | None = None,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> Envelope:
    """Parse one RFC 5322 message. Raises ParseError only when `raw` is not an email at all.

    The work is bounded: a body's text past `max_text_chars` is cut before quote stripping and routing, and what
    was cut is listed in `extras["truncated"]` (the stored raw mail keeps everything)."""
    repaired = repair_headers(raw)
    msg = _read(repaired.raw)
    if repaired.raw is raw or repaired.raw == raw:
        offer_parsed_mail(raw, msg)  # the masking gate reads the same mail next (Store.accept): parsed once
    notes = HeaderNotes(hint=_body_charset(msg))
    sender, sender_header = _sender(msg, notes)
    to = addresses(msg, "To", notes)
    recipient = _first(to)
    others = [a.address for a in [*to[1:], *addresses(msg, "Cc", notes)]]
    reply_to = _first(addresses(msg, "Reply-To", notes))
    subject = decode_header(msg, "Subject", notes)
    message_id = _first(message_ids(raw_header(msg, "Message-ID")))
    date = parse_date(raw_header(msg, "Date"))

    options = WalkOptions(max_attachment_bytes=max_attachment_bytes, notes=notes, max_text_chars=max_text_chars)
    body = read_body(msg, options)
    full_text = body_text(body, max_text_chars)
    reply = split_reply(full_text)
    text = reply.text or (body.forwarded[0]["text"] if body.forwarded and not reply.quoted else "")
    sender_address = sender.address if sender else ""
    flags = detect_flags(msg, sender=sender_address, subject=subject, has_dsn_part=body.report.has_status_part)
    return Envelope(
        channel=Channel.EMAIL,
        provider_id=message_id or f"sha256-{hashlib.sha256(raw).hexdigest()}@helpline.invalid",
        received_at=received_at or date or datetime.now(UTC),
        sender=Party(address=sender_address, name=sender.name if sender else None),
        recipient=Party(address=recipient.address, name=recipient.name) if recipient else None,
        other_recipients=list(dict.fromkeys(a.lower() for a in others if a)),
        subject=subject,
        text=text,
        language=detect_language(f"{subject}\n{text}"),
        attachments=body.attachments,
        message_id=message_id,
        in_reply_to=_first(message_ids(raw_header(msg, "In-Reply-To"))),
        references=message_ids(raw_header(msg, "References")),
        auto_submitted=flags.auto_submitted,
        bounce=flags.bounce,
        mailing_list=flags.mailing_list,
        flag_reasons=flags.reasons,
        extras=_extras(
            msg,
            body,
            notes,
            repairs=repaired.notes,
            sender_header=sender_header,
            max_html_chars=HTML_COPY_FACTOR * max_text_chars,
            reply_to_address=reply_to.address if reply_to else None,
            quoted=reply.quoted,
            signature=reply.signature,
            received_at_source="given" if received_at else "date" if date else "now",
            sent_at=date,
        ),
    )


def _read(raw: bytes) -> Message:
    if not raw.strip():
        raise ParseError("empty message")
    if b"\x00" in raw[:4096] and raw[:4096].count(b"\x00") > 16:
        raise ParseError("binary data, not an email (NUL bytes in the header section)")
    try:
        msg = BytesParser(policy=compat32).parsebytes(raw)
    except RecursionError as exc:  # the standard parser recurses once per MIME level
        raise ParseError("MIME parts nested too deep for the parser (about 900 levels or more)") from exc
    except Exception as exc:  # compat32 is lenient; anything escaping it means the bytes are not mail
        raise ParseError(f"not an email: {exc}") from exc
    names = {key.lower() for key, _ in msg.raw_items()}
    if not names & _EMAIL_HEADERS:
        raise ParseError("not an email: no email headers found")
    return msg


# Where a sender's address is looked for, in order, when the one before has none (`"Name" <>`, or no header at all).
# The SMTP MAIL FROM comes last; smtp_envelope.py applies it, since only the SMTP server knows it.
_SENDER_HEADERS = ("From", "Sender", "Reply-To", "Return-Path")


def _sender(msg: Message, notes: HeaderNotes) -> tuple[Address | None, str | None]:
    """The sender and the header it came from; the From display name is kept even when the address came later."""
    from_name = next((a.name for a in addresses(msg, "From", notes, local_parts=True) if a.name), None)
    for header in _SENDER_HEADERS:
        found = next((a for a in addresses(msg, header, notes, local_parts=True) if a.address), None)
        if found is not None:
            return Address(found.address, from_name or found.name), header
    return (Address("", from_name), None) if from_name else (None, None)


def _first(items: list[_T]) -> _T | None:
    return items[0] if items else None


def _body_charset(msg: Message) -> str | None:
    """The first declared text charset: the best hint for raw 8-bit headers, which mailers write in it.

    Walked depth-first like `Message.walk()`, but without recursion and only so far: `walk()` recurses, and a
    mail nested a few hundred levels deep would exhaust the stack here before body.py's depth bound is reached."""
    stack: list[Message] = [msg]
    for _ in range(_CHARSET_HINT_PARTS):
        if not stack:
            break
        part = stack.pop()
        if part.is_multipart():
            payload = part.get_payload()
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
            continue
        charset = part.get_param("charset") if part.get_content_maintype() == "text" else None
        if isinstance(charset, str) and charset.strip():
            return charset
    return None


def _extras(
    msg: Message,
    body: Body,
    notes: HeaderNotes,
    *,
    repairs: list[str],
    sender_header: str | None,
    max_html_chars: int,
    reply_to_address: str | None,
    quoted: str,
    signature: str,
    received_at_source: str,
    sent_at: datetime | None,
) -> dict[str, object]:
    cc = [a.address for a in addresses(msg, "Cc", notes)]
    html_copy = sanitise_html("\n".join(body.html), max_chars=max_html_chars) if body.html else None
    truncated = [*body.truncated, *([html_copy.note] if html_copy and html_copy.note else [])]
    return {
        "reply_to": reply_to_address,
        "cc": cc,
        "quoted_text": quoted,
        "signature": signature,
        "html": html_copy.html if html_copy else None,
        "charset_fallback": list(notes.notes),
        "repairs": repairs,  # what repair.py mended in the header section
        "truncated": truncated,  # what the size bounds cut: body text, the sanitised HTML copy
        "sender_header": sender_header,  # where the sender's address came from (see _SENDER_HEADERS)
        "forwarded": body.forwarded,
        "dsn": body.report.recipients,
        "bounced_message_id": body.report.returned_message_id,
        "received_at_source": received_at_source,
        "sent_at": sent_at.isoformat() if sent_at else None,  # the sender's Date header, as they claim it
    }
