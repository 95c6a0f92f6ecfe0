"""Small builders shared by the router tests: settings from a TOML snippet, and envelopes."""

from __future__ import annotations

import tomllib
from typing import Any

from core.envelope import Attachment, Channel, Envelope, Party
from core.routing_settings import RouterSettings

BASE = """
[router]
queues = ["vip", "night", "escalations"]
[router.categories.security]
priority = "urgent"
keywords.en = ["fraud", "stolen", "don't recognise"]
keywords.zh = ["盗刷", "被盗"]
[router.categories.top_up]
priority = "high"
queue = "payments"
keywords.en = ["top up", "add money", "top up failed"]
keywords.zh = ["充值", "没到账"]
[router.categories.cards]
keywords.en = ["card", "atm"]
keywords.zh = ["卡片"]
[router.categories.general]
"""


def router_settings(rules: str = "", base: str = BASE) -> RouterSettings:
    data: dict[str, Any] = tomllib.loads(base + rules)
    return RouterSettings.model_validate(data["router"])


def envelope(
    text: str,
    *,
    subject: str = "",
    channel: Channel = Channel.EMAIL,
    sender: str = "alice@example.com",
    recipient: str | None = "support@wallet.example",
    language: str = "en",
    chosen_category: str | None = None,
    attachments: int = 0,
) -> Envelope:
    return Envelope(
        channel=channel,
        provider_id="p-1",
        sender=Party(address=sender),
        recipient=Party(address=recipient) if recipient else None,
        subject=subject,
        text=text,
        language=language,
        chosen_category=chosen_category,
        attachments=[Attachment(filename=f"f{i}.png") for i in range(attachments)],
    )
