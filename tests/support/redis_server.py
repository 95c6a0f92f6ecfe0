"""A private redis-server: the tests and the benchmarks can stop it, restart it and wipe it without touching anyone
else's. (`helpline run`'s own embedded Redis is helpline/embedded_redis.py: a unix socket, production settings.)"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from redis import Redis

from tests.support.ports import free_port


class RedisServer:
    """redis-server on a free port, keeping its files in `workdir` (by default a temporary folder, removed when a
    `with` block ends; `stop` alone keeps it, so the server can be started again on its data).

    No persistence by default; `appendonly` keeps an AOF (fsynced every second, Redis's default), and `fsync_always`
    fsyncs it on every write, as `helpline run`'s embedded Redis does.
    """

    def __init__(self, workdir: Path | None = None, appendonly: bool = False, *, fsync_always: bool = False) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hl-redis-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly or fsync_always
        self.fsync_always = fsync_always
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def durability(self) -> str:
        if not self.appendonly:
            return "appendonly no"
        return f"appendonly yes, appendfsync {'always' if self.fsync_always else 'everysec'}"

    def start(self) -> RedisServer:
        persistence = ["--appendonly", "yes" if self.appendonly else "no"]
        if self.fsync_always:
            persistence += ["--appendfsync", "always"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return self
            except Exception:
                time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.workdir}/redis.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)
            self.process = None

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
