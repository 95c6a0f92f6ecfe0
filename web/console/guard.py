"""Every console request passes here: its session is loaded (or made), checked against the agent as they are now,
its language chosen, and — for a POST — its CSRF token checked before the handler sees the form.

Handlers are wrapped, never registered bare: `page` for GETs (signed in, optionally a role), `form` for POSTs
(the session's CSRF token in the form field `csrf_token` or the `X-CSRF-Token` header, else 403; signed in unless
told otherwise). A test posts to every POST route of the console without the token and expects 403 from each.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from web.console.i18n import channel_name, choose, translator
from web.console.identity import Identities, Principal
from web.console.session import COOKIE, Session, Sessions

PREFIX = "/console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# The pages load scripts and styles from /console/static only: a script or style a customer smuggled into a mail,
# once rendered, cannot run, and none is inline. (Chart.js sizes its canvases through the CSSOM, which a policy does
# not govern; htmx is told not to add a <style> of its own.)
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Visit:
    session: Session
    principal: Principal | None
    language: str
    set_cookie: bool  # a new or changed session: the response carries the cookie


class Console:
    """What the console's handlers share: sessions, the agents' store seam, the templates."""

    def __init__(self, sessions: Sessions, identities: Identities) -> None:
        self.sessions = sessions
        self.identities = identities
        self.templates = Environment(
            loader=PackageLoader("web.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
        )

    async def visit(self, request: Request) -> Visit:
        session = await asyncio.to_thread(self.sessions.load, request.cookies.get(COOKIE))
        fresh = session is None
        if session is None:
            session = Session.anonymous()
        principal = None
        if session.agent_id is not None:
            principal = await asyncio.to_thread(self.identities.principal, session.agent_id)
            if principal is None or principal.session_version != session.version:
                # Rotated password or token, or an agent removed: this session is over.
                session, principal, fresh = Session.anonymous(), None, True
        language = choose(principal.language if principal else None, request.headers.get("accept-language"))
        return Visit(session, principal, language, fresh)

    def render(self, visit: Visit, template: str, status: int = 200, **context: Any) -> Response:
        t = translator(visit.language)
        body = self.templates.get_template(template).render(
            t=t, channel_name=lambda channel: channel_name(t, channel), lang=visit.language, principal=visit.principal,
            csrf_token=visit.session.csrf, csrf_field=CSRF_FIELD, prefix=PREFIX, **context,
        )  # fmt: skip
        return self.finish(visit, HTMLResponse(body, status_code=status))

    def finish(self, visit: Visit, response: Response) -> Response:
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if visit.set_cookie:
            self.set_session(response, visit.session)
        return response

    def set_session(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE, self.sessions.dump(session), max_age=self.sessions.max_age, path=PREFIX, httponly=True,
            samesite="lax", secure=self.sessions.secure,
        )  # fmt: skip


Handler = Callable[[Request, Visit], Awaitable[Response]]
FormHandler = Callable[[Request, Visit, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def page(console: Console, handler: Handler, *, allow: Callable[[Principal], bool] | None = None) -> Endpoint:
    """A signed-in GET page; `allow` decides by the agent's role (403 otherwise)."""

    async def endpoint(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.principal is None:
            return console.finish(visit, _to_sign_in(request))
        if allow is not None and not allow(visit.principal):
            return console.render(visit, "forbidden.html", status=403)
        return await handler(request, visit)

    return endpoint


def form(console: Console, handler: FormHandler, *, signed_in: bool = True) -> Endpoint:
    """A POST: 403 without the session's CSRF token, before anything else happens."""

    async def endpoint(request: Request) -> Response:
        visit = await console.visit(request)
        data = await request.form()
        sent = data.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), visit.session.csrf.encode()):
            return console.render(visit, "refused.html", status=403)
        if signed_in and visit.principal is None:
            return console.finish(visit, _to_sign_in(request))
        return await handler(request, visit, data)

    return endpoint


def _to_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/queues"
