"""Signed, expiring tokens for the survey's web page (web/survey_routes.py), for channels where answering the
survey by reply is awkward (a phone call). Standard library only: an HMAC-SHA256 over a small JSON payload, both
base64url, `<payload>.<signature>`, checked in constant time. The payload names the case, the survey reply and the
language to ask in, and when the link stops working; nothing a customer wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime


class BadToken(Exception):
    """Not a token we signed (altered, truncated, signed with another secret)."""


class ExpiredToken(Exception):
    """Ours, but past its expiry."""


@dataclass(frozen=True)
class SurveyToken:
    conversation_id: str
    reply_id: str
    language: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), b"survey:" + payload.encode(), hashlib.sha256).digest())


def sign(secret: str, token: SurveyToken) -> str:
    fields = {"c": token.conversation_id, "r": token.reply_id, "l": token.language,
              "e": int(token.expires_at.timestamp())}  # fmt: skip
    payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: str, token: str, now: datetime) -> SurveyToken:
    """The token's content; BadToken or ExpiredToken otherwise (never anything else, whatever `token` holds)."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        raise BadToken("not a valid survey link")
    try:
        fields = json.loads(_unb64(payload))
        parsed = SurveyToken(str(fields["c"]), str(fields["r"]), str(fields["l"]),
                             datetime.fromtimestamp(int(fields["e"]), UTC))  # fmt: skip
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError, OSError) as exc:
        raise BadToken("not a valid survey link") from exc
    if now >= parsed.expires_at:
        raise ExpiredToken("this survey link has expired")
    return parsed
