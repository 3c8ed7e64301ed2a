"""`gitops status`: which image runs in each environment, as a table and as JSON (--live: test_status_live.py)."""

from __future__ import annotations

import json

from tests.gitops.conftest import git, run


def test_status_table_and_json(repo, capsys):
    run(repo, "set-image", "--env", "dev", "--tag", "sha-abcdef1", "--commit")
    commit = git(repo, "rev-parse", "--short", "HEAD").strip()
    capsys.readouterr()
    assert run(repo, "status") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ENVIRONMENT", "CLUSTERS", "IMAGE", "TAG", "DIGEST", "CHANGED"]
    assert table[1].split()[:4] == ["dev", "dev", "registry.example.com/example-org/flask-app", "sha-abcdef1"]
    assert table[1].split()[5] == commit
    assert table[3].split()[1] == "prod-eu,prod-us"
    assert run(repo, "status", "--output", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["environment"] for r in rows] == ["dev", "staging", "prod"]
    assert rows[2]["digest"].startswith("sha256:")
    assert rows[0]["commit"] == commit
