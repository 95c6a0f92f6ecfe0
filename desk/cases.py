"""Agents' work on cases: take the next one, answer it, resolve it, give it to someone else.

A case's state changes in Redis first, in one Lua script each (core/inbox.py: that is what keeps two agents off one
case), and its `conversations` row and an audit-log entry follow in the record at once (record/cases.py).

An answer is a `Reply` with purpose `answer`, sent by the same `send_reply` job as acknowledgements, through the
channel of the customer's latest message, so every channel's rules (threading, opt-outs, WhatsApp's window,
retries) apply to it unchanged. It is not an automatic message: no `Auto-Submitted` header and no auto-reply cap.
The survey is automatic and goes once per case, `replies.survey_delay_seconds` after it is resolved
(core/surveys.py; its job is `workers.survey.send_survey`, queued by name).

First response (router/sla.py) is the first answer an agent sends, not the take. Answering makes the case pending
(unless the customer wrote again meanwhile: then it stays open with the agent); resolving closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.agent_settings import Role
from core.ids import conversation_reference, new_id
from core.inbox import CaseState, Inbox, Place, Status
from core.language import reply_language
from core.record_queue import queue_sla_event
from core.records import ANSWER, Reply, StoredMessage
from core.sending import queue_reply
from core.subjects import reply_subject
from core.surveys import schedule_survey
from core.throughput import record_take
from desk.agents import AgentView
from desk.assign import auto_assign
from desk.context import HasDesk, desk_message
from record.cases import audit, write_case_state
from router.sla import SlaKind, SlaPolicy


class CaseError(ValueError):
    """An action that does not fit the case's state (answering a resolved case, resolving it twice...)."""


@dataclass(frozen=True)
class Assignment:
    case: CaseState
    message: StoredMessage  # the message that opened the customer's current wait
    agent: str


def take_next(ctx: HasDesk, queues: list[str] | str, agent: str, *, capacity: int = 10) -> Assignment | None:
    """Give `agent` the most urgent case of any of `queues`, unless they already hold `capacity` unanswered ones;
    None when nothing waits (or at capacity: see `Inbox.load`)."""
    queues = [queues] if isinstance(queues, str) else queues
    now = datetime.now(UTC)
    inbox = Inbox(ctx.store)
    taken = inbox.take(queues, agent, capacity=capacity, at=now)
    if taken is None:
        return None
    record_take(ctx.store, taken.queue, now, taken.case_id)
    state = _state(inbox, taken.case_id)
    _follow(ctx, state, agent, "take", {"queue": taken.queue, "priority": taken.priority.value}, now)

    def note(m: StoredMessage) -> None:
        m.notes.append(f"{now:%Y-%m-%d %H:%M} taken by {agent}")

    desk_message(ctx, state.lead)  # its hot copy back from the record if it expired while the case waited
    return Assignment(state, ctx.store.update_message(state.lead, note), agent)


def take_next_for(ctx: HasDesk, agent: AgentView, queues: list[str] | None = None) -> Assignment | None:
    """ "Next" for an agent of the store: the most urgent case of their queues (a supervisor or admin without
    queues of their own: every queue), within their capacity. `queues` narrows it to some of them; a queue outside an
    agent's skills is refused."""
    if not agent.active:
        raise CaseError(f"agent {agent.email or agent.id} is deactivated")
    allowed = agent.queues or (Inbox(ctx.store).queues() if agent.role.at_least(Role.SUPERVISOR) else [])
    wanted = queues or allowed
    outside = [q for q in wanted if not agent.works(q)]
    if outside:
        raise CaseError(f"{agent.email or agent.id} does not work {', '.join(outside)}")
    return take_next(ctx, wanted, agent.id, capacity=agent.capacity) if wanted else None


def _state(inbox: Inbox, case_id: str) -> CaseState:
    state = inbox.case(case_id)
    if state is None:
        raise LookupError(f"no case {case_id}")
    return state


def _follow(ctx: HasDesk, state: CaseState, actor: str, action: str, detail: dict[str, Any], at: datetime) -> None:
    """The record follows the case's new state, with the action in the audit log, in one transaction."""
    fresh = Inbox(ctx.store).case(state.id) or state
    with ctx.record.begin() as connection:
        write_case_state(connection, fresh)
        audit(connection, actor, action, state.id, detail, at)


def latest_message(ctx: HasDesk, case_id: str) -> StoredMessage:
    """The case's latest routed customer message: what an answer replies to (threading, channel, address)."""
    for message_id in reversed(ctx.store.conversation(case_id)["messages"]):
        message = desk_message(ctx, message_id)
        if message is not None and message.decision is not None:
            return message
    raise LookupError(f"case {case_id} has no routed message")


@dataclass(frozen=True)
class Answered:
    reply: Reply
    case: CaseState  # after the answer: pending, or still open when the customer wrote again meanwhile
    newer: bool  # a customer message arrived after what the agent saw: the case stays open


def answer(
    ctx: HasDesk, case_id: str, text: str, agent: str, *, seen: int | None = None, canned: str | None = None
) -> Answered:
    """Queue an agent's answer to the case's latest message; the case becomes pending (out of the queue, first
    response met) unless a customer message came after the `seen`-th one (default: as many as the case has now).
    `canned` names the canned reply the text was rendered from (desk/canned.py), for the audit log."""
    inbox = Inbox(ctx.store)
    state = _state(inbox, case_id)
    if state.status is Status.RESOLVED:
        raise CaseError(f"case {conversation_reference(case_id)} is resolved: reopen it first")
    seen_seq = state.seq if seen is None else seen
    message = latest_message(ctx, case_id)
    assert message.decision is not None
    envelope = message.envelope
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    subject = reply_subject(envelope.subject, conversation_reference(case_id), language) if envelope.subject else ""
    reply = Reply(
        id=new_id("r"), message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose=ANSWER, language=language, subject=subject, text=text.strip(), extras={"agent": agent},
    )  # fmt: skip
    queue_reply(ctx.store, reply, state.priority)
    now = datetime.now(UTC)
    _record_first_response(ctx, state, message, agent, now)
    outcome = inbox.answered(case_id, agent, now, seen_seq)
    detail = {"reply": reply.id, "outcome": outcome} | ({"canned": canned} if canned else {})
    _follow(ctx, state, agent, "answer", detail, now)
    return Answered(reply, _state(inbox, case_id), outcome == "newer")


def _record_first_response(ctx: HasDesk, state: CaseState, message: StoredMessage, agent: str, now: datetime) -> None:
    if not Inbox(ctx.store).record_first_response(state.id, now, agent):
        return  # answered before: the first response was stamped then
    took = _policy(ctx).outcome(SlaKind.FIRST_RESPONSE, state.category, state.priority, state.queue, state.since, now)
    desk_message(ctx, state.lead)
    ctx.store.update_message(
        state.lead, lambda m: m.notes.append(f"{now:%Y-%m-%d %H:%M} first response by {agent} {took}")
    )
    _sla_result(ctx, state, SlaKind.FIRST_RESPONSE, now)


def _policy(ctx: HasDesk) -> SlaPolicy:
    return SlaPolicy.from_settings(ctx.settings, ctx.calendar)


def _sla_result(ctx: HasDesk, state: CaseState, kind: SlaKind, now: datetime) -> None:
    """The response or resolution happened: its SLA result goes to the record as it stands now (met or breached).
    The resolution clock runs from `clock` (paused while pending)."""
    start = state.since if kind is SlaKind.FIRST_RESPONSE else state.clock
    status = _policy(ctx).status(state.category, state.priority, state.queue, start, now, kind)
    result = "breached" if status.breached else "met"
    queue_sla_event(ctx.store, state.lead, f"{kind.value}_{result}", now, status.due, happened=True)


@dataclass(frozen=True)
class Resolution:
    case_id: str
    queue: str
    was: Place
    at: datetime
    outcome: str  # "after 2h05m of business time (resolution target 8h00m: met)"


def resolve(ctx: HasDesk, case_id: str, agent: str, *, only_if: Status | None = None) -> Resolution:
    """Resolve a case (waiting, taken or pending): it leaves the inbox, and its resolution time (the clock paused
    while it was pending) goes on its lead message's notes and to the record."""
    inbox = Inbox(ctx.store)
    state = _state(inbox, case_id)
    now = datetime.now(UTC)
    done = inbox.resolve(case_id, agent, now, only_if=only_if)
    if done is None:
        again = _state(inbox, case_id)
        if again.status is Status.RESOLVED and again.times.resolved_at is not None:
            when = f"{again.times.resolved_at:%Y-%m-%d %H:%M}"
            raise CaseError(f"case {case_id} was already resolved by {again.times.resolved_by} at {when}")
        raise CaseError(f"case {case_id} is {again.status.value}, not {only_if.value if only_if else 'open'}")
    took = _policy(ctx).outcome(SlaKind.RESOLUTION, state.category, state.priority, state.queue, state.clock, now)
    how = "" if done.was is not Place.WAITING else " (never taken)"
    _sla_result(ctx, state, SlaKind.RESOLUTION, now)
    desk_message(ctx, state.lead)
    ctx.store.update_message(
        state.lead, lambda m: m.notes.append(f"{now:%Y-%m-%d %H:%M} resolved by {agent}{how} {took}")
    )
    _follow(ctx, state, agent, "resolve", {"was": done.was.value}, now)
    schedule_survey(ctx.store, ctx.settings.replies.survey_delay_seconds, case_id, state.lead, state.priority)
    return Resolution(case_id, state.queue, done.was, now, took)


def reassign(ctx: HasDesk, case_id: str, to_agent: str, actor: str) -> CaseState:
    """Give an open case (waiting or taken) to a named agent, whatever their load."""
    inbox = Inbox(ctx.store)
    state = _state(inbox, case_id)
    now = datetime.now(UTC)
    if not inbox.reassign(case_id, to_agent, now):
        raise CaseError(f"case {case_id} is {state.status.value}: only an open case can be reassigned")
    _follow(ctx, state, actor, "reassign", {"from": state.agent, "to": to_agent}, now)
    return _state(inbox, case_id)


def reopen(ctx: HasDesk, case_id: str, agent: str) -> CaseState:
    """Put a pending or resolved case back in its queue, waiting at its priority from now (ordered by a first-response
    due time counted from now), as if the customer had written: an agent found there is more to do. An open case
    is refused (`CaseError`). A survey scheduled and not sent yet does not go: its next resolution asks
    (workers/survey.py). With `[cases].auto_assign` it goes to an agent of its queue at once (desk/assign.py)."""
    inbox = Inbox(ctx.store)
    state = _state(inbox, case_id)
    now = datetime.now(UTC)
    due = _policy(ctx).first_response_due(state.category, state.priority, state.queue, now)
    done, was = inbox.reopen(case_id, now, due)
    if not done:
        raise CaseError(f"case {conversation_reference(case_id)} is {was}: only a pending or resolved case reopens")
    desk_message(ctx, state.lead)
    ctx.store.update_message(
        state.lead, lambda m: m.notes.append(f"{now:%Y-%m-%d %H:%M} reopened by {agent} (was {was})")
    )
    _follow(ctx, state, agent, "reopen", {"was": was, "queue": state.queue, "priority": state.priority.value}, now)
    auto_assign(ctx, case_id, now)  # [cases].auto_assign: waiting again, it goes to an agent with room
    return _state(inbox, case_id)


def release_unanswered(ctx: HasDesk, now: datetime) -> list[str]:
    """Cases taken longer ago than `[cases].claim_timeout_minutes` and not answered go back to their queue (none
    when it is 0). Each release is one script that does nothing if the case was answered or taken again since."""
    minutes = ctx.settings.cases.claim_timeout_minutes
    if minutes <= 0:
        return []
    inbox = Inbox(ctx.store)
    before = now - timedelta(minutes=minutes)
    released = []
    for queue in inbox.queues():
        for case_id, _ in inbox.open_items(queue):
            state = inbox.case(case_id)
            if state is None or state.place is not Place.TAKEN:
                continue
            if inbox.release(case_id, before):
                _follow(ctx, state, "scheduler", "claim-expired", {"agent": state.agent, "minutes": minutes}, now)
                released.append(case_id)
                auto_assign(ctx, case_id, now, skip=state.agent)  # [cases].auto_assign: to someone else with room
    return released


def resolve_stale_pending(ctx: HasDesk, now: datetime) -> list[str]:
    """Pending cases the customer has not answered in `[cases].pending_days` are resolved (by `scheduler`)."""
    inbox = Inbox(ctx.store)
    done = []
    for case_id in inbox.pending_since(now - timedelta(days=ctx.settings.cases.pending_days)):
        try:
            resolve(ctx, case_id, "scheduler", only_if=Status.PENDING)
        except (CaseError, LookupError):
            continue  # the customer wrote meanwhile, or another scheduler was first
        done.append(case_id)
    return done
