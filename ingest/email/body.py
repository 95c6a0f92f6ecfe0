"""Walk a MIME tree: pick the body text, collect attachments, forwarded messages and delivery reports.

Rules, in the order a reader of the mail would apply them:
  multipart/alternative  prefer text/plain, unless it is empty or a "view this in HTML" placeholder; keep the HTML
                         either way (sanitised, for agents) and the attachments of every alternative (inline images
                         live under the HTML one, inside multipart/related)
  multipart/related      the root part (first, or the `start` parameter) is the body; the rest are inline resources
  multipart/report       the human-readable part is the body; the delivery-status part and the returned message's
                         headers go to `dsn.py`
  message/rfc822         a forwarded mail: listed as an attachment and summarised (from, subject, date, text)
  other leaves           text/plain or text/html without a filename or "attachment" disposition are body text;
                         everything else is an attachment
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from core.envelope import Attachment
from ingest.email.charsets import decode_bytes, decode_unlabelled, html_declared_charset
from ingest.email.dsn import DeliveryReport, read_delivery_status, returned_message_id
from ingest.email.headers import (
    HeaderNotes,
    addresses,
    decode_header,
    decode_header_bytes,
    message_ids,
    raw_header,
    wire_bytes,
)
from ingest.email.html_text import html_to_text
from ingest.email.quotes import normalise_whitespace

_PLACEHOLDER = re.compile(
    r"(this is a multi-?part message in mime format|(?:email|mail) (?:client|program|reader) does not support html"
    r"|(?:use|requires?) an? html[- ](?:compatible|capable|enabled)|view (?:this|the) (?:message|email) in (?:a|your) "
    r"(?:browser|html)|此邮件(?:为|是)\s?html|请使用支持\s?html|您的邮件客户端不支持)",
    re.I,
)


@dataclass
class Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[dict[str, Any]] = field(default_factory=list)
    report: DeliveryReport = field(default_factory=DeliveryReport)
    truncated: list[str] = field(default_factory=list)  # what a size bound cut (extras["truncated"])

    @property
    def useful_plain(self) -> str:
        text = normalise_whitespace("\n\n".join(self.plain))
        if not text or (len(text) < 300 and _PLACEHOLDER.search(text)):
            return ""
        return text


@dataclass(frozen=True)
class WalkOptions:
    max_attachment_bytes: int
    notes: HeaderNotes
    max_text_chars: int = 100_000  # a text part past this is cut: quote stripping and routing need no more


def read_body(msg: Message, options: WalkOptions) -> Body:
    body = Body()
    _walk(msg, body, options, inline_context=False)
    return body


def body_text(body: Body, max_chars: int) -> str:
    """The readable text of a walked body: its plain text, or the HTML rendered when the plain text is useless;
    at most `max_chars` characters of it (a cut is noted in `body.truncated`)."""
    if body.useful_plain:
        return _cut(body.useful_plain, max_chars, "text/plain", body)
    rendered = html_to_text("\n".join(body.html))
    return normalise_whitespace(_cut(rendered, max_chars, "text/html rendered", body))


def _cut(text: str, max_chars: int, what: str, body: Body) -> str:
    if len(text) <= max_chars:
        return text
    note = f"{what}: {len(text):,} characters; cut to the first {max_chars:,}"
    if note not in body.truncated:
        body.truncated.append(note)
    return text[:max_chars]


MAX_MIME_DEPTH = 64  # real mail nests a handful of levels; a forward of a forward of a forward maybe twenty


def _walk(part: Message, body: Body, options: WalkOptions, *, inline_context: bool, depth: int = 0) -> None:
    ctype = part.get_content_type()
    if depth > MAX_MIME_DEPTH:
        note = f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels were not read"
        if note not in body.truncated:
            body.truncated.append(note)
        return
    if ctype == "message/rfc822":
        _forwarded(part, body, options, depth=depth)
    elif ctype == "message/delivery-status":
        body.report.has_status_part = True
        body.report.recipients += read_delivery_status(part)
    elif ctype == "text/rfc822-headers":
        payload = _payload(part)
        body.report.returned_message_id = body.report.returned_message_id or returned_message_id(payload)
    elif part.is_multipart():
        _multipart(part, ctype, body, options, inline_context=inline_context, depth=depth)
    elif _is_body_text(part, ctype):
        _text(part, ctype, body, options)
    else:
        body.attachments.append(_attachment(part, options, inline_context=inline_context))


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _multipart(
    part: Message, ctype: str, body: Body, options: WalkOptions, *, inline_context: bool, depth: int
) -> None:
    children = _children(part)
    if ctype == "multipart/alternative":
        walked = []
        for child in children:
            sub = Body()
            _walk(child, sub, options, inline_context=inline_context, depth=depth + 1)
            walked.append(sub)
        with_plain = [sub for sub in walked if sub.useful_plain]
        with_html = [sub for sub in walked if sub.html]
        # The last alternative is the richest (RFC 2046 5.1.4): take its HTML, and the first useful plain text.
        chosen_plain = with_plain[0] if with_plain else None
        chosen_html = with_html[-1] if with_html else None
        for sub in walked:
            body.attachments += sub.attachments
            body.forwarded += sub.forwarded
            body.report.merge(sub.report)
            body.truncated += [note for note in sub.truncated if note not in body.truncated]
        if chosen_plain is not None:
            body.plain += chosen_plain.plain
        if chosen_html is not None:
            body.html += chosen_html.html
        return
    if ctype == "multipart/related":
        start = part.get_param("start")
        root_index = 0
        if isinstance(start, str):
            wanted = start.strip("<> ")
            for i, child in enumerate(children):
                if str(child.get("Content-ID", "")).strip("<> ") == wanted:
                    root_index = i
        for i, child in enumerate(children):
            _walk(child, body, options, inline_context=inline_context or i != root_index, depth=depth + 1)
        return
    for child in children:
        if ctype == "multipart/report" and child.get_content_type() == "message/rfc822":
            # The message a DSN returns: its Message-ID links the bounce to the reply we sent.
            returned = _children(child)
            if returned and body.report.returned_message_id is None:
                body.report.returned_message_id = next(iter(message_ids(raw_header(returned[0], "Message-ID"))), None)
        _walk(child, body, options, inline_context=inline_context, depth=depth + 1)


def _is_body_text(part: Message, ctype: str) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    return part.get_content_disposition() != "attachment" and not _raw_filename(part)


_B64_LINE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")


def _payload(part: Message) -> bytes:
    """The decoded content; base64 is decoded leniently, skipping lines that are not base64 at all."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        try:
            raw = part.get_payload(decode=False)
        except (ValueError, LookupError):  # 8-bit bytes in the body make compat32 decode it with the charset label
            raw = None
        if isinstance(raw, str):
            return _lenient_b64(wire_bytes(raw))
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


_B64_BODY = re.compile(rb"[A-Za-z0-9+/=\s]*")
_B64_NOISE = b" \t\r\n\x0b\x0c="


def _lenient_b64(raw: bytes) -> bytes:
    if _B64_BODY.fullmatch(raw):
        good = raw.translate(None, _B64_NOISE)  # every line is base64: one pass in C (a 5 MB body in milliseconds)
    else:
        good = b"".join(ln.strip() for ln in raw.splitlines() if _B64_LINE.match(ln.strip())).replace(b"=", b"")
    if len(good) % 4 == 1:
        good = good[:-1]  # a lone trailing character encodes no whole byte
    return base64.b64decode(good + b"=" * (-len(good) % 4))


def _text(part: Message, ctype: str, body: Body, options: WalkOptions) -> None:
    data = _payload(part)
    label = part.get_param("charset")
    charset = label if isinstance(label, str) else None
    if ctype == "text/html" and charset is None:
        charset = html_declared_charset(data)
    decoded = decode_bytes(data, charset, where=ctype)
    options.notes.add(decoded.note)
    if ctype == "text/html":
        body.html.append(decoded.text)  # whole: rendering is linear, and the text is cut after it (body_text)
    else:
        body.plain.append(_unflow(_cut(decoded.text, options.max_text_chars, "text/plain", body), part))


def _unflow(text: str, part: Message) -> str:
    """Undo RFC 3676 format=flowed: a line ending in a space continues on the next line of the same quote depth."""
    if str(part.get_param("format") or "").lower() != "flowed":
        return text
    delsp = str(part.get_param("delsp") or "").lower() == "yes"
    out: list[str] = []
    pending: tuple[int, str] | None = None  # (quote depth, text so far) of a paragraph still flowing
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing (RFC 3676 4.4)
        if pending is not None and pending[0] == depth:
            content = pending[1] + content
        elif pending is not None:
            out.append(_quoted(*pending))
        pending = None
        if content.endswith(" ") and content != "-- ":
            pending = (depth, content[:-1] if delsp else content)
        else:
            out.append(_quoted(depth, content))
    if pending is not None:
        out.append(_quoted(*pending))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return f"{'>' * depth} {content}" if depth else content


def _raw_filename(part: Message) -> str | tuple[str, str, str] | None:
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = part.get_param(name, header=header)
        if value:
            return value  # type: ignore[return-value]  # compat32 yields str or the RFC 2231 (charset, lang, value)
    return None


def decode_filename(part: Message, notes: HeaderNotes) -> str | None:
    """The attachment's file name: RFC 2231 (`filename*=gbk''%B7…`, continuations), RFC 2047, or raw 8-bit."""
    raw = _raw_filename(part)
    if raw is None:
        return None
    if isinstance(raw, tuple):
        charset, _lang, value = raw
        data = value.encode("latin-1", "replace")  # RFC 2231 values come back percent-decoded as latin-1
        decoded = (
            decode_bytes(data, charset, where="filename")
            if charset
            else decode_unlabelled(data, notes.hint, where="filename")
        )
        notes.add(decoded.note)
        return decoded.text.strip() or None
    return decode_header_bytes(wire_bytes(str(raw)), notes, where="filename") or None


def _attachment(part: Message, options: WalkOptions, *, inline_context: bool) -> Attachment:
    data = _payload(part)
    disposition = part.get_content_disposition()
    content_id = part.get("Content-ID")
    cid = str(content_id).strip().strip("<>") if content_id else None
    inline = disposition == "inline" or (disposition is None and (inline_context or cid is not None))
    keep = len(data) <= options.max_attachment_bytes
    return Attachment(
        filename=decode_filename(part, options.notes),
        content_type=part.get_content_type(),
        size=len(data),
        inline=inline,
        content_id=cid or None,
        content_b64=base64.b64encode(data).decode("ascii") if keep else None,
        truncated=not keep,
    )


def _forwarded(part: Message, body: Body, options: WalkOptions, *, depth: int) -> None:
    children = _children(part)
    if not children:
        body.attachments.append(_attachment(part, options, inline_context=False))
        return
    inner = children[0]
    try:
        data = inner.as_bytes()
    except Exception:  # the generator can choke on a malformed inner message; its text form still has the size
        data = wire_bytes(inner.as_string())
    notes = options.notes
    subject = decode_header(inner, "Subject", notes)
    sender = addresses(inner, "From", notes)
    inner_body = Body()
    _walk(inner, inner_body, options, inline_context=False, depth=depth + 1)
    body.truncated += [note for note in inner_body.truncated if note not in body.truncated]
    body.forwarded.append(
        {
            "from": sender[0].address if sender else None,
            "subject": subject,
            "date": (raw_header(inner, "Date") or b"").decode("ascii", "replace").strip() or None,
            "message_id": next(iter(message_ids(raw_header(inner, "Message-ID"))), None),
            "text": body_text(inner_body, options.max_text_chars),
        }
    )
    keep = len(data) <= options.max_attachment_bytes
    body.attachments.append(
        Attachment(
            filename=decode_filename(part, notes) or f"{subject or 'message'}.eml",
            content_type="message/rfc822",
            size=len(data),
            inline=part.get_content_disposition() == "inline",
            content_b64=base64.b64encode(data).decode("ascii") if keep else None,
            truncated=not keep,
        )
    )
