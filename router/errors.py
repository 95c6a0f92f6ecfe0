"""Errors the router raises on purpose."""

from __future__ import annotations

from core.errors import HelplineError


class RouterConfigError(HelplineError):
    """The `[router]` document cannot be compiled; `problems` holds (dotted key, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
