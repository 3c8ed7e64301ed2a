"""JSON logs on stdout: one object per line, for the app, its requests and gunicorn."""

from __future__ import annotations

import json
import logging
import sys
import time

# Attributes every LogRecord has; anything else passed through `extra=` is emitted.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text (one object: no torn reads)


def _utc(created: float) -> str:
    global _second
    second = int(created)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int(created % 1 * 1000):03d}Z"


class AccessLog:
    """The access log's line for one request: the line JsonFormatter writes, at a third of the cost.

    On the usual setup (``configure``: one stdout handler with JsonFormatter, no
    filters) the line is built and written here, without a LogRecord. Any other setup
    of the ``flask_app.access`` logger (other handlers, filters, a test's capture) gets
    an ordinary ``logger.info`` call, so the logging configuration still rules.
    """

    def __init__(self, name: str = "flask_app.access") -> None:
        self.logger = logging.getLogger(name)

    def __call__(self, fields: dict[str, object]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handlers = logger.handlers
        handler = handlers[0] if len(handlers) == 1 else None
        if (
            handler is None
            or type(handler) is not logging.StreamHandler
            or type(handler.formatter) is not JsonFormatter
            or logger.filters
            or handler.filters
            or handler.level > logging.INFO
        ):
            logger.info("request", extra=fields)
            return
        head = {"time": _utc(time.time()), "level": "info", "logger": logger.name, "message": "request"}
        line = _encode(head | fields) + "\n"
        with handler.lock:
            try:
                handler.stream.write(line)
                handler.stream.flush()
            except Exception:  # a closed or broken stdout: reported the way logging reports it
                handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None))


def configure(level: str) -> None:
    """Send the app's loggers to stdout as JSON (idempotent)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("flask_app", "flask_app.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def gunicorn_logconfig(level: str) -> dict[str, object]:
    """A logging dictConfig that makes gunicorn's own logs JSON lines too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "flask_app.jsonlog.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
