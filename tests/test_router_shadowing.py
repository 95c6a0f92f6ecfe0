"""Unreachable rules: an earlier rule without `continue` whose conditions hold whenever a later rule's do.

Reported for the common cases (subsets of lists, the same lists in another order, more conditions on the later
rule, nested all/any/not) and never for a rule that can still match: a randomised check compares `implies` with the
compiled conditions on every message of a small universe.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from core.routing_settings import Condition
from core.rule_implication import implies
from router.condition_tree import compile_condition
from router.engine import RoutingContext, compile_router
from router.facts import Facts
from router.keywords import KeywordIndex
from router.normalize import fold, match_form
from tests.router_helpers import envelope, router_settings


def problems(rules: str) -> list[tuple[str, str]]:
    return router_settings(rules).semantic_problems()


def pair(first: str, second: str, *, between: str = "") -> str:
    return (
        f'[[router.rules]]\nname = "first"\n{first}\nthen.queue = "vip"\n{between}'
        f'[[router.rules]]\nname = "second"\n{second}\nthen.queue = "night"\n'
    )


SHADOWED = [
    ('when.keywords_any = ["refund", "money"]', 'when.keywords_any = ["refund"]'),
    ('when.keywords_any = ["Refund", "money"]', 'when.keywords_any = ["money", "refund"]'),
    ('when.channel = ["sms", "email"]', 'when.channel = ["email", "sms"]'),
    ('when.channel = ["sms"]', 'when.channel = ["sms"]\nwhen.keywords_any = ["refund"]'),
    ('when.keywords_all = ["refund", "money"]', 'when.keywords_all = ["money", "card", "refund"]'),
    ('when.keywords_any = ["refund", "退款"]', 'when.keywords_all = ["refund", "card"]'),
    ('when.keywords_none = ["test"]', 'when.keywords_none = ["test", "demo"]'),
    ('when.sender = ["@corp.example"]', 'when.sender = ["Boss@Corp.example"]'),
    ('when.language = ["zh"]', 'when.language = ["zh-tw"]'),
    (
        'when.contact_tags = ["vip", "staff"]\nwhen.category = ["cards"]',
        'when.category = ["cards"]\nwhen.contact_tags = ["vip"]',
    ),
    ('when.any = [{ channel = ["sms"] }, { keywords_any = ["refund"] }]', 'when.keywords_any = ["refund"]'),
    ('when.not.channel = ["sms"]', 'when.not.channel = ["sms", "voice"]'),
    (
        'when.all = [{ channel = ["sms"] }, { has_attachment = true }]',
        'when.has_attachment = true\nwhen.channel = ["sms"]',
    ),
    ('when.regex = "TX-\\\\d+"\nwhen.business_hours = false', 'when.business_hours = false\nwhen.regex = "TX-\\\\d+"'),
    (
        'when.channel = ["sms"]',
        'when.any = [{ channel = ["sms"], language = ["zh"] }, { channel = ["sms"], has_attachment = true }]',
    ),
]


@pytest.mark.parametrize(("first", "second"), SHADOWED)
def test_a_rule_implied_by_an_earlier_one_is_unreachable(first: str, second: str) -> None:
    found = problems(pair(first, second))
    assert found == [
        ("router.rules.1", "rule 'second' is unreachable: earlier rule 'first' matches every message it matches")
    ] or found == [("router.rules.1", "rule 'second' is unreachable: earlier rule 'first' has the same conditions")]


REACHABLE = [
    ('when.keywords_any = ["refund"]', 'when.keywords_any = ["refund", "money"]'),  # "money" alone: second
    ('when.channel = ["sms"]\nwhen.keywords_any = ["refund"]', 'when.channel = ["sms"]'),
    ('when.keywords_all = ["refund", "money"]', 'when.keywords_all = ["refund"]'),
    ('when.keywords_none = ["test", "demo"]', 'when.keywords_none = ["test"]'),
    ('when.language = ["zh-tw"]', 'when.language = ["zh"]'),
    ('when.sender = ["boss@corp.example"]', 'when.sender = ["@corp.example"]'),
    ('when.sender = ["@corp.example"]', 'when.sender = ["*@corp.example"]'),  # a glob is not compared
    ('when.category = ["cards"]', 'when.category = ["cards", "top_up"]'),
    ('when.not.channel = ["sms", "voice"]', 'when.not.channel = ["sms"]'),
    ('when.keywords_any = ["-", "refund"]', 'when.keywords_any = ["refund"]'),  # not comparable: left alone
    ('when.regex = "TX-\\\\d+"', 'when.regex = "TX-\\\\d{2}"'),
    ('when.all = [{ channel = ["sms"] }, { has_attachment = true }]', 'when.channel = ["sms"]'),
    ("when.business_hours = true", "when.business_hours = false"),
]


@pytest.mark.parametrize(("first", "second"), REACHABLE)
def test_a_rule_that_can_still_match_is_not_reported(first: str, second: str) -> None:
    assert problems(pair(first, second)) == []


def test_an_earlier_rule_with_continue_shadows_nothing() -> None:
    assert (
        problems(pair('when.keywords_any = ["refund", "money"]\ncontinue = true', 'when.keywords_any = ["refund"]'))
        == []
    )


def test_category_conditions_are_not_compared_across_a_rule_that_changes_the_category() -> None:
    # "first" sees the classified category; "move" then sets cards, so "second" matches what "first" did not.
    between = (
        '[[router.rules]]\nname = "move"\nwhen.keywords_any = ["lawyer"]\nthen.category = "cards"\ncontinue = true\n'
    )
    rules = pair('when.category = ["cards"]', 'when.category = ["cards"]', between=between)
    assert problems(rules) == []
    decision = compile_router(router_settings(rules)).decide(envelope("my lawyer will call you"))
    assert [e["rule"] for e in decision.trace if e.get("matched")] == ["move", "second"]


def test_tag_conditions_are_not_compared_across_a_rule_that_adds_tags() -> None:
    between = '[[router.rules]]\nname = "tag"\nwhen.keywords_any = ["lawyer"]\nthen.tags = ["vip"]\ncontinue = true\n'
    rules = pair(
        'when.contact_tags = ["vip"]', 'when.contact_tags = ["vip"]\nwhen.channel = ["email"]', between=between
    )
    assert problems(rules) == []
    decision = compile_router(router_settings(rules)).decide(envelope("my lawyer will call"), RoutingContext())
    assert decision.queue == "night"
    # Without the tagging rule in between, the second rule is unreachable.
    assert (
        len(problems(pair('when.contact_tags = ["vip"]', 'when.contact_tags = ["vip"]\nwhen.channel = ["email"]'))) == 1
    )


# ---- soundness, checked against the compiled conditions on a universe of messages ----

WORDS = ["refund", "Refund", "money", "card", "退款", "-"]


def random_condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    def some(values: list[Any]) -> list[Any]:
        return rng.sample(values, rng.randint(1, min(3, len(values))))

    makers: dict[str, Callable[[], object]] = {
        "channel": lambda: some(["email", "sms", "voice"]),
        "language": lambda: some(["en", "zh", "zh-tw", "ZH"]),
        "category": lambda: some(["cards", "top_up"]),
        "contact_tags": lambda: some(["vip", "staff"]),
        "recipient": lambda: some(["a@x.example", "A@X.example", ""]),
        "sender": lambda: some(["u@d.example", "@d.example", "v@e.example", "*@e.example"]),
        "sender_regex": lambda: rng.choice(["^u", "e\\.example$"]),
        "keywords_any": lambda: some(WORDS),
        "keywords_all": lambda: some(WORDS),
        "keywords_none": lambda: some(WORDS),
        "regex": lambda: rng.choice(["ref", "mon"]),
        "has_attachment": lambda: rng.random() < 0.5,
        "new_conversation": lambda: rng.random() < 0.5,
        "business_hours": lambda: rng.random() < 0.5,
    }
    fields = rng.sample(sorted(makers), rng.randint(1, 3))
    condition: dict[str, Any] = {field: makers[field]() for field in fields}
    if depth == 0 and rng.random() < 0.4:
        kind = rng.choice(["all", "any", "not"])
        children = [random_condition(rng, 1) for _ in range(rng.randint(1, 2))]
        condition[kind] = children[0] if kind == "not" else children
    return condition


def universe(index: KeywordIndex) -> list[Facts]:
    texts = ["refund please", "money money", "card 退款", "nothing here", "Refund of my money by card"]
    scanned = [(fold(t), match_form(fold(t))) for t in texts]
    found = [(folded, text, *index.find(text)) for folded, text in scanned]
    return [
        Facts(
            channel=channel,
            recipient=recipient,
            chosen_category="",
            sender=sender,
            language=language,
            text=text,
            folded=folded,
            keywords=keywords,
            spans=spans,
            has_attachment=flags[0],
            new_conversation=flags[1],
            in_business_hours=flags[2],
            tags=set(tags),
            category=category,
        )
        for (folded, text, keywords, spans), channel, language, sender, recipient, category, tags, flags in (
            itertools.product(
                found,
                ["email", "sms"],
                ["en", "zh-tw"],
                ["u@d.example", "v@e.example"],
                ["a@x.example", ""],
                ["cards", "top_up"],
                [set(), {"vip"}],
                [(False, True, None), (True, False, True), (True, True, False)],
            )
        )
    ]


def test_implies_is_sound_on_random_conditions() -> None:
    rng = random.Random(20261125)
    shown = 0
    for _ in range(1500):
        b = Condition.model_validate(random_condition(rng))
        a = Condition.model_validate(random_condition(rng) if rng.random() < 0.7 else _weaken(b, rng))
        if not implies(b, a):
            continue
        shown += 1
        index = KeywordIndex()
        b_node, a_node = compile_condition(b, index), compile_condition(a, index)
        index.freeze()
        for facts in universe(index):
            assert not (b_node.fails(facts) is None and a_node.fails(facts) is not None), (b, a, facts)
    assert shown >= 150  # the check above must have had real implications to test


def _weaken(condition: Condition, rng: random.Random) -> dict[str, Any]:
    """A condition close to `condition`, often implied by it: a field dropped or a list grown, and (to tempt a
    wrong answer) a list shrunk or a value's case changed."""
    data: dict[str, Any] = condition.model_dump(by_alias=True, exclude_none=True, mode="json")
    key = rng.choice(sorted(data))
    value = data[key]
    extra = {"keywords_any": "money", "channel": "sms", "language": "zh", "contact_tags": "vip", "category": "cards"}
    extra |= {"keywords_all": "card", "keywords_none": "card"}  # growing these makes a condition stricter
    move = rng.choice(["drop", "grow", "shrink", "case"])
    if move == "grow" and key in extra:
        data[key] = [*value, extra[key]]
    elif move == "shrink" and isinstance(value, list) and len(value) > 1:
        data[key] = value[1:]
    elif move == "case" and isinstance(value, list) and key not in ("channel", "category"):
        data[key] = [v.swapcase() if isinstance(v, str) else v for v in value]
    elif len(data) > 1:
        del data[key]
    return data
