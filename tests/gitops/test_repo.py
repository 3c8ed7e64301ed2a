"""The repository model: gitops.yaml and each cluster's config.yaml, read once, against one schema each.

What a file gets wrong is one line and exit 2 for every command but validate, and nothing changes."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from gitops.cli import main
from gitops.errors import GitopsError
from gitops.repo import Repo
from tests.gitops.conftest import gitops, one_error_line, refused
from tests.gitops.test_validate import validate

BOMB = (
    'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "cluster: {name: *i}\nenvironment: dev\nnamespace: flask-app-dev\n"
)


def test_wrongly_typed_gitops_yaml(repo, capsys):
    config = repo / "gitops.yaml"
    text = config.read_text()
    config.write_text(text.replace("  - dev\n", "  - [dev]\n"))
    refused(repo, capsys, 2, ["status"], "gitops.yaml: environments[0]: expected string, found a list")
    config.write_text(text.replace("digestRequired:\n  - prod", "digestRequired: prod"))
    refused(
        repo, capsys, 2, ["set-image", "--env", "prod", "--tag", "v1"], "gitops.yaml: digestRequired: expected array"
    )
    config.write_text(text.replace("  - prod\n", "  - ../../tmp\n", 1))
    refused(repo, capsys, 2, ["status"], "gitops.yaml: environments[2]: '../../tmp' is not an environment name")
    config.write_text(text + "digestRequierd: [prod]\n")
    refused(repo, capsys, 2, ["status"], "gitops.yaml: (top level): unknown field(s) 'digestRequierd'")


def test_duplicate_key_cannot_switch_off_the_digest_rule(repo, capsys):
    config = repo / "gitops.yaml"
    config.write_text(config.read_text() + "digestRequired: []\n")
    refused(
        repo, capsys, 2, ["set-image", "--env", "prod", "--tag", "v1"], "invalid YAML: duplicate key 'digestRequired'"
    )


def test_missing_clusters_folder(repo, capsys):
    subprocess.run(["rm", "-r", str(repo / "clusters")], check=True)
    refused(repo, capsys, 2, ["status"], "clusters: cannot list the cluster folders")


def test_clusters_is_a_file(repo, capsys):
    subprocess.run(["rm", "-r", str(repo / "clusters")], check=True)
    (repo / "clusters").write_text("not a folder\n")
    refused(repo, capsys, 2, ["status"], "clusters: cannot list the cluster folders: Not a directory")


def test_deep_nesting(repo, capsys):
    (repo / "clusters/dev/config.yaml").write_text("[" * 5000)
    refused(repo, capsys, 2, ["status"], "nested deeper than 64 levels")


def test_alias_bomb_in_a_cluster_config_fails_fast(repo):
    (repo / "clusters/dev/config.yaml").write_text(BOMB)
    started = time.monotonic()
    result = gitops(repo, "status", timeout=30)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    one_error_line(result.stderr, "clusters/dev/config.yaml", "aliases expand to more than")


def test_a_folder_where_a_file_belongs(repo, capsys):
    (repo / "clusters/dev/config.yaml").unlink()
    (repo / "clusters/dev/config.yaml").mkdir()
    refused(repo, capsys, 2, ["status"], "clusters/dev/config.yaml: cannot read: not a regular file")


def test_a_fifo_is_not_read(repo, capsys):
    os.mkfifo(repo / "clusters/dev/fifo")
    (repo / "clusters/dev/config.yaml").unlink()
    os.symlink("fifo", repo / "clusters/dev/config.yaml")
    refused(repo, capsys, 2, ["status"], "clusters/dev/config.yaml: cannot read: not a regular file")


@pytest.mark.slow
def test_policy_keys_of_gitops_yaml_are_typed(repo):
    """gitops.yaml is read once (Repo.load); the policies' context is built from that model."""
    from gitops.validation import policy_context

    config = repo / "gitops.yaml"
    original = config.read_text()
    assert policy_context(Repo.load(repo)).manual_sync == {"prod"}  # default: the last environment
    config.write_text(original + "reviewedAppProjects: [flask-app]\nmanualSync: [prod, staging]\n")
    ctx = policy_context(Repo.load(repo))
    assert ctx.reviewed_projects == {"flask-app"}
    assert ctx.manual_sync == {"prod", "staging"}
    for bad, message in [
        ("reviewedAppProjects: flask-app\n", "reviewedAppProjects: expected array, found a string"),
        ("reviewedAppProjects: [Not_A_Name]\n", "reviewedAppProjects[0]: 'Not_A_Name' is not an AppProject name"),
        ("manualSync: [prd]\n", "manualSync: prd not in environments"),
    ]:
        config.write_text(original + bad)
        with pytest.raises(GitopsError, match=re.escape(f"gitops.yaml: {message}")):
            Repo.load(repo)


def set_settings(repo: Path, **values) -> None:
    """gitops.yaml with ``values`` set (each key once: the strict loader refuses a duplicate)."""
    config = repo / "gitops.yaml"
    config.write_text(yaml.safe_dump(yaml.safe_load(config.read_text()) | values, sort_keys=False))


def refused_settings(repo: Path, capsys, message: str) -> None:
    assert main(["-C", str(repo), "validate"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"gitops.yaml: {message}")


@pytest.mark.slow
def test_gitops_yaml_takes_manual_sync_environments(repo, capsys):
    set_settings(repo, manualSync=["staging", "prod"])
    assert Repo.load(repo).environments == ["dev", "staging", "prod"]
    code, lines = validate(repo, repo / "clusters" / "staging", capsys=capsys)
    assert code == 1
    assert lines == [
        "GO144 clusters/staging/config.yaml: ClusterConfig/staging: autoSync: "
        "must be false: 'staging' syncs by hand (gitops.yaml manualSync)"
    ]
    set_settings(repo, manualSync=["prod", "prod"])
    refused_settings(repo, capsys, "manualSync: lists a value twice")
    set_settings(repo, manualSync=["Prod"])
    refused_settings(repo, capsys, "manualSync[0]: 'Prod' is not an environment name")
    set_settings(repo, manualSync=["prd"])
    refused_settings(repo, capsys, "manualSync: prd not in environments")


@pytest.mark.slow
def test_gitops_yaml_takes_reviewed_appprojects(repo, capsys):
    set_settings(repo, reviewedAppProjects=["default", "flask-app", "flask-gitops-bootstrap", "addons"])
    assert validate(repo, repo / "argocd" / "projects", capsys=capsys) == (0, [])
    set_settings(repo, reviewedAppProjects=["default", "flask-app", "addons"])
    code, lines = validate(repo, repo / "argocd" / "projects", capsys=capsys)
    assert code == 1
    assert [line.split()[:3] for line in lines] == [["GO143", "argocd/projects:", "AppProject/flask-gitops-bootstrap:"]]
    set_settings(repo, reviewedAppProjects=["default", "default"])
    refused_settings(repo, capsys, "reviewedAppProjects: lists a value twice")
    set_settings(repo, reviewedAppProjects=["Not_A_Name"])
    refused_settings(repo, capsys, "reviewedAppProjects[0]: 'Not_A_Name' is not an AppProject name (a DNS subdomain)")
