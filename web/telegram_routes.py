"""Telegram webhook (`POST /telegram/webhook`).

The webhook checks `X-Telegram-Bot-Api-Secret-Token` in constant time (403 and nothing stored otherwise; with no
secret configured every call is refused, so an unprotected endpoint is never live), stores the update and answers
200 as soon as it is durable, 503 when the store is down so Telegram retries.

Telegram retries an update for as long as the webhook answers anything but 2xx (https://core.telegram.org/bots/api
#setwebhook: "In case of an unsuccessful request, we will give up after a reasonable amount of attempts"), and the
updates behind it wait meanwhile. So whatever a retry could never fix is dead-lettered (`helpline replay`) and
answered 200: a payload that is not an update or has a field of the wrong type (ingest/telegram/update_model.py),
a body over the size cap (its first 64 KiB kept), and any unexpected error in storing it (web/webhook_guard.py).

The welcome, help and button answers an update calls for (web/telegram_follow_ups.py) go out after the 200, as a
Starlette background task.
"""

from __future__ import annotations

import hmac
import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.envelope import Channel
from core.errors import ParseError
from core.settings import Settings
from core.store import Store
from ingest.telegram.intake import take_update
from web.telegram_follow_ups import FollowUps
from web.webhook_guard import MAX_BODY_BYTES, OVERSIZE_KEPT_BYTES, authenticated, guarded, read_body, unavailable

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger("helpline.web.telegram")


def routes(settings: Settings, store: Store) -> list[BaseRoute]:
    follow_ups = FollowUps(settings)

    async def dead_letter(raw: bytes, error: str, **meta: object) -> Response:
        await run_in_threadpool(store.dead_letter, Channel.TELEGRAM, raw, error, {"source": "webhook", **meta})
        return JSONResponse({"ok": True, "dead_lettered": True})

    async def webhook(request: Request) -> Response:
        secret = settings.telegram.webhook_secret
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return JSONResponse({"ok": False, "error": "expected application/json"}, status_code=415)
        body = await read_body(request)
        if body.oversize:
            error = f"body of {body.size}+ bytes is over the {MAX_BODY_BYTES}-byte cap; its first bytes are kept"
            return await dead_letter(body.data[:OVERSIZE_KEPT_BYTES], error, truncated=True)
        raw = body.data
        authenticated(request, raw)
        try:
            outcome = await run_in_threadpool(take_update, raw, settings, store)
        except ParseError as exc:
            return await dead_letter(raw, str(exc))
        task = BackgroundTask(follow_ups.send, outcome) if follow_ups.needed(outcome) else None
        answer = {"ok": True, "status": outcome.status}
        if outcome.status == "ignored":  # on purpose (a group chat, a bot, a kind we do not ask for): say why
            answer["reason"] = outcome.detail
            log.info("telegram update ignored: %s", outcome.detail)
        return JSONResponse(answer, background=task)

    async def on_crash(request: Request, raw: bytes | None, reason: str) -> Response:
        if raw is None:
            return unavailable()  # nothing of the update is kept: only a retry can bring it back
        return await dead_letter(raw, reason)

    return [Route("/telegram/webhook", guarded(webhook, on_crash), methods=["POST"])]
