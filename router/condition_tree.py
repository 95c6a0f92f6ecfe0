"""A rule's `when` table compiled into a tree of checks, once, at load: `compile_condition`, and the nodes that
combine others (`all`, `any`, `not`, and the implicit AND of a table's fields). The single conditions are in
router.conditions; like them, a combinator says what it tests once, in `statements` (router.check_codegen).
"""

from __future__ import annotations

from core.routing_settings import Condition
from router.check_codegen import Const
from router.conditions import (
    Always,
    BusinessHours,
    CategoryIn,
    ChannelIn,
    ConditionNode,
    HasAttachment,
    KeywordsAll,
    KeywordsAny,
    KeywordsNone,
    LanguageIn,
    NewConversation,
    Node,
    RecipientIn,
    RegexSearch,
    SenderIs,
    TagsAny,
)
from router.facts import Facts
from router.index_keys import Guard, Key, rarity
from router.keywords import KeywordIndex


class AllOf(ConditionNode):
    def __init__(self, children: list[Node]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)  # stable: equal costs keep the file's order
        self.cost = sum(c.cost for c in children)
        self.description = " and ".join(c.description for c in self.children)

    def statements(self, const: Const) -> list[str]:
        # Flattened: the children's statements in order, so the first that fails returns its reason.
        return [line for child in self.children for line in child.statements(const)]

    def why(self, facts: Facts) -> str:
        return "; ".join([c.why(facts) for c in self.children])

    def guard(self) -> Guard | None:
        guards = [g for g in (c.guard() for c in self.children) if g is not None]
        return min(guards, key=lambda g: (rarity(g[0]), len(g[0]))) if guards else None


class AnyOf(ConditionNode):
    def __init__(self, children: list[Node]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        self.description = "any of (" + " | ".join(c.description for c in self.children) + ")"
        self._fail = "none of: " + " | ".join(c.description for c in self.children)

    def statements(self, const: Const) -> list[str]:
        # Fails only when every child does; each child runs as its own compiled function.
        every = " and ".join(f"{const(child.fails)}(f) is not None" for child in self.children)
        return [f"if {every or 'True'}: return {const(self._fail)}"]

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


class NotOf(ConditionNode):
    def __init__(self, child: Node) -> None:
        self.child = child
        self.cost = child.cost
        self.description = f"not ({child.description})"
        self._fail = f"{child.description}: excluded by not"

    def statements(self, const: Const) -> list[str]:
        return [f"if {const(self.child.fails)}(f) is None: return {const(self._fail)}"]

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
