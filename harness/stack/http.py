"""HTTP for the local stack: the one client (JSON over http(s) to its own listeners on 127.0.0.1) and its addresses."""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request

HTTPError = urllib.error.HTTPError


def call(
    method: str,
    url: str,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """One request; returns (status, body). Raises HTTPError for 4xx/5xx and OSError when unreachable."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url}: only http and https URLs")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - scheme checked
        return response.status, response.read()


def json_call(method: str, url: str, body: dict | None = None, **kwargs) -> dict:
    _, data = call(method, url, body, **kwargs)
    return json.loads(data or b"{}")


def answers(url: str, context: ssl.SSLContext | None = None, timeout: float = 2) -> bool:
    """True when GET ``url`` gives 200."""
    try:
        return call("GET", url, context=context, timeout=timeout)[0] == 200
    except (OSError, ValueError):
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url(host: str, port: int) -> str:
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"http://{netloc}/"
