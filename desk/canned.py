"""Canned replies: answers agents send often, written once per language and filled in with the case.

They are Jinja2 files shipped with the package, `templates/canned/<name>.<language>.j2` (en and zh), beside the
acknowledgement and survey templates and rendered by the same `templates.render` (StrictUndefined: a missing
variable fails the render, never leaves a blank in a customer's reply). A file's first line is a Jinja comment,
`{#- the title agents pick it by -#}`, which rendering drops. Files rather than a table: they are reviewed, translated
and versioned like the other customer-facing texts, and the shipped ones are tested to render in every language.

A canned reply is rendered in the language an answer to the case would go out in (the customer's latest message,
`core.language.reply_language`), with: `name` (the customer's), `reference` (`HL-…`), `subject`, `details` (found
in the case: account, transaction_time, amount, reference), `missing` (labels of what the case still lacks, in that
language), `team`, `agent` (the answering agent's name, or empty) and `signature`. Sending it is an ordinary answer
(desk/cases.py `answer`), whose audit entry names the canned reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.ids import conversation_reference
from core.language import reply_language
from core.subjects import bare_subject
from desk.cases import Answered, answer, latest_message
from desk.context import HasDesk
from desk.details import case_details
from router.details import labels
from templates import LANGUAGES, TEMPLATE_DIR, render

CANNED = "canned"  # the templates' folder, and their "purpose" for `templates.render`
_FILE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)\.(?P<language>[a-z]{2})\.j2$")
_TITLE = re.compile(r"^\{#-?\s*(?P<title>.*?)\s*-?#\}")


class CannedNotFound(LookupError):
    """No canned reply of that name (or none in the language the case needs)."""


@dataclass(frozen=True)
class Canned:
    name: str
    titles: dict[str, str]  # language -> title

    @property
    def languages(self) -> list[str]:
        return sorted(self.titles)


@dataclass(frozen=True)
class RenderedCanned:
    name: str
    language: str
    text: str


def canned_replies(folder: Path = TEMPLATE_DIR / CANNED) -> list[Canned]:
    """Every canned reply, by name."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.j2")):
        match = _FILE.match(path.name)
        if match is None or match["language"] not in LANGUAGES:
            continue
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        title = _TITLE.match(first)
        found.setdefault(match["name"], {})[match["language"]] = title["title"] if title else match["name"]
    return [Canned(name, titles) for name, titles in sorted(found.items())]


def canned_reply(name: str) -> Canned:
    for canned in canned_replies():
        if canned.name == name:
            return canned
    known = ", ".join(c.name for c in canned_replies()) or "none"
    raise CannedNotFound(f"no canned reply {name!r}; the canned replies are: {known}")


def render_canned(ctx: HasDesk, case_id: str, name: str, *, agent_name: str = "") -> RenderedCanned:
    """Canned reply `name` for the case, in the language its answer goes out in."""
    canned = canned_reply(name)
    message = latest_message(ctx, case_id)
    envelope = message.envelope
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    if language not in canned.titles:
        raise CannedNotFound(f"canned reply {name!r} has no {language} version (it has {', '.join(canned.languages)})")
    found, missing = case_details(ctx, case_id)
    category = message.decision.category if message.decision else ""
    rendered = render(CANNED, name, language, {
        "name": envelope.sender.name or "", "reference": conversation_reference(case_id),
        "subject": bare_subject(envelope.subject), "details": found, "missing": labels(missing, language),
        "team": ctx.settings.router.label(category, language) if category else "", "agent": agent_name,
        "signature": ctx.settings.email.outbound.sender_name,
    })  # fmt: skip
    return RenderedCanned(name, language, rendered.text)


def answer_canned(
    ctx: HasDesk, case_id: str, name: str, agent: str, *, agent_name: str = "", seen: int | None = None
) -> Answered:
    """Send canned reply `name` as the agent's answer to the case (desk/cases.py `answer`)."""
    rendered = render_canned(ctx, case_id, name, agent_name=agent_name)
    return answer(ctx, case_id, rendered.text, agent, seen=seen, canned=name)
