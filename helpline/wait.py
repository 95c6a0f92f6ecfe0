"""Wait for the store before a process starts serving: under a Procfile runner every process starts at once, and
the embedded Redis may need a moment. Serving before it answers would turn the first messages into 451/503s."""

from __future__ import annotations

import logging
import time

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store

log = logging.getLogger("helpline.wait")


def wait_for_store(settings: Settings, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    store = Store(connect(settings))
    while True:
        try:
            store.ping()
            return
        except StoreUnavailable as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"store not reachable after {timeout:.0f}s: {exc}") from None
            log.info("waiting for the store: %s", exc)
            time.sleep(0.2)
