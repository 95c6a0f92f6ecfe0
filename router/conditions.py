"""The single conditions of a rule's `when` table (channel, sender, keywords, regex…), each a node of its tree.

A node says what it tests once, in `statements(const)` (router.check_codegen): `fails(facts)` is those statements
compiled, returning None when the condition holds, otherwise a reason fixed at compile time (no string formatting
on the hot path, where most rules do not match). `why(facts)` explains a match and runs only for the rules that
matched. `guard()` is the node's index keys (router.index_keys). The combinators and `compile_condition` are in
router.condition_tree.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Protocol

from router.check_codegen import Check, Const, compile_check
from router.facts import Facts
from router.index_keys import Guard, Key
from router.keywords import KeywordIndex
from router.normalize import to_simplified
from router.regex_guard import required_characters, required_literals
from router.senders import SenderMatcher


class Node(Protocol):
    cost: int  # inside an implicit AND the cheap checks run first (a channel test before a regex)
    description: str

    @property
    def fails(self) -> Check: ...

    def statements(self, const: Const) -> list[str]: ...

    def why(self, facts: Facts) -> str: ...

    def guard(self) -> Guard | None: ...


class ConditionNode:
    """What every node shares: `fails` compiled from its statements, once, on first use; no guard by default."""

    def statements(self, const: Const) -> list[str]:
        raise NotImplementedError

    @cached_property
    def fails(self) -> Check:
        return compile_check(self)

    def guard(self) -> Guard | None:
        return None


class _Keyed(ConditionNode):
    """A leaf whose truth depends only on facts fixed before the rules run: it is its own guard."""

    keys: frozenset[Key] | None = None
    _fail: str

    def guard(self) -> Guard | None:
        return (self.keys, self._fail) if self.keys is not None else None


def _shown(values: list[str] | frozenset[str]) -> str:
    return ", ".join(sorted(values)) if isinstance(values, frozenset) else ", ".join(values)


class Always(ConditionNode):
    cost = 0
    description = "no conditions"

    def statements(self, const: Const) -> list[str]:
        return []

    def why(self, facts: Facts) -> str:
        return "no conditions"


class ChannelIn(_Keyed):
    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(values)
        self.description = f"channel is {_shown(values)}"
        self._fail = f"channel is not {_shown(values)}"
        self.keys = frozenset(f"channel:{v}" for v in values)

    def statements(self, const: Const) -> list[str]:
        return [f"if f.channel not in {const(self.values)}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"channel is {facts.channel}"


class RecipientIn(_Keyed):
    """The support address, number or bot reached — or the category the customer picked (IVR digit, bot button)."""

    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(v.strip().lower() for v in values)
        self.description = f"recipient is {_shown(values)}"
        self._fail = f"recipient is not {_shown(values)}"
        self.keys = frozenset(f"to:{v}" for v in self.values)

    def statements(self, const: Const) -> list[str]:
        values = const(self.values)
        test = f"{values}.isdisjoint(f.recipients) and not (f.chosen_category and f.chosen_category in {values})"
        return [f"if {test}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        reached = sorted(self.values & facts.recipients)
        if reached:
            return f"recipient is {reached[0]}"
        return f"customer chose {facts.chosen_category!r}"


class SenderIs(_Keyed):
    cost = 3

    def __init__(self, patterns: list[str], regex: str | None) -> None:
        self.matcher = SenderMatcher(patterns, regex)
        self.description = f"sender matches {self.matcher.description}"
        self._fail = f"sender does not match {self.matcher.description}"
        self.keys = self.matcher.index_keys()

    def statements(self, const: Const) -> list[str]:
        return [f"if not {const(self.matcher)}(f.sender): return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"sender {facts.sender} matches {self.matcher.description}"


class TagsAny(_Keyed):
    cost = 1

    def __init__(self, values: list[str], indexable: bool) -> None:
        self.values = frozenset(values)
        self.description = f"contact tagged {_shown(values)}"
        self._fail = f"contact has no tag {_shown(values)}"
        # Rules with `continue` may add tags while rules run: only tags no rule adds are known beforehand.
        self.keys = frozenset(f"tag:{v}" for v in values) if indexable else None

    def statements(self, const: Const) -> list[str]:
        return [f"if {const(self.values)}.isdisjoint(f.tags): return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"contact tagged {_shown(frozenset(self.values & facts.tags))}"


class LanguageIn(_Keyed):
    """`zh` also matches `zh-tw`: a condition on the base language covers its regional forms."""

    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(v.strip().lower() for v in values)
        self.description = f"language is {_shown(values)}"
        self._fail = f"language is not {_shown(values)}"
        self.keys = frozenset(f"lang:{v}" for v in self.values)

    def statements(self, const: Const) -> list[str]:
        values = const(self.values)
        test = f"f.language not in {values} and f.language.partition('-')[0] not in {values}"
        return [f"if {test}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"language is {facts.language}"


class CategoryIn(_Keyed):
    cost = 1

    def __init__(self, values: list[str], indexable: bool) -> None:
        self.values = frozenset(values)
        self.description = f"category is {_shown(values)}"
        self._fail = f"category is not {_shown(values)}"
        # Likewise a category no rule sets is known once the message is classified.
        self.keys = frozenset(f"cat:{v}" for v in values) if indexable else None

    def statements(self, const: Const) -> list[str]:
        return [f"if f.category not in {const(self.values)}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"category is {facts.category}"


class _KeywordNode(ConditionNode):
    cost = 2

    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        self.words = [w for w in words if w.strip()]
        entries = [e for e in (index.add(w) for w in self.words) if e is not None]
        self.ids = frozenset(e.id for e in entries)
        self._quoted = {e.id: repr(e.text) for e in entries}  # for `found`, which runs for every match
        self.shown = ", ".join(repr(w) for w in self.words)

    def found(self, facts: Facts) -> str:
        quoted = self._quoted
        return ", ".join([quoted[i] for i in sorted(self.ids & facts.keywords)])


class KeywordsAny(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"any keyword of {self.shown}"
        self._fail = f"none of the keywords {self.shown}"

    def statements(self, const: Const) -> list[str]:
        return [f"if {const(self.ids)}.isdisjoint(f.keywords): return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"keyword {self.found(facts)}"

    def guard(self) -> Guard | None:
        return frozenset[Key](self.ids), self._fail


class KeywordsAll(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"all keywords {self.shown}"
        self._fail = f"not all of the keywords {self.shown}"

    def statements(self, const: Const) -> list[str]:
        if not self.ids:
            return [f"return {const(self._fail)}"]  # no usable keyword: never holds
        return [f"if not {const(self.ids)} <= f.keywords: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"all keywords {self.found(facts)}"

    def guard(self) -> Guard | None:
        return frozenset[Key](self.ids), self._fail  # all of them present implies at least one present


class KeywordsNone(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"no keyword of {self.shown}"
        self._fail = f"an excluded keyword is present ({self.shown})"

    def statements(self, const: Const) -> list[str]:
        return [f"if not {const(self.ids)}.isdisjoint(f.keywords): return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"none of {self.shown}"


class RegexSearch(_Keyed):
    """Searched in the folded text (width-folded, simplified Chinese, punctuation kept), case-insensitively.

    Its guard is the set of literals every match must contain (router.regex_guard), found by the keyword automaton.
    The same literals, and the punctuation or digits every match must contain (`required_characters`, for regexes
    with no literal such as `[\\w.]+@[\\w.]+`), are checked before searching: when none is present the search cannot
    succeed, and the result (this node's failure) is the same, only cheaper.
    """

    cost = 5

    def __init__(self, pattern: str, index: KeywordIndex) -> None:
        # The pattern is made simplified like the text so that 帳戶 in a pattern meets 账户 in a message; OpenCC
        # touches only CJK characters, never regex syntax (NFKC is skipped: it could alter the syntax).
        simplified = to_simplified(pattern)
        self.pattern = re.compile(simplified, re.IGNORECASE)
        self.description = f"regex /{pattern}/"
        self._fail = f"regex /{pattern}/ not found"
        literals = required_literals(simplified)
        if literals is not None:
            entries = [index.add(literal, substring=True) for literal in literals]
            self.keys = frozenset(e.id for e in entries if e is not None) if all(entries) else None
        self.characters = sorted(required_characters(simplified) or ())

    def statements(self, const: Const) -> list[str]:
        tests = [f"{const(self.keys)}.isdisjoint(f.keywords)"] if self.keys is not None else []
        if self.characters:
            tests.append("(" + " and ".join(f"{const(c)} not in f.folded" for c in self.characters) + ")")
        tests.append(f"{const(self.pattern.search)}(f.folded) is None")
        return [f"if {' or '.join(tests)}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        match = self.pattern.search(facts.folded)
        return f"regex /{self.pattern.pattern}/ found {match.group(0) if match else ''!r}"


class HasAttachment(_Keyed):
    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "has an attachment" if expected else "has no attachment"
        self._fail = "has no attachment" if expected else "has an attachment"
        self.keys = frozenset({f"attach:{expected}"})

    def statements(self, const: Const) -> list[str]:
        return [f"if f.has_attachment is not {self.expected!r}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return self.description


class NewConversation(_Keyed):
    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "new conversation" if expected else "follow-up"
        self._fail = "is a follow-up" if expected else "is a new conversation"
        self.keys = frozenset({f"new:{expected}"})

    def statements(self, const: Const) -> list[str]:
        return [f"if f.new_conversation is not {self.expected!r}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return self.description


class BusinessHours(ConditionNode):
    """Unknown hours (the caller passed None) satisfy neither `true` nor `false`.

    Not indexed: its failure reason depends on whether the hours are known, and such rules are few."""

    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "within business hours" if expected else "outside business hours"
        self._fail = "outside business hours" if expected else "within business hours"

    def statements(self, const: Const) -> list[str]:
        return [
            f"if f.in_business_hours is None: return {const('business hours unknown')}",
            f"if f.in_business_hours is not {self.expected!r}: return {const(self._fail)}",
        ]

    def why(self, facts: Facts) -> str:
        return self.description
