"""No secret in a log line: a log record factory that masks each record's message (core.sensitive), and its
traceback, as the record is made, whichever logger made it (ours, RQ, aiosmtpd, uvicorn, a library at DEBUG).

`install()` is called once by `helpline.logs.configure_logging`, for the processes Helpline starts. A record's
arguments are formatted into its message at once (what any handler does anyway), and a message with a secret
replaces them. The cost is one `mask_sensitive` of each line logged, which finds nothing to do in nearly all of them.
"""

from __future__ import annotations

import logging
from typing import Any

from core.sensitive import mask_sensitive

_MARK = "_helpline_masks_secrets"


def install() -> None:
    """Mask every log record made from now on; a second call changes nothing."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        mask_record(record)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)


def mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted, as it always does
        return
    masked = mask_sensitive(message)
    if masked.found:
        record.msg, record.args = masked.text, ()
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters use `exc_text` when it is set: the traceback is formatted here, once, and masked.
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = mask_sensitive(text).text
