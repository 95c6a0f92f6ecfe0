"""`helpline run`: start the Procfile's processes (and an embedded Redis and PostgreSQL when none is configured),
keep them up.

The Procfile is the one list of processes; this reads it, so `honcho start` and `helpline run` never disagree.
The embedded Redis and PostgreSQL (the Procfile's `redis` and `postgres` lines) are started first and waited for,
and the embedded record is migrated; the others follow. A process that exits is restarted with backoff, the
embedded servers included, except one that exits with `SCHEMA_BEHIND_EXIT` (its record needs `helpline migrate`:
a restart cannot help), which stops everything. SIGHUP is passed on to the workers (they reload their rules);
SIGINT/SIGTERM stop every child, then the servers.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from core.redis_conn import redis_url
from core.settings import Settings, settings_origin
from helpline.embedded_redis import EmbeddedRedis
from helpline.processes import PROCESSES
from helpline.ready import address, http_ok, ready_block, smtp_answers, warn_if_relay_unreachable, workers_registered
from helpline.record_setup import migrate_record, start_embedded
from record.embedded import EmbeddedPostgres, cluster_dir, embedded_url
from record.migrate import SCHEMA_BEHIND_EXIT

log = logging.getLogger("helpline.run")
STABLE_SECONDS = 60.0
READY_PROBE_SECONDS = 0.5
READY_PATIENCE_SECONDS = 60.0
# Package data (a symlink to the checkout's top-level Procfile, which honcho and the README use; the wheel carries a
# copy), so an installed `helpline run` finds it from any folder.
PROCFILE = Path(str(files("helpline").joinpath("Procfile")))


@dataclass
class Child:
    name: str
    argv: list[str]
    reloads_rules: bool = False  # workers: the ones SIGHUP is for
    kind: str = ""  # the process name (`worker` for worker.1, worker.2...): what readiness is probed by
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = field(default=0.0)
    started_at: float = field(default=0.0)


def procfile_entries(path: Path = PROCFILE) -> list[tuple[str, list[str]]]:
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries.append((name.strip(), shlex.split(command)))
    return entries


def children_for(settings: Settings, settings_file: Path | None) -> list[Child]:
    children = []
    for name, argv in procfile_entries():
        process_name = argv[-1]
        if process_name in ("redis", "postgres"):
            continue  # run_all starts and watches the embedded servers itself, before everything else
        if process_name in PROCESSES and not PROCESSES[process_name].enabled(settings):
            log.info("%s: not enabled by the settings, not started", name)
            continue
        # Run our own interpreter's console script, so the venv is used even when it is not on PATH.
        command = [sys.executable, "-m", "helpline", *argv[1:]]
        if settings_file is not None:
            command += ["--settings", str(settings_file)]
        copies = settings.workers.count if process_name == "worker" else 1
        reloads = process_name in PROCESSES and PROCESSES[process_name].reloads_rules
        children += [
            Child(f"{name}.{i + 1}" if copies > 1 else name, command, reloads, process_name) for i in range(copies)
        ]
    return children


def run_all(settings: Settings, settings_file: Path | None) -> int:
    env = dict(os.environ)
    redis: EmbeddedRedis | None = None
    if settings.redis.embedded:
        redis = EmbeddedRedis(Path(settings.redis.embedded_dir)).start()
        env["HELPLINE_REDIS__URL"] = redis.url
        log.info("embedded Redis at %s (append-only, fsync always)", redis.url)
    postgres: EmbeddedPostgres | None = None
    try:
        if not settings.database.url:
            postgres = start_embedded(settings)
            env["HELPLINE_DATABASE__URL"] = postgres.url
            settings = settings.model_copy(
                update={"database": settings.database.model_copy(update={"url": postgres.url})}
            )
            log.info("embedded PostgreSQL at %s (pid %s)", postgres.url, postgres.pid)
            for line in migrate_record(settings):
                log.info("record: %s", line)
    except Exception as exc:
        if postgres is not None:
            postgres.stop()
        if redis is not None:
            redis.stop()
        if isinstance(exc, RuntimeError):  # the embedded server's own, explained failures: no traceback
            raise SystemExit(f"error: {exc}") from None
        raise
    warn_if_relay_unreachable(settings)
    children = children_for(settings, settings_file)
    ready = ReadyCheck(settings, redis.url if redis is not None else redis_url(settings), settings_file)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    def forward_hangup(signum: int, frame: object) -> None:
        log.info("SIGHUP: passing it on to the workers (rules reload)")
        for child in children:
            if child.reloads_rules and child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, forward_hangup)
    exit_code = 0
    try:
        while not stopping:
            if redis is not None and not redis.running():
                log.warning("embedded Redis exited; restarting it")
                redis.start()
            if postgres is not None and not postgres.running():
                log.warning("embedded PostgreSQL exited; restarting it")
                postgres.start()
            for child in children:
                if child.process is not None and child.process.poll() == SCHEMA_BEHIND_EXIT:
                    log.error("%s: the record's schema is behind this code; run `helpline migrate`", child.name)
                    stopping, exit_code = True, SCHEMA_BEHIND_EXIT
                    break
                _keep_alive(child, env)
            ready.poll(children)
            time.sleep(0.2)
    finally:
        for child in children:
            if child.process and child.process.poll() is None:
                child.process.terminate()
        for child in children:
            if child.process:
                try:
                    child.process.wait(15)
                except subprocess.TimeoutExpired:
                    child.process.kill()
        if postgres is not None:
            postgres.stop()
        if redis is not None:
            redis.stop()
    return exit_code


def _keep_alive(child: Child, env: dict[str, str]) -> None:
    if child.process is not None:
        code = child.process.poll()
        if code is None:
            return
        if time.monotonic() - child.started_at > STABLE_SECONDS:
            child.restarts = 0  # it had been running fine: this is a fresh failure, not a crash loop
        delay = min(2 ** min(child.restarts, 5), 30)
        log.warning("%s exited with %s; restarting in %ss", child.name, code, delay)
        child.process, child.next_start = None, time.monotonic() + delay
        child.restarts += 1
    if time.monotonic() >= child.next_start:
        child.process = subprocess.Popen(child.argv, env=env)
        child.started_at = time.monotonic()
        log.info("%s started (pid %s)", child.name, child.process.pid)


@dataclass
class ReadyCheck:
    """Prints the ready block (helpline.ready) once, when every child runs, SMTP answers, the web app's /healthz
    says 200 and every worker has registered with RQ; says what is still missing if that takes too long."""

    settings: Settings
    store_url: str
    settings_file: Path | None
    started: float = field(default_factory=time.monotonic)
    next_probe: float = 0.0
    reported: bool = False
    warned: bool = False

    def poll(self, children: list[Child]) -> None:
        now = time.monotonic()
        if self.reported or now < self.next_probe:
            return
        self.next_probe = now + READY_PROBE_SECONDS
        waiting = self.waiting_for(children)
        if not waiting:
            self.reported = True
            sys.stdout.write(self.block(children) + "\n")
            sys.stdout.flush()
        elif now - self.started > READY_PATIENCE_SECONDS and not self.warned:
            self.warned = True
            log.warning("not ready after %.0fs, still waiting for: %s", now - self.started, ", ".join(waiting))

    def waiting_for(self, children: list[Child]) -> list[str]:
        waiting = [c.name for c in children if c.process is None or c.process.poll() is not None]
        kinds = [c.kind for c in children]
        inbound, web = self.settings.email.inbound, self.settings.web
        if "smtp" in kinds and not smtp_answers(inbound.host, inbound.port):
            waiting.append("SMTP")
        if "web" in kinds and not http_ok(f"http://{address(web.host, web.port)}/healthz"):
            waiting.append("/healthz")
        if "worker" in kinds and workers_registered(self.store_url) < kinds.count("worker"):
            waiting.append("workers")
        return waiting

    def block(self, children: list[Child]) -> str:
        path, origin = settings_origin(self.settings_file)
        outbound = self.settings.email.outbound
        url = _without_password(self.store_url)
        store = f"Redis {url}" if self.settings.redis.url else f"embedded Redis {url} (append-only)"
        database, embedded_dir = self.settings.database, Path(self.settings.database.embedded_dir)
        embedded = database.url in (None, embedded_url(embedded_dir))  # run sets the embedded server's URL
        record = (
            f"embedded PostgreSQL in {cluster_dir(embedded_dir)}"
            if embedded
            else f"PostgreSQL {_without_password(database.url or '')}"
        )
        return ready_block(
            self.settings,
            store=store,
            record=record,
            settings_file=path,
            settings_named=origin in ("--settings", "HELPLINE_SETTINGS"),
            relay_answers=smtp_answers(outbound.host, outbound.port),
            workers=[c.kind for c in children].count("worker"),
        )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
