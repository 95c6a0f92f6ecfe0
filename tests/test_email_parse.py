"""The `parse_email` contract the SMTP server and IMAP poller rely on."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.envelope import Channel, Envelope
from core.errors import ParseError
from ingest.email.parse import parse_email

GOLDEN = sorted((Path(__file__).resolve().parent / "golden" / "email").glob("*.eml"))


def mail(headers: str, body: bytes = b"hello\n") -> bytes:
    return headers.strip().encode() + b"\n\n" + body


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n  ",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        b"\x00" * 64 + b"From: a@b.c\n",
        b"hello world\n",
    ],
    ids=["empty", "whitespace", "png", "nul-bytes", "no-headers"],
)
def test_not_an_email_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_email(raw)


def test_a_minimal_mail_parses() -> None:
    env = parse_email(
        mail("From: Alice <Alice@Example.COM>\nTo: Support <support@x.example>, b@y.example\nSubject: hi")
    )
    assert isinstance(env, Envelope)
    assert env.channel is Channel.EMAIL
    assert (env.sender.address, env.sender.name) == ("alice@example.com", "Alice")
    assert env.recipient is not None and env.recipient.address == "support@x.example"
    assert env.text == "hello"
    assert env.language == "en"


def test_message_id_is_the_provider_id_without_brackets() -> None:
    env = parse_email(mail("From: a@b.example\nMessage-ID:  <abc.123@b.example> \nSubject: x"))
    assert env.provider_id == env.message_id == "abc.123@b.example"
    assert env.dedupe_key == "email:abc.123@b.example"


def test_missing_message_id_gets_a_stable_synthetic_id() -> None:
    raw = mail("From: a@b.example\nSubject: no id")
    env = parse_email(raw)
    assert env.message_id is None
    assert env.provider_id == f"sha256-{hashlib.sha256(raw).hexdigest()}@helpline.invalid"
    assert parse_email(raw).provider_id == env.provider_id
    assert parse_email(raw + b"x").provider_id != env.provider_id


def test_received_at_prefers_the_given_time_then_the_date_header() -> None:
    raw = mail("From: a@b.example\nDate: Mon, 2 Nov 2026 09:14:03 +0800")
    given = datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_email(raw, received_at=given).received_at == given
    assert parse_email(raw).received_at == datetime(2026, 11, 2, 1, 14, 3, tzinfo=UTC)
    before = datetime.now(UTC)
    undated = parse_email(mail("From: a@b.example\nDate: not a date at all"))
    assert undated.received_at >= before
    assert undated.extras["received_at_source"] == "now"


def test_threading_headers_are_kept_in_order_without_brackets() -> None:
    env = parse_email(
        mail("From: a@b.example\nIn-Reply-To: <p2@x> (comment)\nReferences: <r1@x>\n <r2@x> <r1@x>\n\t<p2@x>")
    )
    assert env.in_reply_to == "p2@x"
    assert env.references == ["r1@x", "r2@x", "p2@x"]


def _with_attachment(size: int) -> bytes:
    payload = base64.encodebytes(bytes(size)).decode()
    return mail(
        'From: a@b.example\nContent-Type: multipart/mixed; boundary="B"',
        (
            "--B\nContent-Type: text/plain\n\nsee attached\n--B\n"
            'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="f.bin"\n'
            f"Content-Transfer-Encoding: base64\n\n{payload}\n--B--\n"
        ).encode(),
    )


def test_attachment_content_is_kept_up_to_the_cap() -> None:
    env = parse_email(_with_attachment(1000), max_attachment_bytes=1000)
    (att,) = env.attachments
    assert (att.filename, att.size, att.truncated) == ("f.bin", 1000, False)
    assert att.content_b64 is not None and base64.b64decode(att.content_b64) == bytes(1000)


def test_attachment_over_the_cap_is_truncated_without_content() -> None:
    env = parse_email(_with_attachment(1001), max_attachment_bytes=1000)
    (att,) = env.attachments
    assert (att.size, att.truncated, att.content_b64) == (1001, True, None)


def test_default_cap_is_five_mebibytes() -> None:
    env = parse_email(_with_attachment(5 * 1024 * 1024 + 1))
    assert env.attachments[0].truncated
    assert not parse_email(_with_attachment(5 * 1024 * 1024)).attachments[0].truncated


def test_extras_always_carry_the_documented_keys() -> None:
    env = parse_email(mail("From: a@b.example\nCc: C <c@x.example>, d@x.example\nReply-To: R <r@x.example>"))
    assert env.extras["reply_to"] == "r@x.example"
    assert env.extras["cc"] == ["c@x.example", "d@x.example"]
    assert env.extras["quoted_text"] == ""
    assert env.extras["html"] is None
    assert env.extras["charset_fallback"] == []


def test_html_is_sanitised_for_agents_and_rendered_for_text() -> None:
    html = b'<p onclick="steal()">Top-up <b>failed</b></p><script>alert(1)</script><img src="cid:x@y">'
    env = parse_email(mail("From: a@b.example\nContent-Type: text/html; charset=utf-8", html))
    assert env.text == "Top-up failed"
    assert "<script" not in env.extras["html"] and "onclick" not in env.extras["html"]
    assert 'src="cid:x@y"' in env.extras["html"]


def test_language_comes_from_subject_and_text() -> None:
    subject = "=?UTF-8?B?" + base64.b64encode("充值失败".encode()).decode() + "?="
    env = parse_email(mail(f"From: a@b.example\nSubject: {subject}", b"TP123\n"))
    assert env.subject == "充值失败"
    assert env.language == "zh"


def _mutations(raw: bytes, seed: int) -> list[bytes]:
    """Deterministic damage: truncations, random byte flips at three densities, and mangled line endings."""
    rng = random.Random(seed)
    out = [raw[: len(raw) * k // 6] for k in range(1, 6)]
    for density in (200, 50, 10):
        for _ in range(4):
            flipped = bytearray(raw)
            for _ in range(max(1, len(raw) // density)):
                flipped[rng.randrange(len(raw))] = rng.randrange(256)
            out.append(bytes(flipped))
    out += [raw.replace(b"\n", b"\r"), raw.replace(b"=", b"=\n"), raw.replace(b"?=", b"?")]
    return out


@pytest.mark.parametrize("eml", GOLDEN, ids=[e.stem for e in GOLDEN])
def test_damaged_mail_never_crashes(eml: Path) -> None:
    """Truncated and bit-flipped mail yields an envelope or a ParseError, never another exception."""
    parsed = 0
    for damaged in _mutations(eml.read_bytes(), seed=len(eml.name)):
        try:
            parse_email(damaged)
        except ParseError:
            continue
        parsed += 1
    assert parsed >= 1  # the first half of a mail still has its headers
