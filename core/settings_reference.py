"""The configuration reference in README.md, generated from the settings models so that it cannot drift.

`python -m core.settings_reference --write` rewrites the block between the README markers; a test fails when
the README's block differs from what the models say.
"""

from __future__ import annotations

import json
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

from core.settings import Settings, env_name

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- settings-reference -->", "<!-- /settings-reference -->"
_MODULE_PATH = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])")


def rows(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}" if prefix else (field.alias or name)
        annotation = field.annotation
        nested = _model_in(annotation)
        if nested is not None and typing.get_origin(annotation) not in (dict, list):
            yield from rows(nested, key + ".")
            continue
        yield key, _type_name(annotation), _default(field), env_name(key), field.description or ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = str(annotation).replace("<class '", "").replace("'>", "")
    return _MODULE_PATH.sub("", text)  # `core.twilio_settings.IvrOption` -> `IvrOption`


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, BaseModel):
        return "(table)"
    if value is None:
        return "unset"
    text = json.dumps(to_jsonable_python(value), ensure_ascii=False)
    return text if len(text) <= 48 else text[:45] + "..."


def markdown() -> str:
    lines = ["| key | type | default | environment | meaning |", "|---|---|---|---|---|"]
    for key, type_name, default, env, description in rows():
        cells = [f"`{key}`", type_name, f"`{default}`", f"`{env}`", description]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def write() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + markdown() + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(markdown())
