"""The ASGI app (Starlette): provider webhooks, health and metrics.

Starlette because it is small, typed, async and ships a real test client; a webhook endpoint needs no ORM, no
templating and no dependency injection. Each channel contributes its routes from its own module (`ROUTE_MODULES`).
"""

from __future__ import annotations

import importlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import StoreUnavailable
from core.settings import Settings
from core.store import Store

log = logging.getLogger("helpline.web")

# Each module exposes `routes(settings: Settings, store: Store) -> list[BaseRoute]`.
ROUTE_MODULES: tuple[str, ...] = ("web.telegram_routes", "web.twilio_routes")


def create_app(settings: Settings, store: Store) -> Starlette:
    routes: list[BaseRoute] = [
        Route("/healthz", _health(store), methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    for name in ROUTE_MODULES:
        routes += importlib.import_module(name).routes(settings, store)
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.store = store
    return app


def _health(store: Store):  # type: ignore[no-untyped-def]
    async def health(request: Request) -> Response:
        try:
            store.ping()
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    return health


async def _metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
