"""Everything Helpline keeps, in Redis, behind one class.

Keys (prefix `hl:`):
    msg:{id}              StoredMessage JSON          raw:{id}            the payload as received (bytes)
    dedupe:{channel}:{pid} -> message id             messages            zset of message ids by received time
    contact:{id}          hash (created_at, opted_out, blocked, language, tags, identities)
    identity:{kind}:{v}   -> contact id ("email:a@b", "phone:+8613…", "telegram:42")
    conv:{id}             hash (contact_id, channel, subject, created_at, linked_to, last_at)
    msgconv:{message id}  "<conversation id> new|follow-up": the conversation a message joined
    conv:{id}:messages    list of message ids        conv:{id}:participants  set of sender addresses
    threadref:{Message-ID} -> conversation id        contact:{id}:open:{channel} -> current conversation
    outbound-ids          set of the Message-IDs of our own replies (loop detection)
    reply:{id}            Reply JSON                 replyref:{provider id} -> reply id
    earlystatus:{pid}     provider statuses that arrived before the reply's provider id was saved
    dead:{id}             DeadLetter JSON             deadraw:{id} payload   deadletters  zset by time
    arrivals:{channel}:{sender}  zset of a sender's messages not yet threaded, by arrival (workers/ordering.py)
    autoreply:{counter}   counters for the auto-reply caps (per contact, thread, repeated text), expiring with
                          the window
    inflight:{kind}       work whose job is queued or running, and that job (core/inflight.py)

`accept` is the only way a message enters: dedupe key, message, raw payload and the pipeline job are written in
one MULTI/EXEC guarded by WATCH on the dedupe key, so there is never a half-stored message or a job without one.

Customer content (`msg:`, `raw:`, `dead:`, `deadraw:`) is written only through the gate at the end of the class
(`_put_message`, `_put_dead_letter`, and `accept` for the raw copy), which masks secrets first
(core/content_gate.py): on arrival, on every update (an edit, a transcript merged in, the pipeline's own changes)
and in dead letters. tests/test_no_secret_kept.py checks that no other code writes those keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.job import Job

from core import inflight
from core.content_gate import seal_dead_letter, seal_message, seal_raw
from core.envelope import Channel, Envelope
from core.errors import StoreUnavailable
from core.ids import new_conversation_id, new_id
from core.inflight import Kind
from core.records import DeadLetter, Reply, ReplyState, StoredMessage, utcnow
from core.redis_conn import ReplicatedRedis

INBOUND_QUEUE = "inbound"
# Delivery states only move forward; `failed` is final and outranks everything.
_STATE_ORDER = {ReplyState.QUEUED: 0, ReplyState.SENT: 1, ReplyState.DELIVERED: 2, ReplyState.FAILED: 3}
PROCESS_JOB = "workers.jobs.process_message"
# Every job Helpline queues is retried with backoff when it fails (a Redis blip, a bug fixed by a deploy): each one is
# idempotent. A job lost with its worker is found by the reconciler instead (core/inflight.py).
JOB_RETRY = Retry(max=6, interval=[2, 10, 60, 300, 900, 3600])
# A sender's arrival line only orders messages waiting for the pipeline; a day covers every retry that matters.
SENDER_ORDER_TTL_SECONDS = 86400
# The channels whose provider calls back with delivery statuses (Twilio's status callback).
DELIVERY_STATUS_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})
# A message joins its conversation in one step: `msgconv:{message}` set only if unset (a re-run finds it), and only
# then the conversation's last time, message list, participants and thread references, and the sender's arrival
# line let go of it (workers/ordering.py). One script, so that a crash cannot leave the marker without the append.
# KEYS: msgconv, conv, conv messages, conv participants, sender's arrivals, threadref...; ARGV: marker, last_at,
# message id, participant, conversation id.
_ADD_TO_CONVERSATION = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], 'last_at', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('ZREM', KEYS[5], ARGV[3])
for i = 6, #KEYS do redis.call('SET', KEYS[i], ARGV[5], 'NX') end
return 1
"""

# The pipeline job at the head of the inbound queue, taken by a pipeline job that is running (workers/jobs.py,
# `_run_queued`) instead of going through RQ's dequeue and bookkeeping: popped only when its message's in-flight
# entry names it (anything else is left to RQ), the entry then naming the taking job as well and counting from now,
# and its RQ job hash deleted (it will never run; the reconciler queues the message again under the same job id if
# the taking job dies). KEYS: the queue's list, the in-flight zset and jobs hash; ARGV: now, the taking job's id,
# RQ's job key prefix, the queue's name, the message key's prefix. Returns the message id and the message (nil when
# it is gone), or false.
_TAKE_QUEUED_MESSAGE = """
local job = redis.call('LINDEX', KEYS[1], 0)
if not job then return false end
local message = string.match(job, '^process%-(.+)$')
if not message then return false end
message = string.gsub(message, '%-paused%-%d+$', '')
local entry = ARGV[4] .. ' ' .. job
if redis.call('HGET', KEYS[3], message) ~= entry then return false end
redis.call('LPOP', KEYS[1])
redis.call('HSET', KEYS[3], message, entry .. ' ' .. ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], message)
redis.call('DEL', ARGV[3] .. job)
return {message, redis.call('GET', ARGV[5] .. message)}
"""

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Accepted:
    message_id: str
    duplicate: bool


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn any Redis failure into `StoreUnavailable`: callers answer 451/503 and the sender retries."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(f"store unavailable: {exc}") from exc
    except RedisError as exc:  # e.g. MISCONF when the AOF cannot be written: not stored durably
        raise StoreUnavailable(f"store refused the write: {exc}") from exc


class Store:
    def __init__(self, redis: Redis, prefix: str = "hl") -> None:
        self.redis = redis
        self.prefix = prefix
        self._queues: dict[str, Queue] = {}
        self._scripts: dict[str, Script] = {}
        self._add_to_conversation = self.script(_ADD_TO_CONVERSATION)
        self._take_queued_message = self.script(_TAKE_QUEUED_MESSAGE)

    def queue(self, name: str) -> Queue:
        """The RQ queue `name` on this store's Redis, made once: a new `Queue` asks the server for its version
        (an INFO round trip) before its first enqueue, which on the ingest path is a cost per message."""
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]

    def script(self, source: str) -> Script:
        """The Lua script `source` on this store's Redis, registered once: registering hashes the source, and the
        inbox (core/inbox.py), made a few times a message in a worker, would otherwise hash its nine every time."""
        if source not in self._scripts:
            self._scripts[source] = self.redis.register_script(source)
        return self._scripts[source]

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # ---- inbound -----------------------------------------------------------------------------------------------

    def accept(self, envelope: Envelope, raw: bytes, *, job: str = PROCESS_JOB) -> Accepted:
        """Store a new message and enqueue its pipeline job atomically; a known provider id is a duplicate.

        Secrets (one-time codes, passwords, card numbers) are masked before anything is written, and the raw
        payload of a message that carried one is not kept.
        """
        sealed = seal_message(StoredMessage(id="", envelope=envelope))
        raw, discarded = seal_raw(envelope.channel, raw, sealed.envelope)
        if discarded:
            # The raw payload would still carry the secret, in whatever encoding it came: keep none of it. The
            # masked envelope is complete; the raw copy only serves audits and replays of parsed messages.
            extras = {**sealed.envelope.extras, "raw_discarded": discarded}
            sealed = sealed.model_copy(update={"envelope": sealed.envelope.model_copy(update={"extras": extras})})
        envelope = sealed.envelope
        dedupe = self.key("dedupe", envelope.dedupe_key)
        queue = self.queue(INBOUND_QUEUE)
        with store_errors():
            for _ in range(20):
                message_id = new_id("m")
                stored = StoredMessage(id=message_id, envelope=envelope)
                with self.redis.pipeline() as pipe:
                    try:
                        pipe.watch(dedupe)  # type: ignore[no-untyped-call]
                        existing = pipe.get(dedupe)
                        if existing is not None:
                            return self._replicated(Accepted(text(existing), duplicate=True))
                        pipe.multi()
                        pipe.set(dedupe, message_id)
                        self._put_message(pipe, stored, before=sealed)  # sealed above: not scanned twice
                        pipe.set(self.key("raw", message_id), raw)  # sealed above (seal_raw)
                        pipe.zadd(self.key("messages"), {message_id: envelope.received_at.timestamp()})
                        self._queue_behind_sender(pipe, envelope, message_id)
                        job_id = f"process-{message_id}"
                        queue.enqueue_call(job, args=(message_id,), job_id=job_id, pipeline=pipe, retry=JOB_RETRY)
                        inflight.track(pipe, self, Kind.PROCESS, message_id, INBOUND_QUEUE, job_id, time.time())
                        pipe.execute()
                        return self._replicated(Accepted(message_id, duplicate=False))
                    except WatchError:
                        continue  # someone stored the same key meanwhile: loop and report the duplicate
        raise StoreUnavailable("could not store the message: too much contention on its dedupe key")

    def take_queued_message(self, taker: str) -> tuple[str, StoredMessage | None] | None:
        """The message whose pipeline job is next in the inbound queue, with the message itself (None when it is
        gone), for the running pipeline job `taker` to run at once (workers/jobs.py): its in-flight entry names
        `taker` from now on (core/inflight.py). None when the queue is empty or its head is not a pipeline job this
        can take."""
        with store_errors():
            taken = self._take_queued_message(
                keys=[self.queue(INBOUND_QUEUE).key, self.key("inflight", Kind.PROCESS),
                      self.key("inflight", Kind.PROCESS, "jobs")],
                args=[time.time(), taker, Job.redis_job_namespace_prefix, INBOUND_QUEUE, self.key("msg", "")],
            )  # fmt: skip
        if not taken:
            return None
        message_id, raw = taken[0], taken[1] if len(taken) > 1 else None
        return text(message_id), StoredMessage.model_validate_json(raw) if raw is not None else None

    # ---- arrival order per sender ------------------------------------------------------------------------------

    def _queue_behind_sender(self, pipe: Pipeline, envelope: Envelope, message_id: str) -> None:
        """Record the message in its sender's arrival order, in the MULTI that stores it (workers/ordering.py)."""
        if not envelope.sender.address:
            return  # no one to keep in order (a bounce from the null sender)
        key = self._sender_key(envelope)
        pipe.zadd(key, {message_id: envelope.received_at.timestamp()})
        pipe.expire(key, SENDER_ORDER_TTL_SECONDS)

    def _sender_key(self, envelope: Envelope) -> str:
        return self.key("arrivals", envelope.channel.value, envelope.sender.address.lower())

    def earlier_arrivals(self, envelope: Envelope, message_id: str) -> list[str]:
        """Messages from the same sender that arrived before `message_id` and are not yet marked threaded."""
        with store_errors():
            rank = cast(int | None, self.redis.zrank(self._sender_key(envelope), message_id))
            if not rank:  # first in line, or not in line at all (threaded already, or stored before this existed)
                return []
            return [text(m) for m in self.redis.zrange(self._sender_key(envelope), 0, rank - 1)]

    def mark_threaded(self, envelope: Envelope, message_ids: list[str]) -> None:
        """The messages joined their conversations: the sender's next may go (workers/ordering.py)."""
        with store_errors():
            self.redis.zrem(self._sender_key(envelope), *message_ids)

    def _replicated(self, accepted: Accepted) -> Accepted:
        """With Sentinel (core/redis_conn.py): return only once the master's replicas (up to `replica_acks`) hold
        the message, so a failover right after the sender's 250/200 cannot lose it. WAIT counts this connection's own
        writes, and the pool may have given the MULTI another connection: a marker written here, after the message,
        and waited for on the same connection, covers it (replication is one ordered stream). Too few confirmations:
        the sender is told to retry (451/503); its retry finds the message as a duplicate and waits again."""
        if not isinstance(self.redis, ReplicatedRedis):
            return accepted
        with store_errors():
            required = self.redis.replicas_to_confirm()
            if required == 0:
                return accepted
            assert self.redis.replica_wait is not None
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self.key("replication-mark"), accepted.message_id)
                pipe.wait(required, self.redis.replica_wait.timeout_ms)
                _, confirmed = pipe.execute()
        if int(confirmed) < required:
            self.redis.forget_replica_count()  # a replica may have gone: count them again next time
            raise StoreUnavailable(f"message stored on the master but confirmed by {confirmed} of {required} replicas")
        return accepted

    def find_duplicate(self, channel: Channel, provider_id: str) -> str | None:
        with store_errors():
            value = self.redis.get(self.key("dedupe", f"{channel.value}:{provider_id}"))
        return text(value) if value else None

    def ping(self) -> None:
        with store_errors():
            self.redis.ping()

    # ---- messages ----------------------------------------------------------------------------------------------

    def get_message(self, message_id: str) -> StoredMessage | None:
        return self._get_model(self.key("msg", message_id), StoredMessage)

    def save_message(self, message: StoredMessage) -> None:
        with store_errors():
            self._put_message(self.redis, message)

    def start_retention(
        self,
        recorded: Sequence[tuple[str, str]],
        raw_seconds: int,
        dedupe_seconds: int,
        hot_seconds: int | None = None,
        *,
        only_unset: bool = False,
        pipe: Pipeline | None = None,
    ) -> int:
        """Once the record holds these messages (message id, dedupe key), their raw payload, dedupe key and (with
        `hot_seconds`) hot copy `msg:{id}` expire after their `[retention]` lifetimes: an expiry set on the keys
        themselves needs no sweep, a re-delivery after the dedupe key is gone is caught by the record's unique
        `(channel, provider_id)`, and a message whose hot copy is gone is read from the record
        (record/messages.py). `only_unset` leaves keys that already have an expiry alone (a data import run again).
        With `pipe`, the expiries join the caller's MULTI (not with `only_unset`). Returns how many keys get one."""
        lifetimes = [("raw", raw_seconds), ("dedupe", dedupe_seconds)]
        if hot_seconds is not None:
            lifetimes.append(("msg", hot_seconds))
        keys = [
            (self.key(kind, dedupe_key if kind == "dedupe" else message_id), seconds)
            for message_id, dedupe_key in recorded
            for kind, seconds in lifetimes
        ]
        if pipe is not None and not only_unset:
            for key, seconds in keys:
                pipe.expire(key, seconds)
            return len(keys)
        with store_errors():
            if only_unset:
                with self.redis.pipeline(transaction=False) as pipe:
                    for key, _ in keys:
                        pipe.ttl(key)
                    ttls = pipe.execute()
                keys = [(key, seconds) for (key, seconds), ttl in zip(keys, ttls, strict=True) if ttl == -1]
            with self.redis.pipeline(transaction=False) as pipe:
                for key, seconds in keys:
                    pipe.expire(key, seconds)
                pipe.execute()
        return len(keys)

    def expire_message(self, message_id: str, seconds: int) -> None:
        """Give a recorded message's hot copy `seconds` more to live (tests and tools: what retention does later)."""
        with store_errors():
            self.redis.expire(self.key("msg", message_id), seconds)

    def restore_message(self, message: StoredMessage, seconds: int) -> StoredMessage | None:
        """Put a message rebuilt from the record back as its hot copy for `seconds` (record/messages.py), so the
        updates that follow (an answer's notes, a resolution) find it. A hot copy that came back meanwhile wins (it
        may hold a change the record does not): returns the hot copy as it now is."""
        with store_errors():
            self._put_message(self.redis, message, expire_seconds=seconds)
        return self.get_message(message.id)

    def forget_messages(self, message_ids: Sequence[str]) -> int:
        """Delete messages' hot copies and raw payloads (an erasure: record/erase_hot.py); returns keys deleted."""
        keys = [self.key(kind, message_id) for message_id in message_ids for kind in ("msg", "raw")]
        with store_errors():
            return int(self.redis.delete(*keys)) if keys else 0

    def update_message(
        self,
        message_id: str,
        change: Callable[[StoredMessage], None],
        *,
        also: Callable[[Pipeline, StoredMessage], None] | None = None,
    ) -> StoredMessage:
        """Read-modify-write under WATCH, so two writers (a worker and a webhook) cannot lose each other's change.

        `also(pipe, message)` adds writes of its own to the same MULTI (a reply, in-flight entries, a job): with
        `appendfsync always` every MULTI waits for an fsync, so what belongs together is written together, once."""
        key = self.key("msg", message_id)

        def body(pipe: Pipeline) -> StoredMessage:
            raw = pipe.get(key)
            if raw is None:
                raise KeyError(message_id)
            before = StoredMessage.model_validate_json(raw)
            message = StoredMessage.model_validate_json(raw)  # parsed again: a tenth of a deep copy's cost
            change(message)
            pipe.multi()
            message = self._put_message(pipe, message, before=before)
            if also is not None:
                also(pipe, message)
            pipe.execute()
            return message

        return self._optimistic(key, body)

    def get_raw(self, message_id: str) -> bytes | None:
        with store_errors():
            value = self.redis.get(self.key("raw", message_id))
        return as_bytes(value) if value is not None else None

    def message_ids(self, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        low = since.timestamp() if since else "-inf"
        high = until.timestamp() if until else "+inf"
        with store_errors():
            return [text(m) for m in self.redis.zrangebyscore(self.key("messages"), low, high)]

    # ---- contacts ----------------------------------------------------------------------------------------------

    def contact_for(self, identity: str) -> str:
        """The contact id for an identity such as `email:alice@example.com`, created on first sight."""
        index = self.key("identity", identity)
        with store_errors():
            existing = self.redis.get(index)
            if existing:
                return text(existing)
            candidate = new_id("c")
            if self.redis.set(index, candidate, nx=True):
                self.redis.hset(
                    self.key("contact", candidate),
                    mapping={"created_at": utcnow().isoformat(), "identities": identity},
                )
                return candidate
            value = self.redis.get(index)
            assert value is not None
            return text(value)

    def contact_of(self, identity: str) -> str | None:
        """The contact an identity points at, or None (nothing is created)."""
        with store_errors():
            value = self.redis.get(self.key("identity", identity))
        return text(value) if value else None

    def link_identity(self, identity: str, contact_id: str) -> None:
        """Point another identity (a phone number shared on Telegram, say) at an existing contact."""
        with store_errors():
            self.redis.set(self.key("identity", identity), contact_id)
            known = self.redis.hget(self.key("contact", contact_id), "identities")
            names = set(text(known or b"").split()) | {identity}
            self.redis.hset(self.key("contact", contact_id), "identities", " ".join(sorted(names)))

    def contact(self, contact_id: str) -> dict[str, str]:
        with store_errors():
            data = self.redis.hgetall(self.key("contact", contact_id))
        return {text(k): text(v) for k, v in data.items()}

    def set_contact_field(self, contact_id: str, field: str, value: str) -> None:
        with store_errors():
            self.redis.hset(self.key("contact", contact_id), field, value)

    def add_contact_tags(self, contact_id: str, tags: list[str]) -> None:
        """Add tags to a contact (a space-separated field); WATCH-guarded so concurrent additions are all kept."""
        key = self.key("contact", contact_id)

        def body(pipe: Pipeline) -> None:
            known = set(text(pipe.hget(key, "tags") or b"").split())
            if set(tags) <= known:
                return
            pipe.multi()
            pipe.hset(key, "tags", " ".join(sorted(known | set(tags))))
            pipe.execute()

        self._optimistic(key, body)

    def take_auto_reply_slot(self, counters: list[str], limit: int, window_seconds: int) -> bool:
        """Count one auto-reply against every cap in `counters` (a contact, a thread, a repeated text: see
        workers/reply_caps.py); False when any of them is used up for this window. All are counted in one round
        trip, so a loop cannot slip between two caps."""
        with store_errors(), self.redis.pipeline(transaction=False) as pipe:
            for counter in counters:
                key = self.key("autoreply", counter)
                # SET NX EX opens the window with its expiry, then INCR counts in it (EXPIRE NX would need Redis 7).
                pipe.set(key, 0, ex=window_seconds, nx=True)
                pipe.incr(key)
            counts = pipe.execute()[1::2]
        return all(int(count) <= limit for count in counts)

    # ---- conversations -----------------------------------------------------------------------------------------

    def conversation_for_reference(self, reference: str) -> str | None:
        with store_errors():
            value = self.redis.get(self.key("threadref", reference))
        return text(value) if value else None

    def linked_conversation(self, conversation_id: str) -> str | None:
        """The conversation this one was opened beside (a follow-up from someone outside it), or None."""
        with store_errors():
            value = self.redis.hget(self.key("conv", conversation_id), "linked_to")
        return text(value) if value else None

    def is_participant(self, conversation_id: str, address: str) -> bool:
        with store_errors():
            return bool(self.redis.sismember(self.key("conv", conversation_id, "participants"), address.lower()))

    def open_conversation(
        self,
        contact_id: str,
        channel: Channel,
        subject: str,
        linked_to: str | None = None,
        *,
        reuse: bool = False,
        closed: Callable[[str], bool] | None = None,
    ) -> str:
        """A new conversation, or with `reuse` the contact's current one on this channel (chat, SMS), unless
        `closed` says that one is over (resolved longer ago than `[cases].reopen_days`): then a new one, linked to
        it."""
        current = self.key("contact", contact_id, "open", channel.value)
        with store_errors():
            if reuse:
                existing = self.redis.get(current)
                if existing and not (closed and closed(text(existing))):
                    return text(existing)
                if existing:
                    linked_to = linked_to or text(existing)
                    self.redis.delete(current)  # over: the SET NX below opens a new one
            conversation_id = new_conversation_id()
            with self.redis.pipeline() as pipe:  # the conversation and the contact's pointer to it: one round trip
                pipe.hset(
                    self.key("conv", conversation_id),
                    mapping={
                        "contact_id": contact_id,
                        "channel": channel.value,
                        "subject": subject,
                        "created_at": utcnow().isoformat(),
                        "linked_to": linked_to or "",
                    },
                )
                # SET NX with `reuse`: two workers racing for the same contact end up in one conversation.
                pipe.set(current, conversation_id, nx=reuse)
                _, pointed = pipe.execute()
            if not pointed:
                self.redis.delete(self.key("conv", conversation_id))
                value = self.redis.get(current)
                assert value is not None
                return text(value)
            return conversation_id

    def add_to_conversation(
        self, conversation_id: str, message_id: str, envelope: Envelope, references: list[str], *, new: bool = True
    ) -> bool:
        """Append a message (its id and envelope) to a conversation, its sender a participant and `references`
        pointing at it, and let the sender's next message go (`mark_threaded`), in one atomic step
        (`_ADD_TO_CONVERSATION`); RPUSH/SADD never lose concurrent workers' entries. False when the message had
        joined a conversation already (nothing written): `msgconv:{message}` records the conversation a message
        joined (and whether it opened it), so a re-run does not append it a second time."""
        keys = [
            self.key("msgconv", message_id), self.key("conv", conversation_id),
            self.key("conv", conversation_id, "messages"), self.key("conv", conversation_id, "participants"),
            self._sender_key(envelope), *(self.key("threadref", reference) for reference in references),
        ]  # fmt: skip
        marker = f"{conversation_id} {'new' if new else 'follow-up'}"
        arguments = [marker, str(utcnow().timestamp()), message_id, envelope.sender.address.lower(), conversation_id]
        with store_errors():
            return bool(self._add_to_conversation(keys=keys, args=arguments))

    def move_to_conversation(
        self, message_id: str, source: str, target: str, participant: str, references: list[str]
    ) -> None:
        """An agent moves a message to another conversation (a merge moves them all): out of the source's list, at
        the end of the target's, its sender a participant there, and `references` (its Message-ID, our replies'
        ids) pointing at the target, in one MULTI."""
        with store_errors(), self.redis.pipeline() as pipe:
            pipe.lrem(self.key("conv", source, "messages"), 0, message_id)
            pipe.rpush(self.key("conv", target, "messages"), message_id)
            pipe.set(self.key("msgconv", message_id), f"{target} follow-up")
            if participant:
                pipe.sadd(self.key("conv", target, "participants"), participant.lower())
            for reference in references:
                pipe.set(self.key("threadref", reference), target)
            pipe.execute()

    def set_linked_conversation(self, conversation_id: str, linked_to: str) -> None:
        with store_errors():
            self.redis.hset(self.key("conv", conversation_id), "linked_to", linked_to)

    def conversation_of(self, message_id: str) -> tuple[str, bool] | None:
        """The conversation a message joined, and whether it opened it; None before it joined one."""
        with store_errors():
            value = self.redis.get(self.key("msgconv", message_id))
        if value is None:
            return None
        conversation_id, _, kind = text(value).partition(" ")
        return conversation_id, kind == "new"

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        with store_errors(), self.redis.pipeline(transaction=False) as pipe:  # one round trip, not three
            pipe.hgetall(self.key("conv", conversation_id))
            pipe.lrange(self.key("conv", conversation_id, "messages"), 0, -1)
            pipe.smembers(self.key("conv", conversation_id, "participants"))
            fields, messages, participants = pipe.execute()
        info: dict[str, Any] = {text(k): text(v) for k, v in fields.items()}
        info["messages"] = [text(m) for m in messages]
        info["participants"] = sorted(text(p) for p in participants)
        return info

    def remember_outbound_id(self, message_id: str, conversation_id: str, pipe: Pipeline | None = None) -> None:
        """Our own Message-ID: a reply to it threads into the conversation; the id itself coming back is a loop.
        With `pipe`, inside the caller's MULTI."""
        if pipe is not None:
            pipe.sadd(self.key("outbound-ids"), message_id)
            pipe.set(self.key("threadref", message_id), conversation_id, nx=True)
            return
        with store_errors(), self.redis.pipeline() as own:
            self.remember_outbound_id(message_id, conversation_id, own)
            own.execute()

    def is_own_outbound_id(self, message_id: str) -> bool:
        with store_errors():
            return bool(self.redis.sismember(self.key("outbound-ids"), message_id))

    # ---- replies -----------------------------------------------------------------------------------------------

    def save_new_reply(self, reply: Reply, pipe: Pipeline) -> None:
        """Save a reply not sent yet inside the caller's MULTI (the one that queues its send job)."""
        reply.updated_at = utcnow()
        pipe.set(self.key("reply", reply.id), reply.model_dump_json())

    def save_reply(self, reply: Reply, pipe: Pipeline | None = None) -> None:
        """Save a reply; a provider status that arrived before we knew the reply's provider id is applied now.
        With `pipe` the reply is written inside the caller's MULTI, and the early statuses are looked up after it
        (`apply_early_statuses`) by the caller."""
        reply.updated_at = utcnow()
        if pipe is not None:
            pipe.set(self.key("reply", reply.id), reply.model_dump_json())
            if reply.provider_id:
                pipe.set(self.key("replyref", reply.provider_id), reply.id)
            return
        with store_errors(), self.redis.pipeline() as own:
            self.save_reply(reply, own)
            own.execute()
        self.apply_early_statuses(reply)

    def apply_early_statuses(self, reply: Reply) -> None:
        """Apply the provider statuses that arrived before the reply's provider id was saved (see `save_reply`).
        Only Twilio reports delivery statuses (ingest/twilio/delivery_status.py): an email or a Telegram reply has
        none to look for, and every send would otherwise pay a round trip for nothing."""
        if reply.provider_id and reply.channel in DELIVERY_STATUS_CHANNELS:
            with store_errors():
                early = self.redis.lrange(self.key("earlystatus", reply.provider_id), 0, -1)
            if early:
                for entry in early:
                    state, _, error = text(entry).partition(" ")
                    self.record_provider_status(reply.provider_id, ReplyState(state), error or None)
                self.redis.delete(self.key("earlystatus", reply.provider_id))

    def get_reply(self, reply_id: str) -> Reply | None:
        return self._get_model(self.key("reply", reply_id), Reply)

    def get_replies(self, reply_ids: Sequence[str]) -> list[Reply]:
        """The replies still in the store, in one round trip."""
        if not reply_ids:
            return []
        with store_errors():
            values = self.redis.mget([self.key("reply", reply_id) for reply_id in reply_ids])
        return [Reply.model_validate_json(raw) for raw in values if raw is not None]

    def reply_by_provider_id(self, provider_id: str) -> Reply | None:
        with store_errors():
            reply_id = self.redis.get(self.key("replyref", provider_id))
        return self.get_reply(text(reply_id)) if reply_id else None

    def record_provider_status(self, provider_id: str, state: ReplyState, error: str | None = None) -> Reply | None:
        """Apply a delivery status from the provider (Twilio's status callback) to the reply it is about.

        Statuses only move forward (queued < sent < delivered; failed is final), under WATCH, so two callbacks
        racing cannot leave an older state behind. A status for a provider id not saved yet (the callback beat
        the worker that sent the reply) is kept for a day and applied by `save_reply`. Returns the updated reply,
        or None when it was parked.
        """
        with store_errors():
            reply_id = self.redis.get(self.key("replyref", provider_id))
            if reply_id is None:
                with self.redis.pipeline() as pipe:
                    pipe.rpush(self.key("earlystatus", provider_id), f"{state.value} {error or ''}".strip())
                    pipe.expire(self.key("earlystatus", provider_id), 86400)
                    pipe.execute()
                return None
        key = self.key("reply", text(reply_id))

        def body(pipe: Pipeline) -> Reply | None:
            raw = pipe.get(key)
            if raw is None:
                return None
            reply = Reply.model_validate_json(raw)
            if _STATE_ORDER[state] > _STATE_ORDER[reply.state]:
                reply.state = state
                reply.error = error if state is ReplyState.FAILED else reply.error
                reply.updated_at = utcnow()
            pipe.multi()
            pipe.set(key, reply.model_dump_json())
            pipe.execute()
            return reply

        return self._optimistic(key, body)

    # ---- dead letters ------------------------------------------------------------------------------------------

    def dead_letter(self, channel: Channel, raw: bytes, error: str, meta: dict[str, Any] | None = None) -> str:
        """Keep a payload that could not be stored as a message, for `helpline replay`: its secrets are masked in
        its text-like parts first (core/content_gate.py), so the replay works on masked text."""
        letter = DeadLetter(id=new_id("d"), channel=channel, error=error, meta=meta or {})
        with store_errors(), self.redis.pipeline() as pipe:
            self._put_dead_letter(pipe, letter, raw)
            pipe.zadd(self.key("deadletters"), {letter.id: letter.received_at.timestamp()})
            pipe.execute()
        return letter.id

    def dead_letters(self) -> list[DeadLetter]:
        with store_errors():
            ids = [text(i) for i in self.redis.zrange(self.key("deadletters"), 0, -1)]
        letters = [self._get_model(self.key("dead", i), DeadLetter) for i in ids]
        return [letter for letter in letters if letter is not None]

    def dead_letter_raw(self, letter_id: str) -> bytes | None:
        with store_errors():
            value = self.redis.get(self.key("deadraw", letter_id))
        return as_bytes(value) if value is not None else None

    def update_dead_letter(self, letter: DeadLetter) -> None:
        with store_errors():
            self._put_dead_letter(self.redis, letter)

    def remove_dead_letter(self, letter_id: str) -> None:
        with store_errors(), self.redis.pipeline() as pipe:
            pipe.delete(self.key("dead", letter_id), self.key("deadraw", letter_id))
            pipe.zrem(self.key("deadletters"), letter_id)
            pipe.execute()

    # ---- the gate: every write of customer content ------------------------------------------------------------

    def _put_message(
        self,
        target: Redis | Pipeline,
        message: StoredMessage,
        *,
        before: StoredMessage | None = None,
        expire_seconds: int | None = None,
    ) -> StoredMessage:
        """Write `msg:{id}`, masked (core/content_gate.py); the only place a message is written. Returns what was
        written. `before` is a sealed version `message` was made from: an envelope unchanged since is not rescanned.
        An update keeps the key's expiry (KEEPTTL): a recorded message's hot copy leaves Redis after its retention
        whatever changes it meanwhile. `expire_seconds` writes only a key that does not exist, expiring then."""
        message = seal_message(message, before)
        key, value = self.key("msg", message.id), message.model_dump_json()
        if expire_seconds is not None:
            target.set(key, value, ex=expire_seconds, nx=True)
        else:
            target.set(key, value, keepttl=True)
        return message

    def _put_dead_letter(self, target: Redis | Pipeline, letter: DeadLetter, raw: bytes | None = None) -> None:
        """Write `dead:{id}` (and `deadraw:{id}` with `raw`), masked: the only place dead letters are written."""
        letter, raw = seal_dead_letter(letter, raw)
        target.set(self.key("dead", letter.id), letter.model_dump_json())
        if raw is not None:
            target.set(self.key("deadraw", letter.id), raw)

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _optimistic(self, key: str, body: Callable[[Pipeline], T]) -> T:
        """Run `body` with `key` WATCHed, again and again until no other client changed the key meanwhile.

        `body` reads through the pipeline (immediate mode), then calls `multi()` and `execute()` itself."""
        with store_errors():
            while True:
                with self.redis.pipeline() as pipe:
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        return body(pipe)
                    except WatchError:
                        continue

    def _get_model(self, key: str, model: type[M]) -> M | None:
        with store_errors():
            raw = self.redis.get(key)
        if raw is None:
            return None
        return model.model_validate_json(raw)


def text(value: Any) -> str:
    """redis-py returns bytes (we do not decode responses: raw payloads must stay bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
