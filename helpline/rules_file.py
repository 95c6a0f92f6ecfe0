"""The `[router]` section of another file (`helpline route --rules NEW.toml`): a candidate to try before deploying.

It is validated like settings.toml itself (schema, then `semantic_problems`), each problem with its key and line.
Environment overrides do not apply: the candidate is exactly what the file says.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from core.errors import SettingsError, SettingsProblem
from core.routing_settings import RouterSettings
from core.toml_lines import locate_key


def load_router_file(path: Path | str) -> RouterSettings:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([SettingsProblem("-", f"cannot read: {exc}", source)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([SettingsProblem("-", f"not valid TOML: {exc}", source)]) from None
    if not isinstance(data.get("router"), dict):
        raise SettingsError([SettingsProblem("router", "the file has no [router] section", source)])
    try:
        settings = RouterSettings.model_validate(data["router"])
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(["router", *(str(part) for part in err["loc"])])
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(SettingsProblem(key, message, source, locate_key(text, key)))
        raise SettingsError(problems) from None
    semantic = settings.semantic_problems()
    if semantic:
        raise SettingsError([SettingsProblem(k, m, source, locate_key(text, k)) for k, m in semantic])
    return settings
