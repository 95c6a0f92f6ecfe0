"""Telegram ingest: pure update normalisation, the shared intake, the polling process."""
