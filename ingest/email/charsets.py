"""Decode bytes from a declared email charset, surviving wrong, unknown and missing labels.

Mail clients label text with a charset that is often narrower than what they wrote: "gb2312" bodies carry GBK-only
characters, "big5" carries HKSCS, "ks_c_5601-1987" is really cp949, "iso-8859-1" is really windows-1252 (WHATWG's
Encoding Standard maps it so for the same reason). We decode with the superset, and when a label is unknown, missing
or plainly wrong we ask charset-normalizer, then fall back to UTF-8 with replacement. Every fallback leaves a note so
agents can see that the text was guessed.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

# Label (lowercased, as found in mail) -> the Python codec that decodes everything the label is used for in practice.
ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "cp950": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949",
    "ksc5601": "cp949",
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that say "I don't know": treated as missing.
UNKNOWN_LABELS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "none", "x-user-defined"})

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str
    note: str | None = None


def codec_for(label: str | None) -> str | None:
    """The Python codec name for a mail charset label, or None when the label is missing or unknown."""
    if label is None:
        return None
    name = label.strip().strip("\"'").lower()
    if name in UNKNOWN_LABELS:
        return None
    name = ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL byte in the label ("utf\x00-8")
        return None


def _utf8_with_multibyte(data: bytes) -> str | None:
    """`data` decoded as UTF-8 when that succeeds strictly and uses multibyte sequences (which chance rarely forms)."""
    if data.isascii():
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _guess(data: bytes) -> tuple[str, str]:
    """Best guess for undeclared bytes: strict UTF-8, then charset-normalizer, then UTF-8 with replacement."""
    as_utf8 = _utf8_with_multibyte(data)
    if as_utf8 is not None:
        return as_utf8, "utf-8"
    best = from_bytes(data).best()
    if best is not None and best.encoding:
        codec = codec_for(best.encoding) or best.encoding
        return data.decode(codec, errors="replace"), codec
    return data.decode("utf-8", errors="replace"), "utf-8"


def decode_bytes(data: bytes, label: str | None, *, where: str = "body") -> Decoded:
    """Decode `data` labelled `label`; `where` names the part or header in the note left when we had to guess."""
    if data.isascii() and "utf-16" not in (label or "").lower() and "utf-32" not in (label or "").lower():
        # ASCII decodes the same under every label we accept, except the 7-bit stateful ones.
        codec = codec_for(label)
        if codec is None or not (codec.startswith("iso2022") or codec == "utf-7"):
            return Decoded(data.decode("ascii"), "ascii")
    codec = codec_for(label)
    if codec is None:
        text, guessed = _guess(data)
        if label and label.strip().strip("\"'").lower() not in UNKNOWN_LABELS:
            note = f"{where}: unknown charset {label!r}; decoded as {guessed}"
        else:
            note = f"{where}: no charset declared; decoded as {guessed}"
        return Decoded(text, guessed, note)
    if codec != "utf-8":
        # A mislabelled UTF-8 body decodes "fine" as latin-1 or even GBK, into mojibake; valid multibyte UTF-8 is
        # the stronger evidence, so it wins over the label (see _plausible_utf8 for when).
        as_utf8 = _utf8_with_multibyte(data)
        if as_utf8 is not None and _plausible_utf8(as_utf8, codec) and not _decodes_same(data, codec, as_utf8):
            return Decoded(as_utf8, "utf-8", f"{where}: declared {label} but the bytes are UTF-8")
    try:
        return Decoded(data.decode(codec), codec)
    except UnicodeDecodeError:
        pass
    text, guessed = _guess(data)
    return Decoded(text, guessed, f"{where}: declared {label} does not fit the bytes; decoded as {guessed}")


def _plausible_utf8(text: str, declared: str) -> bool:
    """Whether valid UTF-8 should override a declared multibyte (CJK) charset.

    Short GBK/Big5 strings are often valid UTF-8 too, but then they decode to two-byte sequences (U+0080-U+07FF:
    Latin-1 supplement, Greek, Cyrillic...); real UTF-8 Chinese is all three-byte characters. Single-byte labels
    are overridden whenever the bytes are valid UTF-8: latin-1 text almost never is.
    """
    if codecs.lookup(declared).name.startswith(("cp125", "iso8859", "latin", "ascii", "cp874", "koi8")):
        return True
    return not any(0x80 <= ord(c) < 0x800 for c in text)


def _decodes_same(data: bytes, codec: str, as_utf8: str) -> bool:
    try:
        return data.decode(codec) == as_utf8
    except UnicodeDecodeError:
        return False


# Multibyte charsets that raw 8-bit header bytes are tried in (beside UTF-8 and the body's charset): the legacy CJK
# encodings mailers still write unencoded into headers (Foxmail and old Outlook: GBK, Big5, Shift_JIS, EUC-KR).
_LEGACY_CJK = ("gb18030", "big5hkscs", "cp932", "cp949")
_SCORE_SAMPLE = 2_000  # characters scored per candidate: a huge header must not cost seconds
_HINT_BONUS = 0.1  # the body's declared charset is likely, but a much better reading of the bytes beats it


def _everyday(char: str, codec: str) -> bool:
    """Whether `char` is an everyday character of `codec`'s language; mojibake from another CJK charset mostly
    lands on rare ones (GBK-only hanzi, Big5 level 2, half-width katakana, UHC-extension Hangul, hanja)."""
    try:
        if codec == "gb18030":
            char.encode("gb2312")  # GB2312: the everyday simplified set
            return True
        if codec == "big5hkscs":
            return 0xA1 <= char.encode("big5")[0] <= 0xC6  # Big5 symbols and level-1 (common) hanzi
        if codec == "cp932":
            if "\u3040" <= char <= "\u30ff":  # hiragana and katakana: every Japanese sentence has them
                return True
            encoded = char.encode("cp932")
            return len(encoded) == 2 and 0x81 <= encoded[0] <= 0x98  # symbols and JIS level-1 kanji
        if codec == "cp949":
            encoded = char.encode("cp949")
            if len(encoded) != 2 or encoded[1] < 0xA1:
                return False  # UHC extension: the 8,822 syllables KS X 1001 left out
            return 0xA1 <= encoded[0] <= 0xAC or (0xB0 <= encoded[0] <= 0xC8)  # symbols, the 2,350 Hangul
    except UnicodeEncodeError:
        return False
    return True


def _everyday_share(text: str, codec: str) -> float:
    """Share of non-ASCII characters that are everyday ones in `codec`'s language."""
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return 1.0
    return sum(1 for c in wide if _everyday(c, codec)) / len(wide)


def decode_unlabelled(data: bytes, hint: str | None, *, where: str) -> Decoded:
    """Raw 8-bit text with no label of its own (a header, usually): too short for statistical detection alone.

    Strict UTF-8 first; otherwise every legacy CJK charset (and the message's body charset, the hint) that decodes
    the bytes strictly is scored by its share of everyday characters, the hint earning a small bonus and
    charset-normalizer's mess ratio breaking ties; charset-normalizer alone decides when none fits.
    """
    as_utf8 = _utf8_with_multibyte(data)
    if as_utf8 is not None or data.isascii():
        return Decoded(data.decode("utf-8"), "utf-8")
    hinted = codec_for(hint)
    if hinted is not None and (hinted.startswith(("cp125", "windows-125", "iso8859")) or hinted == "utf-8"):
        hinted = None  # a single-byte or UTF-8 body says nothing about which CJK charset a header is in
    candidates = list(dict.fromkeys([*([hinted] if hinted else []), *_LEGACY_CJK]))
    scored: list[tuple[float, float, int, str, str]] = []
    for order, codec in enumerate(candidates):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = text[:_SCORE_SAMPLE]
        share = _everyday_share(sample, codec) + (_HINT_BONUS if codec == hinted else 0.0)
        scored.append((share, -mess_ratio(sample, maximum_threshold=1.0), -order, codec, text))
    if scored:
        *_, codec, text = max(scored)
        return Decoded(text, codec, f"{where}: unencoded 8-bit text; decoded as {codec}")
    text, guessed = _guess(data)
    return Decoded(text, guessed, f"{where}: unencoded 8-bit text; decoded as {guessed}")


def html_declared_charset(html: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag near its start, if any."""
    found = _META_CHARSET.search(html[:4096])
    return found.group(1).decode("ascii") if found else None
