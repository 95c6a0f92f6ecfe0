"""Agents' category corrections: the desk's labelled examples for the next `helpline train`.

Key (prefix `hl:`):
    corrections   hash: message id -> JSON {"from", "to", "agent", "reason", "at"}; the latest correction of a
                  message wins (a message has one right category)

Minimal on purpose: the case history of a later issue can record corrections here too, or replace this store and
keep `all()`'s shape. The message itself (its decision's category and a note) is updated by the caller, in
desk/recategorize.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from core.store import Store, store_errors, text


@dataclass(frozen=True)
class Correction:
    message_id: str
    from_category: str
    to_category: str
    agent: str
    reason: str
    at: datetime


class Corrections:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = store.key("corrections")

    def record(self, correction: Correction) -> None:
        data = asdict(correction)
        data["at"] = correction.at.isoformat()
        del data["message_id"]
        with store_errors():
            self.store.redis.hset(self.key, correction.message_id, json.dumps(data, ensure_ascii=False))

    def all(self) -> list[Correction]:
        with store_errors():
            raw = self.store.redis.hgetall(self.key)
        out = []
        for message_id, value in raw.items():
            data = json.loads(text(value))
            out.append(
                Correction(
                    text(message_id),
                    data["from_category"],
                    data["to_category"],
                    data["agent"],
                    data["reason"],
                    datetime.fromisoformat(data["at"]),
                )
            )
        return sorted(out, key=lambda c: c.at)
