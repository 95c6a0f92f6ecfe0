"""The fast paths of `decide` give the same answers as the plain condition tree.

Generated checks (router.check_codegen) against `node.fails`, the regex prefilters against a bare search, and the
shared read-only trace entries against plain dicts.
"""

from __future__ import annotations

import copy
import json
import pickle
import re

import pytest

from core.envelope import Decision
from router.check_codegen import compile_check
from router.conditions import RegexSearch
from router.engine import compile_router
from router.facts import Facts
from router.keywords import KeywordIndex
from router.regex_guard import required_characters
from router.trace_entries import ReadOnlyEntry
from tests.router_helpers import envelope, router_settings


@pytest.mark.parametrize(
    ("pattern", "needed"),
    [
        (r"[\w.]+@[\w.]+\.\w{2,8}", {"@"}),
        (r"TX-\d+", {"-"}),
        (r"\d{6,}", None),
        (r"a|b@", None),  # one branch needs nothing
        (r"x?@?y", None),  # optional
        (r"(?:#|№)\d+", None),  # № is not ASCII
        (r"(a#|b\$)\d+", {"#", "$"}),
        (r"[#$]\d+", None),  # a class is never required as such
    ],
)
def test_required_characters(pattern: str, needed: set[str] | None) -> None:
    found = required_characters(pattern)
    assert (set(found) if found is not None else None) == needed


@pytest.mark.parametrize(
    "text",
    ["write to a.b@c.example", "no address here", "ＡＢ＠ＣＤ．ｅｘａｍｐｌｅ", "TX-123", "tx 123", "@", "x@y.z"],
)
def test_regex_prefilters_never_change_the_answer(text: str) -> None:
    index = KeywordIndex()
    nodes = [RegexSearch(p, index) for p in (r"[\w.]+@[\w.]+\.\w{2,8}", r"TX-\d+", r"(order|订单)\s*#?\d{4}")]
    index.freeze()
    facts = facts_for(text, index)
    for node in nodes:
        bare = None if node.pattern.search(facts.folded) else "x"
        assert (node.fails(facts) is None) == (bare is None)
        assert (compile_check(node)(facts) is None) == (bare is None)


def facts_for(text: str, index: KeywordIndex) -> Facts:
    from router.normalize import fold, match_form

    folded = fold(text)
    keywords, spans = index.find(match_form(folded))
    return Facts("email", "", "", "a@b.c", "en", match_form(folded), folded, keywords, spans, False, True, None)


def test_shared_trace_entries_are_read_only_and_copy_to_plain_dicts() -> None:
    rules = '[[router.rules]]\nname = "sms"\nwhen.channel = ["sms"]\nthen.queue = "vip"\n'
    router = compile_router(router_settings(rules))
    first, second = (router.decide(envelope(text)) for text in ("hello", "top up failed"))
    entry = first.trace[-1]
    assert entry == {"step": "rule", "rule": "sms", "matched": False, "why": "channel is not sms"}
    assert second.trace[-1] is entry  # shared, not rebuilt per decision
    with pytest.raises(TypeError, match="read-only"):
        entry["why"] = "changed"
    with pytest.raises(TypeError):
        entry.update(why="changed")
    for made in (copy.copy(entry), copy.deepcopy(entry), pickle.loads(pickle.dumps(entry)), dict(entry)):
        assert type(made) is dict and made == entry
        made["why"] = "a copy may change"
    assert entry["why"] == "channel is not sms"
    assert json.loads(json.dumps(first.trace))[-1] == entry
    stored = Decision.model_validate_json(first.model_dump_json())
    assert stored.trace == first.trace and type(stored.trace[-1]) is dict
    deep = first.model_copy(deep=True)
    deep.trace[-1]["why"] = "edited copy"
    assert entry["why"] == "channel is not sms"


def test_a_read_only_entry_is_a_dict() -> None:
    entry = ReadOnlyEntry(step="rule", rule="r")
    assert isinstance(entry, dict) and list(entry) == ["step", "rule"]
    assert re.fullmatch(r"\{'step': 'rule', 'rule': 'r'\}", repr(entry))
