"""Idle and slow clients held against one address, for a bounded time: what a pod's ports face.

    python -m harness.testing.abuser --host 10.244.0.5 --idle 2100:5000 --slow 64:5001 --seconds 25

Run inside the node's network (``nsenter --net``: a pod's address is reachable only there).
``--idle N:PORT`` holds N connections that send nothing; ``--slow N:PORT`` holds N that send
a request head one header line every half second and never finish it. Each connection the
server closes is opened again at once, so the pressure stays for ``--seconds``. At the end
it prints one JSON line: how many connections of each kind the server closed, and how many
could not be opened. Everything it opened is closed when it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import socket
import time


def _pair(value: str) -> tuple[int, int]:
    count, _, port = value.partition(":")
    return int(count), int(port)


def _connect(host: str, port: int, first: bytes) -> socket.socket | None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
        if first:
            sock.sendall(first)
        sock.setblocking(False)
        return sock
    except OSError:
        return None


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (a non-blocking one: EOF or reset waiting to be read)."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.abuser")
    parser.add_argument("--host", required=True)
    parser.add_argument("--idle", type=_pair, default=(0, 0), metavar="N:PORT")
    parser.add_argument("--slow", type=_pair, default=(0, 0), metavar="N:PORT")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 120 or args.idle[0] + args.slow[0] > 10_000:
        parser.error("at most 120 s and 10,000 connections")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle[0] + args.slow[0] + 256)), hard))
    head = b"GET / HTTP/1.1\r\nHost: abuser\r\n"
    kinds = {"idle": (*args.idle, b""), "slow": (*args.slow, head)}
    socks: dict[str, list[socket.socket | None]] = {
        kind: [_connect(args.host, port, first) for _ in range(count)] for kind, (count, port, first) in kinds.items()
    }
    dropped = dict.fromkeys(kinds, 0)
    failed = {kind: sum(s is None for s in held) for kind, held in socks.items()}
    deadline, line = time.monotonic() + args.seconds, 0
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            line += 1
            for kind, held in socks.items():
                _, port, first = kinds[kind]
                for i, sock in enumerate(held):
                    if sock is not None and not closed(sock):
                        if kind == "slow":
                            with contextlib.suppress(OSError):
                                sock.sendall(b"X-Slow-%d: y\r\n" % line)
                        continue
                    if sock is not None:
                        dropped[kind] += 1
                        sock.close()
                    held[i] = _connect(args.host, port, first)
                    failed[kind] += held[i] is None
    finally:
        for held in socks.values():
            for sock in held:
                if sock is not None:
                    sock.close()
    print(json.dumps({"closed_by_server": dropped, "not_opened": failed}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
