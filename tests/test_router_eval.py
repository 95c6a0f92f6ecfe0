"""The default settings.toml routes real customer messages: accuracy on tests/data/routing_eval.jsonl.

The evaluation set holds short messages in English and Chinese (simplified, traditional, Cantonese, full-width), each
with the category a support lead would pick. The default keywords must get at least 90% of them right.

Honest numbers: the keywords were tuned on this set, so its score (311/312) overstates new phrasing. The last batch
(the final 61 lines: 32 English, 29 Chinese, written before the keywords were touched) scored 65.6% (40/61) with
the keywords of the time — 17 of the 21 misses fell to `general` for want of any keyword, and "OTP not arriving"
went to security, "the app keeps loading" to top_up (`load` + `ing`). After tuning: 60/61 (the casino-charges
message still goes to payment). Earlier held-out batches scored 48% and 57% before tuning.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.envelope import Envelope, Party
from core.settings import load_settings
from router.engine import compile_router

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "routing_eval.jsonl"
TAXONOMY = {
    "account",
    "verification",
    "top_up",
    "payment",
    "transfer",
    "refund",
    "security",
    "cards",
    "fees",
    "feedback",
    "general",
}


def load_cases() -> list[dict[str, str]]:
    return [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_default_taxonomy_is_complete_and_described() -> None:
    settings = load_settings(ROOT / "settings.toml").router
    assert set(settings.categories) == TAXONOMY
    assert settings.default_category == "general"
    for name, category in settings.categories.items():
        assert category.description and category.label_en and category.label_zh, name
        if name != "general":
            assert len(category.keywords.en) >= 10 and len(category.keywords.zh) >= 10, name
    assert settings.categories["security"].priority == "urgent"


def test_evaluation_set_is_big_and_covers_every_category_in_both_languages() -> None:
    cases = load_cases()
    assert len(cases) >= 300
    per_category = Counter(c["category"] for c in cases)
    assert set(per_category) == TAXONOMY
    assert min(per_category.values()) >= 10
    chinese = sum(1 for c in cases if any("\u4e00" <= ch <= "\u9fff" for ch in c["text"]))
    assert chinese >= len(cases) // 3


def test_default_keywords_route_the_evaluation_set_at_least_90_percent_right() -> None:
    router = compile_router(load_settings(ROOT / "settings.toml").router)
    cases = load_cases()
    misses = []
    for case in cases:
        envelope = Envelope(
            channel="email",
            provider_id="eval",
            sender=Party(address="customer@example.com"),
            subject=case.get("subject", ""),
            text=case["text"],
        )
        decision = router.decide(envelope)
        if decision.category != case["category"]:
            misses.append(f"{case['text']!r}: expected {case['category']}, got {decision.category}")
    accuracy = 1 - len(misses) / len(cases)
    assert accuracy >= 0.9, f"accuracy {accuracy:.1%}; misses:\n" + "\n".join(misses)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("someone took money from my account without my permission", "security"),
        ("OTP not arriving", "account"),  # a code that does not arrive is a login problem, not fraud
        ("The app keeps loading forever", "general"),  # not top_up: `load` + `ing`
        ("Someone asked me to share my OTP on the phone", "security"),
        ("Can I load money from a bank card?", "top_up"),
    ],
)
def test_reviewed_misses_route_where_a_support_lead_would(text: str, category: str) -> None:
    router = compile_router(load_settings(ROOT / "settings.toml").router)
    envelope = Envelope(channel="email", provider_id="p", sender=Party(address="c@example.com"), text=text)
    assert router.decide(envelope).category == category


def test_the_legal_rule_does_not_fire_on_names_or_places() -> None:
    from pathlib import Path

    from core.envelope import Channel, Envelope, Party
    from core.settings import load_settings
    from router.engine import compile_router

    router = compile_router(load_settings(Path(__file__).resolve().parent.parent / "settings.toml").router)

    def tags(text: str) -> list[str]:
        envelope = Envelope(channel=Channel.EMAIL, provider_id=text, sender=Party(address="a@b.c"), text=text)
        return router.decide(envelope).tags

    assert "escalation-risk" not in tags("Hi, this is Sue. My top-up failed at the food court")
    assert "escalation-risk" in tags("If this is not fixed I will sue you")
    assert "escalation-risk" in tags("我要去法院起诉你们")
