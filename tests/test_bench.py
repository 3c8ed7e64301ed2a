"""make bench is not part of make test: what its repository part builds still passes the gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_benchmark_s_generated_clusters_pass_validate(tmp_path):
    from bench.__main__ import with_clusters

    repo = with_clusters(tmp_path / "repo", 6)
    result = subprocess.run(
        [sys.executable, "-m", "gitops", "validate"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert len([p for p in Path(repo, "clusters").iterdir() if p.is_dir()]) == 6


def test_the_abuse_part_measures_and_reports(tmp_path):
    """One light step of the abuse part: a row per step and the figure line (numbers are not checked)."""
    from bench import service

    rows = service.abuse(tmp_path, steps=(200,), log=lambda _msg: None)
    assert [row["clients"] for row in rows] == [200]
    text = "\n".join(service.abuse_table(rows))
    assert "| 200 |" in text
    assert "Most clients held while `/` still answered within 1 s" in text
