"""The `scheduler` process: every `[scheduler].interval_seconds`, escalate SLA breaches and promote waiting work.

`run_once(settings, store, now)` does one pass over the agents' inbox (core/inbox.py) and returns what it did:

1. Escalation. An item still waiting (no agent has taken it) whose first-response target has passed (router/sla.py,
   measured from when the customer wrote, at the priority the router gave it) moves to `[scheduler].escalation_queue`
   one priority higher, keeping its age. The message gets a note and the `sla-breached` tag, its id goes into the
   `escalations` zset (scored by time), and when `[scheduler].notify_job` is set an RQ job is enqueued on
   `[scheduler].notify_queue` with (message_id, reason) and a job id per message, so it is enqueued once.
2. Promotion. An item that has waited `raise_to_after_minutes[P]` of its queue's business time is raised to at least
   priority P, so low-priority work is never starved by a steady stream of urgent work. The wait counts from
   filing and promotion keeps it (the inbox keeps the original score), so the steps add up: with
   `{normal = 240, high = 720}`, a low item is normal after 4 business hours and high after 12.

Both steps compute the end state from `now`, and each move is one Lua script (core/inbox.py) that does nothing when
the item is no longer where it was, so `run_once` is idempotent: a second pass at the same `now`, or a second scheduler racing this one,
changes nothing more.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rq import Queue

from core.envelope import Priority
from core.errors import StoreUnavailable
from core.inbox import Inbox
from core.records import StoredMessage
from core.settings import Settings
from core.store import Store, store_errors
from router.hours import BusinessCalendar
from router.sla import SlaPolicy

log = logging.getLogger("helpline.scheduler")

BREACH_TAG = "sla-breached"


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


@dataclass
class Report:
    escalated: list[Escalation] = field(default_factory=list)
    promoted: list[Promotion] = field(default_factory=list)
    voicemails: int = 0

    def __bool__(self) -> bool:
        return bool(self.escalated or self.promoted or self.voicemails)

    def summary(self) -> str:
        return f"escalated {len(self.escalated)}, promoted {len(self.promoted)}, voicemails routed {self.voicemails}"


def raised(priority: Priority) -> Priority:
    return list(Priority)[max(0, priority.rank - 1)]


def _note(message_id: str, store: Store, note: str, tag: str | None = None) -> None:
    def change(message: StoredMessage) -> None:
        message.notes.append(note)
        if tag and message.decision is not None and tag not in message.decision.tags:
            message.decision.tags.append(tag)

    try:
        store.update_message(message_id, change)
    except KeyError:
        log.warning("inbox item %s has no stored message", message_id)


def _hm(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def escalate(settings: Settings, store: Store, policy: SlaPolicy, now: datetime) -> list[Escalation]:
    config = settings.scheduler
    inbox = Inbox(store)
    shortest = policy.shortest_target()
    if shortest is None:
        return []  # no first-response targets at all
    done: list[Escalation] = []
    for queue in inbox.queues():
        if queue == config.escalation_queue:
            continue  # already escalated
        for priority in Priority:
            # Business time never exceeds wall time, so nothing filed within the shortest target can be late yet.
            for message_id, _ in inbox.waiting(queue, priority, older_than=now - shortest):
                message = store.get_message(message_id)
                if message is None or message.decision is None:
                    continue
                decision = message.decision
                status = policy.status(
                    decision.category, decision.priority, decision.queue, message.envelope.received_at, now
                )
                if not status.breached:
                    continue
                dst = raised(priority)
                if not inbox.move(message_id, queue, priority, config.escalation_queue, dst):
                    continue  # taken by an agent meanwhile, or another scheduler got there first
                due = status.due.astimezone(UTC).isoformat(timespec="minutes") if status.due else "?"
                reason = f"first response due {due} for {decision.category}/{decision.priority.value}"
                _note(
                    message_id,
                    store,
                    f"{now.isoformat(timespec='seconds')} SLA breached ({reason}): escalated "
                    f"{queue}/{priority.value} -> {config.escalation_queue}/{dst.value}",
                    BREACH_TAG,
                )
                with store_errors():
                    store.redis.zadd(store.key("escalations"), {message_id: now.timestamp()})
                if config.notify_job:
                    Queue(config.notify_queue, connection=store.redis).enqueue_call(
                        config.notify_job, args=(message_id, reason), job_id=f"escalation-{message_id}"
                    )
                log.warning("SLA breached: %s %s; escalated to %s/%s", message_id, reason, config.escalation_queue, dst)
                done.append(Escalation(message_id, queue, priority, config.escalation_queue, dst, status.due))
    return done


def promote(settings: Settings, store: Store, calendar: BusinessCalendar, now: datetime) -> list[Promotion]:
    ladder = sorted(settings.scheduler.raise_to_after_minutes.items(), key=lambda kv: kv[0].rank)  # most urgent first
    inbox = Inbox(store)
    done: list[Promotion] = []
    for queue in inbox.queues():
        for priority in Priority:
            steps = [(p, timedelta(minutes=m)) for p, m in ladder if p.rank < priority.rank]
            if not steps:
                continue
            for message_id, filed_at in inbox.waiting(queue, priority, older_than=now - min(t for _, t in steps)):
                waited = calendar.business_time_between(queue, filed_at, now)
                dst = next((p for p, after in steps if waited >= after), None)
                if dst is None or not inbox.move(message_id, queue, priority, queue, dst):
                    continue
                _note(
                    message_id,
                    store,
                    f"{now.isoformat(timespec='seconds')} promoted {priority.value} -> {dst.value} in {queue} "
                    f"after waiting {_hm(waited)} of business time",
                )
                done.append(Promotion(message_id, queue, priority, dst, waited))
    return done


def run_once(settings: Settings, store: Store, now: datetime, *, calendar: BusinessCalendar | None = None) -> Report:
    calendar = calendar or BusinessCalendar.from_settings(settings)
    report = Report()
    report.escalated = escalate(settings, store, SlaPolicy(settings.sla, calendar), now)
    report.promoted = promote(settings, store, calendar, now)
    report.voicemails = route_overdue_voicemails(settings, store)
    return report


def route_overdue_voicemails(settings: Settings, store: Store) -> int:
    """English voicemails wait for Twilio's transcript; past the wait they are routed without it (only here)."""
    from ingest.twilio.voicemail_parking import sweep_overdue_voicemails

    return sweep_overdue_voicemails(settings, store)


def serve(settings: Settings, *, stop: threading.Event | None = None, max_runs: int | None = None) -> None:
    """Run `run_once` every interval until SIGTERM/SIGINT (or `stop`); a Redis outage is logged and retried."""
    from core.redis_conn import connect

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    store = Store(connect(settings))
    calendar = BusinessCalendar.from_settings(settings)
    runs = 0
    log.info("scheduler: every %ss", settings.scheduler.interval_seconds)
    try:
        while not stop.is_set() and (max_runs is None or runs < max_runs):
            runs += 1
            try:
                report = run_once(settings, store, datetime.now(UTC), calendar=calendar)
                if report:
                    log.info("scheduler: %s", report.summary())
            except StoreUnavailable as exc:
                log.warning("scheduler: %s; retrying next interval", exc)
            if max_runs is None or runs < max_runs:
                stop.wait(settings.scheduler.interval_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.redis.close()
