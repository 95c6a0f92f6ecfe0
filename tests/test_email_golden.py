"""Golden pairs: each tests/golden/email/NAME.eml must parse to NAME.json (see ingest/email/projection.py).

After an intended parser change: `.venv/bin/python scripts/regenerate_email_golden.py`, then review `git diff`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.email.parse import parse_email
from ingest.email.projection import GOLDEN_CAP, golden_projection

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "email"
EMLS = sorted(GOLDEN_DIR.glob("*.eml"))


def test_the_corpus_is_complete() -> None:
    assert len(EMLS) >= 45
    missing = [eml.name for eml in EMLS if not eml.with_suffix(".json").exists()]
    assert missing == []
    orphans = [j.name for j in GOLDEN_DIR.glob("*.json") if not j.with_suffix(".eml").exists()]
    assert orphans == []


@pytest.mark.parametrize("eml", EMLS, ids=[e.stem for e in EMLS])
def test_golden(eml: Path) -> None:
    expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    actual = golden_projection(parse_email(eml.read_bytes(), max_attachment_bytes=GOLDEN_CAP))
    # Round-trip through JSON so tuples/lists and key order compare the way the file stores them.
    assert json.loads(json.dumps(actual)) == expected


@pytest.mark.parametrize("eml", EMLS, ids=[e.stem for e in EMLS])
def test_golden_is_deterministic_and_readable(eml: Path) -> None:
    """Every golden mail yields a sender and some text or a flag, and parsing twice gives the same envelope."""
    raw = eml.read_bytes()
    first, second = parse_email(raw), parse_email(raw)
    assert first.provider_id == second.provider_id
    assert first.text == second.text
    assert "\ufffd" not in first.text, "a replacement character means a charset was decoded wrongly"
    assert "\ufffd" not in first.subject
    assert first.sender.address or first.flag_reasons
