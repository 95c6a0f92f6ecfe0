"""Who may read `/metrics` on the main listener: metrics name queues, agents and volumes, which is nobody's business
outside the desk, so the default is closed.

- `[web] metrics_token` set (environment only: `HELPLINE_WEB__METRICS_TOKEN`): a scraper sends
  `Authorization: Bearer <token>` (Prometheus: `authorization: {credentials: …}`); anything else gets 401.
- `[web] metrics_open = true`: served to anyone who reaches the listener (only behind a proxy that hides it).
- neither: 403 naming the settings. `[web] metrics_bind` serves `/metrics` on its own address without a token
  whatever these say (web/app.py `create_metrics_app`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.settings import WebSettings

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(web: WebSettings, endpoint: Endpoint) -> Endpoint:
    token = web.metrics_token.get_secret_value().encode() if web.metrics_token else None

    async def metrics(request: Request) -> Response:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
                return JSONResponse(
                    {"detail": "metrics need Authorization: Bearer <[web] metrics_token>"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
        elif not web.metrics_open:
            detail = "metrics are closed here: set [web] metrics_token, or metrics_bind for a private listener"
            return JSONResponse({"detail": detail}, status_code=403)
        return await endpoint(request)

    return metrics
