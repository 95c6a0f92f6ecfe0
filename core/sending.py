"""Queueing a reply's send job: the reply, its job and its in-flight entry in one MULTI.

Here rather than in `workers/` because the desk (desk/), the web app and the workers all queue replies, and only
`helpline` may import `workers`. The job itself (`workers.jobs.send_reply`) is named by its dotted path, which RQ
accepts.
"""

from __future__ import annotations

import time
from datetime import timedelta

from rq import Queue

from core import inflight
from core.envelope import Priority
from core.inflight import Kind
from core.queues import reply_queue
from core.records import Reply
from core.store import JOB_RETRY, Store, store_errors

SEND_JOB = "workers.jobs.send_reply"


def send_job_id(reply_id: str, attempt: int) -> str:
    """One job id per attempt: a retry is queued while the attempt before it is still finishing under its own id."""
    return f"send-{reply_id}" if attempt <= 1 else f"send-{reply_id}-{attempt}"


def queue_reply(store: Store, reply: Reply, priority: Priority) -> Queue:
    """Save a new `reply` and queue its sending (`send_reply`) on the reply queue of `priority`, in one MULTI;
    returns that queue."""
    return enqueue_send(store, reply.id, priority, new_reply=reply)


def enqueue_send(
    store: Store,
    reply_id: str,
    priority: Priority,
    *,
    attempt: int = 1,
    delay: float = 0,
    new_reply: Reply | None = None,
) -> Queue:
    """Queue (or schedule, after `delay` seconds) the send job of attempt `attempt` and point the reply's in-flight
    entry at it, in one MULTI (with `new_reply` saved in it too): never a job without its entry or its reply, nor an
    entry without its job."""
    queue = reply_queue(priority, store)
    job_id = send_job_id(reply_id, attempt)
    with store_errors(), store.redis.pipeline() as pipe:
        pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
        if new_reply is not None:
            store.save_new_reply(new_reply, pipe)
        if delay > 0:
            queue.enqueue_in(
                timedelta(seconds=delay), SEND_JOB, reply_id, job_id=job_id, retry=JOB_RETRY, pipeline=pipe
            )
        else:
            queue.enqueue_call(SEND_JOB, args=(reply_id,), job_id=job_id, retry=JOB_RETRY, pipeline=pipe)
        # Tracked from when the job is due: a retry scheduled for later is not overdue before then.
        inflight.track(pipe, store, Kind.SEND, reply_id, queue.name, job_id, time.time() + delay)
        pipe.execute()
    return queue
