"""Filing and taking cases in tests the way the pipeline and the desk do, in one line each."""

from __future__ import annotations

from datetime import UTC, datetime

from core.envelope import Priority
from core.inbox import Filing, Inbox
from core.store import Store


def file_case(
    store: Store,
    queue: str,
    priority: Priority,
    case_id: str,
    received: datetime,
    *,
    message_id: str | None = None,
    category: str | None = None,
    due: datetime | None = None,
    now: datetime | None = None,
    reopen_seconds: float = 7 * 86400,
) -> Filing:
    """File a message (by default with the case's own id, so the case's lead message is `case_id`)."""
    return Inbox(store).file(
        case_id, message_id or case_id, queue, priority, since=received, due=due, now=now or received,
        reopen_seconds=reopen_seconds, category=category or queue,
    )  # fmt: skip


def take(
    store: Store, queue: str | list[str], agent: str = "agent", at: datetime | None = None, capacity: int = 1000
) -> tuple[Priority, str] | None:
    taken = Inbox(store).take(
        [queue] if isinstance(queue, str) else queue, agent, capacity=capacity, at=at or datetime.now(UTC)
    )
    return None if taken is None else (taken.priority, taken.case_id)
