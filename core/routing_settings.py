"""The `[router]` section of settings.toml: categories with keywords, contact tags, and ordered rules.

This module only describes and validates the document; `router/` compiles it into something fast.

Rule-level tables accept unknown keys at the schema level on purpose: `semantic_problems()` reports them with the
rule's name and a "did you mean" hint, which a bare pydantic "extra forbidden" error cannot do. `compile_router`
refuses a document that has any problem, so nothing unknown is ever silently ignored.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.envelope import Channel, Priority
from core.language import reply_language
from core.rule_implication import implies, mentions
from core.settings_base import Section


class _Open(BaseModel):
    """Unknown keys are kept (in `model_extra`) so that `semantic_problems` can name the rule they sit in."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Keywords(_Open):
    en: list[str] = Field(default_factory=list, description="matched on word boundaries, case-insensitive")
    zh: list[str] = Field(default_factory=list, description="matched as substrings, simplified and traditional")


class Category(_Open):
    description: str = ""
    label_en: str = Field("", description="the team name customers see, in English")
    label_zh: str = Field("", description="the team name customers see, in Chinese")
    keywords: Keywords = Keywords()
    priority: Priority | None = Field(None, description="defaults to router.default_priority")
    queue: str | None = Field(None, description="defaults to the category's name")
    transactional: bool = Field(
        False, description="a money category: a message about one transaction is asked for the details it lacks"
    )


class Condition(_Open):
    """All given fields must hold (an implicit AND); `all`/`any`/`not` combine nested conditions."""

    channel: list[Channel] | None = None
    recipient: list[str] | None = Field(None, description="support address, number, bot, or the chosen category")
    sender: list[str] | None = Field(None, description='exact address, "@domain", or a glob like "*@*.corp.example"')
    sender_regex: str | None = None
    contact_tags: list[str] | None = Field(None, description="any of these tags is on the contact")
    language: list[str] | None = None
    category: list[str] | None = Field(None, description="the category decided so far")
    keywords_any: list[str] | None = None
    keywords_all: list[str] | None = None
    keywords_none: list[str] | None = None
    regex: str | None = Field(None, description="searched in the normalised subject and text, case-insensitive")
    has_attachment: bool | None = None
    new_conversation: bool | None = Field(None, description="true: first message of a conversation; false: follow-up")
    business_hours: bool | None = Field(None, description="true: within business hours; false: outside them")
    all_of: list[Condition] | None = Field(None, alias="all")
    any_of: list[Condition] | None = Field(None, alias="any")
    not_: Condition | None = Field(None, alias="not")

    def is_empty(self) -> bool:
        return not any(getattr(self, name) is not None for name in type(self).model_fields)

    def signature(self) -> str:
        """A canonical form: two conditions with the same signature hold for exactly the same messages."""
        return self.model_dump_json(exclude_none=True, by_alias=True)


class Actions(_Open):
    category: str | None = None
    priority: Priority | None = None
    queue: str | None = None
    tags: list[str] = Field(
        default_factory=list,
        description="added to the decision and to the contact's tags (so later messages from the contact match "
        "`contact_tags`)",
    )
    template: str | None = None
    suppress_ack: bool = False


class Rule(_Open):
    name: str
    when: Condition = Condition()
    then: Actions = Actions()
    continue_: bool = Field(False, alias="continue", description="keep evaluating later rules after a match")


class ContactTagRule(_Open):
    """Tags given to every contact whose sender matches, e.g. `vip` for a list of addresses or a domain."""

    tag: str
    sender: list[str] = Field(default_factory=list, description='exact address, "@domain", or a glob')
    sender_regex: str | None = None


class TriageSettings(Section):
    """The learned model that proposes a category (router/text_model.py), under the ordered rules."""

    enabled: bool = Field(True, description="propose the category with the learned model; false: keyword scores only")
    min_confidence: float = Field(
        0.35, ge=0, le=1, description="below it the keyword result (or the default category) stands, flagged for review"
    )
    keyword_weight: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of the keyword scores blended with the model's probabilities (0: model only)",
    )
    correction_weight: float = Field(5.0, gt=0, description="training weight of an agent's category correction")
    confirmed_weight: float = Field(
        0.5, ge=0, description="training weight of a case resolved without correction (0: not used)"
    )
    reload_seconds: float = Field(5.0, gt=0, description="how often a worker checks the store for a new model version")


class RouterSettings(Section):
    triage: TriageSettings = Field(default_factory=TriageSettings, description="the learned category model")
    default_category: str = Field("general", description="the category when no keyword matches")
    default_priority: Priority = Field(Priority.NORMAL, description="the priority of a category that sets none")
    queues: list[str] = Field(default_factory=list, description="queues rules may name; categories add their own")
    categories: dict[str, Category] = Field(
        default_factory=dict, description="the taxonomy, in tie-break order; see README Routing"
    )
    contact_tags: list[ContactTagRule] = Field(
        default_factory=list, description="tags given to contacts by sender (tag, sender, sender_regex)"
    )
    rules: list[Rule] = Field(default_factory=list, description="ordered routing rules (name, when, then, continue)")

    def label(self, category: str, language: str) -> str:
        """The team name a customer is shown for `category`, in their reply language; the category's own name
        (underscores as spaces) when no label is set. The one place this choice is made."""
        spec = self.categories.get(category)
        label = (spec.label_zh if reply_language(language) == "zh" else spec.label_en) if spec else ""
        return label or category.replace("_", " ")

    def transactional_categories(self) -> frozenset[str]:
        """The categories marked `transactional` (router/details.py asks their messages for missing details)."""
        return frozenset(name for name, spec in self.categories.items() if spec.transactional)

    def queue_for(self, category: str) -> str:
        spec = self.categories.get(category)
        return (spec.queue if spec and spec.queue else None) or category

    def known_queues(self) -> set[str]:
        return set(self.queues) | {self.queue_for(name) for name in self.categories} | {self.default_category}

    def semantic_problems(self, templates_dir: Path | None = None) -> list[tuple[str, str]]:
        """Problems a schema cannot see, as (dotted key, message) pairs that name the rule.

        Unknown keys, bad regular expressions, unknown categories, queues and templates (looked for in
        `templates_dir`, by default the project's templates/ folder), and rules that can never match because an
        earlier rule always wins first (see `_unreachable`).
        """
        problems: list[tuple[str, str]] = []
        if self.categories and self.default_category not in self.categories:
            problems.append(("router.default_category", f"unknown category {self.default_category!r}"))
        for name, category in self.categories.items():
            key = f"router.categories.{name}"
            problems += _unknown_keys(category, key, f"category {name!r}")
            problems += _unknown_keys(category.keywords, f"{key}.keywords", f"category {name!r}")
        for i, tagger in enumerate(self.contact_tags):
            key = f"router.contact_tags.{i}"
            problems += _unknown_keys(tagger, key, f"contact tag {tagger.tag!r}")
            problems += _regex_problem(tagger.sender_regex, f"{key}.sender_regex", f"contact tag {tagger.tag!r}")
        queues = self.known_queues()
        unreachable = _unreachable(self.rules)
        for i, rule in enumerate(self.rules):
            key, who = f"router.rules.{i}", f"rule {rule.name!r}"
            problems += _unknown_keys(rule, key, who)
            problems += _unknown_keys(rule.then, f"{key}.then", who)
            problems += _condition_problems(rule.when, f"{key}.when", who, self)
            if rule.then.category and self.categories and rule.then.category not in self.categories:
                problems.append((f"{key}.then.category", f"{who}: unknown category {rule.then.category!r}"))
            if rule.then.queue and rule.then.queue not in queues:
                problems.append(
                    (f"{key}.then.queue", f"{who}: unknown queue {rule.then.queue!r}; known: {sorted(queues)}")
                )
            if rule.then.template is not None:
                problems += _template_problem(rule.then.template, f"{key}.then.template", who, templates_dir)
            if i in unreachable:
                problems.append((key, f"{who} is unreachable: {unreachable[i]}"))
        names = [rule.name for rule in self.rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append((f"router.rules.{i}.name", f"rule name {name!r} is used by an earlier rule too"))
        return problems


def _unreachable(rules: list[Rule]) -> dict[int, str]:
    """Rule index -> why it can never match: an earlier rule without `continue` always matches first.

    The earlier rule shadows it when its conditions hold for every message the rule's hold for
    (`core.rule_implication.implies`, sound: a rule that can still match is never reported). `category` and
    `contact_tags` are what rules change as they run: when a `continue` rule in between sets a category or adds tags,
    conditions on them are not compared, since the earlier rule saw them before the change.
    """
    signatures = [rule.when.signature() for rule in rules]
    empty = [rule.when.is_empty() for rule in rules]
    on_category = [mentions(rule.when, "category") for rule in rules]
    on_tags = [mentions(rule.when, "contact_tags") for rule in rules]
    # How many `continue` rules before position k set a category / add tags (prefix sums: O(1) per pair).
    sets_category, adds_tags = [0], [0]
    for rule in rules:
        sets_category.append(sets_category[-1] + (rule.continue_ and rule.then.category is not None))
        adds_tags.append(adds_tags[-1] + (rule.continue_ and bool(rule.then.tags)))
    found: dict[int, str] = {}
    stoppers: list[int] = []
    for i, rule in enumerate(rules):
        for j in stoppers:
            earlier = rules[j].name
            if empty[j]:
                found[i] = f"earlier rule {earlier!r} has no conditions"
                break
            if sets_category[i] > sets_category[j + 1] and (on_category[i] or on_category[j]):
                continue
            if adds_tags[i] > adds_tags[j + 1] and (on_tags[i] or on_tags[j]):
                continue
            if signatures[i] == signatures[j]:
                found[i] = f"earlier rule {earlier!r} has the same conditions"
                break
            if implies(rule.when, rules[j].when):
                found[i] = f"earlier rule {earlier!r} matches every message it matches"
                break
        if not rule.continue_:
            stoppers.append(i)
    return found


def router_table_problems(table: object) -> list[tuple[str, str]]:
    """The semantic problems of a `[router]` table validated on its own; none when it does not validate.

    For `load_settings` when another section fails the schema: the router's problems are still reported. The table
    is the file's, without environment overrides (those apply only once the whole document validates).
    """
    try:
        return RouterSettings.model_validate(table).semantic_problems()
    except ValidationError:
        return []


# The reply templates of the project (templates/<purpose>/<channel>.<lang>.j2). core imports nothing of ours, so the
# folder is found beside this package rather than through the `templates` package.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_LANGUAGES = ("en", "zh")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]*", re.IGNORECASE)


def _template_problem(name: str, key: str, who: str, templates_dir: Path | None) -> list[tuple[str, str]]:
    """A rule's template must render for every channel and language: `<name>/default.en.j2` and `.zh.j2` exist."""
    folder = templates_dir or TEMPLATES_DIR
    if not _TEMPLATE_NAME.fullmatch(name):
        return [(key, f"{who}: bad template name {name!r}; use letters, digits, '_' and '-'")]
    missing = [
        f"{name}/default.{lang}.j2"
        for lang in TEMPLATE_LANGUAGES
        if not (folder / name / f"default.{lang}.j2").is_file()
    ]
    if not missing:
        return []
    usable = (
        sorted(
            p.name for p in folder.iterdir() if all((p / f"default.{lang}.j2").is_file() for lang in TEMPLATE_LANGUAGES)
        )
        if folder.is_dir()
        else []
    )
    return [(key, f"{who}: unknown template {name!r}: {', '.join(missing)} not found in {folder}; known: {usable}")]


def _unknown_keys(model: BaseModel, key: str, who: str) -> list[tuple[str, str]]:
    extra: dict[str, Any] = model.model_extra or {}
    if not extra:
        return []
    known = [field.alias or name for name, field in type(model).model_fields.items()]
    problems = []
    for field in extra:
        hint = difflib.get_close_matches(field, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {sorted(known)}"
        problems.append((f"{key}.{field}", f"{who}: unknown field {field!r}{suggestion}"))
    return problems


def _regex_problem(pattern: str | None, key: str, who: str) -> list[tuple[str, str]]:
    if pattern is None:
        return []
    try:
        re.compile(pattern)
    except re.error as exc:
        return [(key, f"{who}: bad regular expression {pattern!r}: {exc}")]
    return []


def _condition_problems(condition: Condition, key: str, who: str, settings: RouterSettings) -> list[tuple[str, str]]:
    problems = _unknown_keys(condition, key, who)
    problems += _regex_problem(condition.regex, f"{key}.regex", who)
    problems += _regex_problem(condition.sender_regex, f"{key}.sender_regex", who)
    if condition.category and settings.categories:
        for name in condition.category:
            if name not in settings.categories:
                problems.append((f"{key}.category", f"{who}: unknown category {name!r}"))
    for field in ("keywords_any", "keywords_all", "keywords_none"):
        words = getattr(condition, field)
        if words is not None and not [w for w in words if w.strip()]:
            problems.append((f"{key}.{field}", f"{who}: an empty keyword list never matches; remove it"))
    for alias, children in (("all", condition.all_of), ("any", condition.any_of)):
        for j, child in enumerate(children or []):
            problems += _condition_problems(child, f"{key}.{alias}.{j}", who, settings)
    if condition.not_ is not None:
        problems += _condition_problems(condition.not_, f"{key}.not", who, settings)
    return problems
