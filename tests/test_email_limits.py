"""The parser's work is bounded, and the envelope says what a bound cut (speed itself is measured in bench/)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from core.errors import ParseError
from ingest.email.html_text import MAX_HTML_DEPTH, html_to_text, nesting_depth, sanitise_html
from ingest.email.parse import parse_email


def _mail(body: str, subtype: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Alice Tan <alice@example.com>"
    message["To"] = "support@wallet.example"
    message["Subject"] = "Statement"
    message.set_content(body, subtype=subtype, charset="utf-8")
    return message.as_bytes()


def test_long_plain_text_is_cut_and_the_cut_is_noted() -> None:
    envelope = parse_email(_mail("My top-up failed. " + "lorem ipsum " * 20_000, "plain"), max_text_chars=5_000)
    assert envelope.text.startswith("My top-up failed.")
    assert len(envelope.text) <= 5_000
    (note,) = envelope.extras["truncated"]
    assert note == "text/plain: 240,019 characters; cut to the first 5,000"  # with the trailing newline


def test_a_big_html_mail_is_rendered_cut_and_sanitised_up_to_its_bounds() -> None:
    rows = "".join(f"<tr><td>2026-11-{i % 28 + 1:02d}</td><td>Top-up TU-{i:05d}</td></tr>" for i in range(40_000))
    html = f"<html><body><p>Dear support, my top-up failed.</p><table>{rows}</table></body></html>"
    envelope = parse_email(_mail(html, "html"), max_text_chars=10_000)
    assert envelope.text.startswith("Dear support, my top-up failed.\n")
    assert "TU-00000" in envelope.text and "TU-39999" not in envelope.text
    notes = envelope.extras["truncated"]
    assert any(n.startswith("text/html rendered: ") and n.endswith("cut to the first 10,000") for n in notes)
    assert any(n.startswith("html: ") and "keeps the first 100,000" in n for n in notes)
    assert 0 < len(envelope.extras["html"]) < 200_000


def test_small_mail_is_not_marked_truncated() -> None:
    assert parse_email(_mail("<p>hello</p>", "html")).extras["truncated"] == []


def test_deeply_nested_html_still_gives_its_text_but_no_sanitised_copy() -> None:
    html = "<div>" * 50_000 + "my wallet is locked" + "</div>" * 50_000
    envelope = parse_email(_mail(html, "html"))
    assert envelope.text == "my wallet is locked"
    assert envelope.extras["html"] is None
    assert envelope.extras["truncated"] == ["html: elements nested about 50,000 deep; no sanitised copy kept"]


def test_nesting_depth_counts_only_elements_that_nest() -> None:
    assert nesting_depth("<p>a<p>b<br><img src=x><li>c<div><span>d</span></div>") == 2
    assert nesting_depth("<b>" * 10) == 10
    assert nesting_depth("</div></div><div>") == 1
    flat = "<table>" + "<tr><td>x<td>y" * 1000 + "</table>"
    assert nesting_depth(flat) == 1 < MAX_HTML_DEPTH
    assert sanitise_html(flat).html is not None


def test_html_text_keeps_the_block_layout() -> None:
    html = (
        "<p>Hi,</p><p>my order:</p><table><tr><td>ORD-1</td><td>$5</td></tr></table><ul><li>one</li><li>two</li></ul>"
    )
    text = html_to_text(html)
    assert text.split("\n")[0] == "Hi,"
    assert "ORD-1" in text and "• one" in text and "• two" in text
    assert html_to_text("a\udcffb <br> c") == "a?b\nc"  # a lone surrogate does not stop the rendering
    assert html_to_text("   ") == ""


def _nested_mime(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nmy card was charged twice\r\n"
    for level in range(levels):
        boundary = b"b%d" % level
        body = b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n%s\r\n--%s--\r\n' % (
            boundary,
            boundary,
            body,
            boundary,
        )
    return b"From: a@example.com\r\nTo: s@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def test_mime_nesting_is_read_to_a_bound_and_refused_with_a_reason_beyond_the_parser() -> None:
    assert parse_email(_nested_mime(20)).text == "my card was charged twice"
    deep = parse_email(_nested_mime(300))
    assert (deep.text, deep.extras["truncated"]) == ("", ["MIME parts nested deeper than 64 levels were not read"])
    with pytest.raises(ParseError, match="nested too deep"):
        parse_email(_nested_mime(3000))
