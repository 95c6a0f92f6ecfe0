"""The long-running processes, by the name the Procfile and `helpline serve NAME` use."""

from __future__ import annotations

from collections.abc import Callable

from core.settings import Settings


def serve_smtp(settings: Settings) -> None:
    from ingest.email.smtp_server import serve

    serve(settings)


def serve_imap(settings: Settings) -> None:
    from ingest.email.imap_poller import serve

    serve(settings)


def serve_web(settings: Settings) -> None:
    import uvicorn

    from core.redis_conn import connect
    from core.store import Store
    from web.app import create_app

    app = create_app(settings, Store(connect(settings)))
    uvicorn.run(app, host=settings.web.host, port=settings.web.port, log_level="info")


def serve_worker(settings: Settings) -> None:
    from workers.run import work

    work(settings)


def serve_scheduler(settings: Settings) -> None:
    from workers.scheduler import serve

    serve(settings)


PROCESSES: dict[str, Callable[[Settings], None]] = {
    "smtp": serve_smtp,
    "imap": serve_imap,
    "web": serve_web,
    "worker": serve_worker,
    "scheduler": serve_scheduler,
}
