"""A rule's `when` table compiled into a small tree of checks, once, at load.

Each node answers `fails(facts)`: None when the condition holds, otherwise a reason fixed at compile time (no string
formatting on the hot path, where most rules do not match). `why(facts)` explains a match and runs only for the
rules that matched. Inside an implicit AND the cheap checks run first (a channel test before a regex).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from core.routing_settings import Condition
from router.facts import Facts
from router.keywords import KeywordIndex
from router.normalize import to_simplified
from router.regex_guard import required_characters, required_literals
from router.senders import SenderMatcher


class Node(Protocol):
    cost: int
    description: str

    def fails(self, facts: Facts) -> str | None: ...

    def why(self, facts: Facts) -> str: ...

    def guard(self) -> Guard | None: ...

    def inline(self, const: Const) -> list[str] | None: ...


# `inline(const)` returns Python statements equivalent to `fails` for the generated check of a rule
# (router.check_codegen): they read the facts as `f` and `return` the same failure reason; `const(value)` names a
# value the code needs. None: the generated code calls `fails` instead.
Const = Callable[[object], str]


# A guard is a necessary condition written as index keys: the node cannot hold unless the message has one of these
# keys (keyword ids, or strings such as "channel:sms"; see `message_keys`); the string is the node's failure reason
# when it has none. The router indexes every rule by its guard, so a rule that cannot match is skipped unevaluated.
Key = int | str
Guard = tuple[frozenset[Key], str]


def message_keys(facts: Facts) -> list[str]:
    """The string index keys of a message (its keyword ids are the others)."""
    language = facts.language
    sender = facts.sender
    return [
        f"channel:{facts.channel}",
        f"to:{facts.recipient}",
        f"to:{facts.chosen_category}",
        f"lang:{language}",
        f"lang:{language.partition('-')[0]}",
        f"from:{sender}",
        f"fromdomain:{sender.rpartition('@')[2]}",
        f"attach:{facts.has_attachment}",
        f"new:{facts.new_conversation}",
        f"cat:{facts.category}",
        *(f"tag:{tag}" for tag in facts.tags),
    ]


def _rarity(keys: frozenset[Key]) -> int:
    """How rarely a message has one of these keys (lower: rarer, a better guard). A heuristic by kind of key."""
    if all(isinstance(k, int) for k in keys):
        return 0  # keywords and regex literals: most messages have none of a rule's
    kinds = {str(k).partition(":")[0] for k in keys}
    if kinds <= {"to", "from", "fromdomain"}:
        return 1
    if kinds <= {"cat", "tag"}:
        return 2
    return 3  # channel, language, attachment, new conversation: a large share of all messages


class _Unguarded:
    def guard(self) -> Guard | None:
        return None

    def inline(self, const: Const) -> list[str] | None:
        return None


class _Keyed:
    """A leaf whose truth depends only on facts fixed before the rules run: it is its own guard."""

    keys: frozenset[Key] | None = None
    _fail: str

    def guard(self) -> Guard | None:
        return (self.keys, self._fail) if self.keys is not None else None

    def inline(self, const: Const) -> list[str] | None:
        return None


def _shown(values: list[str] | frozenset[str]) -> str:
    return ", ".join(sorted(values)) if isinstance(values, frozenset) else ", ".join(values)


class Always(_Unguarded):
    cost = 0
    description = "no conditions"

    def fails(self, facts: Facts) -> str | None:
        return None

    def why(self, facts: Facts) -> str:
        return "no conditions"

    def inline(self, const: Const) -> list[str] | None:
        return []


class ChannelIn(_Keyed):
    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(values)
        self.description = f"channel is {_shown(values)}"
        self._fail = f"channel is not {_shown(values)}"
        self.keys = frozenset(f"channel:{v}" for v in values)

    def fails(self, facts: Facts) -> str | None:
        return None if facts.channel in self.values else self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        if facts.recipient in self.values or (facts.chosen_category and facts.chosen_category in self.values):
            return None
        return self._fail

    def inline(self, const: Const) -> list[str] | None:
        values = const(self.values)
        test = f"f.recipient not in {values} and not (f.chosen_category and f.chosen_category in {values})"
        return [f"if {test}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        if facts.recipient in self.values:
            return f"recipient is {facts.recipient}"
        return f"customer chose {facts.chosen_category!r}"


class SenderIs(_Keyed):
    cost = 3

    def __init__(self, patterns: list[str], regex: str | None) -> None:
        self.matcher = SenderMatcher(patterns, regex)
        self.description = f"sender matches {self.matcher.description}"
        self._fail = f"sender does not match {self.matcher.description}"
        self.keys = self.matcher.index_keys()

    def fails(self, facts: Facts) -> str | None:
        return None if self.matcher(facts.sender) else self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.values.isdisjoint(facts.tags) else None

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        language = facts.language
        if language in self.values or language.partition("-")[0] in self.values:
            return None
        return self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        return None if facts.category in self.values else self._fail

    def inline(self, const: Const) -> list[str] | None:
        return [f"if f.category not in {const(self.values)}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"category is {facts.category}"


class _KeywordNode:
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

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.ids.isdisjoint(facts.keywords) else None

    def why(self, facts: Facts) -> str:
        return f"keyword {self.found(facts)}"

    def inline(self, const: Const) -> list[str] | None:
        return [f"if {const(self.ids)}.isdisjoint(f.keywords): return {const(self._fail)}"]

    def guard(self) -> Guard | None:
        return frozenset[Key](self.ids), self._fail


class KeywordsAll(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"all keywords {self.shown}"
        self._fail = f"not all of the keywords {self.shown}"

    def fails(self, facts: Facts) -> str | None:
        return None if self.ids and self.ids <= facts.keywords else self._fail

    def inline(self, const: Const) -> list[str] | None:
        if not self.ids:
            return [f"return {const(self._fail)}"]  # no usable keyword: never holds
        return [f"if not {const(self.ids)} <= f.keywords: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return f"all keywords {self.found(facts)}"

    def guard(self) -> Guard | None:
        return frozenset[Key](self.ids), self._fail  # all of them present implies at least one present


class KeywordsNone(_Unguarded, _KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"no keyword of {self.shown}"
        self._fail = f"an excluded keyword is present ({self.shown})"

    def fails(self, facts: Facts) -> str | None:
        return None if self.ids.isdisjoint(facts.keywords) else self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        if self.keys is not None and self.keys.isdisjoint(facts.keywords):
            return self._fail
        if self.characters and not any(c in facts.folded for c in self.characters):
            return self._fail
        return None if self.pattern.search(facts.folded) else self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        return None if facts.has_attachment is self.expected else self._fail

    def inline(self, const: Const) -> list[str] | None:
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

    def fails(self, facts: Facts) -> str | None:
        return None if facts.new_conversation is self.expected else self._fail

    def inline(self, const: Const) -> list[str] | None:
        return [f"if f.new_conversation is not {self.expected!r}: return {const(self._fail)}"]

    def why(self, facts: Facts) -> str:
        return self.description


class BusinessHours(_Unguarded):
    """Unknown hours (the caller passed None) satisfy neither `true` nor `false`.

    Not indexed: its failure reason depends on whether the hours are known, and such rules are few."""

    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "within business hours" if expected else "outside business hours"
        self._fail = "outside business hours" if expected else "within business hours"

    def fails(self, facts: Facts) -> str | None:
        if facts.in_business_hours is None:
            return "business hours unknown"
        return None if facts.in_business_hours is self.expected else self._fail

    def inline(self, const: Const) -> list[str] | None:
        return [
            f"if f.in_business_hours is None: return {const('business hours unknown')}",
            f"if f.in_business_hours is not {self.expected!r}: return {const(self._fail)}",
        ]

    def why(self, facts: Facts) -> str:
        return self.description


class AllOf:
    def __init__(self, children: list[Node]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)  # stable: equal costs keep the file's order
        self.cost = sum(c.cost for c in children)
        self.description = " and ".join(c.description for c in self.children)

    def fails(self, facts: Facts) -> str | None:
        for child in self.children:
            reason = child.fails(facts)
            if reason is not None:
                return reason
        return None

    def why(self, facts: Facts) -> str:
        return "; ".join([c.why(facts) for c in self.children])

    def guard(self) -> Guard | None:
        guards = [g for g in (c.guard() for c in self.children) if g is not None]
        return min(guards, key=lambda g: (_rarity(g[0]), len(g[0]))) if guards else None

    def inline(self, const: Const) -> list[str] | None:
        return None  # composed from the children by router.check_codegen


class AnyOf:
    def __init__(self, children: list[Node]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        self.description = "any of (" + " | ".join(c.description for c in self.children) + ")"
        self._fail = "none of: " + " | ".join(c.description for c in self.children)

    @property
    def fail_reason(self) -> str:
        return self._fail

    def fails(self, facts: Facts) -> str | None:
        for child in self.children:
            if child.fails(facts) is None:
                return None
        return self._fail

    def why(self, facts: Facts) -> str:
        for child in self.children:
            if child.fails(facts) is None:
                return child.why(facts)
        return ""

    def guard(self) -> Guard | None:
        guards = [c.guard() for c in self.children]
        if not guards or any(g is None for g in guards):
            return None  # one unguarded branch can hold whatever the keys
        keys: frozenset[Key] = frozenset().union(*(g[0] for g in guards if g is not None))
        return keys, self._fail

    def inline(self, const: Const) -> list[str] | None:
        return None  # composed from the children by router.check_codegen


class NotOf(_Unguarded):
    def __init__(self, child: Node) -> None:
        self.child = child
        self.cost = child.cost
        self.description = f"not ({child.description})"
        self._fail = f"{child.description}: excluded by not"

    @property
    def fail_reason(self) -> str:
        return self._fail

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.child.fails(facts) is None else None

    def why(self, facts: Facts) -> str:
        return f"not ({self.child.description})"


def compile_condition(
    condition: Condition,
    index: KeywordIndex,
    added_tags: frozenset[str] = frozenset(),
    set_categories: frozenset[str] = frozenset(),
) -> Node:
    """The tree for one `when` table; its keywords are added to the shared `index`.

    `added_tags` and `set_categories` are what any rule's actions may add or set: conditions on them cannot be
    decided before the rules run, so they get no guard.
    """
    nodes: list[Node] = []
    if condition.channel is not None:
        nodes.append(ChannelIn([c.value for c in condition.channel]))
    if condition.recipient is not None:
        nodes.append(RecipientIn(condition.recipient))
    if condition.sender is not None or condition.sender_regex is not None:
        nodes.append(SenderIs(condition.sender or [], condition.sender_regex))
    if condition.contact_tags is not None:
        nodes.append(TagsAny(condition.contact_tags, added_tags.isdisjoint(condition.contact_tags)))
    if condition.language is not None:
        nodes.append(LanguageIn(condition.language))
    if condition.category is not None:
        nodes.append(CategoryIn(condition.category, set_categories.isdisjoint(condition.category)))
    if condition.keywords_any is not None:
        nodes.append(KeywordsAny(condition.keywords_any, index))
    if condition.keywords_all is not None:
        nodes.append(KeywordsAll(condition.keywords_all, index))
    if condition.keywords_none is not None:
        nodes.append(KeywordsNone(condition.keywords_none, index))
    if condition.regex is not None:
        nodes.append(RegexSearch(condition.regex, index))
    if condition.has_attachment is not None:
        nodes.append(HasAttachment(condition.has_attachment))
    if condition.new_conversation is not None:
        nodes.append(NewConversation(condition.new_conversation))
    if condition.business_hours is not None:
        nodes.append(BusinessHours(condition.business_hours))
    if condition.all_of is not None:
        nodes.append(AllOf([compile_condition(c, index, added_tags, set_categories) for c in condition.all_of]))
    if condition.any_of is not None:
        nodes.append(AnyOf([compile_condition(c, index, added_tags, set_categories) for c in condition.any_of]))
    if condition.not_ is not None:
        nodes.append(NotOf(compile_condition(condition.not_, index, added_tags, set_categories)))
    if not nodes:
        return Always()
    return nodes[0] if len(nodes) == 1 else AllOf(nodes)
