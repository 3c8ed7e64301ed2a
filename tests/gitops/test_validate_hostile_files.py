"""validate on a file that broke it: a lone ']' crashes yamllint itself."""

from __future__ import annotations

import subprocess
import sys


def validate(repo, *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(repo), "validate", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_file_yamllint_crashes_on_is_a_finding(repo):
    bad = repo / "clusters" / "dev" / "extra.yaml"
    bad.write_text("]\n")
    result = validate(repo, str(repo / "clusters" / "dev"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert "clusters/dev/extra.yaml" in result.stdout
