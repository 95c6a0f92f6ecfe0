"""The `[router]` section of settings.toml: categories with keywords, and ordered rules.

This module only describes and validates the document; `router/` compiles it into something fast.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.envelope import Channel, Priority


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Keywords(_Strict):
    en: list[str] = Field(default_factory=list, description="matched on word boundaries, case-insensitive")
    zh: list[str] = Field(default_factory=list, description="matched as substrings, simplified and traditional")


class Category(_Strict):
    description: str = ""
    keywords: Keywords = Keywords()
    priority: Priority = Priority.NORMAL
    queue: str | None = Field(None, description="defaults to the category's name")


class Condition(_Strict):
    """All given fields must hold (an implicit AND); `any_of`/`all_of`/`not_` combine nested conditions."""

    channel: list[Channel] | None = None
    category: list[str] | None = None
    language: list[str] | None = None
    keywords_any: list[str] | None = None
    keywords_all: list[str] | None = None
    keywords_none: list[str] | None = None
    regex: str | None = None
    has_attachment: bool | None = None
    all_of: list[Condition] | None = Field(None, alias="all")
    any_of: list[Condition] | None = Field(None, alias="any")
    not_: Condition | None = Field(None, alias="not")


class Actions(_Strict):
    category: str | None = None
    priority: Priority | None = None
    queue: str | None = None
    tags: list[str] = Field(default_factory=list)
    template: str | None = None
    suppress_ack: bool = False


class Rule(_Strict):
    name: str
    when: Condition = Condition()
    then: Actions
    continue_: bool = Field(False, alias="continue", description="keep evaluating later rules after a match")


class RouterSettings(_Strict):
    default_category: str = "general"
    default_priority: Priority = Priority.NORMAL
    queues: list[str] = Field(default_factory=list, description="queues rules may name; categories add their own")
    categories: dict[str, Category] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    def queue_for(self, category: str) -> str:
        spec = self.categories.get(category)
        return (spec.queue if spec and spec.queue else None) or category

    def known_queues(self) -> set[str]:
        return set(self.queues) | {self.queue_for(name) for name in self.categories} | {self.default_category}

    def semantic_problems(self) -> list[tuple[str, str]]:
        """Problems a schema cannot see: unknown categories and queues named by rules."""
        problems: list[tuple[str, str]] = []
        if self.categories and self.default_category not in self.categories:
            problems.append(("router.default_category", f"unknown category {self.default_category!r}"))
        queues = self.known_queues()
        for i, rule in enumerate(self.rules):
            if rule.then.category and self.categories and rule.then.category not in self.categories:
                problems.append((f"router.rules.{i}.then.category", f"rule {rule.name!r}: unknown category"))
            if rule.then.queue and rule.then.queue not in queues:
                problems.append(
                    (f"router.rules.{i}.then.queue", f"rule {rule.name!r}: unknown queue {rule.then.queue!r}")
                )
        return problems
