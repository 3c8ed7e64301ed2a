"""JSON logs on stdout: one object per line, for the app, its requests and gunicorn."""

from __future__ import annotations

import json
import logging
import math
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


# The access log's fields, in the order they are written.
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms", "request_id", "remote_addr", "user_agent")
_quote = json.encoder.encode_basestring_ascii  # json's own C string encoder (ensure_ascii, as _encode)


class AccessLog:
    """The access log's line for one request: the line JsonFormatter writes, at a fifth of the cost.

    On the usual setup (``configure``: one stdout handler with JsonFormatter, no
    filters) the line is built and written here, without a LogRecord or a dict: the
    fields have fixed names and types, so only their values are encoded, each string
    by json's own encoder. Any other setup of the ``flask_app.access`` logger (other
    handlers, filters, a test's capture) gets an ordinary ``logger.info`` call, so the
    logging configuration still rules.
    """

    def __init__(self, name: str = "flask_app.access") -> None:
        self.logger = logging.getLogger(name)
        self._head = '","level":"info","logger":' + _quote(name) + ',"message":"request","method":'

    def line(
        self, created: float, method, path, route, status, duration_ms, request_id, remote_addr, user_agent
    ) -> str:
        """The JSON line for one request, as JsonFormatter would format it (created: a time.time())."""
        if type(status) is not int or type(duration_ms) is not float:
            raise TypeError("status must be an int and duration_ms a float")
        addr = "null" if remote_addr is None else _quote(remote_addr)
        duration = repr(duration_ms) if math.isfinite(duration_ms) else _encode(duration_ms)  # NaN, Infinity as json
        return (
            f'{{"time":"{_utc(created)}{self._head}{_quote(method)},"path":{_quote(path)},"route":{_quote(route)},'
            f'"status":{status},"duration_ms":{duration},"request_id":{_quote(request_id)},'
            f'"remote_addr":{addr},"user_agent":{_quote(user_agent)}}}\n'
        )

    def __call__(self, *values) -> None:
        """Log one request: the values of ACCESS_FIELDS, in order."""
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
            self._log(values)
            return
        try:
            line = self.line(time.time(), *values)
        except TypeError:  # a value of another type (a test's environ): JsonFormatter's own encoding
            self._log(values)
            return
        with handler.lock:
            try:
                handler.stream.write(line)
                handler.stream.flush()
            except Exception:  # a closed or broken stdout: reported the way logging reports it
                handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, "request", (), None))

    def _log(self, values: tuple) -> None:
        if len(values) != len(ACCESS_FIELDS):
            fields = ", ".join(ACCESS_FIELDS)
            raise TypeError(f"AccessLog takes {len(ACCESS_FIELDS)} values ({fields}), got {len(values)}")
        self.logger.info("request", extra=dict(zip(ACCESS_FIELDS, values, strict=True)))


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
