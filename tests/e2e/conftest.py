"""One control plane for the whole e2e session, always stopped and cleaned up."""

from __future__ import annotations

import pytest

from tests.e2e.cluster import ControlPlane

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def cluster():
    plane = ControlPlane.start()
    TIMINGS["control plane start to ready (s)"] = plane.ready_seconds
    try:
        yield plane
    finally:
        plane.stop()


def pytest_terminal_summary(terminalreporter):
    for name, value in TIMINGS.items():
        terminalreporter.write_line(f"e2e: {name}: {value:.1f}")
