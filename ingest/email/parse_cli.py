"""`helpline parse FILE... | -`: raw emails in, one JSON envelope summary per line out, in the order given."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from core.errors import ParseError
from ingest.email.parse import parse_email
from ingest.email.projection import summary

STDIN = "-"


def stdin_bytes() -> BinaryIO:
    """Binary stdin: raw mail must not pass through a text decoder (CliRunner's stand-in has `.buffer` too)."""
    return sys.stdin.buffer


def _line(source: str, raw: bytes) -> tuple[dict[str, object], bool]:
    try:
        envelope = parse_email(raw)
    except ParseError as exc:
        return {"file": source, "error": str(exc)}, False
    except Exception as exc:  # a parser bug: one bad file must not abort the batch (the SMTP shell dead-letters it)
        return {"file": source, "error": f"parser crashed: {exc!r}"}, False
    return {"file": source, **summary(envelope)}, True


def _read(source: str, stdin: BinaryIO) -> bytes:
    if source == STDIN:
        return stdin.read()
    return Path(source).read_bytes()


def parse_files(sources: Iterable[str], *, stdin: BinaryIO, echo: Callable[[str], None]) -> bool:
    """Print one JSON line per source; a source that cannot be read or parsed gets an error line. True if all parsed."""
    all_ok = True
    for source in sources:
        try:
            raw = _read(source, stdin)
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            line: dict[str, object] = {"file": source, "error": f"cannot read: {reason}"}
            ok = False
        else:
            line, ok = _line(source, raw)
        all_ok = all_ok and ok
        echo(json.dumps(line, ensure_ascii=False, sort_keys=False))
    return all_ok
