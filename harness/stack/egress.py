"""The API servers' way into their clusters: an HTTP CONNECT proxy on a Unix socket.

An API server reaches what runs *in* its cluster (an aggregated API such as Metrics Server,
and the kubelets for logs and exec) through its egress selector (``--egress-selector-config-file``,
selection ``cluster``): it sends ``CONNECT address:port`` to this proxy, which connects and
then only copies bytes. Clouds do the same with konnectivity when the control plane sits on
another network than the nodes; here it does, because the pods live in the real node's
network namespace, or nowhere (kwok's).

Each socket has one rule:

- ``direct:CIDR,...``: connect to the asked address when it lies in one of the CIDRs (inside
  the real node's namespace: its Service range, pod range and node address);
- ``to:HOST:PORT``: every CONNECT to port 443 goes to HOST:PORT (beside a kwok cluster,
  whose pods are not real, the one aggregated API it serves runs as a process there).

Anything else is answered ``403`` and closed: the proxy opens nothing it was not set up for.

    python -m harness.stack.egress SOCKET=RULE [SOCKET=RULE ...]
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
from pathlib import Path

HEAD_LIMIT = 8192
HEAD_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0


class Rule:
    def __init__(self, text: str):
        kind, _, value = text.partition(":")
        if kind == "direct" and value:
            self.networks = [ipaddress.ip_network(cidr) for cidr in value.split(",")]
            self.fixed = None
        elif kind == "to" and value.count(":") == 1:
            host, port = value.split(":")
            self.networks, self.fixed = [], (host, int(port))
        else:
            raise ValueError(f"{text!r}: a rule is direct:CIDR[,CIDR...] or to:HOST:PORT")

    def target(self, authority: str) -> tuple[str, int] | None:
        """Where a CONNECT to ``authority`` goes, or None when the rule refuses it."""
        host, _, port = authority.rpartition(":")
        host = host.strip("[]")
        try:
            address, number = ipaddress.ip_address(host), int(port)
        except ValueError:
            return None
        if not 0 < number < 65536:
            return None
        if self.fixed:
            return self.fixed if number == 443 else None
        return (str(address), number) if any(address in network for network in self.networks) else None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(rule: Rule, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        writer.close()
        return
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    target = rule.target(parts[1]) if len(parts) == 3 and parts[0] == "CONNECT" else None
    if target is None:
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        writer.close()
        return
    try:
        upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(*target), CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        print(f"egress: {parts[1]} -> {target[0]}:{target[1]}: {error}", file=sys.stderr, flush=True)
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        writer.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def serve(listeners: list[tuple[Path, Rule]]) -> None:
    servers = []
    for path, rule in listeners:
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(
            lambda r, w, rule=rule: handle(rule, r, w), path=str(path), limit=HEAD_LIMIT
        )
        os.chmod(path, 0o600)
        servers.append(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    listeners = []
    for argument in sys.argv[1:] if argv is None else argv:
        path, _, text = argument.partition("=")
        try:
            listeners.append((Path(path), Rule(text)))
        except ValueError as error:
            print(f"egress: {error}", file=sys.stderr)
            return 2
    if not listeners:
        print("usage: python -m harness.stack.egress SOCKET=RULE [SOCKET=RULE ...]", file=sys.stderr)
        return 2
    asyncio.run(serve(listeners))
    return 0


if __name__ == "__main__":
    sys.exit(main())
