"""The rule index (guards, regex prefilters) is an optimisation only: it must never change a decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_router import generated_rules, realistic_rules, settings_with
from core.envelope import Attachment, Channel, Decision, Envelope, Party
from router.engine import RoutingContext, compile_router
from router.regex_guard import required_literals

ROOT = Path(__file__).resolve().parent.parent


def comparable(decision: Decision) -> tuple[object, ...]:
    # A skipped rule's reason is its guard's failure, which may differ from the first failing check of a full
    # evaluation ("none of the keywords" rather than "channel is not sms"); which rules were tried, which matched,
    # and everything decided must be identical.
    rules = [
        (e["rule"], e["matched"], e.get("why") if e["matched"] else None, e.get("actions"))
        for e in decision.trace
        if e["step"] == "rule"
    ]
    return (
        decision.category,
        decision.priority,
        decision.queue,
        decision.tags,
        decision.template,
        decision.suppress_ack,
        decision.reasons,
        rules,
    )


def varied_messages() -> list[tuple[Envelope, RoutingContext]]:
    lines = (ROOT / "tests" / "data" / "routing_eval.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    texts += [
        "order 0041234 was never delivered",
        "订单 #1201234 退款",
        "promo code rulekw3 travel",
        "rulekw5 学生 股票",
    ]
    channels = list(Channel)
    out = []
    for i, text in enumerate(texts):
        envelope = Envelope(
            channel=channels[i % len(channels)],
            provider_id=str(i),
            sender=Party(address=[f"x@corp{i % 16}.example", f"vip{i % 16}@example.com", "a@b.c"][i % 3]),
            recipient=Party(address=f"+1555000{i % 40:04d}") if i % 2 else None,
            text=text,
            language=["en", "zh", "zh-tw"][i % 3],
            attachments=[Attachment(filename="a.png")] if i % 4 == 0 else [],
        )
        context = RoutingContext(
            new_conversation=i % 5 != 0,
            contact_tags=frozenset([["vip"], [f"segment{i % 30}"], []][i % 3]),
            in_business_hours=[True, False, None][i % 3],
        )
        out.append((envelope, context))
    return out


@pytest.mark.parametrize("count", [40, 200])
def test_indexed_and_exhaustive_evaluation_decide_the_same(count: int) -> None:
    settings = settings_with(generated_rules(count))
    indexed = compile_router(settings)
    exhaustive = compile_router(settings, index_rules=False)
    matched = 0
    for envelope, context in varied_messages():
        fast, slow = indexed.decide(envelope, context), exhaustive.decide(envelope, context)
        assert comparable(fast) == comparable(slow), envelope.text
        matched += any(e.get("matched") for e in fast.trace if e["step"] == "rule")
    assert matched > 10  # the comparison covers matching rules, not only misses


def test_the_benchmarks_realistic_rules_decide_the_same_both_ways() -> None:
    settings = settings_with(realistic_rules(200))
    indexed, exhaustive = compile_router(settings), compile_router(settings, index_rules=False)
    matched = 0
    for envelope, context in varied_messages():
        fast = indexed.decide(envelope, context)
        assert comparable(fast) == comparable(exhaustive.decide(envelope, context)), envelope.text
        matched += sum(1 for e in fast.trace if e.get("matched"))
    assert matched > len(varied_messages())  # more than one matching rule per message on average


def test_default_settings_decide_the_same_both_ways() -> None:
    from core.settings import load_settings

    settings = load_settings(ROOT / "settings.toml").router
    indexed, exhaustive = compile_router(settings), compile_router(settings, index_rules=False)
    for envelope, context in varied_messages():
        assert comparable(indexed.decide(envelope, context)) == comparable(exhaustive.decide(envelope, context))


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"(order|订单)\s*#?004\d{4}", {"004"}),
        (r"TX-\d{6}", {"tx"}),
        (r"refund|chargeback", {"refund", "chargeback"}),
        (r"(foo)?bar", {"bar"}),
        (r"(?:ab|cd)+ef", {"ef"}),
        (r"账户", {"账户"}),
        (r"^\d+$", None),  # nothing literal
        (r"a|\d", None),  # one branch needs no literal
        (r"(a)\1", None),  # too short to filter anything
        (r"x?", None),
    ],
)
def test_required_literals(pattern: str, literals: set[str] | None) -> None:
    assert required_literals(pattern) == (frozenset(literals) if literals is not None else None)


def test_regex_prefilter_never_hides_a_match() -> None:
    rules = (
        '[[router.rules]]\nname = "ref"\nwhen.regex = "TX-\\\\d{6}"\nthen.queue = "vip"\n'
        '[[router.rules]]\nname = "cn"\nwhen.regex = "帳戶(被|已)鎖"\nthen.queue = "night"\n'
    )
    from tests.router_helpers import envelope, router_settings

    router = compile_router(router_settings(rules))
    assert router.decide(envelope("ref ＴＸ－123456 please")).queue == "vip"  # full width, upper case
    assert router.decide(envelope("ref Tx-123456")).queue == "vip"
    assert router.decide(envelope("我的账户被锁了")).queue == "night"  # simplified text, traditional pattern
    assert router.decide(envelope("ref tx 123456")).queue != "vip"
