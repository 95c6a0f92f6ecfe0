"""`python -m bench [NAME...]`: run the benchmarks and rewrite their sections of BENCHMARKS.md.

A section is the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; sections of benchmarks not run
this time are kept as they were.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import bench

OUTPUT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = """# Benchmarks

Measured with `make bench` (`python -m bench`). Each section compares Helpline with a baseline measured in the same
run on the same machine; read the ratios, the absolute numbers depend on the machine and its load.
"""


def main(names: list[str]) -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names or m in names]
    text = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else HEADER
    for name in chosen:
        print(f"running {name} ...", flush=True)
        section = importlib.import_module(f"bench.{name}").main().strip()
        stamp = f"_{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, {platform.machine()}_"
        block = f"<!-- bench:{name} -->\n{section}\n\n{stamp}\n<!-- /bench:{name} -->"
        pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
        match = pattern.search(text)
        text = text[: match.start()] + block + text[match.end() :] if match else f"{text.rstrip()}\n\n{block}\n"
        print(section, flush=True)
    OUTPUT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
