"""Reply templates: `<purpose>/<channel>.<language>.j2`, falling back to `<purpose>/default.<language>.j2`.

A template's first line may be `Subject: …`; it becomes the email subject and is dropped from the body.
StrictUndefined turns a missing variable into an error at render time instead of a blank in a customer's reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

TEMPLATE_DIR = Path(__file__).parent
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text replies; HTML is never rendered from these
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(purpose: str, channel: str, language: str, context: dict[str, Any]) -> Rendered:
    language = language if language in LANGUAGES else "en"
    env = _environment()
    for name in (f"{purpose}/{channel}.{language}.j2", f"{purpose}/default.{language}.j2"):
        try:
            template = env.get_template(name)
        except TemplateNotFound:
            continue
        return _split_subject(template.render(**context))
    raise TemplateNotFound(f"{purpose}/{channel}.{language}.j2")


def _split_subject(text: str) -> Rendered:
    first, _, rest = text.partition("\n")
    if first.startswith("Subject:"):
        return Rendered(first.removeprefix("Subject:").strip(), rest.strip())
    return Rendered("", text.strip())
