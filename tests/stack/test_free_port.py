"""free_port: ports for servers, below the ephemeral range, never the same one twice."""

from __future__ import annotations

from harness.stack import procs


def test_ports_are_below_the_ephemeral_range_and_never_handed_out_twice(monkeypatch):
    monkeypatch.setattr(procs, "_HANDED_OUT", set())
    monkeypatch.setattr(procs, "_ephemeral_start", lambda: 10050)  # 50 ports to choose from
    ports = [procs.free_port() for _ in range(40)]
    assert len(set(ports)) == 40
    assert all(10000 <= p < 10050 for p in ports)
