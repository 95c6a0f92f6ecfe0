"""Logging for Helpline's processes, set up once by the commands that start them (`helpline serve`, `helpline run`)
rather than by each process: a process run from a test or a benchmark leaves the caller's logging as it is."""

from __future__ import annotations

import logging

from core import log_masking

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# Libraries that log every step at INFO: aiosmtpd logs each SMTP command, which would drown our own lines.
QUIETER = {"mail.log": logging.WARNING}


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    log_masking.install()  # no secret a customer sends in any log line, at any level
    for name, quieter in QUIETER.items():
        logging.getLogger(name).setLevel(quieter)
