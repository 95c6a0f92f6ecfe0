"""The agents' API: JSON over HTTP, mounted under `/api` in the web app, with its OpenAPI document at
`/api/openapi.json` and interactive docs at `/api/docs`.

FastAPI because the API is typed routes over pydantic models, which the project already uses for its settings: the
models validate requests, shape responses and write the OpenAPI document, so the document cannot drift from the
code. It is built on Starlette, so it mounts inside the existing app (webhooks, /healthz, /metrics stay as they are).

Every route but signing in needs `Authorization: Bearer <token>` (an API token from `helpline agent rotate-token`, or
a session from `POST /api/session`): 401 without a valid one, 403 for an agent acting outside their queues or role
(web/api/deps.py). Each module in `ROUTERS` contributes an `APIRouter` named `router`: adding one is one line.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.errors import StoreUnavailable
from core.settings import Settings
from core.store import Store
from desk.lookup import Ambiguous
from web.api.deps import Desk
from web.api.schemas import AmbiguousOut, CaseMatch

ROUTERS: tuple[str, ...] = (
    "web.api.session", "web.api.me", "web.api.agents", "web.api.queues", "web.api.cases", "web.api.canned",
    "web.api.incidents",
)  # fmt: skip


def create_api(settings: Settings, store: Store, record: Engine) -> FastAPI:
    api = FastAPI(
        title="Helpline agents' API",
        version="1",
        description="Agents, queues, cases and incidents. Authenticate with `Authorization: Bearer <token>`.",
    )
    api.state.desk = Desk.create(settings, store, record)
    for name in ROUTERS:
        api.include_router(importlib.import_module(name).router)
    api.add_exception_handler(StoreUnavailable, _unavailable)
    api.add_exception_handler(OperationalError, _unavailable)
    api.add_exception_handler(Ambiguous, _ambiguous)
    return api


async def _ambiguous(request: Request, exc: Exception) -> JSONResponse:
    # A write named several cases: it acts on none, and lists them so that the agent can name one by its reference.
    assert isinstance(exc, Ambiguous)
    body = AmbiguousOut(detail=str(exc), matches=[CaseMatch.of(m) for m in exc.matches])
    return JSONResponse(body.model_dump(mode="json"), status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Redis or the record is away: the client may retry; the detail says which, without the connection string.
    which = "the store (Redis)" if isinstance(exc, StoreUnavailable) else "the record (PostgreSQL)"
    return JSONResponse({"detail": f"{which} is not answering; try again"}, status_code=503)
