"""Every entry point the project installs works with what `make run` installs, and nothing more.

`make run` installs the requirement files of its recipe and the project (which installs
the `gitops` command). The test reads those files from the Makefile, hides every other
installed distribution from a fresh interpreter, and runs each entry point there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gitops.toolchain import repo_root
from harness.testing.repo import GIT_IDENTITY, copy_repo

ROOT = repo_root()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_run_requirements() -> list[Path]:
    """The requirement files the recipe of $(RUNTIME_STAMP) (what `make run` depends on) installs."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: \$\(RUNTIME_STAMP\)", makefile, re.M)
    recipe = re.search(r"^\$\(RUNTIME_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe
    return [ROOT / p for p in re.findall(r"-r (\S+)", recipe.group(1))]


def pinned(path: Path) -> set[str]:
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= pinned(path.parent / line[3:].strip())
        elif line:
            names.add(_normal(re.split(r"[=<>!~;\[ ]", line)[0]))
    return names


def hidden_modules(allowed: set[str]) -> list[str]:
    """Top-level modules of installed distributions that `make run` would not install."""
    hidden = set()
    for module, dists in importlib.metadata.packages_distributions().items():
        if module in sys.stdlib_module_names or not module.isidentifier():
            continue
        if not any(_normal(d) in allowed for d in dists):
            hidden.add(module)
    return sorted(hidden)


RUNNER = """
import importlib, json, sys
hidden = set(json.loads(sys.argv[1]))

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed by make run)", name=name)
        return None

sys.meta_path.insert(0, Hide())
module, _, function = sys.argv[2].partition(":")
sys.argv = [sys.argv[2], *sys.argv[3:]]
getattr(importlib.import_module(module), function)()
"""


def entry_points() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_make_run_installs_the_gitops_tools_closure():
    files = make_run_requirements()
    names = set().union(*(pinned(f) for f in files))
    assert {"flask", "gunicorn", "jsonschema", "ruamel-yaml", "pyyaml"} <= names
    # The Docker image installs only runtime.txt: the service's closure, no tooling.
    assert "jsonschema" not in pinned(ROOT / "requirements" / "runtime.txt")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["status"],
        ["status", "--output", "json"],
        ["set-image", "--env", "dev", "--tag", "sha-1234567", "--commit"],
        ["promote", "dev", "staging"],
    ],
)
def test_every_entry_point_works_with_what_make_run_installs(tmp_path, args):
    allowed = set().union(*(pinned(f) for f in make_run_requirements())) | {"flask-gitops", "pip", "setuptools"}
    hidden = hidden_modules(allowed)
    assert "pytest" in hidden  # the hiding itself works: a dev package is hidden
    repo = copy_repo(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "PYTHON"))}
    env.update(GIT_IDENTITY)
    env["HOME"] = str(tmp_path)
    assert entry_points() == {"gitops": "gitops.cli:run"}
    for target in entry_points().values():
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, json.dumps(hidden), target, *args],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert "ModuleNotFoundError" not in result.stderr
