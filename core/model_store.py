"""The triage models in the store, so every worker on every host finds the same one.

Keys (prefix `hl:`):
    triage:model:{version}   the model's bytes (router/text_model.py's plain .npz format)
    triage:versions          zset of versions by the time they were stored
    triage:current           the version workers route with

The record (PostgreSQL, record/triage_models.py) keeps every version and which is active, so the history survives
Redis; a worker finding no current version here restores the record's active one (`restore`).

`publish` writes the model, its place in the history and the current pointer in one MULTI/EXEC, so a worker never
reads a current version whose bytes are missing. Old versions stay, for rolling back (`use`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.store import Store, as_bytes, store_errors, text


class ModelStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis

    def _model_key(self, version: str) -> str:
        return self.store.key("triage", "model", version)

    def publish(self, version: str, blob: bytes, *, activate: bool = True) -> None:
        with store_errors(), self.redis.pipeline() as pipe:
            pipe.set(self._model_key(version), blob)
            pipe.zadd(self.store.key("triage", "versions"), {version: datetime.now(UTC).timestamp()})
            if activate:
                pipe.set(self.store.key("triage", "current"), version)
            pipe.execute()

    def restore(self, version: str, blob: bytes) -> str:
        """Put the record's active model back after Redis lost it; a current version someone published meanwhile
        stays current (SET NX). Returns the current version."""
        with store_errors(), self.redis.pipeline() as pipe:
            pipe.set(self._model_key(version), blob)
            pipe.zadd(self.store.key("triage", "versions"), {version: datetime.now(UTC).timestamp()}, nx=True)
            pipe.set(self.store.key("triage", "current"), version, nx=True)
            pipe.get(self.store.key("triage", "current"))
            current = pipe.execute()[-1]
        return text(current)

    def current_version(self) -> str | None:
        with store_errors():
            value = self.redis.get(self.store.key("triage", "current"))
        return text(value) if value is not None else None

    def get(self, version: str) -> bytes | None:
        with store_errors():
            value = self.redis.get(self._model_key(version))
        return as_bytes(value) if value is not None else None

    def versions(self) -> list[str]:
        """Every stored version, oldest first."""
        with store_errors():
            return [text(v) for v in self.redis.zrange(self.store.key("triage", "versions"), 0, -1)]

    def use(self, version: str) -> None:
        """Make a stored version current (a rollback); `LookupError` for one never stored."""
        with store_errors():
            if not self.redis.exists(self._model_key(version)):
                raise LookupError(f"no stored triage model {version!r}")
            self.redis.set(self.store.key("triage", "current"), version)
