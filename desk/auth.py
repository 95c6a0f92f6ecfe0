"""Who is who: password hashes, API tokens, sign-in sessions and the limit on failed sign-ins.

- **Passwords** are argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile): slow and memory-hard,
  because a password is low-entropy and a stolen table must not give it up.
- **API tokens** (`hla_…`) are 256 random bits from `secrets`, shown once and kept as their SHA-256. A slow hash buys
  nothing for a value nobody can guess (2^256 tries), and a fast one lets every request be looked up by an index.
- **Sessions** (`hls_…`, from signing in with email and password) live in Redis under `hl:session:{sha256}` with a
  time to live; each carries the agent's `session_version`, which rotating the password or the token bumps: every
  session signed in before then stops working at its next request.
- **Failed sign-ins** are counted per account and per client address in fixed windows (`hl:signin-fail:…`); at the
  limit the answer is 429 with the seconds left. Two guesses racing past the check can overrun it by the number of
  requests in flight, which does not change what a guesser can do in a window.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.store import Store, store_errors, text

API_TOKEN_PREFIX = "hla_"
SESSION_PREFIX = "hls_"
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so an unknown email takes as long as a wrong password.
    Made on first use, not at import: every process that imports this module would pay for a hash otherwise."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    agent_id: str
    version: int


class Sessions:
    """Sign-in sessions in Redis: the token itself is never stored, only its digest."""

    def __init__(self, store: Store, lifetime_seconds: int) -> None:
        self.store = store
        self.lifetime_seconds = lifetime_seconds

    def _key(self, token: str) -> str:
        return self.store.key("session", token_digest(token))

    def open(self, agent_id: str, version: int) -> str:
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        with store_errors():
            self.store.redis.set(self._key(token), f"{agent_id} {version}", ex=self.lifetime_seconds)
        return token

    def find(self, token: str) -> Session | None:
        if not token.startswith(SESSION_PREFIX):
            return None
        with store_errors():
            raw = self.store.redis.get(self._key(token))
        if raw is None:
            return None
        agent_id, _, version = text(raw).partition(" ")
        return Session(agent_id, int(version))

    def close(self, token: str) -> None:
        with store_errors():
            self.store.redis.delete(self._key(token))


class SignInLimiter:
    """At most `attempts` failed sign-ins per account and per client address in a window of `window_seconds`."""

    def __init__(self, store: Store, attempts: int, window_seconds: int) -> None:
        self.store = store
        self.attempts = attempts
        self.window_seconds = window_seconds

    def _keys(self, email: str, client: str) -> list[str]:
        # The email digested: any string may be typed there, and a key must stay short.
        account = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:32]
        return [self.store.key("signin-fail", "account", account), self.store.key("signin-fail", "client", client)]

    def attempt(self, email: str, client: str) -> int:
        """Count a sign-in attempt before its password is checked, and say how many seconds until one may be tried
        again (0: go on). Counting first, in one transaction, is what holds the limit against attempts sent at once:
        checking first and counting after a (slow, argon2) failure let every concurrent attempt through the check.
        An attempt that succeeds is taken back by `succeeded`."""
        keys = self._keys(email, client)
        with store_errors(), self.store.redis.pipeline() as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, self.window_seconds, nx=True)  # the window starts at the first attempt
                pipe.ttl(key)
            replies = pipe.execute()
        counts, ttls = replies[0::3], replies[2::3]
        waits = [max(int(ttl), 1) for count, ttl in zip(counts, ttls, strict=True) if int(count) > self.attempts]
        return max(waits, default=0)

    def succeeded(self, email: str, client: str) -> None:
        """The account's count starts again; the address's loses this attempt only (it may be guessing at other
        accounts)."""
        account, address = self._keys(email, client)
        with store_errors(), self.store.redis.pipeline() as pipe:
            pipe.delete(account)
            pipe.decr(address)
            pipe.execute()
