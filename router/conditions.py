"""A rule's `when` table compiled into a small tree of checks, once, at load.

Each node answers `fails(facts)`: None when the condition holds, otherwise a reason fixed at compile time (no string
formatting on the hot path, where most rules do not match). `why(facts)` explains a match and runs only for the
rules that matched. Inside an implicit AND the cheap checks run first (a channel test before a regex).
"""

from __future__ import annotations

import re
from typing import Protocol

from core.routing_settings import Condition
from router.facts import Facts
from router.keywords import KeywordIndex
from router.normalize import to_simplified
from router.senders import SenderMatcher


class Node(Protocol):
    cost: int
    description: str

    def fails(self, facts: Facts) -> str | None: ...

    def why(self, facts: Facts) -> str: ...


def _shown(values: list[str] | frozenset[str]) -> str:
    return ", ".join(sorted(values)) if isinstance(values, frozenset) else ", ".join(values)


class Always:
    cost = 0
    description = "no conditions"

    def fails(self, facts: Facts) -> str | None:
        return None

    def why(self, facts: Facts) -> str:
        return "no conditions"


class ChannelIn:
    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(values)
        self.description = f"channel is {_shown(values)}"
        self._fail = f"channel is not {_shown(values)}"

    def fails(self, facts: Facts) -> str | None:
        return None if facts.channel in self.values else self._fail

    def why(self, facts: Facts) -> str:
        return f"channel is {facts.channel}"


class RecipientIn:
    """The support address, number or bot reached — or the category the customer picked (IVR digit, bot button)."""

    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(v.strip().lower() for v in values)
        self.description = f"recipient is {_shown(values)}"
        self._fail = f"recipient is not {_shown(values)}"

    def fails(self, facts: Facts) -> str | None:
        if facts.recipient in self.values or (facts.chosen_category and facts.chosen_category in self.values):
            return None
        return self._fail

    def why(self, facts: Facts) -> str:
        if facts.recipient in self.values:
            return f"recipient is {facts.recipient}"
        return f"customer chose {facts.chosen_category!r}"


class SenderIs:
    cost = 3

    def __init__(self, patterns: list[str], regex: str | None) -> None:
        self.matcher = SenderMatcher(patterns, regex)
        self.description = f"sender matches {self.matcher.description}"
        self._fail = f"sender does not match {self.matcher.description}"

    def fails(self, facts: Facts) -> str | None:
        return None if self.matcher(facts.sender) else self._fail

    def why(self, facts: Facts) -> str:
        return f"sender {facts.sender} matches {self.matcher.description}"


class TagsAny:
    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(values)
        self.description = f"contact tagged {_shown(values)}"
        self._fail = f"contact has no tag {_shown(values)}"

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.values.isdisjoint(facts.tags) else None

    def why(self, facts: Facts) -> str:
        return f"contact tagged {_shown(frozenset(self.values & facts.tags))}"


class LanguageIn:
    """`zh` also matches `zh-tw`: a condition on the base language covers its regional forms."""

    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(v.strip().lower() for v in values)
        self.description = f"language is {_shown(values)}"
        self._fail = f"language is not {_shown(values)}"

    def fails(self, facts: Facts) -> str | None:
        language = facts.language
        if language in self.values or language.partition("-")[0] in self.values:
            return None
        return self._fail

    def why(self, facts: Facts) -> str:
        return f"language is {facts.language}"


class CategoryIn:
    cost = 1

    def __init__(self, values: list[str]) -> None:
        self.values = frozenset(values)
        self.description = f"category is {_shown(values)}"
        self._fail = f"category is not {_shown(values)}"

    def fails(self, facts: Facts) -> str | None:
        return None if facts.category in self.values else self._fail

    def why(self, facts: Facts) -> str:
        return f"category is {facts.category}"


class _KeywordNode:
    cost = 2

    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        self.words = [w for w in words if w.strip()]
        entries = [index.add(w) for w in self.words]
        self.ids = frozenset(e.id for e in entries if e is not None)
        self.index = index
        self.shown = ", ".join(repr(w) for w in self.words)

    def found(self, facts: Facts) -> str:
        return ", ".join(repr(self.index.keyword(i).text) for i in sorted(self.ids & facts.keywords))


class KeywordsAny(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"any keyword of {self.shown}"
        self._fail = f"none of the keywords {self.shown}"

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.ids.isdisjoint(facts.keywords) else None

    def why(self, facts: Facts) -> str:
        return f"keyword {self.found(facts)}"


class KeywordsAll(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"all keywords {self.shown}"
        self._fail = f"not all of the keywords {self.shown}"

    def fails(self, facts: Facts) -> str | None:
        return None if self.ids and self.ids <= facts.keywords else self._fail

    def why(self, facts: Facts) -> str:
        return f"all keywords {self.found(facts)}"


class KeywordsNone(_KeywordNode):
    def __init__(self, words: list[str], index: KeywordIndex) -> None:
        super().__init__(words, index)
        self.description = f"no keyword of {self.shown}"
        self._fail = f"an excluded keyword is present ({self.shown})"

    def fails(self, facts: Facts) -> str | None:
        return None if self.ids.isdisjoint(facts.keywords) else self._fail

    def why(self, facts: Facts) -> str:
        return f"none of {self.shown}"


class RegexSearch:
    """Searched in the folded text (width-folded, simplified Chinese, punctuation kept), case-insensitively."""

    cost = 5

    def __init__(self, pattern: str) -> None:
        # The pattern is made simplified like the text so that 帳戶 in a pattern meets 账户 in a message; OpenCC
        # touches only CJK characters, never regex syntax (NFKC is skipped: it could alter the syntax).
        self.pattern = re.compile(to_simplified(pattern), re.IGNORECASE)
        self.description = f"regex /{pattern}/"
        self._fail = f"regex /{pattern}/ not found"

    def fails(self, facts: Facts) -> str | None:
        return None if self.pattern.search(facts.folded) else self._fail

    def why(self, facts: Facts) -> str:
        match = self.pattern.search(facts.folded)
        return f"regex /{self.pattern.pattern}/ found {match.group(0) if match else ''!r}"


class HasAttachment:
    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "has an attachment" if expected else "has no attachment"
        self._fail = "has no attachment" if expected else "has an attachment"

    def fails(self, facts: Facts) -> str | None:
        return None if facts.has_attachment is self.expected else self._fail

    def why(self, facts: Facts) -> str:
        return self.description


class NewConversation:
    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "new conversation" if expected else "follow-up"
        self._fail = "is a follow-up" if expected else "is a new conversation"

    def fails(self, facts: Facts) -> str | None:
        return None if facts.new_conversation is self.expected else self._fail

    def why(self, facts: Facts) -> str:
        return self.description


class BusinessHours:
    """Unknown hours (the caller passed None) satisfy neither `true` nor `false`."""

    cost = 1

    def __init__(self, expected: bool) -> None:
        self.expected = expected
        self.description = "within business hours" if expected else "outside business hours"
        self._fail = "outside business hours" if expected else "within business hours"

    def fails(self, facts: Facts) -> str | None:
        if facts.in_business_hours is None:
            return "business hours unknown"
        return None if facts.in_business_hours is self.expected else self._fail

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
        return "; ".join(c.why(facts) for c in self.children)


class AnyOf:
    def __init__(self, children: list[Node]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        self.description = "any of (" + " | ".join(c.description for c in self.children) + ")"
        self._fail = "none of: " + " | ".join(c.description for c in self.children)

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


class NotOf:
    def __init__(self, child: Node) -> None:
        self.child = child
        self.cost = child.cost
        self.description = f"not ({child.description})"
        self._fail = f"{child.description}: excluded by not"

    def fails(self, facts: Facts) -> str | None:
        return self._fail if self.child.fails(facts) is None else None

    def why(self, facts: Facts) -> str:
        return f"not ({self.child.description})"


def compile_condition(condition: Condition, index: KeywordIndex) -> Node:
    """The tree for one `when` table; its keywords are added to the shared `index`."""
    nodes: list[Node] = []
    if condition.channel is not None:
        nodes.append(ChannelIn([c.value for c in condition.channel]))
    if condition.recipient is not None:
        nodes.append(RecipientIn(condition.recipient))
    if condition.sender is not None or condition.sender_regex is not None:
        nodes.append(SenderIs(condition.sender or [], condition.sender_regex))
    if condition.contact_tags is not None:
        nodes.append(TagsAny(condition.contact_tags))
    if condition.language is not None:
        nodes.append(LanguageIn(condition.language))
    if condition.category is not None:
        nodes.append(CategoryIn(condition.category))
    if condition.keywords_any is not None:
        nodes.append(KeywordsAny(condition.keywords_any, index))
    if condition.keywords_all is not None:
        nodes.append(KeywordsAll(condition.keywords_all, index))
    if condition.keywords_none is not None:
        nodes.append(KeywordsNone(condition.keywords_none, index))
    if condition.regex is not None:
        nodes.append(RegexSearch(condition.regex))
    if condition.has_attachment is not None:
        nodes.append(HasAttachment(condition.has_attachment))
    if condition.new_conversation is not None:
        nodes.append(NewConversation(condition.new_conversation))
    if condition.business_hours is not None:
        nodes.append(BusinessHours(condition.business_hours))
    if condition.all_of is not None:
        nodes.append(AllOf([compile_condition(c, index) for c in condition.all_of]))
    if condition.any_of is not None:
        nodes.append(AnyOf([compile_condition(c, index) for c in condition.any_of]))
    if condition.not_ is not None:
        nodes.append(NotOf(compile_condition(condition.not_, index)))
    if not nodes:
        return Always()
    return nodes[0] if len(nodes) == 1 else AllOf(nodes)
