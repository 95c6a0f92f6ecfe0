"""`helpline parse FILE... | -`: JSON Lines in the order given, an error line per unreadable file, exit 1 if any."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from helpline.cli import app

GOLDEN = Path(__file__).resolve().parent / "golden" / "email"


def run(args: list[str], stdin: bytes | None = None) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["parse", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines


def test_files_print_one_envelope_line_each_in_order() -> None:
    names = ["gb2312_topup_failed", "nested_mixed_related_alternative", "bounce_dsn_mailer_daemon"]
    code, lines = run([str(GOLDEN / f"{n}.eml") for n in names])
    assert code == 0
    assert [Path(str(line["file"])).stem for line in lines] == names
    first = lines[0]
    assert first["sender"] == {"address": "wangfang88@163.com", "name": "王芳"}
    assert first["subject"] == "充值失败，钱已扣款但余额没有到账"
    assert first["language"] == "zh"
    assert str(first["text"]).startswith("您好")
    assert first["message_id"] == "202611020914030011@163.com"
    for key in ("in_reply_to", "references", "auto_submitted", "bounce", "mailing_list", "flag_reasons"):
        assert key in first
    assert lines[2]["bounce"] is True and lines[2]["flag_reasons"]


def test_attachments_are_listed_without_content() -> None:
    _code, (line,) = run([str(GOLDEN / "nested_mixed_related_alternative.eml")])
    attachments = line["attachments"]
    assert isinstance(attachments, list)
    assert [(a["filename"], a["content_type"], a["inline"]) for a in attachments] == [
        ("image001.png", "image/png", True),
        ("Statement Nov 2026.pdf", "application/pdf", False),
    ]
    assert all("content_b64" not in a and a["size"] > 0 for a in attachments)


def test_stdin_dash_reads_one_raw_message_as_bytes() -> None:
    raw = (GOLDEN / "gbk_raw_8bit_headers.eml").read_bytes()
    code, (line,) = run(["-"], stdin=raw)
    assert code == 0
    assert (line["file"], line["subject"]) == ("-", "提现三天还没到账")


def test_unreadable_files_get_an_error_line_and_the_rest_still_run(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    good = GOLDEN / "quote_gmail_en_wrapped.eml"
    missing = tmp_path / "missing.eml"
    code, lines = run([str(missing), str(tmp_path), str(garbage), str(good)])
    assert code == 1
    assert [line["file"] for line in lines] == [str(missing), str(tmp_path), str(garbage), str(good)]
    assert all(set(line) == {"file", "error"} for line in lines[:3])
    assert "No such file" in str(lines[0]["error"])
    assert "not an email" in str(lines[2]["error"])
    assert (
        lines[3]["text"]
        == "Thanks, but the refund still hasn't arrived. It has been 5 business days now.\nCan you escalate this?"
    )
