"""Alembic's environment: always online, on the connection `record.migrate` hands over (no alembic.ini, no URL
read from a file in the current folder)."""

from __future__ import annotations

from alembic import context

from record.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
