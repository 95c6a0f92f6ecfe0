"""The `scheduler` process: every `[scheduler].interval_seconds`, escalate SLA breaches, promote waiting work and
route overdue voicemails; every `[workers].reconcile_seconds`, queue again the work a dead worker took with it
(workers/reconcile.py); every hour, the record's own retention (workers/retention.py).

`run_once(settings, store, now)` does one pass of four steps and returns what it did (a `Report`):

1. Escalation, of every unresolved item (waiting, or open with an agent; core/inbox.py). Targets are measured
   from when the customer wrote, at the priority the router gave it (router/sla.py).
   - First response (the first agent answer, not the take): a waiting item past its target moves to
     `[scheduler].escalation_queue` one priority higher, keeping its age; an open item not answered yet stays with
     its agent and is flagged. Either way the message gets a note and the `sla-breached` tag and its id goes into
     the `escalations` zset (scored by time).
   - Resolution: an item not resolved by its target gets a note and the `resolution-breached` tag, and its id goes
     into `escalations:resolution`; it is not moved (an agent has it, or it has already been escalated above).
   When `[scheduler].notify_job` is set, each breach also enqueues that RQ job on the `notifications` queue
   (core/queues.py) with (message_id, reason). Each breach happens once per message: ZADD NX on its zset, or the
   move, is the guard.
2. Promotion. An item that has waited `raise_to_after_minutes[P]` of its queue's business time is raised to at least
   priority P, so low-priority work is never starved by a steady stream of urgent work. The wait counts from
   filing and promotion keeps it (the inbox keeps the original score), so the steps add up: with
   `{normal = 240, high = 720}`, a low item is normal after 4 business hours and high after 12.
3. Cases (core/inbox.py): a case taken longer ago than `[cases].claim_timeout_minutes` and not answered goes back to
   its queue (0: never); a case pending longer than `[cases].pending_days` is resolved (desk/cases.py).
4. Voicemails. An English voicemail is parked until Twilio's transcript arrives (ingest/twilio/voicemail_parking.py);
   one whose transcript is overdue is routed without it, here and only here.

The first two steps compute the end state from `now`, and each move is one Lua script (core/inbox.py) that does
nothing when the item is no longer where it was; the third claims each voicemail atomically. So `run_once` is
idempotent: a second pass at the same `now`, or a second scheduler racing this one, changes nothing more.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import Engine

from core.envelope import Decision, Priority
from core.errors import StoreUnavailable
from core.inbox import Inbox
from core.queues import NOTIFY_QUEUE
from core.record_queue import queue_sla_event
from core.records import StoredMessage
from core.redis_conn import connect
from core.settings import Settings
from core.store import JOB_RETRY, Store, store_errors
from desk.cases import release_unanswered, resolve_stale_pending
from desk.context import DeskContext
from ingest.twilio.voicemail_parking import sweep_overdue_voicemails
from record.engine import connect as connect_record
from record.messages import load_message
from router.hours import BusinessCalendar
from router.sla import SlaKind, SlaPolicy, SlaStatus, format_duration
from workers.reconcile import Reconciled, reconcile
from workers.retention import RETENTION_EVERY_SECONDS, scheduled_retention

log = logging.getLogger("helpline.scheduler")

BREACH_TAG = "sla-breached"
RESOLUTION_TAG = "resolution-breached"


@dataclass(frozen=True)
class Promotion:
    message_id: str
    queue: str
    src: Priority
    dst: Priority
    waited: timedelta


@dataclass(frozen=True)
class Escalation:
    message_id: str
    queue: str
    src: Priority
    dst_queue: str
    dst: Priority
    due: datetime | None
    kind: SlaKind = SlaKind.FIRST_RESPONSE

    @property
    def moved(self) -> bool:
        """Only a waiting item moves; an open item stays with its agent and is flagged."""
        return (self.dst_queue, self.dst) != (self.queue, self.src)


@dataclass
class Report:
    escalated: list[Escalation] = field(default_factory=list)
    promoted: list[Promotion] = field(default_factory=list)
    voicemails: int = 0
    released: list[str] = field(default_factory=list)  # cases back in the queue: their claim ran out
    auto_resolved: list[str] = field(default_factory=list)  # pending cases resolved after pending_days

    def __bool__(self) -> bool:
        return bool(self.escalated or self.promoted or self.voicemails or self.released or self.auto_resolved)

    def summary(self) -> str:
        late = sum(e.kind is SlaKind.RESOLUTION for e in self.escalated)
        return (
            f"escalated {len(self.escalated) - late} first responses and {late} resolutions, "
            f"promoted {len(self.promoted)}, voicemails routed {self.voicemails}, "
            f"claims expired {len(self.released)}, pending cases resolved {len(self.auto_resolved)}"
        )


def raised(priority: Priority) -> Priority:
    return list(Priority)[max(0, priority.rank - 1)]


def _note(
    message_id: str, store: Store, note: str, tag: str | None = None, *, settings: Settings, record: Engine | None
) -> None:
    def change(message: StoredMessage) -> None:
        message.notes.append(note)
        if tag and message.decision is not None and tag not in message.decision.tags:
            message.decision.tags.append(tag)

    try:
        store.update_message(message_id, change)
        return
    except KeyError:
        pass
    # An item waiting longer than its hot copy lives: read back from the record (record/messages.py), then noted.
    try:
        if _message(message_id, store, settings, record) is not None:
            store.update_message(message_id, change)
            return
    except KeyError:
        pass
    log.warning("inbox item %s has no stored message", message_id)


def _message(message_id: str, store: Store, settings: Settings, record: Engine | None) -> StoredMessage | None:
    """The item's message, its hot copy brought back from the record if it expired (to take the notes that follow)."""
    seconds = int(settings.retention.hot_message_days * 86400)
    return load_message(store, record, message_id, warm_seconds=seconds)


@dataclass(frozen=True)
class _Pass:
    """What every check of one escalation pass needs."""

    settings: Settings
    store: Store
    policy: SlaPolicy
    now: datetime
    record: Engine | None = None

    @property
    def where(self) -> dict[str, Any]:
        """What `_note` needs to find a message whose hot copy expired."""
        return {"settings": self.settings, "record": self.record}

    @property
    def stamp(self) -> str:
        return self.now.isoformat(timespec="seconds")

    def claim(self, kind: SlaKind, message_id: str) -> bool:
        """Record the breach in its zset (`escalations`, `escalations:resolution`, scored by time); ZADD NX makes
        it once per message and kind, also against a second scheduler."""
        key = self.store.key("escalations") if kind is SlaKind.FIRST_RESPONSE else self.store.key("escalations", kind)
        with store_errors():
            return bool(self.store.redis.zadd(key, {message_id: self.now.timestamp()}, nx=True))

    def notify(self, kind: SlaKind, message_id: str, reason: str) -> None:
        config = self.settings.scheduler
        if config.notify_job:
            job_id = f"escalation-{message_id}" if kind is SlaKind.FIRST_RESPONSE else f"{kind}-{message_id}"
            with store_errors():
                self.store.queue(NOTIFY_QUEUE).enqueue_call(
                    config.notify_job, args=(message_id, reason), job_id=job_id, retry=JOB_RETRY
                )


def _reason(kind: SlaKind, status: SlaStatus, decision: Decision) -> str:
    due = status.due.astimezone(UTC).isoformat(timespec="minutes") if status.due else "?"
    return f"{kind.value.replace('_', ' ')} due {due} for {decision.category}/{decision.priority.value}"


def _check(run: _Pass, case_id: str, queue: str, waiting_at: Priority | None) -> list[Escalation]:
    """Escalate one unresolved case, waiting (at `waiting_at`) or taken, for each target it is past. Targets run
    from the customer's current wait (first response) and from the case's clock (resolution, paused while pending);
    notes, breach zsets and notifications name the message that opened the wait (its hot copy brought back from
    the record if it expired)."""
    inbox = Inbox(run.store)
    case = inbox.case(case_id)
    message = _message(case.lead, run.store, run.settings, run.record) if case is not None else None
    if case is None or message is None or message.decision is None:
        return []
    message_id = message.id
    d = message.decision
    # Targets as the router set them for the message that opened the wait (a promotion or an escalation does not
    # shorten them); the clock from the case.
    category, priority, home, received = d.category, d.priority, d.queue, case.since
    times = case.times
    src = waiting_at or priority
    done: list[Escalation] = []
    config = run.settings.scheduler
    first = run.policy.status(category, priority, home, received, run.now, SlaKind.FIRST_RESPONSE)
    # First response = the first agent answer (desk/cases.py): a taken, unanswered case is still late.
    if first.breached and times.first_response_at is None and (waiting_at is None or queue != config.escalation_queue):
        reason = _reason(SlaKind.FIRST_RESPONSE, first, d)
        if waiting_at is not None:
            dst = raised(waiting_at)
            # The move is the guard: it fails when an agent took the case or another pass moved it meanwhile.
            if inbox.move(case_id, queue, waiting_at, config.escalation_queue, dst):
                run.claim(SlaKind.FIRST_RESPONSE, message_id)
                what = f"escalated {queue}/{waiting_at.value} -> {config.escalation_queue}/{dst.value}"
                done.append(Escalation(message_id, queue, src, config.escalation_queue, dst, first.due))
                queue, src = config.escalation_queue, dst  # where it waits now, for the resolution check below
        elif run.claim(SlaKind.FIRST_RESPONSE, message_id):
            what = f"taken by {times.taken_by or '?'} but not answered yet"
            done.append(Escalation(message_id, queue, src, queue, src, first.due))
        if done:
            _note(message_id, run.store, f"{run.stamp} SLA breached ({reason}): {what}", BREACH_TAG, **run.where)
            run.notify(SlaKind.FIRST_RESPONSE, message_id, reason)
            queue_sla_event(run.store, message_id, "first_response_breached", run.now, first.due)
            log.warning("SLA breached: %s %s; %s", message_id, reason, what)
    resolution = run.policy.status(category, priority, home, case.clock, run.now, SlaKind.RESOLUTION)
    if resolution.breached and times.resolved_at is None and run.claim(SlaKind.RESOLUTION, message_id):
        reason = _reason(SlaKind.RESOLUTION, resolution, d)
        where = f"waiting in {queue}" if waiting_at is not None else f"open with {times.taken_by or '?'} from {queue}"
        note = f"{run.stamp} resolution SLA breached ({reason}): still {where}"
        _note(message_id, run.store, note, RESOLUTION_TAG, **run.where)
        run.notify(SlaKind.RESOLUTION, message_id, reason)
        queue_sla_event(run.store, message_id, "resolution_breached", run.now, resolution.due)
        log.warning("resolution SLA breached: %s %s; still %s", message_id, reason, where)
        done.append(Escalation(message_id, queue, src, queue, src, resolution.due, SlaKind.RESOLUTION))
    return done


def escalate(
    settings: Settings, store: Store, policy: SlaPolicy, now: datetime, record: Engine | None = None
) -> list[Escalation]:
    """Escalate every unresolved item (waiting or open) past its first-response or resolution target, once."""
    shortest = [t for t in map(policy.shortest_target, SlaKind) if t is not None]
    if not shortest:
        return []  # no targets at all
    # Business time never exceeds wall time, so nothing received within the shortest target can be late yet.
    horizon = now - min(shortest)
    run, inbox = _Pass(settings, store, policy, now, record), Inbox(store)
    done: list[Escalation] = []
    for queue in inbox.queues():
        for priority in Priority:
            for case_id, _ in inbox.waiting(queue, priority, older_than=horizon):
                done += _check(run, case_id, queue, priority)
        for case_id, _ in inbox.open_items(queue, older_than=horizon):
            done += _check(run, case_id, queue, None)
    return done


def promote(
    settings: Settings, store: Store, calendar: BusinessCalendar, now: datetime, record: Engine | None = None
) -> list[Promotion]:
    ladder = sorted(settings.scheduler.raise_to_after_minutes.items(), key=lambda kv: kv[0].rank)  # most urgent first
    inbox = Inbox(store)
    done: list[Promotion] = []
    for queue in inbox.queues():
        for priority in Priority:
            steps = [(p, timedelta(minutes=m)) for p, m in ladder if p.rank < priority.rank]
            if not steps:
                continue
            for case_id, filed_at in inbox.waiting(queue, priority, older_than=now - min(t for _, t in steps)):
                waited = calendar.business_time_between(queue, filed_at, now)
                dst = next((p for p, after in steps if waited >= after), None)
                if dst is None or not inbox.move(case_id, queue, priority, queue, dst):
                    continue
                case = inbox.case(case_id)
                message_id = case.lead if case else case_id
                _note(
                    message_id,
                    store,
                    f"{now.isoformat(timespec='seconds')} promoted {priority.value} -> {dst.value} in {queue} "
                    f"after waiting {format_duration(waited)} of business time",
                    settings=settings,
                    record=record,
                )
                done.append(Promotion(message_id, queue, priority, dst, waited))
    return done


def run_once(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    record: Engine | None = None,
) -> Report:
    """One pass. `record` is where messages whose hot copy expired are read (without it, only Redis is read)."""
    calendar = calendar or BusinessCalendar.from_settings(settings)
    report = Report()
    report.escalated = escalate(settings, store, SlaPolicy(settings.sla, calendar), now, record)
    report.promoted = promote(settings, store, calendar, now, record)
    report.voicemails = route_overdue_voicemails(settings, store)
    if settings.cases.claim_timeout_minutes > 0 or Inbox(store).pending_since(
        now - timedelta(days=settings.cases.pending_days)
    ):
        desk = DeskContext(settings, store, calendar, record or connect_record(settings))
        report.released = release_unanswered(desk, now)  # taken, not answered in claim_timeout_minutes
        report.auto_resolved = resolve_stale_pending(desk, now)  # pending for pending_days
    return report


def route_overdue_voicemails(settings: Settings, store: Store) -> int:
    """English voicemails wait for Twilio's transcript; past the wait they are routed without it (only here)."""
    return sweep_overdue_voicemails(settings, store)


def serve(settings: Settings, *, stop: threading.Event | None = None, max_runs: int | None = None) -> None:
    """Run `run_once` every `scheduler.interval_seconds` and the reconciler (workers/reconcile.py) every
    `workers.reconcile_seconds` until SIGTERM/SIGINT (or `stop`; `max_runs` counts `run_once` passes). A Redis
    outage or restart is logged and ridden out: the next pass runs on a fresh connection."""
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    store = Store(connect(settings))
    record = connect_record(settings)  # connects on first use: an expired hot copy, a claim or pending time run out
    calendar = BusinessCalendar.from_settings(settings)
    runs = 0
    log.info(
        "scheduler: every %ss; lost work looked for every %ss",
        settings.scheduler.interval_seconds,
        settings.workers.reconcile_seconds,
    )
    next_pass = next_reconcile = next_retention = time.monotonic()
    try:
        while not stop.is_set() and (max_runs is None or runs < max_runs):
            if time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + settings.workers.reconcile_seconds
                _survive_outage("reconciler", lambda: _log_report(reconcile(settings, store, time.time())))
            if time.monotonic() >= next_retention:  # the record's own retention (workers/retention.py)
                next_retention = time.monotonic() + RETENTION_EVERY_SECONDS
                _survive_outage("retention", lambda: scheduled_retention(settings, store, datetime.now(UTC)))
            if time.monotonic() >= next_pass:
                runs += 1
                next_pass = time.monotonic() + settings.scheduler.interval_seconds
                _survive_outage(
                    "scheduler",
                    lambda: _log_report(run_once(settings, store, datetime.now(UTC), calendar=calendar, record=record)),
                )
            if max_runs is None or runs < max_runs:
                stop.wait(max(0.0, min(next_pass, next_reconcile) - time.monotonic()))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.redis.close()


def _log_report(report: Report | Reconciled) -> None:
    if report:
        log.info("scheduler: %s", report.summary())


def _survive_outage(what: str, step: Callable[[], None]) -> None:
    """Run one step; Redis being away (down, restarting, refusing writes) is logged and tried again next time."""
    try:
        step()
    except (StoreUnavailable, RedisError, OSError) as exc:
        log.warning("%s: store unavailable (%s); trying again next time", what, exc)
