"""Erasing a contact's copies in Redis, and the marker that makes in-flight jobs drop its messages.

The copies: each message's hot copy, raw payload, dedupe key, conversation link and inbox entries; each
conversation's hash, message list and participants, the thread references pointing at it; the contact's hash, its
identity keys and open-conversation pointers; each reply and its provider-id index; the sender's arrival line; the
contact's auto-reply counter; and every dead letter whose content names one of its addresses.

The marker (`erased:{SHA-256 of the identity}` = the erasure's time, kept `MARKER_SECONDS`) is how a message accepted
before the erasure, whose pipeline job runs after it, is dropped by the record step instead of recorded: the job's
retries end well within its lifetime (core/store.py's JOB_RETRY: under two hours), then nothing of it stays. It is a
hash so that no address is left in Redis; it is not in any log.

After erasing, Redis is asked to rewrite its append-only file (BGREWRITEAOF), so the erased values leave the disk
too, not only memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from redis.exceptions import ResponseError

from core.records import Reply
from core.store import Store, store_errors, text
from record.erase import ErasurePlan

MARKER_SECONDS = 2 * 86400


def marker_key(store: Store, identity: str) -> str:
    return store.key("erased", hashlib.sha256(identity.encode()).hexdigest())


def mark_erased(store: Store, identities: Iterable[str], at: datetime) -> None:
    with store_errors(), store.redis.pipeline() as pipe:
        for identity in identities:
            pipe.set(marker_key(store, identity), str(at.timestamp()), ex=MARKER_SECONDS)
        pipe.execute()


def erased_before(store: Store, identity: str | None, received_at: datetime) -> bool:
    """Whether the identity was erased after this message arrived (so the message belongs to what was erased)."""
    if identity is None:
        return False
    with store_errors():
        return erased_since(store.redis.get(marker_key(store, identity)), received_at)


def erased_since(marker: bytes | str | None, received_at: datetime) -> bool:
    """Whether an identity's marker (its value at `marker_key`, None when there is none) says it was erased after a
    message that arrived at `received_at`."""
    return marker is not None and received_at.timestamp() <= float(text(marker))


def hot_keys(store: Store, plan: ErasurePlan) -> list[str]:
    """The plan's keys in Redis (those that exist or not: DEL ignores missing ones), but the messages' own copies,
    which only the store's gate names (`Store.forget_messages`)."""
    key = store.key
    keys = [key("contact", plan.contact_id), key("autoreply", plan.contact_id)]
    keys += [key("identity", identity) for identity in plan.identities]
    for message_id in plan.message_ids:
        keys += [key("msgconv", message_id), key("item", message_id)]
    keys += [key("dedupe", dedupe) for dedupe in plan.dedupe_keys]
    for conversation_id in plan.conversation_ids:
        keys += [key("conv", conversation_id), key("conv", conversation_id, "messages")]
        keys += [key("conv", conversation_id, "participants"), key("case", conversation_id)]
    keys += [key("reply", reply_id) for reply_id in plan.reply_ids]
    keys += [key("replyref", provider_id) for provider_id in plan.reply_provider_ids]
    keys += [key("arrivals", channel, address.lower()) for channel, address in plan.senders]
    return keys


def erase_hot(store: Store, plan: ErasurePlan, addresses: list[str]) -> int:
    """Remove the plan's copies from Redis; returns how many keys were deleted."""
    redis = store.redis
    message_ids = set(plan.message_ids)
    conversations = {c.encode() for c in plan.conversation_ids}
    with store_errors():
        keys = hot_keys(store, plan)
        keys += [text(k) for k in redis.scan_iter(match=store.key("contact", plan.contact_id, "open", "*"))]
        for reference in redis.scan_iter(match=store.key("threadref", "*"), count=1000):
            if redis.get(reference) in conversations:
                keys.append(text(reference))
        keys += _replies_to(store, message_ids)
        deleted = store.forget_messages(plan.message_ids) + _forget_dead_letters_naming(store, addresses)
        for start in range(0, len(keys), 500):
            deleted += int(redis.delete(*keys[start : start + 500]))
        if message_ids:
            zsets = [store.key("messages"), store.key("deadletters")]
            with redis.pipeline(transaction=False) as pipe:
                for zset in zsets:
                    pipe.zrem(zset, *message_ids)
                pipe.execute()
        if plan.conversation_ids:  # the cases' inbox items (core/inbox.py)
            zsets = [store.key("pending")]
            for pattern in ("inbox:*", "open:*", "agent-cases:*"):
                zsets += [text(k) for k in redis.scan_iter(match=store.key(pattern))]
            with redis.pipeline(transaction=False) as pipe:
                for zset in zsets:
                    if zset.startswith(store.key("agent-cases")):
                        pipe.srem(zset, *plan.conversation_ids)
                    else:
                        pipe.zrem(zset, *plan.conversation_ids)
                pipe.execute()
    return deleted


def _replies_to(store: Store, message_ids: set[str]) -> list[str]:
    """Hot replies to the messages (acknowledgements the record does not hold yet), with their provider-id index."""
    found: list[str] = []
    if not message_ids:
        return found
    for key in store.redis.scan_iter(match=store.key("reply", "*"), count=1000):
        value = store.redis.get(key)
        if value is None:
            continue
        reply = Reply.model_validate_json(value)
        if reply.message_id in message_ids:
            found.append(text(key))
            if reply.provider_id:
                found.append(store.key("replyref", reply.provider_id))
    return found


def _forget_dead_letters_naming(store: Store, addresses: list[str]) -> int:
    """Remove the dead letters (kept for `helpline replay`) whose letter or payload names one of the addresses."""
    needles = [a.lower().encode() for a in addresses if a]
    if not needles:
        return 0
    removed = 0
    for letter in store.dead_letters():
        contents = [letter.model_dump_json().encode(), store.dead_letter_raw(letter.id) or b""]
        if any(needle in content.lower() for content in contents for needle in needles):
            store.remove_dead_letter(letter.id)
            removed += 1
    return removed


def rewrite_aof(store: Store) -> bool:
    """Ask Redis to rewrite its AOF (so erased values leave the disk); False when it has none or one is running."""
    try:
        store.redis.bgrewriteaof()
    except ResponseError:
        return False
    return True
