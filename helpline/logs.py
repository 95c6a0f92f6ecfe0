"""Logging for Helpline's processes, set up once by the commands that start them (`helpline serve`, `helpline run`)
rather than by each process: a process run from a test or a benchmark leaves the caller's logging as it is.

Two levels (`[logging]`): `level` for Helpline's own loggers, `libraries` for everything else. Libraries log every
step at INFO (three rq lines per job, eleven twilio.http_client lines per SMS, every SMTP command and HTTP request),
which drowns what an operator needs, so by default they speak only at WARNING; `--verbose` lets them through.
"""

from __future__ import annotations

import logging
import os

from core import log_masking
from core.settings import LoggingSettings, env_name

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# The top-level names of Helpline's own loggers: `getLogger(__name__)` in each package, and "helpline.*".
OURS = ("helpline", "core", "ingest", "router", "channels", "templates", "workers", "web")


def verbose(settings: LoggingSettings) -> None:
    """Libraries log at Helpline's own level, in this process and in every process it starts (through the
    environment override, which children read with their settings)."""
    settings.libraries = settings.level
    os.environ[env_name("logging.libraries")] = settings.level


def configure_logging(settings: LoggingSettings) -> None:
    logging.basicConfig(format=FORMAT)
    log_masking.install()  # no secret a customer sends in any log line, at any level
    # The root level is what every library logger without a level of its own inherits.
    logging.getLogger().setLevel(settings.libraries)
    for name in OURS:
        logging.getLogger(name).setLevel(settings.level)
    # rq sets this logger to INFO when it is imported unless it already has a level (and its scheduler copies it).
    logging.getLogger("rq.worker").setLevel(settings.libraries)
