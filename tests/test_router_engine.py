"""The compiled router: classification, matching rules, actions and the trace."""

from __future__ import annotations

import random
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from core.envelope import Channel, Decision, Priority
from router.engine import RoutingContext, compile_router
from router.errors import RouterConfigError
from router.features import clean_normalised
from router.normalize import match_form
from tests.router_helpers import envelope, router_settings


def decide(text: str, rules: str = "", context: RoutingContext | None = None, **kw: Any) -> Decision:
    return compile_router(router_settings(rules)).decide(envelope(text, **kw), context)


# ---- classification and matching ---------------------------------------------------------------------------------


def test_category_priority_and_queue_come_from_the_best_keyword_match() -> None:
    decision = decide("My top-up failed yesterday")
    assert (decision.category, decision.priority, decision.queue) == ("top_up", Priority.HIGH, "payments")
    assert "top up failed" in decision.reasons[0]


def test_security_is_urgent_and_unmatched_text_is_general() -> None:
    assert decide("I think this is fraud").priority == Priority.URGENT
    plain = decide("hello there")
    assert (plain.category, plain.priority, plain.queue) == ("general", Priority.NORMAL, "general")
    assert "default" in plain.reasons[0]


def test_english_matches_on_word_boundaries_with_inflections() -> None:
    assert decide("I need a new card").category == "cards"
    assert decide("two cards please").category == "cards"  # plural suffix
    assert decide("discard this").category == "general"  # "card" inside a word
    assert decide("atmosphere").category == "general"


def test_english_keyword_next_to_chinese_text_still_matches() -> None:
    assert decide("我的top up失败了").category == "top_up"


def test_full_width_and_case_are_folded() -> None:
    assert decide("ＴＯＰ ＵＰ ＦＡＩＬＥＤ").category == "top_up"
    assert decide("FRAUD!!").category == "security"


def test_curly_apostrophe_and_dashes_are_folded() -> None:
    assert decide("I don’t recognise this").category == "security"
    assert decide("top-up").category == "top_up"


def test_the_matching_form_is_one_substitution_whatever_the_text() -> None:
    """match_form and clean_normalised skip their substitutions when nothing needs one: the result is the single
    substitution they replaced, on random text full of spaces, dashes, apostrophes and unprintable characters."""
    apostrophes = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
    dashes_and_space = re.compile(r"[\s\-\u2010-\u2015_]+")
    # the shortcut's premise: every character \s matches but the space is unprintable
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c != " " and c.isprintable() and c.isspace()] == []
    alphabet = [
        *"aZ9 -_`'’‘ʼ\t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2003\u200b\u2010\u2013\u2015\u2016\u2028\u3000帳號ＡＢ１٣ßﬁ",
        "  ",
    ]
    rnd = random.Random(13)
    for text in [
        "",
        " ",
        "-",
        "a--b",
        " Don’t TOP-UP__now ",
        *("".join(rnd.choices(alphabet, k=rnd.randint(0, 12))) for _ in range(20_000)),
    ]:
        expected = dashes_and_space.sub(" ", text.casefold().translate(apostrophes))
        assert match_form(text) == expected, repr(text)
        assert clean_normalised(expected) == re.sub(r"\s+", " ", re.sub(r"\d+", "0", expected)).strip(), repr(text)


def test_traditional_chinese_matches_simplified_keywords() -> None:
    assert decide("信用卡被盜刷").category == "security"
    assert decide("充值沒到賬").category == "top_up"


def test_longer_phrases_outweigh_single_words() -> None:
    # "card" (cards, weight 1) against "add money" (top_up, weight 2)
    assert decide("add money by card").category == "top_up"


def test_ties_go_to_the_category_declared_first() -> None:
    # security (declared first) and cards both score 1
    assert decide("stolen atm").category == "security"


def test_chosen_category_is_taken_without_keyword_guessing() -> None:
    decision = decide("my top up failed", chosen_category="cards")
    assert decision.category == "cards"
    assert "chosen by the customer" in decision.reasons[0]
    assert decision.trace[1] == {"step": "classify", "category": "cards", "chosen": True}


def test_unknown_chosen_category_falls_back_to_keywords() -> None:
    decision = decide("my top up failed", chosen_category="nonsense")
    assert decision.category == "top_up"
    assert any("unknown category 'nonsense'" in r for r in decision.reasons)


# ---- rules: conditions -------------------------------------------------------------------------------------------

RULE = """
[[router.rules]]
name = "r"
{when}
then.queue = "vip"
"""


@pytest.mark.parametrize(
    ("when", "kwargs", "matched"),
    [
        ('when.channel = ["sms"]', {"channel": Channel.SMS}, True),
        ('when.channel = ["sms"]', {}, False),
        ('when.recipient = ["FRAUD@wallet.example"]', {"recipient": "fraud@wallet.example"}, True),
        ('when.recipient = ["fraud@wallet.example"]', {}, False),
        ('when.recipient = ["cards"]', {"chosen_category": "cards"}, True),
        ('when.sender = ["alice@example.com"]', {}, True),
        ('when.sender = ["@corp.example"]', {"sender": "bob@corp.example"}, True),
        ('when.sender = ["@corp.example"]', {"sender": "bob@notcorp.example"}, False),
        ('when.sender = ["*@*.corp.example"]', {"sender": "bob@eu.corp.example"}, True),
        ('when.sender = ["*@*.corp.example"]', {"sender": "bob@corp.example"}, False),
        ('when.sender_regex = "^\\\\+86"', {"sender": "+8613800000000"}, True),
        ('when.sender_regex = "^\\\\+86"', {"sender": "+4420000000"}, False),
        ('when.language = ["zh"]', {"language": "zh-TW"}, True),
        ('when.language = ["zh"]', {"language": "en"}, False),
        ('when.category = ["top_up"]', {"text": "top up"}, True),
        ('when.category = ["top_up"]', {"text": "hello"}, False),
        ('when.keywords_any = ["urgent", "紧急"]', {"text": "很紧急"}, True),
        ('when.keywords_any = ["urgent"]', {"text": "not urgently"}, False),
        ('when.keywords_all = ["card", "blocked"]', {"text": "card is blocked"}, True),
        ('when.keywords_all = ["card", "blocked"]', {"text": "card is fine"}, False),
        ('when.keywords_none = ["test"]', {"text": "real message"}, True),
        ('when.keywords_none = ["test"]', {"text": "this is a test"}, False),
        ('when.regex = "TX-\\\\d{6}"', {"text": "ref tx-123456"}, True),
        ('when.regex = "TX-\\\\d{6}"', {"text": "ref ＴＸ－１２３４５６"}, True),  # full width folded, dash kept
        ('when.regex = "TX-\\\\d{6}"', {"text": "ref tx 12"}, False),
        ('when.regex = "帳戶"', {"text": "账户问题"}, True),
        ("when.has_attachment = true", {"attachments": 1}, True),
        ("when.has_attachment = true", {}, False),
        ("when.has_attachment = false", {}, True),
    ],
)
def test_each_condition(when: str, kwargs: dict[str, Any], matched: bool) -> None:
    text = str(kwargs.pop("text", "hello"))
    decision = decide(text, RULE.format(when=when), **kwargs)
    assert (decision.queue == "vip") is matched
    assert decision.trace[-1]["matched"] is matched


def test_new_conversation_and_business_hours_come_from_the_context() -> None:
    follow_up = RULE.format(when="when.new_conversation = false")
    assert decide("x", follow_up, RoutingContext(new_conversation=False)).queue == "vip"
    assert decide("x", follow_up, RoutingContext(new_conversation=True)).queue != "vip"
    night = RULE.format(when="when.business_hours = false")
    assert decide("x", night, RoutingContext(in_business_hours=False)).queue == "vip"
    assert decide("x", night, RoutingContext(in_business_hours=True)).queue != "vip"
    unknown = decide("x", night, RoutingContext(in_business_hours=None))
    assert unknown.queue != "vip"
    assert unknown.trace[-1]["why"] == "business hours unknown"


def test_contact_tags_from_context_and_from_settings() -> None:
    rules = """
[[router.contact_tags]]
tag = "vip"
sender = ["@bigcorp.example"]
""" + RULE.format(when='when.contact_tags = ["vip"]')
    assert decide("x", rules, RoutingContext(contact_tags=frozenset({"vip"}))).queue == "vip"
    by_settings = decide("x", rules, sender="ceo@bigcorp.example")
    assert by_settings.queue == "vip"
    assert by_settings.trace[0]["tags_from_settings"] == ["vip"]
    assert decide("x", rules).queue != "vip"


def test_all_any_not_combine() -> None:
    rules = RULE.format(
        when="""when.any = [{ channel = ["sms"] }, { keywords_any = ["asap"] }]
when.not = { language = ["zh"] }
when.all = [{ has_attachment = false }]"""
    )
    assert decide("asap", rules).queue == "vip"
    assert decide("x", rules, channel=Channel.SMS).queue == "vip"
    assert decide("asap", rules, language="zh").queue != "vip"
    assert decide("hello", rules).queue != "vip"
    assert decide("asap", rules, attachments=1).queue != "vip"


# ---- rules: actions, order, continue -----------------------------------------------------------------------------


def test_first_match_wins_and_later_rules_are_not_tried() -> None:
    rules = """
[[router.rules]]
name = "first"
when.keywords_any = ["hello"]
then.queue = "vip"
[[router.rules]]
name = "second"
when.channel = ["email"]
then.queue = "night"
"""
    decision = decide("hello", rules)
    assert decision.queue == "vip"
    assert [e["rule"] for e in decision.trace if e["step"] == "rule"] == ["first"]


def test_continue_accumulates_and_tags_feed_later_rules() -> None:
    rules = """
[[router.rules]]
name = "tag it"
when.keywords_any = ["lawyer"]
then.tags = ["legal"]
then.priority = "high"
continue = true
[[router.rules]]
name = "legal to vip"
when.contact_tags = ["legal"]
then.queue = "vip"
then.template = "survey"  # must exist as templates/survey/default.{en,zh}.j2
then.suppress_ack = true
"""
    decision = decide("my lawyer will call", rules)
    assert (decision.priority, decision.queue, decision.tags) == (Priority.HIGH, "vip", ["legal"])
    assert (decision.template, decision.suppress_ack) == ("survey", True)
    assert len(decision.reasons) == 3  # classification + two rules


def test_rule_category_brings_its_default_priority_and_queue_unless_set() -> None:
    moved = decide("hello", '[[router.rules]]\nname = "m"\nwhen.channel = ["email"]\nthen.category = "top_up"\n')
    assert (moved.category, moved.priority, moved.queue) == ("top_up", Priority.HIGH, "payments")
    pinned = decide(
        "hello",
        """
[[router.rules]]
name = "pin"
when.channel = ["email"]
then.priority = "low"
continue = true
[[router.rules]]
name = "move"
when.channel = ["email"]
when.keywords_none = ["zzz"]
then.category = "security"
""",
    )
    assert (pinned.category, pinned.priority, pinned.queue) == ("security", Priority.LOW, "security")


def test_category_condition_sees_a_category_set_by_an_earlier_rule() -> None:
    rules = """
[[router.rules]]
name = "move"
when.channel = ["sms"]
then.category = "cards"
continue = true
[[router.rules]]
name = "cards at night"
when.category = ["cards"]
then.queue = "night"
"""
    assert decide("hello", rules, channel=Channel.SMS).queue == "night"


def test_trace_records_context_classification_and_every_rule_tried() -> None:
    rules = """
[[router.rules]]
name = "sms only"
when.channel = ["sms"]
then.queue = "vip"
[[router.rules]]
name = "money"
when.keywords_any = ["充值"]
then.tags = ["money"]
"""
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    decision = decide("充值没到账", rules, RoutingContext(contact_tags=frozenset({"a"}), now=now))
    context, classify, first, second = decision.trace
    assert context == {
        "step": "context",
        "new_conversation": True,
        "contact_tags": ["a"],
        "in_business_hours": None,
        "now": now.isoformat(),
    }
    assert classify["category"] == "top_up"
    assert classify["keywords"] == ["充值", "没到账"]
    assert first == {"step": "rule", "rule": "sms only", "matched": False, "why": "channel is not sms"}
    assert second["matched"] is True
    assert second["why"] == "keyword '充值'"
    assert second["actions"] == {"tags": ["money"]}
    assert RoutingContext.from_trace(decision.trace) == RoutingContext(contact_tags=frozenset({"a"}), now=now)


def test_decision_serialises_to_json() -> None:
    decision = decide("fraud")
    assert '"category":"security"' in decision.model_dump_json()


def test_invalid_settings_do_not_compile() -> None:
    settings = router_settings('[[router.rules]]\nname = "bad"\nwhen.regex = "("\n')
    with pytest.raises(RouterConfigError) as info:
        compile_router(settings)
    assert info.value.problems[0][0] == "router.rules.0.when.regex"


def test_router_labels_categories_for_customers() -> None:
    settings = router_settings(
        base='[router]\ndefault_category = "cards"\n[router.categories.cards]\nlabel_en = "Cards"\nlabel_zh = "卡片组"'
    )
    router = compile_router(settings)
    assert (router.label("cards", "zh-CN"), router.label("cards", "en"), router.label("x", "en")) == (
        "卡片组",
        "Cards",
        "x",
    )
