"""Index keys: how the router skips, unevaluated, the rules a message cannot match.

A guard is a necessary condition written as index keys: a condition cannot hold unless the message has one of these
keys (keyword ids, or strings such as "channel:sms"; see `message_keys`); the string is the condition's failure
reason when it has none. The router indexes every rule by its guard and evaluates only the rules one of the
message's keys wakes up, plus the rules with no guard.
"""

from __future__ import annotations

from router.facts import Facts

Key = int | str
Guard = tuple[frozenset[Key], str]


def message_keys(facts: Facts) -> list[str]:
    """The string index keys of a message (its keyword ids are the others)."""
    language = facts.language
    sender = facts.sender
    return [
        f"channel:{facts.channel}",
        *(f"to:{recipient}" for recipient in facts.recipients),
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


def rarity(keys: frozenset[Key]) -> int:
    """How rarely a message has one of these keys (lower: rarer, a better guard). A heuristic by kind of key."""
    if all(isinstance(k, int) for k in keys):
        return 0  # keywords and regex literals: most messages have none of a rule's
    kinds = {str(k).partition(":")[0] for k in keys}
    if kinds <= {"to", "from", "fromdomain"}:
        return 1
    if kinds <= {"cat", "tag"}:
        return 2
    return 3  # channel, language, attachment, new conversation: a large share of all messages
