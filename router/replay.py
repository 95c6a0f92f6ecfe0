"""`helpline route --rules NEW.toml --replay`: what a candidate rule set would change on stored messages.

Each stored, routed message is decided again with the candidate router, in the context its original decision
recorded in its trace (new conversation or not, contact tags, business hours, time), so only the rules differ.
The report counts the messages whose category, queue or priority would change, grouped by "from -> to", with
examples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from core.records import StoredMessage
from core.store import Store
from router.engine import Router, RoutingContext

FIELDS = ("category", "queue", "priority")


@dataclass(frozen=True)
class Move:
    message_id: str
    field: str
    before: str
    after: str
    excerpt: str


@dataclass
class ReplayReport:
    total: int = 0  # stored messages in the range
    routed: int = 0  # of which had a decision to compare with
    moved: set[str] = field(default_factory=set)  # ids of messages with any change
    moves: list[Move] = field(default_factory=list)

    def groups(self, name: str) -> dict[tuple[str, str], list[Move]]:
        out: dict[tuple[str, str], list[Move]] = defaultdict(list)
        for move in self.moves:
            if move.field == name:
                out[(move.before, move.after)].append(move)
        return dict(sorted(out.items(), key=lambda item: (-len(item[1]), item[0])))


def context_of(message: StoredMessage, store: Store) -> RoutingContext:
    assert message.decision is not None
    recorded = RoutingContext.from_trace(message.decision.trace)
    if recorded is not None:
        return recorded
    # Decisions older than the trace's context entry: rebuild what the store still knows.
    tags = store.contact(message.contact_id).get("tags", "").split() if message.contact_id else []
    return RoutingContext(contact_tags=frozenset(tags), now=message.envelope.received_at)


def replay(store: Store, router: Router, since: datetime | None = None, until: datetime | None = None) -> ReplayReport:
    report = ReplayReport()
    for message_id in store.message_ids(since, until):
        message = store.get_message(message_id)
        if message is None:
            continue
        report.total += 1
        if message.decision is None:
            continue
        report.routed += 1
        new = router.decide(message.envelope, context_of(message, store))
        old = message.decision
        excerpt = _excerpt(message)
        for name in FIELDS:
            before, after = str(getattr(old, name)), str(getattr(new, name))
            if before != after:
                report.moves.append(Move(message_id, name, before, after, excerpt))
                report.moved.add(message_id)
    return report


def format_report(report: ReplayReport, *, examples: int = 3) -> str:
    lines = [
        f"{report.total} stored messages, {report.routed} routed: "
        f"{len(report.moved)} would move, {report.routed - len(report.moved)} unchanged"
        + (f", {report.total - report.routed} not routed yet (skipped)" if report.total > report.routed else "")
    ]
    for name in FIELDS:
        groups = report.groups(name)
        if not groups:
            continue
        count = sum(len(moves) for moves in groups.values())
        lines.append(f"{name}: {count} would change")
        for (before, after), moves in groups.items():
            lines.append(f"  {before} -> {after}: {len(moves)}")
            for move in moves[:examples]:
                lines.append(f"      e.g. {move.message_id}: {move.excerpt}")
    return "\n".join(lines)


def _excerpt(message: StoredMessage, width: int = 70) -> str:
    text = " ".join(f"{message.envelope.subject} {message.envelope.text}".split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")
