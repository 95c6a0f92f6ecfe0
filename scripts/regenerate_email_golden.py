"""Rewrite tests/golden/email/*.json from the current parser; then review the diff (`git diff tests/golden/email`).

    .venv/bin/python scripts/regenerate_email_golden.py            # every .eml
    .venv/bin/python scripts/regenerate_email_golden.py NAME...    # only these (file stems or paths)

The JSON is `ingest.email.projection.golden_projection` of `parse_email(raw, max_attachment_bytes=GOLDEN_CAP)`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.email.parse import parse_email  # noqa: E402
from ingest.email.projection import GOLDEN_CAP, golden_projection  # noqa: E402

GOLDEN_DIR = ROOT / "tests" / "golden" / "email"


def render(eml: Path) -> str:
    envelope = parse_email(eml.read_bytes(), max_attachment_bytes=GOLDEN_CAP)
    return json.dumps(golden_projection(envelope), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(names: list[str]) -> int:
    wanted = {Path(n).stem for n in names}
    emls = sorted(p for p in GOLDEN_DIR.glob("*.eml") if not wanted or p.stem in wanted)
    for eml in emls:
        target = eml.with_suffix(".json")
        text = render(eml)
        changed = not target.exists() or target.read_text(encoding="utf-8") != text
        target.write_text(text, encoding="utf-8")
        print(f"{'updated' if changed else 'same   '} {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
