"""Telegram webhook (`POST /telegram/webhook`).

The webhook checks `X-Telegram-Bot-Api-Secret-Token` in constant time (403 and nothing stored otherwise; with no
secret configured every call is refused, so an unprotected endpoint is never live), stores the update and answers
200 as soon as it is durable, 503 when the store is down so Telegram retries. A payload that is not an update is
dead-lettered and answered 200: retrying it would never help.

The welcome, help and button answers an update calls for (web/telegram_follow_ups.py) go out after the 200, as a
Starlette background task.
"""

from __future__ import annotations

import hmac

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.envelope import Channel
from core.errors import ParseError, StoreUnavailable
from core.settings import Settings
from core.store import Store
from ingest.telegram.intake import take_update
from web.telegram_follow_ups import FollowUps

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def routes(settings: Settings, store: Store) -> list[BaseRoute]:
    follow_ups = FollowUps(settings)

    async def webhook(request: Request) -> Response:
        secret = settings.telegram.webhook_secret
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return JSONResponse({"ok": False, "error": "expected application/json"}, status_code=415)
        raw = await request.body()
        try:
            outcome = await run_in_threadpool(take_update, raw, settings, store)
        except ParseError as exc:
            try:
                await run_in_threadpool(store.dead_letter, Channel.TELEGRAM, raw, str(exc), {"source": "webhook"})
            except StoreUnavailable:
                return JSONResponse({"ok": False, "error": "store unavailable"}, status_code=503)
            return JSONResponse({"ok": True, "dead_lettered": True})
        except StoreUnavailable:
            return JSONResponse({"ok": False, "error": "store unavailable"}, status_code=503)
        task = BackgroundTask(follow_ups.send, outcome) if follow_ups.needed(outcome) else None
        return JSONResponse({"ok": True, "status": outcome.status}, background=task)

    return [Route("/telegram/webhook", webhook, methods=["POST"])]
