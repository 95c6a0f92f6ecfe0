"""The worker process: an RQ SimpleWorker over Helpline's queues, in priority order.

SimpleWorker runs jobs in the worker process instead of forking per job. Our jobs are short and I/O-bound; a fork
per job costs more than the job (bench/bench_workers.py measures it) and loses the process-wide context (settings,
compiled router, connections). Scale out by running more worker processes against the same Redis.
"""

from __future__ import annotations

from rq import SimpleWorker

from core.queues import queues
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from router.hours import BusinessCalendar
from workers import context
from workers.live_router import LiveRouter


def work(settings: Settings, *, burst: bool = False) -> None:
    redis = connect(settings)
    live = LiveRouter.from_settings(settings)
    live.watch()
    live.install_sighup()
    calendar = BusinessCalendar.from_settings(settings)
    context.install(context.Context(settings, Store(redis), live.current, calendar, connect_record(settings)))
    SimpleWorker(queues(redis), connection=redis).work(burst=burst, with_scheduler=True, logging_level="INFO")
