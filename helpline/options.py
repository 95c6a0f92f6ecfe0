"""What every `helpline` command shares: the `--settings` option, loading settings or exiting, and turning an
unavailable store (or another expected error) into one `error: …` line and an exit code instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from core.errors import SettingsError, StoreUnavailable
from core.settings import Settings, load_settings

SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings", "-s", help="settings file (default: $HELPLINE_SETTINGS, else ./settings.toml, else the built-in)"
    ),
]


def settings_or_exit(path: Path | None) -> Settings:
    """Load settings, or print every problem with its file and line and exit 2."""
    try:
        return load_settings(path)
    except SettingsError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def store_errors_exit(*also: type[Exception]) -> Iterator[None]:
    """`StoreUnavailable`, or any of `also` (a missing message, say), becomes `error: …` on stderr and exit 1."""
    kinds: tuple[type[Exception], ...] = (StoreUnavailable, *also)
    try:
        yield
    except kinds as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
