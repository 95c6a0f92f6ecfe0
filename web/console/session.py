"""Console sessions: a signed cookie, a CSRF token per session, and sign-out that really ends a session.

The cookie (`hl_console`, HttpOnly, SameSite=Lax, Secure behind an https `web.public_url`) holds, signed with
itsdangerous and dated: `s` a random session id, `c` the session's CSRF token, and once signed in `a` the agent id
and `v` the agent's session version at sign-in. Nothing else: role, name and language are asked of the agents' store
(web/console/identity.py) on every request, so a cookie never carries a stale role.

A session ends when:
- it is older than `auth.session_hours` (the signature's date);
- the agent's session version moved (their password or token was rotated);
- the agent signed out: its id is remembered in Redis (`hl:console:ended:{id}`) until it would have expired anyway,
  so a copy of the cookie kept from before is refused too.

Every visitor, signed in or not, has a session and so a CSRF token: the sign-in form is protected like the others.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from itsdangerous import BadData, URLSafeTimedSerializer

from core.settings import Settings
from core.store import Store, store_errors

COOKIE = "hl_console"
_SALT = "helpline.console.session"


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    agent_id: str | None = None
    version: int | None = None

    @staticmethod
    def anonymous() -> Session:
        return Session(id=secrets.token_urlsafe(18), csrf=secrets.token_urlsafe(24))

    def signed_in(self, agent_id: str, version: int) -> Session:
        """A new session id and CSRF token at sign-in: nothing an attacker planted before carries over."""
        return replace(Session.anonymous(), agent_id=agent_id, version=version)


def console_secret(settings: Settings) -> str:
    """`HELPLINE_WEB__CONSOLE_SECRET`, or the secret kept in `web.console_secret_file` (made on first use)."""
    if settings.web.console_secret is not None:
        return settings.web.console_secret.get_secret_value()
    path = Path(settings.web.console_secret_file)
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        # O_EXCL: two web processes starting together keep one secret (the second reads the first's).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")
    return secret


class Sessions:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.serializer = URLSafeTimedSerializer(console_secret(settings), salt=_SALT)
        self.max_age = int(settings.auth.session_hours * 3600)
        self.secure = (settings.web.public_url or "").startswith("https://")
        self.store = store

    def load(self, cookie: str | None) -> Session | None:
        """The cookie's session; None when it is missing, forged, expired or signed out."""
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
        except BadData:  # a bad or expired signature, or a payload that does not decode
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("c"), str):
            return None
        agent, version = data.get("a"), data.get("v")
        agent = agent if isinstance(agent, str) else None
        session = Session(data["s"], data["c"], agent, version if isinstance(version, int) else None)
        if session.agent_id is not None and self._ended(session.id):
            return None
        return session

    def dump(self, session: Session) -> str:
        data: dict[str, object] = {"s": session.id, "c": session.csrf}
        if session.agent_id is not None:
            data |= {"a": session.agent_id, "v": session.version}
        return self.serializer.dumps(data)

    def end(self, session: Session) -> None:
        with store_errors():
            self.store.redis.set(self.store.key("console", "ended", session.id), 1, ex=self.max_age)

    def _ended(self, session_id: str) -> bool:
        with store_errors():
            return bool(self.store.redis.exists(self.store.key("console", "ended", session_id)))
