"""Email ingest: raw RFC 5322 bytes to an `Envelope` (parse.py), plus the SMTP and IMAP shells that feed it."""
