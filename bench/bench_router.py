"""Router decisions per second with 200 rules on one core, against baselines measured in the same run.

The messages are the evaluation set (tests/data/routing_eval.jsonl: short customer messages in English and Chinese)
on a mix of channels. The rules are the default settings.toml categories plus 200 generated rules of every kind
(keywords any/all/none, channel, sender domain, category, language, contact tags, regex, any/not), most of which do
not match, so a message is usually tried against most of them — the expensive case. Each decision includes the full
trace, as the worker stores it.

Baselines, same messages, same process:
- naive: the same category and rule keywords checked with a Python loop of `keyword in text.lower()` — no
  normalisation, no word boundaries, no trace: the code one writes first.
- 1 rule: the compiled router with the default categories and a single rule, to show what 199 more rules cost.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from bench.support import ROOT, fmt_ratio
from core.envelope import Channel, Envelope, Party
from core.routing_settings import RouterSettings
from core.settings import load_settings
from router import Router, RoutingContext, compile_router

RULES = 200
DECISIONS = 20_000
ROUNDS = 3  # best of: a shared machine's noise only ever slows a run down

_WORDS_EN = [
    "promo code",
    "referral bonus",
    "merchant id",
    "invoice",
    "cashback",
    "loyalty points",
    "gift card",
    "voucher",
    "premium plan",
    "family account",
    "student",
    "business",
    "crypto",
    "stocks",
    "savings pot",
    "overdraft",
    "salary",
    "rent",
    "insurance",
    "travel",
    "airline",
    "hotel",
    "booking",
    "taxi",
    "delivery app",
    "parking",
]
_WORDS_ZH = [
    "优惠码",
    "推荐奖励",
    "发票",
    "返现",
    "积分",
    "礼品卡",
    "代金券",
    "会员",
    "家庭账户",
    "学生",
    "企业",
    "加密货币",
    "股票",
    "储蓄",
    "透支",
    "工资",
    "房租",
    "保险",
    "旅行",
    "机票",
    "酒店",
    "预订",
    "打车",
    "外卖",
    "停车",
]
_REAL = ["转账", "充值", "refund", "card", "fee", "密码", "login", "stolen", "汇率", "投诉"]
_CHANNELS = ["email", "sms", "whatsapp", "voice", "telegram"]


def generated_rules(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rules: list[dict[str, Any]] = []
    for i in range(count):
        unique = f"rulekw{i}"  # keeps every rule's conditions distinct (identical ones would be unreachable)
        words = [*rng.sample(_WORDS_EN, 2), *rng.sample(_WORDS_ZH, 2), unique]
        if i % 25 == 0:
            words.append(rng.choice(_REAL))  # a few rules do match real messages
        kind = i % 8
        when: dict[str, Any]
        if kind == 0:
            when = {"keywords_any": words, "channel": rng.sample(_CHANNELS, 2)}
        elif kind == 1:
            when = {"sender": [f"@corp{i}.example", f"vip{i}@example.com"], "keywords_any": words}
        elif kind == 2:
            when = {"category": ["fees", "general"], "language": ["zh"], "keywords_any": words}
        elif kind == 3:
            when = {"keywords_all": [*words[:2], unique]}
        elif kind == 4:
            when = {"regex": rf"(order|订单)\s*#?{i:03d}\d{{4}}", "keywords_none": ["test"]}
        elif kind == 5:
            # The keyword branch also needs a language: alone it would hold for every message a later
            # keywords_all rule sharing one of its words matches, leaving that rule unreachable.
            keyword_branch = {"keywords_any": words, "language": ["zh"]}
            when = {"any": [{"channel": ["voice"], "recipient": [f"+1555000{i:04d}"]}, keyword_branch]}
        elif kind == 6:
            when = {"not": {"keywords_none": words}, "contact_tags": ["vip", f"segment{i}"]}
        else:
            when = {"has_attachment": True, "new_conversation": False, "keywords_any": words}
        then: dict[str, Any] = {"tags": [f"t{i}"]}
        if i % 3 == 0:
            then["priority"] = "high"
        if i % 5 == 0:
            then["queue"] = "vip"
        rules.append({"name": f"generated {i}", "when": when, "then": then, "continue": i % 10 == 0})
    return rules


def settings_with(rules: list[dict[str, Any]]) -> RouterSettings:
    base = load_settings(ROOT / "settings.toml").router.model_dump(by_alias=True, exclude_none=True)
    base["rules"] = rules
    return RouterSettings.model_validate(base)


def messages() -> list[Envelope]:
    lines = (ROOT / "tests" / "data" / "routing_eval.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    return [
        Envelope(
            channel=Channel(_CHANNELS[i % len(_CHANNELS)]),
            provider_id=str(i),
            sender=Party(address=f"customer{i}@example.com"),
            recipient=Party(address="support@wallet.example"),
            subject=case.get("subject", ""),
            text=case["text"],
            language="zh" if any("\u4e00" <= ch <= "\u9fff" for ch in case["text"]) else "en",
        )
        for i, case in enumerate(cases)
    ]


class NaiveRouter:
    """The baseline: every keyword of every category and rule tested with `in`, one after another."""

    def __init__(self, settings: RouterSettings) -> None:
        self.categories = [
            (name, [w.lower() for w in spec.keywords.en + spec.keywords.zh])
            for name, spec in settings.categories.items()
        ]
        self.rules = [(rule.name, [w.lower() for w in _rule_words(rule.when.model_dump())]) for rule in settings.rules]

    def decide(self, envelope: Envelope) -> tuple[str, list[str]]:
        text = f"{envelope.subject}\n{envelope.text}".lower()
        best, best_score = "general", 0
        for name, words in self.categories:
            score = sum(1 for w in words if w in text)
            if score > best_score:
                best, best_score = name, score
        matched = [name for name, words in self.rules if any(w in text for w in words)]
        return best, matched[:1]


def _rule_words(node: Any) -> list[str]:
    if isinstance(node, dict):
        out: list[str] = []
        for key, value in node.items():
            if key.startswith("keywords_") and value:
                out += value
            elif isinstance(value, dict | list):
                out += _rule_words(value)
        return out
    if isinstance(node, list):
        return [w for item in node for w in _rule_words(item)]
    return []


def rate(decide: Callable[[Envelope], object], batch: list[Envelope]) -> float:
    """Best decisions per second over ROUNDS runs of DECISIONS decisions."""
    work = (batch * (DECISIONS // len(batch) + 1))[:DECISIONS]
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for envelope in work:
            decide(envelope)
        best = max(best, DECISIONS / (time.perf_counter() - start))
    return best


def main() -> str:
    batch = messages()
    context = RoutingContext(contact_tags=frozenset({"regular"}), in_business_hours=True)
    full_settings = settings_with(generated_rules(RULES))
    compile_start = time.perf_counter()
    full: Router = compile_router(full_settings)
    compile_ms = (time.perf_counter() - compile_start) * 1000
    single = compile_router(settings_with(generated_rules(1)))
    naive = NaiveRouter(full_settings)

    helpline_rate = rate(lambda e: full.decide(e, context), batch)
    single_rate = rate(lambda e: single.decide(e, context), batch)
    naive_rate = rate(naive.decide, batch)
    trace_len = sum(len(full.decide(e, context).trace) for e in batch) / len(batch)
    verdict = "meets" if helpline_rate >= 20_000 else "MISSES"
    return "\n".join(
        [
            "## Router: decisions per second, 200 rules, one core",
            "",
            f"{len(batch)} messages (the evaluation set, English and Chinese, five channels), {DECISIONS:,} decisions "
            f"per run, best of {ROUNDS}. {full.rule_count} rules ({RULES} generated of every kind + the defaults' "
            f"categories), {full.keyword_count} distinct keywords in one automaton; compiling them took "
            f"{compile_ms:.0f} ms. Each decision carries its full trace (on average {trace_len:.0f} entries).",
            "",
            "| router | decisions/s | µs per decision | vs naive |",
            "|---|---:|---:|---:|",
            _row("Helpline, 200 rules", helpline_rate, naive_rate),
            _row("Helpline, 1 rule", single_rate, naive_rate),
            _row("naive `in` loop over the same keywords (baseline)", naive_rate, naive_rate),
            "",
            f"Target ≥ 20,000 decisions/s with 200 rules: **{verdict}** ({helpline_rate:,.0f}/s). "
            f"199 more rules cost {fmt_ratio(single_rate / helpline_rate)} the time of one. The naive loop does "
            "less (no Unicode folding, no word boundaries, no trace) and still scans every keyword for every "
            "message. The compiled router scans the text once whatever the number of keywords, then evaluates only "
            "the rules the message can wake up (one of their keywords, regex literals, channel, sender... is present);"
            " the others are skipped, their trace entries copied from precompiled ones.",
        ]
    )


def _row(label: str, value: float, baseline: float) -> str:
    return f"| {label} | {value:,.0f} | {1e6 / value:.1f} | {fmt_ratio(value / baseline)} |"


if __name__ == "__main__":
    print(main())
