"""The lock's inputs: pyproject.toml's requirements, and whether constraints.txt was made from them.

`python3 scripts/lock_inputs.py check` (run by make before it installs anything) exits 1 with the reason when
pyproject.toml's dependencies or extras changed since `make lock` last wrote constraints.txt, or when a requirement
has no pin there: installing would otherwise quietly take whatever version PyPI serves that day.
`python3 scripts/lock_inputs.py digest` prints the digest `make lock` records in the header of constraints.txt.
Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "constraints.txt"
DIGEST_LINE = "# inputs-sha256: "
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    return [
        *project.get("dependencies", []),
        *(f"[{extra}] {req}" for extra in sorted(extras) for req in extras[extra]),
    ]


def digest() -> str:
    return hashlib.sha256("\n".join(sorted(requirements())).encode()).hexdigest()


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def problems() -> list[str]:
    if not LOCK.is_file():
        return [f"{LOCK.name} is missing"]
    text = LOCK.read_text(encoding="utf-8")
    found = []
    recorded = next(
        (line[len(DIGEST_LINE) :].strip() for line in text.splitlines() if line.startswith(DIGEST_LINE)), ""
    )
    if recorded != digest():
        found.append("pyproject.toml's dependencies changed since constraints.txt was made")
    pinned = {
        normalized(line.split("==")[0]) for line in text.splitlines() if "==" in line and not line.startswith("#")
    }
    for requirement in requirements():
        match = _NAME.match(requirement.split("] ", 1)[-1])
        if match and normalized(match.group(1)) not in pinned:
            found.append(f"{match.group(1)} has no pin in constraints.txt")
    return found


def main(argv: list[str]) -> int:
    if argv == ["digest"]:
        print(digest())
        return 0
    if argv == ["check"]:
        found = problems()
        for problem in found:
            print(f"error: {problem}", file=sys.stderr)
        if found:
            print("run `make lock` to pin what pyproject.toml asks for, and commit constraints.txt", file=sys.stderr)
        return 1 if found else 0
    print("usage: lock_inputs.py check|digest", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
