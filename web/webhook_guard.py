"""What every webhook route shares: a bounded read of the body, and a guard for the failure nobody foresaw.

A provider's webhook is answered by what it does next, so no webhook answers 500:
- the store is down (`StoreUnavailable`, or a `RedisError` from a call outside the store's own translation): 503,
  the one non-2xx we send on purpose, because both Telegram and Twilio treat it as "try again / use the fallback";
- anything else unexpected: the error is logged (its type and where it happened, never its message, which may quote
  a customer's text), the route's `on_crash` dead-letters the payload when the caller was authenticated, and answers
  what the provider should hear (Telegram: 200 so it stops retrying a payload that would fail the same way; Twilio:
  the endpoint's TwiML, so a call goes on).

The body is read in chunks and never kept past `MAX_BODY_BYTES`: no genuine Telegram update or Twilio form comes
near it (a Telegram text is at most 4,096 characters, a Twilio form a few kilobytes), so anything larger is kept only
as a prefix for the record, and reading stops altogether after `DRAIN_LIMIT_BYTES`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from core.errors import StoreUnavailable, unexpected_reason

log = logging.getLogger("helpline.web.guard")

MAX_BODY_BYTES = 1024 * 1024
DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES  # read (and drop) this much of an oversize body, so the client hears the answer
OVERSIZE_KEPT_BYTES = 64 * 1024  # what a dead letter keeps of an oversize body: enough to see what it was

Endpoint = Callable[[Request], Awaitable[Response]]
# (request, the body if the caller was authenticated, else None; the reason, safe to store and log) -> the answer
OnCrash = Callable[[Request, bytes | None, str], Awaitable[Response]]


@dataclass(frozen=True)
class Body:
    data: bytes  # the whole body, or its first MAX_BODY_BYTES when `oversize`
    oversize: bool
    size: int  # bytes received (a lower bound when reading stopped at the drain limit)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> Body:
    kept: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if size < limit:
            kept.append(chunk[: limit - size])
        size += len(chunk)
        if size > DRAIN_LIMIT_BYTES:
            break  # the server closes the connection after the answer instead of reading on
    return Body(b"".join(kept), size > limit, size)


def authenticated(request: Request, body: bytes) -> None:
    """Mark `body` as coming from the provider (secret or signature checked): only then may a crash dead-letter it."""
    request.state.authenticated_body = body


def unavailable() -> Response:
    return Response("store unavailable", status_code=503, media_type="text/plain")


def guarded(endpoint: Endpoint, on_crash: OnCrash) -> Endpoint:
    async def guard(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (StoreUnavailable, RedisError) as exc:
            log.error("webhook %s: store unavailable, answering 503 so the sender retries: %s", request.url.path, exc)
            return unavailable()
        except ClientDisconnect:
            return Response("client went away", status_code=400, media_type="text/plain")
        except Exception as exc:
            reason = unexpected_reason(exc)
            stack = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
            log.error("webhook %s: %s; answered without a 500. Stack:\n%s", request.url.path, reason, stack)
            body: bytes | None = getattr(request.state, "authenticated_body", None)
            try:
                return await on_crash(request, body, reason)
            except (StoreUnavailable, RedisError) as store_exc:
                log.error("webhook %s: could not dead-letter (%s), answering 503", request.url.path, store_exc)
            except Exception as second:  # the fallback itself failed: a retry is the last resort left
                log.error("webhook %s: the crash answer failed too (%s)", request.url.path, unexpected_reason(second))
            return unavailable()

    return guard
