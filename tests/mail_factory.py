"""Small raw emails for the ingest tests (the parser's own cases live in tests/golden/email/)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid


def raw_email(
    text: str = "My top-up failed and the money is gone.",
    *,
    sender: str = "alice@example.com",
    to: str = "support@wallet.example",
    subject: str = "Top-up failed",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Alice Tan <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return bytes(message)
