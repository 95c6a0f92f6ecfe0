"""Property-based tests (hypothesis): no input crashes the email parser, and the SMTP server answers every mail.

Inputs are generated mail and mutations of the golden corpus: byte flips, truncation, huge headers, deep MIME
nesting, invalid UTF-8, garbage charset labels. The parser must give an envelope or a ParseError; the real SMTP
server (over smtplib, into a real Redis) must store each mail or dead-letter it with a reason, and answer 250 either
way. Seeded (`derandomize=True`) and bounded, so a run is the same on every machine and day.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import ParseError
from core.settings import Settings
from core.store import Store
from ingest.email.parse import parse_email
from ingest.email.smtp_server import controller
from tests.support.ports import free_port

GOLDEN = sorted((Path(__file__).resolve().parent / "golden" / "email").glob("*.eml"))
CORPUS = [eml.read_bytes() for eml in GOLDEN]
PROPERTY = settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GARBAGE_CHARSETS = st.sampled_from(
    [b"utf\x00-8", b"\xff\xfe", b"gb2312\x00", b"x" * 500, b"", b'"', b"utf-8'en'", b"../../../etc/passwd", b"\x1b$B"]
) | st.binary(min_size=1, max_size=24)


@st.composite
def mutated_golden(draw: st.DrawFn) -> bytes:
    """A golden mail with one to four kinds of damage applied in turn."""
    raw = bytearray(draw(st.sampled_from(CORPUS)))
    for kind in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        raw = bytearray(kind(draw, bytes(raw)))
    return bytes(raw)


def _flip_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(draw(st.integers(1, 40))):
        if out:
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


def _truncate(draw: st.DrawFn, raw: bytes) -> bytes:
    return raw[: draw(st.integers(0, len(raw)))]


def _huge_header(draw: st.DrawFn, raw: bytes) -> bytes:
    name = draw(st.sampled_from([b"Subject", b"From", b"To", b"References", b"Content-Type", b"X-Spam"]))
    unit = draw(st.sampled_from([b"a", b"=?utf-8?B?5L2g5aW9?= ", b"<x@y> ", b"\xe4\xbd\xa0", b"\r\n x", b"\xb2\xe2"]))
    return name + b": " + unit * draw(st.integers(1_000, 60_000)) + b"\r\n" + raw


def _deep_mime(draw: st.DrawFn, raw: bytes) -> bytes:
    head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    for level in range(draw(st.integers(1, 300))):
        boundary = b"nest%d" % level
        inner = (
            (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--' + boundary + b"\r\n" + inner)
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    kept = b"\r\n".join(ln for ln in head.splitlines() if not ln.lower().startswith(b"content-type"))
    return kept + b"\r\nMIME-Version: 1.0\r\n" + inner


def _invalid_utf8(draw: st.DrawFn, raw: bytes) -> bytes:
    junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe4\xbd", b"\x00"]))
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + junk * draw(st.integers(1, 50)) + raw[at:]


def _garbage_charset(draw: st.DrawFn, raw: bytes) -> bytes:
    label = draw(GARBAGE_CHARSETS)
    out, found, start = raw, 0, 0
    while (at := out.lower().find(b"charset=", start)) >= 0 and found < 5:
        end = at + len(b"charset=")
        while end < len(out) and out[end : end + 1] not in (b";", b"\r", b"\n"):
            end += 1
        out = out[: at + len(b"charset=")] + label + out[end:]
        start, found = at + len(b"charset=") + len(label), found + 1
    return out if found else b"Content-Type: text/plain; charset=" + label + b"\r\n" + raw


MUTATIONS = [_flip_bytes, _truncate, _huge_header, _deep_mime, _invalid_utf8, _garbage_charset]


@st.composite
def generated_mail(draw: st.DrawFn) -> bytes:
    """Mail built from parts: any header text (raw 8-bit or encoded-words), any charset label, any body bytes."""
    text = st.text(max_size=80)
    header_value = st.one_of(
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=80),
        text.map(lambda t: b"=?" + draw(GARBAGE_CHARSETS) + b"?B?" + t.encode("utf-8", "surrogatepass") + b"?="),
    )
    names = st.sampled_from([b"From", b"To", b"Cc", b"Subject", b"Sender", b"Reply-To", b"Return-Path", b"Date"])
    headers = draw(st.lists(st.tuples(names, header_value), min_size=1, max_size=8))
    lines = [
        name + draw(st.sampled_from([b": ", b":", b"  : "])) + value.replace(b"\n", b" ") for name, value in headers
    ]
    ctype = draw(st.sampled_from([b"text/plain", b"text/html", b"multipart/alternative", b"message/rfc822"]))
    cte = draw(st.sampled_from([b"7bit", b"8bit", b"base64", b"quoted-printable", b"x-unknown"]))
    lines.append(b"Content-Type: " + ctype + b"; charset=" + draw(GARBAGE_CHARSETS) + b'; boundary="b"')
    lines.append(b"Content-Transfer-Encoding: " + cte)
    body = draw(st.binary(max_size=2_000) | text.map(lambda t: t.encode("utf-8", "surrogatepass")))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parses_or_refuses(raw: bytes) -> None:
    try:
        envelope = parse_email(raw)
    except ParseError as exc:
        assert str(exc)  # a refusal always says why
        return
    json.dumps(envelope.model_dump(mode="json"))  # what the store writes must serialise
    assert isinstance(envelope.text, str) and isinstance(envelope.sender.address, str)


@PROPERTY
@given(mutated_golden())
def test_the_parser_survives_damaged_golden_mail(raw: bytes) -> None:
    _parses_or_refuses(raw)


@PROPERTY
@given(generated_mail())
def test_the_parser_survives_generated_mail(raw: bytes) -> None:
    _parses_or_refuses(raw)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.binary(max_size=4_000))
def test_the_parser_survives_arbitrary_bytes(raw: bytes) -> None:
    _parses_or_refuses(raw)


@pytest.fixture
def smtp_port(settings: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    yield port
    server.stop()


SMTP_PROPERTY = settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SMTP_PROPERTY
@given(mutated_golden() | generated_mail() | st.binary(min_size=1, max_size=500))
def test_the_smtp_server_stores_or_dead_letters_every_mail(
    smtp_port: int, store: Store, settings: Settings, raw: bytes
) -> None:
    """Each mail is answered 250 and either stored or dead-lettered with a reason (one server across examples,
    so the test counts what each example added)."""
    messages, letters = len(store.message_ids()), {letter.id for letter in store.dead_letters()}
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail("customer@example.com")
        client.rcpt("support@wallet.example")
        code, reply = client.data(raw)
    longest = max((len(line) for line in raw.replace(b"\r\n", b"\n").split(b"\n")), default=0)
    if longest > settings.email.inbound.max_line_bytes:
        assert code == 500  # over the configured line limit: refused before the handler, nothing stored
        event("refused: line too long")
        return
    if not raw.strip(b"\r\n\t ."):
        event("refused: empty")
        assert code == 554  # an empty message (smtplib's dot-stuffing leaves nothing else to refuse)
        return
    assert code == 250, reply
    added_messages = len(store.message_ids()) - messages
    new_letters = [letter for letter in store.dead_letters() if letter.id not in letters]
    event(reply.decode().split(" as ")[0])
    if b"Already received" in reply:
        assert added_messages == 0 and new_letters == []
    elif b"Kept for review" in reply:
        assert added_messages == 0 and len(new_letters) == 1 and new_letters[0].error
    else:
        assert added_messages == 1 and new_letters == []
