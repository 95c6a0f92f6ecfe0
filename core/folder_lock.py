"""One owner per folder: an embedded server's folder (Redis's AOF and socket, PostgreSQL's cluster) must never be
served by two Helplines at once. The lock is an flock, so the kernel releases it when its holder dies."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


def lock_folder(directory: Path, what: str) -> IO[str]:
    """Hold `directory`'s lock (keep the returned file open for as long as it is held), or say who holds it."""
    lock_file = (directory / "helpline.lock").open("w")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise RuntimeError(f"another Helpline is already running its {what} in {directory}") from None
    return lock_file
