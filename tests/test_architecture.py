"""Imports point one way (shared/DESIGN.md §2): the adapters, the router, the senders, the templates and the record
know only `core`; nothing but the entry points imports `workers` or `web`. Walking the source keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"core", "ingest", "router", "channels", "templates", "workers", "web", "helpline", "record", "desk"}
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "router": {"core"},
    "channels": {"core"},
    "templates": set(),
    "record": {"core"},
    # The service layer the web app, the CLI and the workers share: never the web app or the workers themselves.
    "desk": {"core", "router", "channels", "templates", "record"},
    "web": {"core", "ingest", "channels", "templates", "router", "record", "desk"},
    "workers": {"core", "ingest", "router", "channels", "templates", "record", "desk"},
    "helpline": OURS,
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_imports_point_one_way() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {target}"
        for package, allowed in ALLOWED.items()
        for path in sorted((ROOT / package).rglob("*.py"))
        for target in sorted(imports_of(path) - allowed - {package})
    ]
    assert wrong == []
