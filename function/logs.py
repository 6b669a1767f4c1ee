"""Structured logs: one JSON object per line on stderr.

The function logs one line per request and one per pod change, with named
fields (never the payload itself, never a credential), so logs can be
queried rather than grepped.
"""

import json
import logging
import sys
import time

LOGGER_NAME = "cpu-alert-labeler"


class JsonFormatter(logging.Formatter):
    """Message as `event`, the record's `fields` dict merged in."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (it is replaced under test capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure(level: str) -> logging.Logger:
    """The function's logger, writing JSON lines at `level`; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def event(logger: logging.Logger, name: str, severity: int = logging.INFO, **fields) -> None:
    """Log `name` at `severity` with structured fields."""
    if logger.isEnabledFor(severity):
        logger.log(severity, name, extra={"fields": fields})
