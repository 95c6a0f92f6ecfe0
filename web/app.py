"""The ASGI app (Starlette): provider webhooks, health, metrics, the survey's web page, under `/api` the agents' API
(web/api, FastAPI) and under `/console` the agents' console (web/console).

Starlette because it is small, typed, async and ships a real test client; a webhook endpoint needs no ORM, no
templating and no dependency injection. Each channel contributes its routes from its own module (`ROUTE_MODULES`).
The agents' API is typed routes with an OpenAPI document, which is what FastAPI (built on Starlette) is for: it is
mounted here as one more route.

`/metrics` is not open to the world (web/metrics_guard.py): on this listener it wants `[web] metrics_token` as a
bearer token; `[web] metrics_bind` serves it on a second, private listener (`create_metrics_app`) without one.
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
from starlette.routing import BaseRoute, Mount, Route

from core.errors import StoreUnavailable
from core.record_queue import record_lag
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from web import console
from web.api import create_api
from web.console.identity import Identities, default_identities
from web.metrics import exposition
from web.metrics_guard import guarded

log = logging.getLogger("helpline.web")
Endpoint = Callable[[Request], Awaitable[Response]]

# Each module exposes `routes(settings: Settings, store: Store) -> list[BaseRoute]`.
ROUTE_MODULES: tuple[str, ...] = ("web.telegram_routes", "web.twilio_routes", "web.survey_routes")


def create_app(
    settings: Settings, store: Store, record: Engine | None = None, *, identities: Identities | None = None
) -> Starlette:
    """The web app; `record` defaults to an engine on the configured record (made lazily: nothing connects until a
    request needs it, so webhooks work while the record is away). `identities`: the agents' store the console signs
    in against (default: `default_identities`)."""
    own_record = record is None
    record = record if record is not None else connect_record(settings)
    routes: list[BaseRoute] = [
        Route("/healthz", _health(store), methods=["GET"]),
        Route("/metrics", guarded(settings.web, _metrics(store, record)), methods=["GET"]),
    ]
    for name in ROUTE_MODULES:
        routes += importlib.import_module(name).routes(settings, store)
    routes.append(Mount("/api", app=create_api(settings, store, record)))
    the_record = record  # the engine connects on first use: webhooks never wait for PostgreSQL
    routes += console.routes(
        settings, store, identities or default_identities(settings, store, record), lambda: the_record
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if own_record:
            record.dispose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    return app


def create_metrics_app(settings: Settings, store: Store, record: Engine | None = None) -> Starlette:
    """Only `/metrics`, without a token: for `[web] metrics_bind`, an address only the scraper can reach."""
    record = record if record is not None else connect_record(settings)
    return Starlette(routes=[Route("/metrics", _metrics(store, record), methods=["GET"])])


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


def _metrics(store: Store, record: Engine) -> Endpoint:
    async def metrics(request: Request) -> Response:
        try:
            body = await asyncio.to_thread(exposition, store, record)
        except (StoreUnavailable, RedisError) as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
