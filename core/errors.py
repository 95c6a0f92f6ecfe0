"""Helpline's error tree, drawn once here.

HelplineError
├── SettingsError          settings.toml or the environment is invalid (carries every problem)
├── StoreUnavailable       Redis cannot be reached: ingest answers 451/503 so the sender retries
├── ParseError             a payload cannot be turned into an envelope (it is dead-lettered, raw)
└── SendError              a reply could not be sent
    ├── TransientSendError retry later (rate limit, 4xx SMTP, 5xx HTTP, network); may carry retry_after
    └── PermanentSendError never retry (bad address, blocked bot, opted out); recorded on the message
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass


class HelplineError(Exception):
    """Base of every error Helpline raises on purpose."""


@dataclass(frozen=True)
class SettingsProblem:
    """One problem in a settings file: where it is and what was expected."""

    key: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or "settings"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.key}: {self.message}"


class SettingsError(HelplineError):
    def __init__(self, problems: list[SettingsProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreUnavailable(HelplineError):
    """The durable store could not take the write; nothing was acknowledged."""


class ParseError(HelplineError):
    """A raw payload could not be turned into an envelope."""


class SendError(HelplineError):
    pass


class TransientSendError(SendError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    pass


def unexpected_reason(exc: BaseException) -> str:
    """What to record of an error nobody foresaw (a dead letter's reason, a log line): its type and the place it was
    raised, never its message, which may quote the payload, and with it a customer's secret."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" in {frames[-1].name} ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"unexpected {type(exc).__name__}{where}"
