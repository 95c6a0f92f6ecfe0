"""A real implementation of the console's identity seam (web/console/identity.py) for tests, until the agents'
store lands: agents in Redis hashes, passwords hashed with scrypt, a session version raised on rotation. Its keys
live under `test-agents:` in the tests' own Redis."""

from __future__ import annotations

import hashlib
import hmac
import os

from redis import Redis

from core.agent_settings import Role
from web.console.identity import Principal


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)


class RedisIdentities:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def add(self, agent_id: str, name: str, email: str, password: str, role: Role, language: str | None = None) -> None:
        salt = os.urandom(16)
        self.redis.hset(
            f"test-agents:{agent_id}",
            mapping={"name": name, "email": email, "role": str(role), "language": language or "",
                     "salt": salt, "hash": _hash(password, salt), "version": 1},
        )  # fmt: skip
        self.redis.hset("test-agents:by-email", email.lower(), agent_id)

    def rotate(self, agent_id: str) -> None:
        """What rotating a password or token does to sessions: the version moves on."""
        self.redis.hincrby(f"test-agents:{agent_id}", "version", 1)

    def authenticate(self, email: str, password: str) -> Principal | None:
        agent_id = self.redis.hget("test-agents:by-email", email.lower())
        if agent_id is None:
            return None
        record = self._record(_text(agent_id))
        if not hmac.compare_digest(_hash(password, record[b"salt"]), record[b"hash"]):
            return None
        return self.principal(_text(agent_id))

    def authenticate_token(self, token: str) -> Principal | None:
        return None  # these test agents have no API tokens (the agents' store's are tested with DeskIdentities)

    def principal(self, agent_id: str) -> Principal | None:
        record = self._record(agent_id)
        if not record:
            return None
        return Principal(
            id=agent_id, name=record[b"name"].decode(), role=Role(record[b"role"].decode()),
            language=record[b"language"].decode() or None, session_version=int(record[b"version"]),
        )  # fmt: skip

    def _record(self, agent_id: str) -> dict[bytes, bytes]:
        return {_bytes(k): _bytes(v) for k, v in self.redis.hgetall(f"test-agents:{agent_id}").items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
