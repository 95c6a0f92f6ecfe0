"""The inbound pipeline: small steps, declared once, in order.

Each step takes the `Work` so far and returns it (possibly changed) or a `Drop(reason)`. A dropped message stays
stored, with the reason, for audit; nothing is ever deleted here. Steps do their own small I/O through the store;
the routing step itself is pure (router/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.envelope import Channel, Decision, Envelope
from core.identity import identity_of
from core.inbox import Filed, Filing, Inbox, Status
from core.records import StoredMessage
from desk.assign import auto_assign
from desk.details import merged_details
from record.cases import write_case_state
from router.details import find_details
from router.engine import RoutingContext
from router.sla import SlaPolicy
from workers.context import Context
from workers.ordering import wait_for_earlier
from workers.record_step import Recorded, Routed, record_routed
from workers.survey_step import survey_answer


@dataclass(frozen=True)
class Drop:
    reason: str


@dataclass
class Work:
    message: StoredMessage
    contact_id: str = ""
    conversation_id: str = ""
    new_conversation: bool = True
    decision: Decision | None = None
    notes: list[str] = field(default_factory=list)
    filed: Filing | None = None  # what the message did to its case (core/inbox.py), once filed
    recorded: Recorded | None = None  # what the record step leaves for the routed message's write (workers/jobs.py)

    @property
    def envelope(self) -> Envelope:
        return self.message.envelope


Step = Callable[[Work, Context], "Work | Drop"]


def drop_own_loops(work: Work, ctx: Context) -> Work | Drop:
    """Our own replies coming back (a relay loop, a misconfigured forward) must not open conversations."""
    envelope = work.envelope
    if envelope.channel is Channel.EMAIL:
        if envelope.sender.address.lower() == ctx.settings.email.outbound.sender.lower():
            return Drop("sent by our own outbound address")
        if ctx.store.is_own_outbound_id(envelope.provider_id):
            return Drop("one of our own replies came back")
    return work


def drop_service_messages(work: Work, ctx: Context) -> Work | Drop:
    """Bot commands and shared contacts were handled by their adapter; they are not work for an agent."""
    if work.envelope.service:
        return Drop(f"service message: {work.envelope.service}")
    return work


def resolve_contact(work: Work, ctx: Context) -> Work | Drop:
    identity = identity_of(work.envelope.channel, work.envelope.sender.address)
    work.contact_id = ctx.store.contact_for(identity or f"unidentified:{work.message.id}")
    return work


def keep_arrival_order(work: Work, ctx: Context) -> Work | Drop:
    """The sender's earlier messages join their conversation first, whichever worker has them (workers/ordering.py)."""
    waiting = wait_for_earlier(ctx.store, work.envelope, work.message.id)
    if waiting:
        work.notes.append(f"threaded ahead of {waiting} earlier message(s) from its sender that were still waiting")
    return work


def take_survey_answer(work: Work, ctx: Context) -> Work | Drop:
    """A rating answering a case's satisfaction survey is recorded as its score and goes no further: not threaded
    (so it reopens nothing), not filed, not acknowledged (workers/survey_step.py)."""
    reason = survey_answer(work.envelope, work.message.id, work.contact_id, ctx)
    return work if reason is None else Drop(reason)


def thread(work: Work, ctx: Context) -> Work | Drop:
    """Email threads by References/In-Reply-To, joined only by a participant; other channels by contact. A case
    resolved longer ago than `[cases].reopen_days` is over: the message opens a new case linked to it.

    A follow-up from someone who is not in the referenced conversation opens a new one linked to it: attaching it
    would show one customer's account details to another (zammad#5064).
    """
    envelope = work.envelope
    store = ctx.store
    joined = store.conversation_of(work.message.id)
    if joined is not None:  # a re-run after a crash: the message already joined a conversation
        work.conversation_id, work.new_conversation = joined
        store.mark_threaded(envelope, [work.message.id])
        return work
    closed = _closed_cases(ctx)
    if envelope.channel is Channel.EMAIL:
        linked: str | None = None
        for reference in [envelope.in_reply_to or "", *reversed(envelope.references)]:
            conversation = store.conversation_for_reference(reference) if reference else None
            if conversation is None:
                continue
            if store.is_participant(conversation, envelope.sender.address):
                if closed(conversation):
                    linked = conversation
                    work.notes.append(f"case {conversation} was resolved over reopen_days ago: opened a new one")
                    break
                work.conversation_id, work.new_conversation = conversation, False
                break
            linked = linked or conversation
        if not work.conversation_id:
            work.conversation_id = store.open_conversation(
                work.contact_id, envelope.channel, envelope.subject, linked_to=linked
            )
            if linked and not work.notes:
                work.notes.append(f"references conversation {linked} of other participants: opened a new one")
        references = [envelope.message_id] if envelope.message_id else []
    else:
        work.conversation_id = store.open_conversation(
            work.contact_id, envelope.channel, envelope.subject, reuse=True, closed=closed
        )
        work.new_conversation = len(store.conversation(work.conversation_id)["messages"]) == 0
        references = []
    # Marked threaded with it: the sender's next message may go now (workers/ordering.py).
    if not store.add_to_conversation(
        work.conversation_id, work.message.id, envelope, references, new=work.new_conversation
    ):
        store.mark_threaded(envelope, [work.message.id])  # joined by a twin run meanwhile: the marking is still due
    return work


def _closed_cases(ctx: Context) -> Callable[[str], bool]:
    """Whether a case is over: resolved longer ago than `[cases].reopen_days` (a new message opens a new case)."""
    inbox, now = Inbox(ctx.store), datetime.now(UTC)
    window = timedelta(days=ctx.settings.cases.reopen_days)

    def closed(case_id: str) -> bool:
        state = inbox.case(case_id)
        if state is None or state.status is not Status.RESOLVED or state.times.resolved_at is None:
            return False
        return now - state.times.resolved_at > window

    return closed


def route(work: Work, ctx: Context) -> Work | Drop:
    """Decide category, priority and queue. `business_hours` conditions read the desk's main hours: those of the
    default category's queue (a rule cannot know the queue it is about to choose)."""
    router_settings = ctx.settings.router
    tags = frozenset(filter(None, ctx.store.contact(work.contact_id).get("tags", "").split()))
    now = datetime.now(UTC)
    desk = router_settings.queue_for(router_settings.default_category)
    context = RoutingContext(
        new_conversation=work.new_conversation,
        contact_tags=tags,
        in_business_hours=ctx.calendar.in_business_hours(desk, now),
        now=now,
    )
    work.decision = ctx.router().decide(work.envelope, context)
    if work.decision.tags:  # rule tags stick to the contact, so later messages match `contact_tags`
        ctx.store.add_contact_tags(work.contact_id, work.decision.tags)
    return work


def find_transaction_details(work: Work, ctx: Context) -> Work | Drop:
    """What an agent will need about a transaction (account, time, amount, reference): found ones are kept on the
    envelope, missing ones are asked for in the acknowledgement. Reads the text after masking, so a card number
    never comes back as a "reference". A follow-up fills its case's missing details (desk/details.py): what it is
    still missing is what no message of the case gave, so nobody is asked twice."""
    assert work.decision is not None
    envelope = work.envelope
    case = None if work.new_conversation else Inbox(ctx.store).case(work.conversation_id)
    details = find_details(
        f"{envelope.subject}\n{envelope.text}",
        case.category if case is not None and case.category else work.decision.category,
        transactional_categories=ctx.settings.router.transactional_categories(),
        # A phone number or an email address can find the customer's account; a Telegram chat id cannot.
        sender=envelope.sender.address if envelope.channel is not Channel.TELEGRAM else None,
    )
    earlier: list[str] = []
    if not work.new_conversation:
        earlier = [m for m in ctx.store.conversation(work.conversation_id)["messages"] if m != work.message.id]
    found_before, missing_before = merged_details(ctx.store, earlier)
    if earlier and (found_before or missing_before):  # the case is transactional: this message adds to it
        envelope.extras["details"] = details.found
        envelope.extras["missing_details"] = [k for k in missing_before if k not in details.found]
        if any(k in missing_before for k in details.found):
            work.notes.append(f"filled the case's missing details: {', '.join(sorted(details.found))}")
    elif details.transactional:
        envelope.extras["details"] = details.found
        envelope.extras["missing_details"] = details.missing
    return work


def record(work: Work, ctx: Context) -> Work | Drop:
    """Write the system of record (workers/record_step.py), before agents see the message and before any reply is
    queued; a message the record holds already under another id (accepted twice), or whose sender's data was erased
    after it arrived, goes no further."""
    assert work.decision is not None
    routed = Routed(work.contact_id, work.conversation_id, work.decision, work.notes)
    result = record_routed(ctx, work.message, routed)
    if isinstance(result, str):
        return Drop(result)
    work.recorded = result
    return work


def file_for_agents(work: Work, ctx: Context) -> Work | Drop:
    """The message joins its case's one inbox item (core/inbox.py): a new case waits in its queue, a follow-up adds
    nothing (it may raise the case's priority), a pending or recently resolved case goes back in the queue. A change
    of the case's state goes to the record in this job (record/cases.py)."""
    assert work.decision is not None
    d, envelope = work.decision, work.envelope
    now = datetime.now(UTC)
    due = SlaPolicy.from_settings(ctx.settings, ctx.calendar).first_response_due(
        d.category, d.priority, d.queue, envelope.received_at
    )
    inbox = Inbox(ctx.store)
    work.filed = inbox.file(
        work.conversation_id, work.message.id, d.queue, d.priority, since=envelope.received_at, due=due, now=now,
        reopen_seconds=ctx.settings.cases.reopen_days * 86400, category=d.category,
    )  # fmt: skip
    outcome = work.filed.outcome
    if outcome in (Filed.NEW, Filed.FOLLOW_UP, Filed.KNOWN):
        # Whether the message opened its case or followed up in it is the conversation step's answer: threading runs
        # in each sender's arrival order (workers/ordering.py), filing does not, and a follow-up another worker filed
        # a moment before the message it answers would take the case's one acknowledgement from it. KNOWN: a re-run.
        outcome = Filed.NEW if work.new_conversation else Filed.FOLLOW_UP
    envelope.extras.setdefault("case", outcome.value)
    if work.filed.outcome in (Filed.BACK, Filed.REOPENED, Filed.KNOWN) or work.filed.raised:
        state = inbox.case(work.conversation_id)
        if state is not None:
            with ctx.record.begin() as connection:
                write_case_state(connection, state)
    if work.filed.raised:
        work.notes.append(f"raised the case's priority to {work.filed.priority.value}")
    if work.filed.outcome in (Filed.BACK, Filed.REOPENED):
        work.notes.append(f"case {work.filed.outcome.value}: waiting in {d.queue} again")
    if work.filed.outcome in (Filed.NEW, Filed.BACK, Filed.REOPENED):
        assigned = auto_assign(ctx, work.conversation_id, now)  # [cases].auto_assign; off: nothing happens
        if assigned is not None:
            work.notes.append(f"assigned to {assigned} automatically")
    return work


PIPELINE: tuple[Step, ...] = (
    drop_own_loops,
    drop_service_messages,
    resolve_contact,
    keep_arrival_order,
    take_survey_answer,
    thread,
    route,
    find_transaction_details,
    record,
    file_for_agents,
)


def run_pipeline(work: Work, ctx: Context, steps: tuple[Step, ...] = PIPELINE) -> Work | Drop:
    current: Work | Drop = work
    for step in steps:
        assert isinstance(current, Work)
        current = step(current, ctx)
        if isinstance(current, Drop):
            return current
    return current
