"""`X-Twilio-Signature` checks against the URL Twilio called, rebuilt as the public world sees it.

Twilio signs `public URL + sorted form fields` with the account's auth token
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). Behind a proxy the app sees `http://127.0.0.1:8080/…`
while Twilio called `https://support.example.com/…`, so the URL is rebuilt from `[web] public_url` or, when
`trust_forwarded_headers` is on, from X-Forwarded-Proto/Host. Every number in a Messaging Service pool is signed with
the same account token, so the check never depends on which number (`To`) was written to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.requests import Request
from twilio.request_validator import RequestValidator

from core.settings import WebSettings

log = logging.getLogger("helpline.web.twilio")


def public_base(request: Request, web: WebSettings) -> str:
    """Scheme, host and any path prefix of the URL Twilio uses to reach us, without a trailing slash."""
    if web.public_url:
        return web.public_url.rstrip("/")
    if web.trust_forwarded_headers:
        # A chain of proxies appends: the first value is what the client (Twilio) used.
        proto = _first(request.headers.get("x-forwarded-proto")) or request.url.scheme
        host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host") or request.url.netloc
        return f"{proto}://{host}"
    return f"{request.url.scheme}://{request.url.netloc}"


def public_url(request: Request, web: WebSettings) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return public_base(request, web) + request.url.path + query


class SignatureCheck:
    def __init__(self, auth_token: str | None, web: WebSettings, enabled: bool = True) -> None:
        self.enabled = enabled
        self.web = web
        self.validator = RequestValidator(auth_token) if auth_token else None

    def problem(self, request: Request, form: Mapping[str, str]) -> str | None:
        """Why the request must be refused, or None when it is genuinely from Twilio (or checks are off)."""
        if not self.enabled:
            return None
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            return "missing X-Twilio-Signature"
        if self.validator is None:
            return "no auth token configured (HELPLINE_TWILIO__AUTH_TOKEN) to check X-Twilio-Signature"
        url = public_url(request, self.web)
        if not self.validator.validate(url, dict(form), signature):
            return f"X-Twilio-Signature does not match {url}"
        return None


def _first(value: str | None) -> str | None:
    return value.split(",", 1)[0].strip() if value else None
