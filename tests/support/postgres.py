"""A private PostgreSQL cluster for the tests, and a fresh database per test copied from a migrated template.

One cluster per pytest(-xdist) worker, in a short folder under /tmp that the `postgres` user can reach (pytest's own
temporary folders are 0700 root's), with fsync off. The template is migrated once; each test's database is a
`CREATE DATABASE … TEMPLATE` copy (~50 ms), dropped afterwards. Nothing here touches the machine's own PostgreSQL
or its authentication.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

from record.embedded import EmbeddedPostgres
from record.engine import engine_for
from record.migrate import migrate

TEMPLATE = "helpline_template"


class PostgresCluster:
    """`durable=True` keeps fsync on, as the embedded record runs: for benchmarks, not for tests."""

    def __init__(self, *, durable: bool = False) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hl-pg-", dir="/tmp"))
        os.chmod(self.folder, 0o755)  # the postgres user must reach it when the tests run as root
        self.server = EmbeddedPostgres(self.folder, durable=durable, database=TEMPLATE)
        self._names = itertools.count(1)

    def start(self) -> PostgresCluster:
        self.server.start()
        engine = engine_for(self.server.url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        return self

    def new_database(self) -> str:
        """A fresh, migrated database; returns its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.server.create_database(name, template=TEMPLATE)
        return self.server.url_for(name)

    def drop(self, url: str) -> None:
        self.server.drop_database(url.rsplit("/", 1)[1].split("?", 1)[0])

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
