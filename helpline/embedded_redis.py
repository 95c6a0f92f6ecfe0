"""An embedded redis-server for `helpline run` when no `[redis] url` is configured.

It listens only on a unix socket inside `embedded_dir` (no port to clash with, nothing reachable from the network)
and persists with an append-only file fsynced on every write (`appendfsync always`): a message answered with
SMTP 250 or HTTP 200 is on disk, which is the promise ingest makes. Redis 7 keeps the AOF as a base file plus
increments in `appendonlydir/`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from redis import Redis

from core.folder_lock import lock_folder
from core.redis_conn import EMBEDDED_SOCKET


class EmbeddedRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / EMBEDDED_SOCKET
        self.process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make run` (it installs it) or set [redis] url")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        if self._answers():  # a redis-server orphaned by a killed Helpline still serves this folder's AOF
            self._unlock()
            raise RuntimeError(f"a redis-server is already serving {self.socket}; stop it first")
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", str(self.directory / "redis.log")],
            # Its own process group: Ctrl-C in a terminal signals the whole foreground group at once, and Redis must
            # outlive the workers still finishing their jobs; `helpline run` stops it last.
            process_group=0,
            # No signal blocked in Redis: `helpline serve redis` blocks SIGTERM to sigwait for it, and a blocked
            # mask is inherited across exec, which would leave Redis deaf to the SIGTERM that `stop` sends.
            preexec_fn=_unblock_signals,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see {self.directory}/redis.log"
                )
            try:
                if Redis(unix_socket_path=str(self.socket), socket_connect_timeout=0.2).ping():
                    return self
            except Exception:
                time.sleep(0.02)
        raise RuntimeError("embedded redis-server did not answer in time")

    def _lock(self) -> None:
        """One embedded Redis per folder: a second `helpline run` in the same checkout would take over the socket and
        append to the same AOF. The lock is an flock, so it is released by the kernel when this process dies."""
        if self._lock_file is not None:
            return
        self._lock_file = lock_folder(self.directory, "Redis")

    def _answers(self) -> bool:
        try:
            return bool(Redis(unix_socket_path=str(self.socket), socket_connect_timeout=0.2).ping())
        except Exception:
            return False

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # redis fsyncs the AOF and exits
            self.process.wait(15)
        self.process = None
        self._unlock()


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
