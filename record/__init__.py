"""The system of record: contacts, conversations, messages and replies in PostgreSQL (SQLAlchemy 2, Alembic).

Redis stays the hot store (the ingest buffer, queues, inbox ordering, caps); this package holds what a support desk
keeps for years. It imports only `core`: workers and the CLI compose it.
"""
