"""The numbered data imports `helpline migrate` runs after the schema migrations, each once per database."""

from __future__ import annotations

from core.store import Store
from record.migrate import DataImportStep


def data_imports(store: Store) -> list[DataImportStep]:
    """Every data import, in number order; `store` is the Redis they read from."""
    return []
