"""`helpline backup DIR` and `helpline restore DIR`: a consistent copy of everything Helpline keeps.

- **Redis**: a point-in-time RDB snapshot taken over the replication protocol (`redis-cli --rdb`), so it works on a
  server on another machine and copies every key as of one instant. Restoring starts a throwaway `redis-server` on
  that file (a unix socket in a temporary folder, persisting nothing) and copies each key of Helpline's database
  into the target with `DUMP`/`RESTORE` (expiries kept), after emptying that database.
- **PostgreSQL**: `pg_dump --format=custom` (one snapshot of the whole database), restored with
  `pg_restore --clean --if-exists --single-transaction`. The binaries are found like the embedded server's (on PATH,
  else the newest `/usr/lib/postgresql/*/bin`).
- **Attachments**: every ref of the attachment store (record/attachment_store.py), whichever the backend (the folder
  of `[attachments] dir` or the S3 bucket of `[attachments.s3]`), copied into the backup's `attachments/` as files
  in the folder backend's layout. Restoring writes them into the store the settings name, after deleting the refs
  the backup does not hold, so the store ends up as it was. The backup is the same for both backends: restoring
  with the other backend configured moves the attachments from a folder to a bucket, or back.

Order: Redis first, then PostgreSQL, then the attachments. A message accepted between the two snapshots is in the
record's copy or not, but always in Redis's: a restore holds every message once, and a job still queued in the
Redis copy for one the record already holds writes nothing twice (the record's writes are idempotent). The other
order could lose a message recorded after the record's snapshot whose hot copy's job was already done.

`manifest.json` says when, what, and the record's schema revision.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy.engine import make_url

from core.records import utcnow
from core.redis_conn import connect as connect_redis
from core.settings import Settings
from record.attachment_folder import AttachmentFolder
from record.attachment_store import AttachmentStoreError, copy_attachments, open_attachment_store
from record.embedded import find_binary
from record.engine import database_url

REDIS_FILE = "redis.rdb"
RECORD_FILE = "record.dump"
ATTACHMENTS_DIR = "attachments"
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A step of a backup or restore failed; the message says which and why."""


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def backup(settings: Settings, directory: Path) -> Outcome:
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: a backup goes into a folder of its own")
    outcome = Outcome()
    _dump_redis(connect_redis(settings), directory / REDIS_FILE)
    outcome.done.append(f"Redis snapshot: {REDIS_FILE}")
    url, env = _libpq(settings)
    _run([find_binary("pg_dump"), "--format=custom", "--no-owner", f"--file={directory / RECORD_FILE}", url], env)
    outcome.done.append(f"PostgreSQL dump: {RECORD_FILE}")
    attachments = open_attachment_store(settings)
    (directory / ATTACHMENTS_DIR).mkdir(mode=0o700)
    try:
        copied = copy_attachments(attachments, AttachmentFolder(directory / ATTACHMENTS_DIR))
    except AttachmentStoreError as exc:
        raise BackupError(f"attachments: {exc}") from exc
    outcome.done.append(f"attachments: {copied} files in {ATTACHMENTS_DIR}/ (from {attachments.describe()})")
    manifest = {"taken_at": utcnow().isoformat(), "done": outcome.done, "notes": outcome.notes,
                "attachments_backend": settings.attachments.backend,
                "attachments_from": attachments.describe()}  # fmt: skip
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return outcome


def restore(settings: Settings, directory: Path) -> Outcome:
    """Replace Redis's Helpline database, the record and the attachment store's content with the backup's."""
    for name in (REDIS_FILE, RECORD_FILE, MANIFEST):
        if not (directory / name).is_file():
            raise BackupError(f"{directory / name} is missing: not a Helpline backup (or an incomplete one)")
    outcome = Outcome()
    copied = _restore_redis(connect_redis(settings), directory / REDIS_FILE)
    outcome.done.append(f"Redis: {copied} keys")
    url, env = _libpq(settings)
    _run([find_binary("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          f"--dbname={url}", str(directory / RECORD_FILE)], env)  # fmt: skip
    outcome.done.append("PostgreSQL: the record")
    saved = directory / ATTACHMENTS_DIR
    if saved.is_dir():
        target = open_attachment_store(settings)
        try:
            copied = copy_attachments(AttachmentFolder(saved), target, replace=True)
        except AttachmentStoreError as exc:
            raise BackupError(f"attachments: {exc}") from exc
        outcome.done.append(f"attachments: {copied} into {target.describe()}")
    else:
        outcome.notes.append(f"the backup has no {ATTACHMENTS_DIR}/: the attachment store was left as it is")
    return outcome


def _dump_redis(redis: Redis, file: Path) -> None:
    options = redis.connection_pool.connection_kwargs
    if "path" in options:
        address = ["-s", str(options["path"])]
    else:
        host, port = options.get("host"), options.get("port")
        if host is None:  # through Sentinel: ask it for the master
            host, port = redis.connection_pool.get_master_address()  # type: ignore[attr-defined]
        address = ["-h", str(host), "-p", str(port)]
    env = {**os.environ}
    if options.get("password"):
        env["REDISCLI_AUTH"] = str(options["password"])  # not on the command line, where `ps` shows it
    _run([_redis_binary("redis-cli"), *address, "--rdb", str(file)], env)


def _restore_redis(target: Redis, file: Path) -> int:
    database = int(target.connection_pool.connection_kwargs.get("db", 0))
    with tempfile.TemporaryDirectory(prefix="hl-restore-") as scratch:
        folder = Path(scratch)
        shutil.copyfile(file, folder / "dump.rdb")
        socket = folder / "redis.sock"
        server = subprocess.Popen(
            [_redis_binary("redis-server"), "--port", "0", "--unixsocket", str(socket), "--dir", str(folder),
             "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            source = Redis(unix_socket_path=str(socket), db=database)
            _wait_loaded(source, server)
            target.flushdb()
            copied = 0
            for key in source.scan_iter(count=1000):
                ttl = int(source.pttl(key))
                data: Any = source.dump(key)
                if data is None:
                    continue
                target.restore(key, max(ttl, 0), data, replace=True)
                copied += 1
            source.close()
            return copied
        finally:
            server.terminate()
            server.wait(timeout=10)


def _wait_loaded(source: Redis, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BackupError("redis-server would not load the backup's snapshot")
        try:
            if int(source.info("persistence").get("loading", 1)) == 0:
                return
        except Exception:  # not listening yet, or still loading
            pass
        time.sleep(0.05)
    raise BackupError("redis-server took too long to load the backup's snapshot")


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """The record's URL as libpq reads it (no driver name), its password in the environment instead of argv."""
    url = make_url(database_url(settings)).set(drivername="postgresql")
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _redis_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install redis-server)")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{Path(command[0]).name} failed: {detail[-1] if detail else result.returncode}")
