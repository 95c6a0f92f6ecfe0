"""Upgrade: the inbox of a version that held one item per message becomes one item per case.

Run at the start of every worker (workers/run.py); idempotent, so workers starting together, or a run stopped
half-way and started again, leave the same inbox:
- a message id waiting in `inbox:{queue}:{priority}` is filed into its case (`Inbox.file`: the first one opens the
  case's item, the others are follow-ups that add nothing but may raise its priority), then removed;
- a message id in `open:{queue}` (taken, not resolved) is filed the same way and given back to the agent who took
  it (`item:{message}` says who), with its first response if it had one;
- a conversation none of whose messages is waiting or open any more, but which has a resolved item, becomes a
  resolved case (so a customer writing again within `[cases].reopen_days` reopens it).
Each message is removed from the old place only after it is filed, and filing is keyed by message id: a run that
dies between the two files nothing twice when it runs again. A marker (`upgraded:cases`) spares later starts the
scan of the old item hashes.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from core.envelope import Priority
from core.inbox import Inbox, Status
from core.store import Store, store_errors, text
from desk.context import HasDesk
from router.sla import SlaPolicy

log = logging.getLogger("helpline.upgrade")

MARKER = "upgraded:cases"


def upgrade_inbox(ctx: HasDesk, now: datetime | None = None) -> Counter[str]:
    """Turn per-message inbox items into cases; returns what it did (empty when there was nothing to do)."""
    store, inbox = ctx.store, Inbox(ctx.store)
    now = now or datetime.now(UTC)
    policy = SlaPolicy.from_settings(ctx.settings, ctx.calendar)
    reopen = ctx.settings.cases.reopen_days * 86400
    done: Counter[str] = Counter()
    with store_errors():
        for queue in inbox.queues():
            for priority in Priority:
                key = store.key("inbox", queue, priority.value)
                for member in [text(m) for m in store.redis.zrange(key, 0, -1)]:
                    if member.startswith("m-") and _file(store, inbox, policy, member, queue, priority, now, reopen):
                        store.redis.zrem(key, member)
                        done["waiting messages filed into cases"] += 1
            key = store.key("open", queue)
            for member in [text(m) for m in store.redis.zrange(key, 0, -1)]:
                if not member.startswith("m-"):
                    continue
                message = store.get_message(member)
                priority = message.decision.priority if message and message.decision else Priority.NORMAL
                if _file(store, inbox, policy, member, queue, priority, now, reopen):
                    _give_back(store, inbox, member)
                    store.redis.zrem(key, member)
                    done["open messages filed into cases"] += 1
        if not store.redis.exists(store.key(MARKER)):
            done += _resolved_cases(store, inbox)
            store.redis.set(store.key(MARKER), now.isoformat())
    if done:
        log.info("upgrade: %s", ", ".join(f"{n} {what}" for what, n in sorted(done.items())))
    return done


def _file(
    store: Store, inbox: Inbox, policy: SlaPolicy, message_id: str, queue: str, priority: Priority, now: datetime,
    reopen: float,
) -> bool:  # fmt: skip
    message = store.get_message(message_id)
    if message is None or message.decision is None or message.conversation_id is None:
        return True  # nothing to file it into: the old item goes
    d, received = message.decision, message.envelope.received_at
    due = policy.first_response_due(d.category, priority, d.queue, received)
    inbox.file(message.conversation_id, message_id, queue, priority, since=received, due=due, now=now,
               reopen_seconds=reopen, category=d.category)  # fmt: skip
    return True


def _give_back(store: Store, inbox: Inbox, message_id: str) -> None:
    """The case of a taken message goes to the agent who took it, with the times the old item kept."""
    message = store.get_message(message_id)
    item = {text(k): text(v) for k, v in store.redis.hgetall(store.key("item", message_id)).items()}
    if message is None or message.conversation_id is None:
        return
    case = message.conversation_id
    taken_at = datetime.fromisoformat(item["taken_at"]) if item.get("taken_at") else datetime.now(UTC)
    inbox.reassign(case, item.get("taken_by") or "agent", taken_at)
    if item.get("first_response_at"):
        inbox.record_first_response(
            case, datetime.fromisoformat(item["first_response_at"]), item.get("first_response_by") or ""
        )


def _resolved_cases(store: Store, inbox: Inbox) -> Counter[str]:
    done: Counter[str] = Counter()
    for key in store.redis.scan_iter(match=store.key("item", "*"), count=1000):
        item = {text(k): text(v) for k, v in store.redis.hgetall(key).items()}
        if not item.get("resolved_at"):
            continue
        message = store.get_message(text(key).split(":", 2)[2])
        if message is None or message.conversation_id is None or message.decision is None:
            continue
        if inbox.case(message.conversation_id) is not None:
            continue  # filed above (still waiting or open), or made resolved from another of its messages
        d, received = message.decision, message.envelope.received_at.timestamp()
        resolved = datetime.fromisoformat(item["resolved_at"]).timestamp()
        store.redis.hset(inbox.case_key(message.conversation_id), mapping={
            "status": Status.RESOLVED.value, "place": "", "queue": d.queue, "priority": d.priority.value,
            "category": d.category, "since": repr(received), "clock": repr(received), "created": repr(received),
            "lead": message.id, "seq": "1", "m:" + message.id: "1", "resolved_ts": repr(resolved),
            "resolved_by": item.get("resolved_by", ""),
        })  # fmt: skip
        done["resolved cases"] += 1
    return done
