"""A replicated Redis on this machine: a master, replicas and three sentinels, each a `redis-server` (the sentinels
with `--sentinel`) on a free 127.0.0.1 port, started and stopped by PID. Quick timings (half a second to declare the
master down) keep a failover test short."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import cast

from redis import Redis

from tests.support.ports import free_port

SERVICE = "helpline"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 3000


class SentinelCluster:
    def __init__(self, replicas: int = 1, sentinels: int = 3) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="hl-sentinel-")
        self.root = Path(self._tmp.name)
        self.data_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def start(self) -> SentinelCluster:
        master, *replicas = self.data_ports
        self._data_server(master)
        for port in replicas:
            self._data_server(port, "--replicaof", "127.0.0.1", str(master))
        # Sentinels learn of replicas from the master's INFO, polled every 10 s: start them once the replicas are in.
        self._wait(self._replicas_in_sync, "the replicas to sync")
        for port in self.sentinel_ports:
            config = self.root / f"sentinel-{port}.conf"  # a sentinel rewrites its file: one each
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.root}\nlogfile {self.root}/sentinel-{port}.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            )
            self.processes[port] = subprocess.Popen(["redis-server", str(config), "--sentinel"])
        self._wait(self._ready, "the sentinels to find the replicas and each other")
        return self

    def _data_server(self, port: int, *extra: str) -> None:
        folder = self.root / str(port)
        folder.mkdir()
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--repl-diskless-sync-delay", "0", "--dir", str(folder),
             "--logfile", str(folder / "redis.log"), *extra],
        )  # fmt: skip

    def _ready(self) -> bool:
        replicas = len(self.data_ports) - 1
        for port in self.sentinel_ports:
            sentinel = Redis(port=port, socket_timeout=0.5, decode_responses=True)
            if len(cast(list[object], sentinel.sentinel_slaves(SERVICE))) < replicas:
                return False
            if len(cast(list[object], sentinel.sentinel_sentinels(SERVICE))) < len(self.sentinel_ports) - 1:
                return False
        return True

    def _replicas_in_sync(self) -> bool:
        master = Redis(port=self.data_ports[0], socket_timeout=0.5)
        if int(master.info("replication")["connected_slaves"]) < len(self.data_ports) - 1:
            return False
        for port in self.data_ports[1:]:
            if Redis(port=port, socket_timeout=0.5).info("replication")["master_link_status"] != "up":
                return False
        return True

    def master_port(self) -> int:
        sentinel = Redis(port=self.sentinel_ports[0], socket_timeout=0.5, decode_responses=True)
        address = cast(tuple[str, int], sentinel.sentinel_get_master_addr_by_name(SERVICE))
        return int(address[1])

    def kill(self, port: int) -> None:
        """SIGKILL: no goodbye to the replicas or the sentinels, as when a machine dies."""
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def freeze(self, port: int) -> None:
        """SIGSTOP: the server holds its connections but answers nothing (a hung machine, a long GC pause)."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    def wait_for_failover(self, old_master: int, timeout: float = 15.0) -> int:
        self._wait(lambda: self.master_port() != old_master, "the sentinels to promote a replica", timeout)
        return self.master_port()

    def _wait(self, ready: object, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():  # type: ignore[operator]
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}; logs in {self.root}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.wait(15)
        self.processes.clear()

    def __enter__(self) -> SentinelCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()
