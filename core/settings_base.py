"""The base of every settings table: an unknown key is an error, never silently ignored (a typo in settings.toml
would otherwise leave a default in force). Fields with an alias (`continue`, `all`) accept either name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
