"""JSON views of an email envelope: a summary for `helpline parse`, and the stable form golden files compare.

Golden projection (tests/golden/email/*.json) = `Envelope.model_dump(mode="json")` of `parse_email(raw,
max_attachment_bytes=GOLDEN_CAP)` (a small cap, so the over-the-cap case needs no 5 MiB fixture), with two changes,
so a file only changes when the parser's output does:
  - `received_at` is null when it came from the parse time (no readable Date header), since that differs every run;
  - each attachment's `content_b64` is replaced by "sha256:<hex of the decoded bytes>" (or null), to keep files small.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from core.envelope import Envelope

GOLDEN_CAP = 16 * 1024


def golden_projection(envelope: Envelope) -> dict[str, Any]:
    data = envelope.model_dump(mode="json")
    if envelope.extras.get("received_at_source") == "now":
        data["received_at"] = None
    for attachment in data["attachments"]:
        content = attachment.get("content_b64")
        if content is not None:
            attachment["content_b64"] = "sha256:" + hashlib.sha256(base64.b64decode(content)).hexdigest()
    return data


def summary(envelope: Envelope) -> dict[str, Any]:
    """What `helpline parse` prints: everything but attachment content and the sanitised HTML."""
    data = envelope.model_dump(mode="json", exclude={"extras"})
    for attachment in data["attachments"]:
        attachment.pop("content_b64", None)
    data["extras"] = {k: v for k, v in envelope.model_dump(mode="json")["extras"].items() if k != "html"}
    data["extras"]["has_html"] = envelope.extras.get("html") is not None
    return data
