"""Mend the header section of real mail before the MIME parser sees it, and say what was mended.

Three damages seen in held-out real mail, each of which made the standard parser treat every header after it as
body text (so the sender, the subject and the ids were lost):
  junk first line      a client's "---- Original message ----" (or a blank line) above the headers of a mail
                       saved raw: dropped when a header block follows within a few lines
  obsolete syntax      "From  : a@b" - RFC 5322 4.5 (obs-optional) allows white space before the colon, which
                       `email.feedparser` does not: the space is removed
  lost fold            a folded header whose continuation lost its leading white space ("Subject: one" /
                       "two"): a line that is no header, inside the header block (a well-known header such as Date
                       or X-… follows before the blank line), is joined to the header above
Only the header section is rewritten (the bytes up to the first blank line, at most `_MAX_HEADER_BYTES`), and only
when it is damaged, so a well-formed mail keeps its exact bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER = re.compile(rb"^[!-9;-~]+[ \t]*:")  # a field name (printable ASCII but ':'), obsolete WSP, colon
_OBSOLETE_WSP = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_UNIX_FROM = re.compile(rb"^From [^\s:]+ ")  # mbox's "From sender date" line, which the parser handles itself
# Field names that make a line after a stray one certainly a header (so the stray line is a lost fold, not the start of
# a body that lost its blank line and happens to contain "Order: 123").
_KNOWN_FIELD = re.compile(
    rb"^(?:from|to|cc|bcc|subject|date|message-id|in-reply-to|references|reply-to|sender|return-path|received|"
    rb"mime-version|importance|priority|user-agent|thread-[a-z]+|delivered-to|(?:x|content|list|dkim|arc|"
    rb"authentication|resent|auto)-[!-9;-~]*)[ \t]*:",
    re.IGNORECASE,
)
_MAX_JUNK_LINES = 3
_MAX_HEADER_BYTES = 1024 * 1024
_QUOTE_LIMIT = 60


@dataclass
class Repaired:
    raw: bytes
    notes: list[str] = field(default_factory=list)


def _is_header(line: bytes) -> bool:
    return bool(_HEADER.match(line)) and not _UNIX_FROM.match(line)


def _is_blank(line: bytes) -> bool:
    return not line.strip(b"\r\n")


def _shown(line: bytes) -> str:
    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
    return repr(text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…")


def repair_headers(raw: bytes) -> Repaired:
    """`raw` with its header section mended; `notes` says what was changed (empty: `raw` is returned unchanged)."""
    lines = raw[:_MAX_HEADER_BYTES].splitlines(keepends=True)
    notes: list[str] = []
    start = _junk_before_headers(lines)
    if start:
        notes.append(f"dropped {start} line(s) before the headers, the first {_shown(lines[0])}")
    end = start
    while end < len(lines) and not _is_blank(lines[end]):
        end += 1
    if end == len(lines) and len(raw) > _MAX_HEADER_BYTES:
        return Repaired(raw)  # the header section is longer than we look at: leave it to the parser
    block = lines[start:end]
    mended = _mend_block(block, notes)
    if not notes:
        return Repaired(raw)
    consumed = sum(len(line) for line in lines[:end])
    return Repaired(b"".join(mended) + raw[consumed:], notes)


def _junk_before_headers(lines: list[bytes]) -> int:
    """How many leading lines are not headers, when a header block (two header lines in a row) follows them."""
    if not lines or _is_header(lines[0]) or _UNIX_FROM.match(lines[0]):
        return 0
    for i in range(1, min(_MAX_JUNK_LINES + 1, len(lines) - 1)):
        if _is_header(lines[i]) and _is_header(lines[i + 1]):
            return i
        if not _is_blank(lines[i]) and not lines[i].startswith((b"-", b"=", b"*", b"_")):
            return 0  # prose, not a separator: this is not a saved mail with a banner on top
    return 0


def _mend_block(block: list[bytes], notes: list[str]) -> list[bytes]:
    if not block or not (_is_header(block[0]) or _UNIX_FROM.match(block[0])):
        return block  # no header block at all: nothing to mend, the parser refuses it
    mended: list[bytes] = []
    last_header = max((i for i, line in enumerate(block) if _KNOWN_FIELD.match(line)), default=-1)
    for i, line in enumerate(block):
        obsolete = _OBSOLETE_WSP.match(line)
        if obsolete and not _UNIX_FROM.match(line):
            notes.append(f"obsolete white space before the colon in {_shown(line)}")
            line = obsolete.group(1) + b":" + line[obsolete.end() :]
        elif (
            i > 0
            and not _is_header(line)
            and not line.startswith((b" ", b"\t"))
            and not _UNIX_FROM.match(line)
            and i < last_header
        ):
            notes.append(f"joined a header line that lost its folding white space: {_shown(line)}")
            line = b" " + line
        mended.append(line)
    return mended
