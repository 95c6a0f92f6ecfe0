"""The `[router]` section of another file (`helpline route --rules NEW.toml`): a candidate to try before deploying.

It is read and validated like settings.toml itself (core.settings: schema, then `semantic_problems`), each problem
with its key and line. Environment overrides do not apply: the candidate is exactly what the file says.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from core.errors import SettingsError, SettingsProblem
from core.routing_settings import RouterSettings
from core.settings import read_toml_file, table_problems
from core.toml_lines import locate_key


def load_router_file(path: Path | str) -> RouterSettings:
    source = str(path)
    data, text = read_toml_file(path)
    if not isinstance(data.get("router"), dict):
        raise SettingsError([SettingsProblem("router", "the file has no [router] section", source)])
    try:
        settings = RouterSettings.model_validate(data["router"])
    except ValidationError as exc:
        raise SettingsError(table_problems(exc, "router", text, source)) from None
    semantic = settings.semantic_problems()
    if semantic:
        raise SettingsError([SettingsProblem(k, m, source, locate_key(text, k)) for k, m in semantic])
    return settings
