"""Split a reply into the customer's new text and what it quotes, for Western and Chinese mail clients.

The separators come from what the clients write (FreeScout's list is the only one with QQ in it; we add more):
  Gmail / Apple Mail   "On Mon, 2 Nov 2026 at 10:00, Helpline <support@…> wrote:" (may wrap onto two lines)
  Gmail zh / 163 / 126 "在 2026年11月1日 …，Helpline <support@…> 写道：", "… 于2026年11月1日周日 10:00写道："
  Outlook              "-----Original Message-----", "________________" then "From: … Sent: …",
                       a bare "From:/Sent:/To:/Subject:" block, Chinese "发件人:/发送时间:/收件人:/主题:"
  QQ / Foxmail         "------------------ 原始邮件 ------------------" (or "Original"), then "发件人:" block
  163 / 126            "---- 回复的原邮件 ----"
  any                  lines starting with ">"
Also strips the signature after a "-- " line and mobile footers ("Sent from my iPhone", "发自我的iPhone").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = [
    re.compile(
        r"^-{2,}\s*(?:Original Message|Forwarded message|原始邮件|邮件原件|回复的原邮件|Original)\s*-{2,}\s*$", re.I
    ),
    re.compile(r"^_{10,}\s*$"),
]
_ATTRIBUTION = [
    re.compile(r"^(?:On|Le|Am|El)\s.{4,300}(?:wrote|a écrit|schrieb|escribió)\s*:\s*$", re.I),
    re.compile(r"^.{0,300}写道\s*[:：]\s*$"),
    re.compile(r"^.{0,300}寫道\s*[:：]\s*$"),
]
# One line of an Outlook/QQ header block: "From: …", "发件人：…"; a block needs a From line plus another field.
_FROM_FIELD = re.compile(r"^\*?(?:From|发件人|寄件者|發件人)\*?\s*[:：]", re.I)
_OTHER_FIELD = re.compile(
    r"^\*?(?:Sent|Date|To|Subject|Cc|发送时间|日期|时间|收件人|抄送|主题|主旨|寄件日期|收件者|傳送時間|主題)\*?\s*[:：]",
    re.I,
)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^(?:Sent from (?:my )?(?:iPhone|iPad|Android|Samsung|Huawei|Xiaomi|mobile|Mail for Windows)\b.*"
    r"|Get Outlook for (?:iOS|Android).*|发自我的\s?(?:iPhone|iPad|华为|小米|手机).*|从我的\s?(?:iPhone|iPad)\s?发送"
    r"|发自网易邮箱.*|来自\s?(?:QQ邮箱|网易邮箱).*)$",
    re.I,
)
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # 6x faster than str.translate with a dict
_HSPACE = re.compile(r"[^\S\n]+")
# A blank other than a space or a line break: with two spaces in a row (found by `in`), all _HSPACE would change.
# Two in three mails have neither, and skip it.
_ODD_SPACE = re.compile(r"[^\S \n]")
_BLANKS = re.compile(r"\n\n\n+")  # a literal start the engine looks for in C; "\n{3,}" is tried at every character


@dataclass(frozen=True)
class Split:
    text: str  # the new text, normalised
    quoted: str  # everything quoted, normalised
    signature: str


def normalise_whitespace(text: str) -> str:
    """NFC, \\n newlines, no invisible characters, single spaces, at most one blank line, trimmed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text).replace("&nbsp;", " ")  # QQ Mail writes literal "&nbsp;" into its text/plain parts
    if "  " in text or _ODD_SPACE.search(text):
        text = _HSPACE.sub(" ", text)
    text = text.replace(" \n", "\n").replace("\n ", "\n")  # a line's edges hold one space at most by now
    return _BLANKS.sub("\n\n", text).strip()


def _cut_index(lines: list[str]) -> int | None:
    """Index of the first line of the quoted part, or None when nothing is quoted this way."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(p.match(stripped) for p in _SEPARATORS):
            return i
        joined = stripped if i + 1 >= len(lines) else f"{stripped} {lines[i + 1].strip()}"
        if any(p.match(stripped) for p in _ATTRIBUTION):
            return i
        # Gmail wraps long attributions: "On …, Helpline <" / "support@example.com> wrote:".
        if stripped.startswith("On ") and any(p.match(joined) for p in _ATTRIBUTION):
            return i
        if _FROM_FIELD.match(stripped) and _header_block_follows(lines, i):
            return i
    return None


def _header_block_follows(lines: list[str], start: int) -> bool:
    following = [ln.strip() for ln in lines[start + 1 : start + 6] if ln.strip()]
    return sum(1 for ln in following[:4] if _OTHER_FIELD.match(ln)) >= 2


def split_reply(text: str) -> Split:
    """Separate the new text from the quoted reply and the signature."""
    lines = normalise_whitespace(text).split("\n")
    quoted: list[str] = []
    cut = _cut_index(lines)
    if cut is not None:
        quoted = lines[cut:]
        lines = lines[:cut]
    kept: list[str] = []
    inline_quotes: list[str] = []
    for line in lines:
        (inline_quotes if line.startswith(">") else kept).append(line)
    signature: list[str] = []
    for i, line in enumerate(kept):
        if _SIGNATURE.match(line):
            signature, kept = kept[i + 1 :], kept[:i]
            break
    while kept and (not kept[-1].strip() or _MOBILE_FOOTER.match(kept[-1].strip())):
        if kept[-1].strip():
            signature.insert(0, kept[-1])
        kept.pop()
    return Split(
        text=normalise_whitespace("\n".join(kept)),
        quoted=normalise_whitespace("\n".join(inline_quotes + quoted)),
        signature=normalise_whitespace("\n".join(signature)),
    )
