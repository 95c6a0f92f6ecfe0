"""Real mail the parser used to misread: header repairs, sender fallbacks, legacy CJK header bytes, bad charsets."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.envelope import Party
from helpline.cli import app
from ingest.email.charsets import codec_for, decode_unlabelled
from ingest.email.parse import parse_email
from ingest.email.repair import repair_headers
from ingest.email.smtp_envelope import with_smtp_envelope

HEAD = b"To: support@helpline-wallet.example\r\nSubject: hi\r\nMessage-ID: <r-1@example.com>\r\n"


def test_a_well_formed_mail_keeps_its_exact_bytes() -> None:
    raw = b"From: a@example.com\r\n" + HEAD + b"\r\nbody line\r\nnot: a header\r\n"
    assert repair_headers(raw).raw is raw
    assert repair_headers(raw).notes == []


def test_junk_lines_before_the_headers_are_dropped_only_when_headers_follow() -> None:
    repaired = repair_headers(b"---- Original message ----\r\n\r\nFrom: a@example.com\r\n" + HEAD + b"\r\nbody\r\n")
    assert repaired.raw.startswith(b"From: a@example.com\r\n")
    assert repaired.notes == ["dropped 2 line(s) before the headers, the first '---- Original message ----'"]
    prose = b"Dear team, please see below\r\nthe refund is late\r\nFrom: a@example.com\r\n" + HEAD
    assert repair_headers(prose).notes == []  # prose, not a banner: left for the parser to refuse


def test_a_continuation_is_joined_only_inside_the_header_block() -> None:
    raw = b"From: a@example.com\r\nSubject: part one\r\npart two\r\nTo: s@example.com\r\n\r\nbody\r\n"
    assert parse_email(raw).subject == "part one part two"
    # No header after the stray line: it is where the body starts (a missing blank line), not a lost fold.
    raw = b"From: a@example.com\r\nTo: s@example.com\r\nSubject: hi\r\nthe body starts here\r\n"
    envelope = parse_email(raw)
    assert (envelope.subject, envelope.extras["repairs"]) == ("hi", [])
    # ...even when a line of that body looks like a header: only a well-known field name proves a header block.
    raw = b"From: a@example.com\r\nSubject: hi\r\nMy refund is late\r\nOrder: ORD-1\r\n\r\nthanks\r\n"
    envelope = parse_email(raw)
    assert (envelope.subject, envelope.extras["repairs"]) == ("hi", [])
    assert envelope.text.startswith("My refund is late\nOrder: ORD-1")


def test_obsolete_space_before_the_colon_is_read() -> None:
    envelope = parse_email(b"From  : a@example.com\r\nSubject : hello\r\n" + HEAD[36:] + b"\r\nbody\r\n")
    assert (envelope.sender.address, envelope.subject) == ("a@example.com", "hello")


@pytest.mark.parametrize(
    ("headers", "address", "where"),
    [
        (b'From: "Name" <>\r\nSender: s@example.com\r\nReply-To: r@example.com\r\n', "s@example.com", "Sender"),
        (b'From: "Name" <>\r\nReply-To: r@example.com\r\nReturn-Path: <p@x.com>\r\n', "r@example.com", "Reply-To"),
        (b'From: "Name" <>\r\nReturn-Path: <p@example.com>\r\n', "p@example.com", "Return-Path"),
        (b"From: MAILER-DAEMON\r\n", "mailer-daemon", "From"),
    ],
)
def test_the_sender_falls_back_header_by_header(headers: bytes, address: str, where: str) -> None:
    envelope = parse_email(headers + HEAD + b"\r\nbody\r\n")
    assert envelope.sender.address == address
    assert envelope.extras["sender_header"] == where
    if where != "From":
        assert envelope.sender.name == "Name"  # the From display name is still shown


def test_the_smtp_mail_from_is_the_sender_of_last_resort() -> None:
    envelope = parse_email(b'From: "Name" <>\r\n' + HEAD + b"\r\nbody\r\n")
    assert envelope.sender == Party(address="", name="Name")
    delivered = with_smtp_envelope(envelope, "Bounce.Box@Example.com", ["support@helpline-wallet.example"])
    assert delivered.sender == Party(address="bounce.box@example.com", name="Name")
    assert delivered.extras["sender_header"] == "MAIL FROM"
    named = with_smtp_envelope(parse_email(b"From: a@example.com\r\n" + HEAD + b"\r\nb\r\n"), "x@example.com", [])
    assert named.sender.address == "a@example.com"  # a header sender is never replaced


@pytest.mark.parametrize(
    ("text", "codec", "hint"),
    [
        ("口座がロックされました", "cp932", None),
        ("환불 요청", "cp949", None),
        ("提现三天还没到账", "gb18030", None),
        ("帳戶被鎖定了，請幫忙", "big5hkscs", None),
        ("返金について", "cp932", "shift_jis"),
        ("계정이 잠겼습니다", "cp949", "euc-kr"),
        ("充值失败", "gb18030", "big5"),  # a wrong hint loses to a much better reading
    ],
)
def test_raw_header_bytes_in_a_legacy_cjk_charset_are_detected(text: str, codec: str, hint: str | None) -> None:
    decoded = decode_unlabelled(text.encode(codec), hint, where="Subject")
    assert (decoded.text, decoded.charset) == (text, codec)


@pytest.mark.parametrize("label", ["utf\x00-8", "\udcff\udcfe", "x" * 300, "../../etc", "utf-8\r\nX: y"])
def test_a_garbage_charset_label_is_unknown_not_a_crash(label: str) -> None:
    assert codec_for(label) is None


def test_parse_reports_a_crashing_file_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser bug in one file (simulated: nothing known crashes it) is a JSON error line, not an aborted batch."""
    import ingest.email.parse_cli as parse_cli
    from ingest.email.parse import parse_email as real

    def crash_on_marker(raw: bytes) -> object:
        if b"CRASH-ME" in raw:
            raise ValueError("embedded null character")
        return real(raw)

    monkeypatch.setattr(parse_cli, "parse_email", crash_on_marker)
    bad, good = tmp_path / "bad.eml", tmp_path / "good.eml"
    bad.write_bytes(b"From: a@example.com\r\nSubject: CRASH-ME\r\n\r\nx\r\n")
    good.write_bytes(b"From: a@example.com\r\nSubject: fine\r\n\r\nx\r\n")
    result = CliRunner().invoke(app, ["parse", str(bad), str(good)])
    assert result.exit_code == 1
    first, second = result.stdout.splitlines()
    assert str(bad) in first and "parser crashed: ValueError('embedded null character')" in first
    assert '"subject": "fine"' in second


def test_a_nul_in_a_charset_label_parses_from_the_cli(tmp_path: Path) -> None:
    eml = tmp_path / "nul.eml"
    eml.write_bytes(b'From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset="utf\x00-8"\r\n\r\nhi\r\n')
    result = CliRunner().invoke(app, ["parse", str(eml)])
    assert result.exit_code == 0, result.stdout
    assert '"text": "hi"' in result.stdout
