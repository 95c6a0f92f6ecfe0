"""The embedded PostgreSQL `helpline run` starts when no `[database] url` is set: found under the Debian layout,
run as the postgres user, C.UTF-8 (Chinese trigrams), one per folder, an orphaned postmaster replaced."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from record.embedded import (
    FALLBACK_ROOT,
    EmbeddedPostgres,
    cluster_dir,
    embedded_url,
    find_binary,
    postmaster_pid,
    socket_dir_for,
)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hl-pg-", dir="/tmp"))  # pytest's tmp_path is root's 0700: not reachable
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_cluster_is_utf8_keeps_data_and_is_one_per_folder(folder: Path) -> None:
    first = EmbeddedPostgres(folder / "pg", durable=False).start()
    try:
        with first.connect("helpline") as connection:
            assert connection.execute("SHOW lc_ctype").fetchone() == ("C.UTF-8",)
            assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
            connection.execute("CREATE EXTENSION pg_trgm")
            # Under the C locale this is empty, and Chinese search silently finds nothing.
            trigrams = connection.execute("SELECT cardinality(show_trgm('转账失败了'))").fetchone()
            assert trigrams is not None and int(str(trigrams[0])) > 0
            connection.execute("CREATE TABLE kept (v text)")
            connection.execute("INSERT INTO kept VALUES ('yes')")
        if os.geteuid() == 0:
            assert (folder / "pg" / "data").stat().st_uid != 0  # run as the postgres user, not root
        with pytest.raises(RuntimeError, match="already running its PostgreSQL"):
            EmbeddedPostgres(folder / "pg", durable=False).start()
    finally:
        first.stop()
    assert not (folder / "pg" / "data" / "postmaster.pid").exists()  # a clean shutdown
    again = EmbeddedPostgres(folder / "pg", durable=False).start()
    try:
        with again.connect("helpline") as connection:
            assert connection.execute("SELECT v FROM kept").fetchall() == [("yes",)]
    finally:
        again.stop()


@pytest.mark.slow
def test_an_orphaned_postmaster_is_stopped_and_replaced(folder: Path) -> None:
    first = EmbeddedPostgres(folder / "pg", durable=False).start()
    orphan_pid = first.pid
    assert orphan_pid is not None and postmaster_pid(first.data) == orphan_pid
    # What a SIGKILLed `helpline run` leaves: postgres still running, nobody holding the folder's lock.
    assert first._lock_file is not None
    first._lock_file.close()
    first._lock_file = None
    successor = EmbeddedPostgres(folder / "pg", durable=False)
    try:
        successor.start()
        assert successor.pid != orphan_pid
        assert postmaster_pid(successor.data) == successor.pid
        assert first.process is not None and first.process.wait(10) == 0  # the orphan shut down cleanly
    finally:
        successor.stop()
        if first.process is not None and first.process.poll() is None:
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)


def test_a_deep_folder_gets_a_short_socket_path() -> None:
    deep = Path("/var/lib/" + "x" * 80 + "/postgres")
    assert len(str(socket_dir_for(deep) / ".s.PGSQL.5432")) <= 100
    assert socket_dir_for(deep) == socket_dir_for(deep)  # stable: workers compute the same URL
    assert socket_dir_for(Path("/srv/helpline/var/postgres")) == Path("/srv/helpline/var/postgres/run")


def test_binaries_are_found_in_the_debian_layout_when_not_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    found = find_binary("initdb")
    assert found.startswith("/usr/lib/postgresql/") and found.endswith("/bin/initdb")
    assert subprocess.run([found, "--version"], capture_output=True, check=True).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the folder to the postgres user")
def test_a_folder_the_postgres_user_cannot_reach_is_replaced_by_one_of_its_own(folder: Path) -> None:
    private = folder / "private"
    private.mkdir(mode=0o700)  # like root's home: whoever owns the folder inside, postgres cannot get there
    moved = cluster_dir(private / "pg")
    assert moved.parent == FALLBACK_ROOT and moved == cluster_dir(private / "pg")  # the same checkout finds it again
    assert cluster_dir(folder / "pg") == folder / "pg"  # a reachable folder stays where it was configured
    assert f"host={socket_dir_for(moved)}" in embedded_url(private / "pg")  # the children connect to the moved one
