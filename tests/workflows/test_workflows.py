"""The workflows' wiring, and proof that the linters catch what they should."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops.repo import Repo
from gitops.settings import repo_root

ROOT = repo_root()

WORKFLOWS = ROOT / ".github" / "workflows"
SETUP = ROOT / ".github" / "actions" / "setup" / "action.yml"
FIXTURES = Path(__file__).parent / "fixtures"
BIN = Path(sys.executable).parent


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads `on` as True
    return data


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


def test_the_three_workflows_exist():
    assert ALL == ["ci.yml", "promote.yml", "release.yml"]


@pytest.mark.parametrize("path", [WORKFLOWS / name for name in ALL] + [SETUP], ids=lambda p: p.name)
def test_every_action_is_pinned_by_full_sha_with_version_comment(path):
    uses = re.findall(r"uses:\s*(\S+)(.*)", path.read_text())
    assert uses
    for ref, rest in uses:
        if ref.startswith("./"):
            continue  # a workflow or action of this repository, same commit
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
        assert re.match(r"\s*#\s*v\d+\.\d+\.\d+", rest), f"{ref} lacks a '# vX.Y.Z' comment"


@pytest.mark.parametrize("name", ALL)
def test_least_privilege_and_limits(name):
    workflow = load(name)
    assert workflow["permissions"] == {}
    assert "concurrency" in workflow
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_id} sets its own permissions"
        if "uses" not in job:
            assert "timeout-minutes" in job, f"{name}:{job_id}"
        text = (WORKFLOWS / name).read_text()
        for scope in job["permissions"] or {}:
            assert re.search(rf"{scope}: \w+ # .+", text), f"{name}:{job_id}: {scope} has no reason comment"


@pytest.mark.parametrize("name", ALL)
def test_expressions_reach_shell_only_through_env(name):
    for job in load(name)["jobs"].values():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), step


def test_checkouts_do_not_persist_credentials_unless_the_job_pushes():
    for name in ALL:
        for job_id, job in load(name)["jobs"].items():
            pushes = (job.get("permissions") or {}).get("contents") == "write"
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is pushes, f"{name}:{job_id}"


def test_toolchains_are_set_up_in_one_place():
    for name in ALL:
        text = (WORKFLOWS / name).read_text()
        assert "actions/setup-python@" not in text, name
        assert "actions/setup-go@" not in text, name
    setup = yaml.safe_load(SETUP.read_text())
    assert setup["runs"]["using"] == "composite"
    assert [step["uses"].split("@")[0] for step in setup["runs"]["steps"]] == [
        "actions/setup-python",
        "actions/setup-go",
    ]
    for name in ALL:
        for job_id, job in load(name)["jobs"].items():
            if any(step.get("uses") == "./.github/actions/setup" for step in job.get("steps", [])):
                assert job["steps"][0]["uses"].startswith("actions/checkout@"), f"{name}:{job_id}: check out first"


def test_ci_runs_the_same_make_targets_as_ci_run():
    ci_run = (ROOT / ".ci" / "run").read_text()
    targets = re.findall(r"\bmake (\w+)", ci_run)
    assert targets == ["test"]
    runs = " ".join(step.get("run", "") for step in load("ci.yml")["jobs"]["test"]["steps"])
    for target in targets:
        assert f"make {target}" in runs


def test_release_bump_uses_the_digest_of_the_build_step():
    release = load("release.yml")
    build = release["jobs"]["build"]
    assert build["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    build_step = next(s for s in build["steps"] if s.get("id") == "build")
    assert build_step["uses"].startswith("docker/build-push-action@")
    assert build_step["with"]["push"] is True
    assert build_step["with"]["sbom"] is True
    assert build_step["with"]["provenance"] == "mode=max"
    sign = next(s for s in build["steps"] if "cosign sign" in s.get("run", ""))
    assert sign["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    bump = release["jobs"]["bump"]
    assert bump["needs"] == "build"
    step = next(s for s in bump["steps"] if "gitops set-image" in s.get("run", ""))
    assert step["env"]["DIGEST"] == "${{ needs.build.outputs.digest }}"
    assert step["env"]["TAG"] == "${{ needs.build.outputs.tag }}"
    assert '--env dev --tag "$TAG" --digest "$DIGEST" --commit --push' in step["run"]


def test_bump_cannot_run_on_pull_requests_and_serializes():
    release = load("release.yml")
    assert set(release["on"]) == {"push"}
    bump = release["jobs"]["bump"]
    assert bump["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert bump["concurrency"] == {"group": "deploy-dev", "cancel-in-progress": False}
    assert release["concurrency"]["cancel-in-progress"] is False
    assert bump["permissions"] == {"contents": "write"}


def test_release_does_not_trigger_itself():
    paths = load("release.yml")["on"]["push"]["paths"]
    assert not any(p.startswith(("apps", "clusters", "argocd")) for p in paths)
    assert "src/**" in paths


def test_promote_inputs_reach_gitops_through_env():
    promote = load("promote.yml")
    assert set(promote["on"]) == {"workflow_dispatch", "workflow_call"}
    step = next(s for s in promote["jobs"]["pull-request"]["steps"] if "promote-pr.sh" in s.get("run", ""))
    assert step["env"]["FROM"] == "${{ inputs.from }}"
    assert step["run"] == '.github/scripts/promote-pr.sh "$FROM" "$TO"'
    script = (ROOT / ".github/scripts/promote-pr.sh").read_text()
    assert '.venv/bin/gitops promote "$from" "$to" --pr-body' in script


def test_promote_choices_follow_the_order_in_gitops_yaml():
    order = Repo.load(ROOT).environments
    inputs = load("promote.yml")["on"]["workflow_dispatch"]["inputs"]
    assert inputs["from"]["options"] == order[:-1]
    assert inputs["to"]["options"] == order[1:]
    propose = load("release.yml")["jobs"]["propose"]["with"]
    assert [propose["from"], propose["to"]] == order[:2], "release proposes the first promotion"


def test_dependabot_covers_actions_pip_docker_and_the_go_wrappers_grouped_with_a_cooldown():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip", "docker", "gomod"}
    assert all(u.get("groups") for u in ecosystems.values())
    assert all(u.get("cooldown", {}).get("default-days", 0) >= 7 for u in ecosystems.values())
    go_modules = {f"/{p.parent.relative_to(ROOT)}" for p in (ROOT / "tools").glob("*/go.mod")}
    assert go_modules == {"/tools/k8s", "/tools/argocd"}
    assert set(ecosystems["gomod"]["directories"]) == go_modules


def _owners(path: str) -> list[str]:
    """The owners CODEOWNERS gives PATH (the last matching pattern wins; anchored patterns only)."""
    owners: list[str] = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *who = line.split()
        assert pattern.startswith("/"), f"{pattern}: anchor every pattern"
        if ("/" + path).startswith(pattern) if pattern.endswith("/") else "/" + path == pattern:
            owners = who
    return owners


@pytest.mark.parametrize(
    "path",
    [
        "apps/flask-app/base/deployment.yaml",
        "apps/flask-app/base/validatingadmissionpolicy.yaml",
        "clusters/prod-eu/kustomization.yaml",
        "argocd/appproject.yaml",
        ".github/workflows/release.yml",
        ".github/CODEOWNERS",
        "gitops.yaml",
        "src/gitops/cli.py",
        "Makefile",
        "tools/versions.mk",
        "tools/k8s/go.mod",
        "tools/argocd/go.mod",
        "requirements/dev.txt",
        "pyproject.toml",
    ],
)
def test_codeowners_cover_the_deploy_paths_and_what_the_pipeline_runs(path):
    assert (ROOT / path).exists(), path
    assert _owners(path), f"{path} has no code owner"


def test_zizmor_lints_github_whole_and_finds_nothing_with_the_default_persona():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\t\$\(BIN\)/zizmor .*--persona=pedantic .* \.github$", makefile, re.M)
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format=json", "--no-progress", str(ROOT / ".github")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


# --- the linters catch known-bad workflows -------------------------------------
def zizmor(path: Path) -> set[str]:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--format=json", "--no-progress", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    return {finding["ident"] for finding in json.loads(result.stdout)}


def test_zizmor_catches_an_unpinned_action():
    assert "unpinned-uses" in zizmor(FIXTURES / "unpinned.yml")


def test_zizmor_catches_template_injection():
    assert "template-injection" in zizmor(FIXTURES / "injection.yml")


def test_zizmor_catches_a_dependabot_update_without_cooldown():
    assert "dependabot-cooldown" in zizmor(FIXTURES / "dependabot.yml")


def test_zizmor_catches_excessive_permissions():
    assert "excessive-permissions" in zizmor(FIXTURES / "permissions.yml")


def actionlint(*args: str) -> subprocess.CompletedProcess:
    tool = ROOT / ".tools" / "bin" / "actionlint"
    exe = str(tool) if tool.exists() else shutil.which("actionlint")
    assert exe, "actionlint not installed: run make tools"
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # shellcheck from the venv
    return subprocess.run(
        [exe, "-no-color", "-oneline", *args], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )


def test_actionlint_passes_the_real_workflows():
    result = actionlint()
    assert result.returncode == 0, result.stdout


def test_actionlint_catches_untrusted_input_in_a_script():
    result = actionlint(str(FIXTURES / "injection.yml"))
    assert result.returncode == 1
    assert "github.event.pull_request.title" in result.stdout
    assert "potentially untrusted" in result.stdout


def test_check_jsonschema_rejects_a_malformed_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: [push]\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps: not-a-list\n")
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    good = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS.glob("*.yml")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stdout
