"""WARMUP_SECONDS: /readyz says "warming up" until that long after start, then ready."""

from __future__ import annotations

import time

from flask_app import create_app


def test_readyz_waits_for_the_warmup_then_passes():
    client = create_app({"WARMUP_SECONDS": 1}).test_client()
    first = client.get("/readyz")
    assert first.status_code == 503
    assert b"warming up" in first.data
    time.sleep(1.1)
    assert client.get("/readyz").status_code == 200


def test_no_warmup_by_default():
    client = create_app().test_client()
    assert client.get("/readyz").status_code == 200
