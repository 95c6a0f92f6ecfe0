"""The pieces under parse_email, one job each: charsets, header words, quote stripping, automatic-mail flags."""

from __future__ import annotations

import base64
import re
import unicodedata
from email.parser import BytesParser
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.email.autoreply import detect_flags
from ingest.email.charsets import codec_for, decode_bytes, decode_unlabelled
from ingest.email.headers import HeaderNotes, addresses, decode_header_bytes, message_ids
from ingest.email.quotes import normalise_whitespace, split_reply


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ('"GB2312"', "gb18030"),
        ("big5", "big5hkscs"),
        ("ks_c_5601-1987", "cp949"),
        ("iso-8859-1", "cp1252"),
        ("windows-1251", "cp1251"),
        ("utf8", "utf-8"),
        ("x-no-such-charset", None),
        ("unknown-8bit", None),
        (None, None),
    ],
)
def test_charset_labels_map_to_superset_codecs(label: str | None, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_gb2312_label_decodes_gbk_only_characters_without_a_note() -> None:
    decoded = decode_bytes("朱镕基 张喆".encode("gbk"), "gb2312")
    assert (decoded.text, decoded.note) == ("朱镕基 张喆", None)


def test_big5_label_decodes_hkscs_cantonese() -> None:
    assert decode_bytes("我哋唔該晒".encode("big5hkscs"), "big5").text == "我哋唔該晒"


def test_wrong_label_falls_back_with_a_note() -> None:
    decoded = decode_bytes("请帮我查一下充值记录，订单号123".encode("gbk"), "utf-8", where="text/plain")
    assert decoded.text == "请帮我查一下充值记录，订单号123"
    assert decoded.note is not None and decoded.note.startswith("text/plain: declared utf-8")


def test_utf8_labelled_latin1_is_read_as_utf8() -> None:
    decoded = decode_bytes("Réfund €5".encode(), "iso-8859-1")
    assert decoded.text == "Réfund €5"
    assert decoded.note is not None


def test_short_gbk_is_not_mistaken_for_utf8() -> None:
    # C7AE CEB0 is valid UTF-8 ("Ǯΰ") as well as GBK "钱伟"; the GBK label must win.
    assert decode_bytes("钱伟".encode("gbk"), "gb2312").text == "钱伟"


def test_undecodable_bytes_never_raise() -> None:
    decoded = decode_bytes(bytes(range(128, 256)), "utf-8")
    assert isinstance(decoded.text, str) and decoded.note is not None


@pytest.mark.parametrize("text", ["提现失败", "账户", "我的帳號被盜了", "帳戶被鎖定"])
def test_unlabelled_header_bytes_pick_the_right_chinese_codec(text: str) -> None:
    codec = "big5" if any(c in text for c in "帳號盜鎖") else "gbk"
    assert decode_unlabelled(text.encode(codec), None, where="Subject").text == text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_encoded_words_split_mid_character_are_joined() -> None:
    data = "我的充值失败了".encode()
    raw = f"=?UTF-8?B?{_b64(data[:4])}?= =?UTF-8?B?{_b64(data[4:])}?=".encode()
    assert decode_header_bytes(raw, HeaderNotes()) == "我的充值失败了"


def test_base64_text_split_mid_quantum_is_joined() -> None:
    whole = _b64("跨境汇款被退回".encode("gbk"))
    raw = f"=?gbk?B?{whole[:6]}?=\r\n =?gbk?B?{whole[6:]}?=".encode()
    assert decode_header_bytes(raw, HeaderNotes()) == "跨境汇款被退回"


def test_whitespace_between_words_is_dropped_but_kept_next_to_text() -> None:
    raw = b"=?utf-8?q?Top-up?= =?utf-8?q?_failed?= for order =?utf-8?b?5ZCX?=!"
    assert decode_header_bytes(raw, HeaderNotes()) == "Top-up failed for order 吗!"


def test_broken_words_degrade_to_readable_text() -> None:
    notes = HeaderNotes()
    raw = b"=?bogus?Q?caf=C3=A9?= =?utf-8?B?5oiR55qE?=X =?utf-8?B?not base64 ?="
    assert decode_header_bytes(raw, notes).startswith("café我的X")
    assert any("bogus" in note for note in notes.notes)


def test_raw_utf8_and_gbk_headers_decode() -> None:
    notes = HeaderNotes(hint="gbk")
    assert decode_header_bytes("Re: 充值".encode(), notes) == "Re: 充值"
    assert decode_header_bytes("Re: 充值".encode("gbk"), notes) == "Re: 充值"


def test_addresses_keep_commas_inside_quoted_names() -> None:
    msg = BytesParser(policy=compat32).parsebytes(
        b'To: "Keller, Anna" <Anna@X.example>, =?utf-8?B?5byg5LiJ?= <z@y.example>, bad\n\nx'
    )
    found = addresses(msg, "To", HeaderNotes())
    assert [(a.address, a.name) for a in found] == [("anna@x.example", "Keller, Anna"), ("z@y.example", "张三")]


def test_message_ids_skip_comments_and_duplicates() -> None:
    assert message_ids(b"<a@x> (John's message) <b@x> <a@x>") == ["a@x", "b@x"]
    assert message_ids(b"a@x b@x") == ["a@x", "b@x"]
    assert message_ids(None) == []


QUOTE_CASES = {
    "gmail": "Still broken.\n\nOn Mon, Nov 30, 2026 at 10:12 AM Support <s@x.example> wrote:\n> old",
    "gmail-wrapped": "Still broken.\n\nOn Mon, Nov 30, 2026 at 10:12 AM Support <\ns@x.example> wrote:\n> old",
    "gmail-zh": "还是不行。\n\n在 2026年11月1日周日 上午10:00，客服 <s@x.example> 写道：\n> old",
    "gmail-zh-yu": "还是不行。\n\n客服 <s@x.example> 于2026年11月1日周日 10:00写道：\n> old",
    "outlook": "Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\nSubject: x\n\nold",
    "outlook-line": "Still broken.\n________________________________\nFrom: Support\nSent: Monday\nTo: me\n\nold",
    "outlook-block": "Still broken.\n\nFrom: Support <s@x.example>\nDate: Monday\nTo: me\nSubject: x\n\nold",
    "outlook-zh": "还是不行。\n\n发件人: 客服\n发送时间: 2026年12月8日 17:00\n收件人: 我\n主题: 回复\n\nold",
    "qq": '还是不行。\n\n------------------ 原始邮件 ------------------\n发件人: "客服"<s@x.example>;\nold',
    "qq-fullwidth": "还是不行。\n\n发件人：客服\n发送时间：2026年12月11日\n收件人：我\n主题：提现\nold",
    "qq-english": "还是不行。\n------------------ Original ------------------\nFrom: s@x.example\nold",
    "163": "还是不行。\n\n---- 回复的原邮件 ----\n| 发件人 | 客服 |\nold",
    "apple": "Still broken.\n\n> On Nov 1, 2026, at 10:00, Support <s@x.example> wrote:\n>\n> old",
}


@pytest.mark.parametrize("name", list(QUOTE_CASES))
def test_quote_styles_are_stripped(name: str) -> None:
    split = split_reply(QUOTE_CASES[name])
    assert split.text in ("Still broken.", "还是不行。")
    assert split.quoted.endswith("old")


def test_a_single_from_line_in_the_customer_text_is_not_a_quote() -> None:
    text = "From: the app I get error E1027.\nIt happens every time."
    assert split_reply(text).text == "From: the app I get error E1027.\nIt happens every time."


def test_signature_and_mobile_footer_are_stripped() -> None:
    split = split_reply("Please call me.\n\n-- \nAna Costa\n+55 11 5555 0000")
    assert (split.text, split.signature) == ("Please call me.", "Ana Costa\n+55 11 5555 0000")
    assert split_reply("Please call me.\n\n发自我的iPhone").text == "Please call me."


def test_whitespace_is_normalised() -> None:
    assert normalise_whitespace("\ufeff a\u00a0\u00a0b \r\n\r\n\r\n\r\nc\u200b  \n") == "a b\n\nc"


@given(st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x85\u2028\u3000\xa0\u200b\u00ad&nbsp;ab中e\u0301", max_size=40))
@settings(max_examples=2000, deadline=None, derandomize=True)
def test_whitespace_is_normalised_as_line_by_line(text: str) -> None:
    """normalise_whitespace works on the whole text at once; the same as its definition, applied line by line."""
    text_nfc = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text_nfc = "".join(c for c in text_nfc if c not in "\u200b\u200c\u200d\u2060\ufeff\u00ad").replace("&nbsp;", " ")
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text_nfc.split("\n")]
    assert normalise_whitespace(text) == re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _flags(headers: str, sender: str = "c@x.example", subject: str = "hi") -> tuple[bool, bool, bool, list[str]]:
    msg = BytesParser(policy=compat32).parsebytes(headers.encode() + b"\n\nbody\n")
    flags = detect_flags(msg, sender=sender, subject=subject, has_dsn_part=False)
    return flags.auto_submitted, flags.bounce, flags.mailing_list, flags.reasons


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Auto-Submitted: auto-replied", (True, False, False)),
        ("Auto-Submitted: auto-generated", (True, False, False)),
        ("Precedence: bulk", (True, False, False)),
        ("Precedence: junk", (True, False, False)),
        ("Precedence: auto_reply", (True, False, False)),
        ("Precedence: list", (False, False, True)),
        ("X-Autoreply: yes", (True, False, False)),
        ("X-Autorespond: thanks", (True, False, False)),
        ("X-Auto-Response-Suppress: OOF, AutoReply", (True, False, False)),
        ("List-Id: <wallet.lists.example>", (False, False, True)),
        ("List-Unsubscribe: <mailto:leave@lists.example>", (False, False, True)),
        ("Return-Path: <>", (True, False, False)),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", (False, True, False)),
    ],
)
def test_each_automatic_mail_signal(headers: str, expected: tuple[bool, bool, bool]) -> None:
    auto, bounce, listed, reasons = _flags(headers)
    assert (auto, bounce, listed) == expected
    assert len(reasons) == 1


@pytest.mark.parametrize(
    "headers", ["Auto-Submitted: no", "Precedence: first-class", "X-Auto-Response-Suppress: None", "Return-Path: <c@x>"]
)
def test_a_person_typed_mail_is_not_flagged(headers: str) -> None:
    assert _flags(headers) == (False, False, False, [])


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("noreply@bank.example", (True, False)),
        ("no-reply@bank.example", (True, False)),
        ("do-not-reply@bank.example", (True, False)),
        ("donotreply@bank.example", (True, False)),
        ("mailer-daemon@mx.example", (False, True)),
        ("postmaster@mx.example", (False, True)),
        ("noreen@x.example", (False, False)),
    ],
)
def test_sender_based_flags(sender: str, expected: tuple[bool, bool]) -> None:
    auto, bounce, _listed, _reasons = _flags("X-Other: 1", sender=sender)
    assert (auto, bounce) == expected
