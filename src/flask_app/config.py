"""Settings from environment variables, with safe defaults.

Every setting the service reads is listed here, so the Deployment, the Dockerfile
and `make run` all agree on the names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024  # 1 MiB: the service takes no uploads


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={raw!r} must not be negative")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"environment variable {name}={raw!r} is not a boolean")


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def from_env(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Build the Flask config mapping from the environment."""
    env = os.environ if env is None else env
    return {
        # Debug is never read from the environment: the image cannot turn it on.
        "DEBUG": False,
        "TESTING": False,
        "SERVICE_NAME": env.get("APP_NAME", "flask-app"),
        "ENVIRONMENT": env.get("APP_ENV", "local"),
        "VERSION": env.get("APP_VERSION", "0.0.0-dev"),
        "GIT_SHA": env.get("GIT_SHA", "unknown"),
        "BUILD_DATE": env.get("BUILD_DATE", "unknown"),
        "IMAGE_TAG": env.get("IMAGE_TAG", "unknown"),
        "POD_NAME": env.get("POD_NAME", ""),
        "POD_NAMESPACE": env.get("POD_NAMESPACE", ""),
        "NODE_NAME": env.get("NODE_NAME", ""),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # Probe and scrape requests are counted in metrics but not logged, unless asked.
        "LOG_PROBES": _bool(env, "LOG_PROBES", False),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
        # "host:port" pairs that must accept a TCP connection for /readyz to pass.
        "READINESS_TCP_CHECKS": _list(env, "READINESS_TCP_CHECKS"),
        "READINESS_CHECK_TIMEOUT": _int(env, "READINESS_CHECK_TIMEOUT_MS", 200) / 1000,
        # Seconds after start during which /readyz says "warming up" (caches to fill, say).
        "WARMUP_SECONDS": _int(env, "WARMUP_SECONDS", 0),
        # Path of a file whose existence means "this process is draining" (set by gunicorn).
        "DRAIN_FILE": env.get("DRAIN_FILE", ""),
        # gunicorn marks each worker ready after it has booted; elsewhere, ready at once.
        "DEFER_READY": False,
    }
