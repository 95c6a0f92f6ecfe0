"""An agent changes a case's category, priority or queue, saying why.

The case changes at once in Redis, in one script whatever its state (core/inbox.py `reclassify`: a waiting case
keeps its place in line in its new queue and priority, a taken one stays with its agent), and its record row and
an audit-log entry (`recategorize-case`) follow in one transaction.

A new category is also a correction of the router: it is kept against one message, the one the handle named or
else the case's first routed message (whose category the case took), in `hl:corrections` (core/corrections.py),
which `helpline train` reads (workers/triage.py `desk_history`), and queued for the record's audit log as a
`recategorize` entry on the message, which the reports count (record/corrections.py). The message's decision takes
the new category (and queue) with a note saying who and why. The case's own audit entry has another action name so
that the reports count each correction once.

A category alone moves the case to that category's queue; `queue` moves it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from core.corrections import Correction, Corrections
from core.envelope import Priority
from core.ids import conversation_reference
from core.inbox import CaseState, Inbox, Status
from core.record_queue import queue_correction
from core.records import StoredMessage
from core.settings import Settings
from desk.context import HasDesk, desk_message
from record.cases import audit, write_case_state

ACTION = "recategorize-case"


def known_queues(settings: Settings) -> set[str]:
    return settings.router.known_queues() | {settings.scheduler.escalation_queue}


@dataclass(frozen=True)
class Change:
    """What an agent asks for: any of category, priority and queue, and why (required)."""

    reason: str
    category: str | None = None
    priority: Priority | None = None
    queue: str | None = None

    def checked(self, settings: Settings) -> Change:
        """The change with its reason trimmed; `ValueError` saying what is wrong (nothing to change, no reason, an
        unknown category or queue)."""
        if self.category is None and self.priority is None and self.queue is None:
            raise ValueError("name a category, a priority or a queue to change")
        categories = settings.router.categories
        if self.category is not None and self.category not in categories:
            raise ValueError(f"unknown category {self.category!r}; the categories are {', '.join(categories)}")
        queues = known_queues(settings)
        if self.queue is not None and self.queue not in queues:
            raise ValueError(f"unknown queue {self.queue!r}; the queues are {', '.join(sorted(queues))}")
        if not self.reason.strip():
            raise ValueError("say why (the reason): the next agent and the training both read it")
        return replace(self, reason=self.reason.strip())

    def target_queue(self, settings: Settings, state: CaseState) -> str:
        """The queue the case ends in: `queue`, else the new category's, else where it is."""
        if self.queue is not None:
            return self.queue
        return settings.router.queue_for(self.category) if self.category is not None else state.queue


def queues_of(ctx: HasDesk, case_id: str, change: Change) -> tuple[str, str]:
    """(the queue the case is in, the queue `change` puts it in): what a caller checks the agent may do."""
    state = Inbox(ctx.store).case(case_id)
    if state is None:
        raise LookupError(f"no case {case_id}")
    return state.queue, change.target_queue(ctx.settings, state)


@dataclass(frozen=True)
class Recategorized:
    case_id: str
    message_id: str  # the message a category correction is kept against
    status: Status
    category: tuple[str, str]  # (from, to)
    priority: tuple[Priority, Priority]
    queue: tuple[str, str]
    correction: Correction | None  # when a category was given


def recategorize(
    ctx: HasDesk, case_id: str, change: Change, agent: str, *, message_id: str | None = None
) -> Recategorized:
    """Apply `change` to the case (module docstring). `LookupError` for an unknown case or message, `ValueError` for
    a change that does not check out or a message of another case."""
    change = change.checked(ctx.settings)
    inbox = Inbox(ctx.store)
    state = inbox.case(case_id)
    if state is None:
        raise LookupError(f"no case {case_id}")
    message = _corrected_message(ctx, case_id, message_id)
    queue = change.target_queue(ctx.settings, state)
    priority = change.priority or state.priority
    category = change.category or state.category
    now = datetime.now(UTC)
    status = inbox.reclassify(case_id, queue, priority, change.category or "")
    if status is None:
        raise LookupError(f"no case {case_id}")
    correction = None
    if change.category is not None:
        correction = _correct(ctx, message, change.category, agent, change.reason, now)
    moves = [
        f"{what} {a} -> {b}"
        for what, a, b in (("category", state.category, category), ("priority", state.priority.value,
                           priority.value), ("queue", state.queue, queue))
        if a != b
    ]  # fmt: skip

    def note(m: StoredMessage) -> None:
        assert m.decision is not None
        if change.category is not None:
            m.decision.category = change.category
            m.decision.review = None
        if queue != state.queue:
            m.decision.queue = queue
        m.notes.append(f"{now:%Y-%m-%d %H:%M} {', '.join(moves) or 'unchanged'} by {agent}: {change.reason}")

    ctx.store.update_message(message.id, note)
    fresh = inbox.case(case_id) or state
    detail = {
        "reason": change.reason, "message": message.id,
        "from": {"category": state.category, "priority": state.priority.value, "queue": state.queue},
        "to": {"category": category, "priority": priority.value, "queue": queue},
    }  # fmt: skip
    with ctx.record.begin() as connection:
        write_case_state(connection, fresh)
        audit(connection, agent, ACTION, case_id, detail, now)
    return Recategorized(
        case_id, message.id, status, (state.category, category), (state.priority, priority), (state.queue, queue),
        correction,
    )  # fmt: skip


def _corrected_message(ctx: HasDesk, case_id: str, message_id: str | None) -> StoredMessage:
    """The message a correction is kept against: `message_id`, which must be the case's, or the case's first routed
    message. Its hot copy comes back from the record if it expired, to take the change."""
    ids = [message_id] if message_id else ctx.store.conversation(case_id).get("messages", [])
    for candidate in ids:
        message = desk_message(ctx, candidate)
        if message is None:
            if message_id:
                raise LookupError(f"no message {message_id}")
            continue
        if message_id and message.conversation_id != case_id:
            raise ValueError(f"message {message_id} is not in case {conversation_reference(case_id)}")
        if message.decision is not None:
            return message
        if message_id:
            raise ValueError(f"message {message_id} has not been routed yet")
    raise LookupError(f"case {conversation_reference(case_id)} has no routed message")


def _correct(ctx: HasDesk, message: StoredMessage, category: str, agent: str, reason: str, at: datetime) -> Correction:
    """Keep the correction for training (the store) and for the reports (the record's audit log, by a job)."""
    assert message.decision is not None
    correction = Correction(message.id, message.decision.category, category, agent, reason, at)
    Corrections(ctx.store).record(correction)
    queue_correction(ctx.store, correction, message.decision.queue)
    return correction
