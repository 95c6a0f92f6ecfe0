"""What a candidate rule set would change: stored decisions compared with the candidate's, field by field.

`helpline route --rules NEW.toml --replay` (helpline/route_cli.py) reads the stored messages and decides each again
in the context its original decision recorded; this module only compares and reports. The report counts the
messages whose category, queue or priority would change, grouped by "from -> to", with examples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from core.envelope import Decision
from core.records import StoredMessage

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

    def add(self, message: StoredMessage, new: Decision | None) -> None:
        """Count one stored message; `new` is the candidate's decision, None for a message never routed."""
        self.total += 1
        old = message.decision
        if old is None or new is None:
            return
        self.routed += 1
        excerpt = _excerpt(message)
        for name in FIELDS:
            before, after = str(getattr(old, name)), str(getattr(new, name))
            if before != after:
                self.moves.append(Move(message.id, name, before, after, excerpt))
                self.moved.add(message.id)

    def groups(self, name: str) -> dict[tuple[str, str], list[Move]]:
        out: dict[tuple[str, str], list[Move]] = defaultdict(list)
        for move in self.moves:
            if move.field == name:
                out[(move.before, move.after)].append(move)
        return dict(sorted(out.items(), key=lambda item: (-len(item[1]), item[0])))


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
