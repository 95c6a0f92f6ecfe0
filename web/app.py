"""The ASGI app (Starlette): provider webhooks, health and metrics, and the agents' console (`/console`).

Starlette because it is small, typed, async and ships a real test client; a webhook endpoint needs no ORM, no
templating and no dependency injection. Each channel contributes its routes from its own module (`ROUTE_MODULES`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import StoreUnavailable
from core.record_queue import record_lag
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from web import console
from web.console.identity import Identities, default_identities
from web.metrics import exposition

log = logging.getLogger("helpline.web")
Endpoint = Callable[[Request], Awaitable[Response]]

# Each module exposes `routes(settings: Settings, store: Store) -> list[BaseRoute]`.
ROUTE_MODULES: tuple[str, ...] = ("web.telegram_routes", "web.twilio_routes")


def create_app(settings: Settings, store: Store, *, identities: Identities | None = None) -> Starlette:
    """`identities`: the agents' store the console signs in against (default: `default_identities`)."""
    routes: list[BaseRoute] = [
        Route("/healthz", _health(store), methods=["GET"]),
        Route("/metrics", _metrics(store), methods=["GET"]),
    ]
    for name in ROUTE_MODULES:
        routes += importlib.import_module(name).routes(settings, store)
    # The record's engine is made with the first report (loading its driver then), so the web process starts as
    # fast as before and webhooks never wait for PostgreSQL.
    engines: list[Engine] = []

    def record() -> Engine:
        if not engines:
            engines.append(connect_record(settings))
        return engines[0]

    routes += console.routes(settings, store, identities or default_identities(settings, store), record)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for engine in engines:
            engine.dispose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    return app


def _health(store: Store) -> Endpoint:
    async def health(request: Request) -> Response:
        try:
            store.ping()
            lag = await asyncio.to_thread(record_lag, store)
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        # Read from Redis only: the web process never waits for PostgreSQL, and a record that is away shows as lag.
        return JSONResponse({"status": "ok", "record_lag": dataclasses.asdict(lag)})

    return health


def _metrics(store: Store) -> Endpoint:
    async def metrics(request: Request) -> Response:
        try:
            body = await asyncio.to_thread(exposition, store)
        except (StoreUnavailable, RedisError) as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
