"""A private PostgreSQL cluster in a folder: `helpline run`'s embedded record, and the tests' clusters.

The binaries come from Debian's `postgresql` package, which puts them under `/usr/lib/postgresql/<version>/bin`
(not on PATH); PATH is tried first. `initdb --locale=C.UTF-8 --encoding=UTF8`: under the C locale `pg_trgm` makes
no trigrams of Chinese text and substring search silently finds nothing. PostgreSQL refuses to run as root, so a
root process runs it as the `postgres` user, and the folder is handed to that user. A folder that user cannot reach
(a checkout under root's 0700 home: the first `make run` of a newcomer working as root) is replaced by one of its
own under /var/lib/helpline/postgres/, named after the configured folder so the same checkout finds it again
(`cluster_dir`); `helpline run` says where.

The server listens on a unix socket only (`listen_addresses = ''`, mode 0700: its owner and root connect, nobody
else), in a folder short enough for the 107-byte socket path limit. It runs as a child process (like the embedded
Redis), so its supervisor sees it exit and stops it by PID. A postmaster left running by a killed Helpline (an
orphan: `postmaster.pid` names a live postgres) is stopped with `pg_ctl stop` before a new one starts.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

import psycopg

from core.folder_lock import lock_folder

log = logging.getLogger("helpline.postgres")

SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432): no TCP listener
DATABASE = "helpline"
SUPERUSER = "postgres"
_MAX_SOCKET_PATH = 100  # the kernel's sun_path is 108 bytes, with its NUL
FALLBACK_ROOT = Path("/var/lib/helpline/postgres")


def find_binary(name: str) -> str:
    """`initdb`, `pg_ctl` or `postgres`: on PATH, else the newest Debian cluster layout's."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if candidates:
        return candidates[-1]
    raise RuntimeError(
        f"PostgreSQL's {name} is not installed: run `make run` (scripts/install-system-deps.sh installs Debian's "
        "postgresql package) or set [database] url"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def socket_dir_for(directory: Path) -> Path:
    """`<directory>/run` when the socket path fits, else a short folder in /tmp named after the directory."""
    directory = directory.absolute()
    inside = directory / "run"
    if len(str(inside / f".s.PGSQL.{SOCKET_PORT}")) <= _MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"helpline-pg-{digest}"


def cluster_dir(configured: Path) -> Path:
    """Where the cluster configured in `configured` really lives: that folder, unless Helpline runs as root and the
    postgres user cannot reach it, then a folder of its own under FALLBACK_ROOT named after the configured one."""
    configured = configured.absolute()
    if os.geteuid() != 0 or _reachable_by_postgres(configured):
        return configured
    digest = hashlib.sha256(str(configured).encode()).hexdigest()[:12]
    return FALLBACK_ROOT / digest


def _reachable_by_postgres(folder: Path) -> bool:
    """Whether the postgres user can get into `folder`, or into its nearest existing parent (root creates the rest
    and hands it over): every folder on the way must be searchable by that user."""
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    probe = subprocess.run(["test", "-x", str(existing)], user=SUPERUSER, check=False, cwd="/")
    return probe.returncode == 0


def embedded_url(directory: Path, database: str = DATABASE) -> str:
    return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={socket_dir_for(cluster_dir(directory))}"


class EmbeddedPostgres:
    """One PostgreSQL cluster in `directory` (`data/`, the socket folder `run/`, `postgres.log`).

    `durable=False` turns fsync and synchronous commit off: for tests, whose data is thrown away anyway.
    """

    def __init__(self, directory: Path, *, durable: bool = True, database: str = DATABASE) -> None:
        self.directory = cluster_dir(directory)
        if self.directory != directory.absolute():
            log.warning(
                "the %s user cannot reach %s (PostgreSQL refuses to run as root): the embedded record lives in %s",
                SUPERUSER, directory.absolute(), self.directory,
            )  # fmt: skip
        self.data = self.directory / "data"
        self.socket_dir = socket_dir_for(self.directory)
        self.durable = durable
        self.database = database
        self.process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._user = SUPERUSER if os.geteuid() == 0 else None  # initdb and postgres refuse root

    @property
    def url(self) -> str:
        return embedded_url(self.directory, self.database)

    def url_for(self, database: str) -> str:
        return embedded_url(self.directory, database)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        postgres = find_binary("postgres")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            return self._start(postgres, timeout)
        except BaseException:
            self.stop()  # whatever started, and the folder's lock
            raise

    def _start(self, postgres: str, timeout: float) -> EmbeddedPostgres:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.directory, self.socket_dir)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self._stop_orphan()
        options = [
            "-c", "listen_addresses=", "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "unix_socket_permissions=0700", "-c", f"port={SOCKET_PORT}",
        ]  # fmt: skip
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with (self.directory / "postgres.log").open("ab") as log_file:
            self.process = subprocess.Popen(
                [postgres, "-D", str(self.data), *options],
                user=self._user, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self._wait_ready(timeout)
        self.create_database(self.database)
        return self

    def _initdb(self) -> None:
        command = [find_binary("initdb"), "-D", str(self.data), "--locale=C.UTF-8", "--encoding=UTF8",
                   "--auth=trust", f"--username={SUPERUSER}", "--no-instructions"]  # fmt: skip
        done = subprocess.run(command, user=self._user, capture_output=True, text=True, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.data}: {done.stderr.strip() or done.stdout.strip()}")
        log.info("initialised a PostgreSQL cluster in %s", self.data)

    def _hand_over(self, *folders: Path) -> None:
        """As root: give the folders to the postgres user, and check that it can reach them at all (a folder under
        root's 0700 home cannot be reached whoever owns it)."""
        if self._user is None:
            return
        account = pwd.getpwnam(self._user)
        for folder in folders:
            os.chown(folder, account.pw_uid, account.pw_gid)
        probe = subprocess.run(["test", "-w", str(self.directory)], user=self._user, check=False, cwd="/")
        if probe.returncode != 0:
            raise RuntimeError(
                f"the {self._user} user cannot reach {self.directory} (PostgreSQL refuses to run as root): set "
                "[database] embedded_dir to a folder it can reach, e.g. /var/lib/helpline/postgres"
            )

    def _stop_orphan(self) -> None:
        pid = postmaster_pid(self.data)
        if pid is None:
            return  # no postmaster.pid, or a stale one that PostgreSQL removes itself
        log.warning("a postgres (pid %s) left by an earlier run still serves %s: stopping it", pid, self.data)
        command = [find_binary("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60"]
        done = subprocess.run(command, user=self._user, capture_output=True, text=True, cwd="/")
        if done.returncode != 0 and postmaster_pid(self.data) is not None:
            raise RuntimeError(f"could not stop the orphaned postgres (pid {pid}): {done.stderr.strip()}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}; see {self.directory}/postgres.log")
            try:
                with self.connect("postgres", connect_timeout=1):
                    return
            except psycopg.OperationalError:
                time.sleep(0.02)
        raise RuntimeError(f"the embedded PostgreSQL did not answer in {timeout:.0f}s")

    def connect(self, database: str, connect_timeout: int = 5) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir), port=SOCKET_PORT, user=SUPERUSER, dbname=database,
            connect_timeout=connect_timeout, autocommit=True,
        )  # fmt: skip

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create database `name` (from `template`, a fast file copy) unless it exists."""
        with self.connect("postgres") as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
            # FILE_COPY: for a small template, copying its files beats WAL-logging every block (PostgreSQL 15's
            # default), about twice as fast for the tests' database per test.
            sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}" STRATEGY = FILE_COPY' if template else "")
            connection.execute(sql.encode())

    def drop_database(self, name: str) -> None:
        with self.connect("postgres") as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    def _lock(self) -> None:
        """One cluster per folder in this process tree's hands (the kernel drops the flock when we die)."""
        if self._lock_file is not None:
            return
        self._lock_file = lock_folder(self.directory, "PostgreSQL")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open transactions roll back, everything committed is on disk."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def postmaster_pid(data: Path) -> int | None:
    """The pid in `postmaster.pid` when that process is alive and is a postgres; None otherwise."""
    try:
        first = (data / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"postgres" in command else None
