"""A hostile review's harmful changes (issue 24), each refused by the gate.

Each file in gate_attacks/ is a bash edit of a copy of this repository, written by a
reviewer trying to hurt a cluster through Argo CD past `gitops validate`; its first line
names what must refuse it (a policy id, or ARGOCD for a render Argo CD's code refuses).
Before the fix of that review every one of them passed validate with no failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops.cli import main

ATTACKS = sorted((Path(__file__).parent / "gate_attacks").glob("*.sh"))


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.stem for a in ATTACKS])
def test_the_attack_is_refused(repo, capsys, attack):
    expected = attack.read_text().splitlines()[0].removeprefix("# expect:").strip()
    subprocess.run(["bash", "-e", str(attack)], cwd=repo, check=True, capture_output=True)
    code = main(["-C", str(repo), "validate"])
    lines = capsys.readouterr().out.splitlines()[:-1]
    assert code == 1, lines
    assert any(line.split(" ", 1)[0] == expected for line in lines), lines
