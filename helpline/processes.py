"""The long-running processes, by the name the Procfile and `helpline serve NAME` use.

Each has a predicate saying whether the settings enable it: `helpline run` skips disabled ones (no IMAP host, no
Telegram polling, no embedded Redis when `redis.url` or `redis.sentinels` is set, no embedded PostgreSQL when
`database.url` is set). `helpline serve` of a disabled one says so and then waits quietly for SIGTERM: Procfile
runners such as honcho stop every process as soon as one exits. Every process but `redis` and `postgres` first waits
for the store to answer, since a Procfile runner starts them all at once; the workers then wait for the record and
check its schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.settings import Settings


@dataclass(frozen=True)
class Process:
    run: Callable[[Settings], None]
    enabled: Callable[[Settings], bool] = lambda settings: True
    reloads_rules: bool = False  # SIGHUP reloads the rules; every other process ignores SIGHUP


GRACEFUL_STOP_SECONDS = 5


def serve_redis(settings: Settings) -> None:
    """The embedded Redis in the foreground, for Procfile runners (`helpline run` starts its own first)."""
    import signal
    from pathlib import Path

    from helpline.embedded_redis import EmbeddedRedis

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    redis = EmbeddedRedis(Path(settings.redis.embedded_dir)).start()
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        redis.stop()


def serve_postgres(settings: Settings) -> None:
    """The embedded PostgreSQL in the foreground, migrated, for Procfile runners (`helpline run` starts its own)."""
    import signal

    from helpline.record_setup import migrate_record, start_embedded
    from helpline.wait import wait_for_store

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    postgres = start_embedded(settings)
    try:
        wait_for_store(settings)  # the data imports read Redis
        migrate_record(settings)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        postgres.stop()


def serve_smtp(settings: Settings) -> None:
    from ingest.email.smtp_server import serve

    serve(settings)


def serve_imap(settings: Settings) -> None:
    from ingest.email.imap_poller import serve

    serve(settings)


def serve_web(settings: Settings) -> None:
    import asyncio

    import uvicorn

    from core.redis_conn import connect
    from core.store import Store
    from helpline.record_setup import seed_agents_now
    from record.engine import connect as connect_record
    from web.app import create_app, create_metrics_app

    store, record = Store(connect(settings)), connect_record(settings)
    seed_agents_now(settings, record)
    web = settings.web
    # uvicorn's own "running on" line is INFO of a library logger, quiet by default: say it in ours.
    logging.getLogger("helpline.web").info(
        "web: webhooks, /healthz, /metrics, the agents' API (/api/docs) and /console on %s:%s", web.host, web.port
    )
    # No logging set-up of uvicorn's own: its loggers follow `[logging] libraries` like every library's.
    # The console's live streams (server-sent events) stay open for minutes: a stop waits this long for them, then
    # ends them (the browsers reconnect to the process that replaces this one).
    servers = [uvicorn.Server(uvicorn.Config(create_app(settings, store, record), host=web.host, port=web.port,
                                             log_config=None, log_level=None,
                                             timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS))]  # fmt: skip
    if web.metrics_bind:
        host, _, port = web.metrics_bind.rpartition(":")
        logging.getLogger("helpline.web").info("web: /metrics alone on %s", web.metrics_bind)
        app = create_metrics_app(settings, store, record)
        servers.append(uvicorn.Server(uvicorn.Config(app, host=host, port=int(port), log_config=None, log_level=None)))

    async def serve_all() -> None:
        # Each server stops on SIGTERM; should one stop on its own, the other follows (the supervisor restarts both).
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks)

    asyncio.run(serve_all())


def serve_worker(settings: Settings) -> None:
    from helpline.record_setup import wait_for_record
    from workers.run import work

    wait_for_record(settings)  # the pipeline writes the record: its schema must be this code's

    work(settings)


def serve_scheduler(settings: Settings) -> None:
    from workers.scheduler import serve

    serve(settings)


def serve_telegram(settings: Settings) -> None:
    from channels.telegram import make_bot
    from core.redis_conn import connect
    from core.store import Store
    from ingest.telegram.polling import Poller
    from web.telegram_follow_ups import FollowUps

    Poller(settings, Store(connect(settings)), make_bot(settings.telegram), FollowUps(settings)).run()


PROCESSES: dict[str, Process] = {
    "redis": Process(serve_redis, lambda s: s.redis.embedded),
    "postgres": Process(serve_postgres, lambda s: not s.database.url),
    "smtp": Process(serve_smtp),
    "imap": Process(serve_imap, lambda s: s.email.imap.host is not None),
    "web": Process(serve_web),
    "worker": Process(serve_worker, reloads_rules=True),
    "scheduler": Process(serve_scheduler),
    "telegram": Process(serve_telegram, lambda s: s.telegram.mode == "polling" and s.telegram.token is not None),
}
