"""The embedded Redis `helpline run` starts: append-only, fsync always, one per folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from helpline.embedded_redis import EmbeddedRedis


def test_one_embedded_redis_per_folder_and_data_survives_a_restart(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis").start()
    try:
        client = Redis(unix_socket_path=str(first.socket))
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        client.set("kept", "yes")
        with pytest.raises(RuntimeError, match="already running its Redis"):
            EmbeddedRedis(tmp_path / "redis").start()
    finally:
        first.stop()
    again = EmbeddedRedis(tmp_path / "redis").start()  # the lock went with the first one
    try:
        assert Redis(unix_socket_path=str(again.socket)).get("kept") == b"yes"  # replayed from the AOF
    finally:
        again.stop()
