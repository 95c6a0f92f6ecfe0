"""Find the line a dotted settings key stands on, so that `helpline check` can point at it.

tomllib gives no positions, so this walks the text: it tracks the current `[table]` / `[[array.of.tables]]` header
(counting array entries) and matches `key =` lines, including dotted keys like `keywords.en = [...]`.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\" ]+?)\s*=")


def locate_key(text: str, dotted_key: str) -> int | None:
    """Return the 1-based line of `dotted_key` (e.g. `router.rules.2.when.regex`), or of its nearest parent."""
    want = dotted_key.split(".")
    best: tuple[int, int] | None = None  # (matched parts, line)
    table: list[str] = []
    array_counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts = _split(header.group(2))
            if header.group(1) == "[[":
                name = ".".join(parts)
                array_counts[name] = array_counts.get(name, -1) + 1
                table = [*parts, str(array_counts[name])]
            else:
                table = _with_indexes(parts, array_counts)
            best = _better(best, _prefix_len(table, want), number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            path = table + _split(assign.group(1))
            best = _better(best, _prefix_len(path, want), number)
    return best[1] if best and best[0] > 0 else None


def _split(dotted: str) -> list[str]:
    return [part.strip().strip('"') for part in dotted.split(".")]


def _with_indexes(parts: list[str], array_counts: dict[str, int]) -> list[str]:
    """`[router.rules.when]` inside the 3rd `[[router.rules]]` is `router.rules.2.when`."""
    out: list[str] = []
    for i, part in enumerate(parts):
        out.append(part)
        name = ".".join(parts[: i + 1])
        if name in array_counts and i + 1 < len(parts):
            out.append(str(array_counts[name]))
    return out


def _prefix_len(path: list[str], want: list[str]) -> int:
    if len(path) > len(want):
        return 0
    n = 0
    for a, b in zip(path, want, strict=False):
        if a != b:
            return 0
        n += 1
    return n


def _better(best: tuple[int, int] | None, matched: int, line: int) -> tuple[int, int] | None:
    if matched and (best is None or matched > best[0]):
        return (matched, line)
    return best
