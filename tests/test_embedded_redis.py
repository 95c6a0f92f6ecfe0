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


def test_an_orphaned_redis_server_on_the_folder_is_refused(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    folder = tmp_path / "redis"
    folder.mkdir()
    orphan = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(folder / "redis.sock"), "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (folder / "redis.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(RuntimeError, match="already serving"):
            EmbeddedRedis(folder).start()
    finally:
        orphan.send_signal(signal.SIGTERM)
        orphan.wait(10)
