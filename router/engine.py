"""FIRST STUB — to be replaced by the real compiled rule engine (keeps this interface)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.envelope import Decision, Envelope, Priority
from core.routing_settings import RouterSettings


@dataclass(frozen=True)
class RoutingContext:
    new_conversation: bool = True
    contact_tags: frozenset[str] = frozenset()
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class Router:
    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings

    def decide(self, envelope: Envelope, context: RoutingContext | None = None) -> Decision:
        text = f"{envelope.subject}\n{envelope.text}".lower()
        for name, category in self.settings.categories.items():
            for word in category.keywords.en + category.keywords.zh:
                if word.lower() in text:
                    return Decision(
                        category=name,
                        priority=category.priority,
                        queue=self.settings.queue_for(name),
                        reasons=[f"keyword {word!r}"],
                    )
        return Decision(
            category=self.settings.default_category,
            priority=Priority.NORMAL,
            queue=self.settings.queue_for(self.settings.default_category),
            reasons=["default"],
        )


def compile_router(settings: RouterSettings) -> Router:
    return Router(settings)
