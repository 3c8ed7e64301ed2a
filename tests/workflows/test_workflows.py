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
from gitops.toolchain import repo_root

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


def test_checkouts_persist_credentials_only_where_the_workflow_token_pushes():
    # promote pushes its branch with the checkout's token; the dev bump sets its own push
    # credentials (a GitHub App's token) after installing tools, never left on disk before.
    for name in ALL:
        for job_id, job in load(name)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    expected = (name, job_id) == ("promote.yml", "pull-request")
                    assert step["with"]["persist-credentials"] is expected, f"{name}:{job_id}"


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


def _step_index(steps: list[dict], predicate) -> int:
    (index,) = [i for i, step in enumerate(steps) if predicate(step)]
    return index


def test_bump_verifies_the_signature_before_it_commits_the_digest():
    release = load("release.yml")
    build = release["jobs"]["build"]
    assert build["outputs"]["image"] == "${{ steps.meta.outputs.image }}"
    steps = release["jobs"]["bump"]["steps"]
    verify = _step_index(steps, lambda s: "verify-image.sh" in s.get("run", ""))
    installer = _step_index(steps, lambda s: s.get("uses", "").startswith("sigstore/cosign-installer@"))
    commit = _step_index(steps, lambda s: "gitops set-image" in s.get("run", ""))
    assert installer < verify < commit
    step = steps[verify]
    assert step["run"] == '.github/scripts/verify-image.sh "$IMAGE" "$DIGEST"'
    assert step["env"] == {
        "IMAGE": "${{ needs.build.outputs.image }}",
        "DIGEST": "${{ needs.build.outputs.digest }}",
    }
    # The same installer pin signs in the build job: one cosign for both ends.
    signer = next(s for s in build["steps"] if s.get("uses", "").startswith("sigstore/cosign-installer@"))
    assert signer["uses"] == steps[installer]["uses"]


def _fake_tool(folder: Path, name: str, script: str) -> None:
    tool = folder / name
    tool.write_text("#!/usr/bin/env bash\n" + script)
    tool.chmod(0o755)


def _verify(tmp_path: Path, digest: str, cosign_exit: int = 0) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    _fake_tool(bin_dir, "cosign", f'printf "%s\\n" "$@" > {calls}\nexit {cosign_exit}\n')
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "example-org/flask-gitops",
        "GITHUB_SHA": "1a2b3c4d" * 5,
    }
    result = subprocess.run(
        [str(ROOT / ".github/scripts/verify-image.sh"), "registry.example.com/example-org/flask-app", digest],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_verify_image_pins_the_signer_to_this_repositorys_release_workflow(tmp_path):
    digest = "sha256:" + "ab" * 32
    result, args = _verify(tmp_path, digest)
    assert result.returncode == 0, result.stderr
    assert args[0] == "verify"
    options = dict(zip(args[1:-1:2], args[2:-1:2], strict=True))
    assert options == {
        "--certificate-identity": "https://github.com/example-org/flask-gitops/.github/workflows/release.yml@refs/heads/main",
        "--certificate-oidc-issuer": "https://token.actions.githubusercontent.com",
        "--certificate-github-workflow-repository": "example-org/flask-gitops",
        "--certificate-github-workflow-ref": "refs/heads/main",
        "--certificate-github-workflow-sha": "1a2b3c4d" * 5,
        "--certificate-github-workflow-trigger": "push",
    }
    assert args[-1] == f"registry.example.com/example-org/flask-app@{digest}"
    # The identity names the workflow that signs.
    assert "cosign sign" in (WORKFLOWS / "release.yml").read_text()


def test_verify_image_fails_when_cosign_does_or_the_digest_is_malformed(tmp_path):
    result, _ = _verify(tmp_path, "sha256:" + "ab" * 32, cosign_exit=1)
    assert result.returncode != 0
    assert "is signed by" not in result.stdout
    (tmp_path / "calls").unlink()
    result, args = _verify(tmp_path, "sha256:ab; rm -rf /")
    assert result.returncode == 2
    assert args == [], "cosign is never called with a malformed digest"


def _image_meta(
    tmp_path: Path, image: str, owner: str = "Example-Org", registry: str | None = "registry.example.com"
) -> subprocess.CompletedProcess:
    work = tmp_path / "repo"
    work.mkdir(exist_ok=True)
    (work / "gitops.yaml").write_text(f"image: {image}\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    if not (work / ".git").exists():
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_SHA": "1a2b3c4d" * 5, "GITHUB_REPOSITORY_OWNER": owner}
    if registry is not None:
        env["IMAGE_REGISTRY"] = registry
    return subprocess.run(
        [str(ROOT / ".github/scripts/image-meta.sh")], capture_output=True, text=True, check=False, env=env, cwd=work
    )


@pytest.mark.parametrize(
    "image",
    [
        "other-registry.example.com/example-org/flask-app",  # any other host: the token would leave
        "registry.example.com/another-org/flask-app",  # the repository's registry, another owner's namespace
        "registry.example.com.attacker.invalid/example-org/flask-app",  # a look-alike host
        "registry.example.com:5000/example-org/flask-app",  # the same host name, another port
        "registry.example.com/example-org-evil/flask-app",  # a look-alike owner
        "registry.example.com/example-org",  # no repository under the namespace
        "registry.example.com/example-org/",  # nor an empty one
    ],
)
def test_release_refuses_an_image_outside_the_repositorys_own_registry(tmp_path, image):
    result = _image_meta(tmp_path, image)
    assert result.returncode == 1
    assert result.stdout == "", "no outputs: the login and push steps never run"
    assert "the workflow token is sent nowhere else" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "registry.example.com/example-org/flask-app" in result.stderr, "says what to configure"


@pytest.mark.parametrize(
    "registry",
    [
        None,
        "",
        "registry.example.com/example-org",
        "registry.example.com example.invalid",
        "https://registry.example.com",
    ],
)
def test_release_fails_when_the_registry_variable_is_unset_or_not_a_host(tmp_path, registry):
    result = _image_meta(tmp_path, "registry.example.com/example-org/flask-app", registry=registry)
    assert result.returncode == 1
    assert result.stdout == "", "no outputs: the login and push steps never run"
    assert "IMAGE_REGISTRY" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("registry", ["registry.example.com", "registry.example.com:5000"])
def test_release_accepts_the_repositorys_own_registry(tmp_path, registry):
    image = f"{registry}/example-org/flask-app"
    result = _image_meta(tmp_path, image, registry=registry)
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert outputs["image"] == image
    assert outputs["registry"] == registry, "the login host is the variable, checked"
    assert outputs["tag"] == "sha-1a2b3c4"


def test_the_workflow_token_logs_in_to_the_repositorys_own_registry_only():
    release = load("release.yml")
    logins = [
        (name, job_id, step)
        for name in ALL
        for job_id, job in load(name)["jobs"].items()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("docker/login-action@")
    ]
    assert [(name, job_id) for name, job_id, _ in logins] == [("release.yml", "build"), ("release.yml", "bump")]
    # The host is the repository variable (an admin's setting, never a pull request's),
    # reaching the script through env only, and the login takes it from the script's
    # outputs: set only after the variable and gitops.yaml's image were checked.
    build = release["jobs"]["build"]
    meta = _step_index(build["steps"], lambda s: s.get("id") == "meta")
    assert build["steps"][meta]["env"] == {"IMAGE_REGISTRY": "${{ vars.IMAGE_REGISTRY }}"}
    assert build["outputs"]["registry"] == "${{ steps.meta.outputs.registry }}"
    expected = {"build": "${{ steps.meta.outputs.registry }}", "bump": "${{ needs.build.outputs.registry }}"}
    for _, job_id, step in logins:
        assert step["with"]["registry"] == expected[job_id], job_id
        assert step["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}", job_id  # noqa: S105 an expression
    login = _step_index(build["steps"], lambda s: s.get("uses", "").startswith("docker/login-action@"))
    assert meta < login, "image-meta.sh refuses a foreign image before any login"
    assert release["jobs"]["bump"]["needs"] == "build"


def test_bump_pushes_with_a_github_app_token_when_configured():
    steps = load("release.yml")["jobs"]["bump"]["steps"]
    credentials = _step_index(steps, lambda s: "push-credentials.sh" in s.get("run", ""))
    install = _step_index(steps, lambda s: "make venv" in s.get("run", ""))
    commit = _step_index(steps, lambda s: "gitops set-image" in s.get("run", ""))
    assert install < credentials < commit, "no push credentials on disk while third-party code installs"
    assert steps[credentials]["env"] == {
        "APP_ID": "${{ vars.BUMP_APP_ID }}",
        "APP_PRIVATE_KEY": "${{ secrets.BUMP_APP_PRIVATE_KEY }}",
        "WORKFLOW_TOKEN": "${{ github.token }}",
    }


def _push_credentials(tmp_path: Path, app_id: str | None) -> tuple[subprocess.CompletedProcess, Path]:
    work = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "curl.log"
    # A fake API: records every call (arguments, one per line) and answers like GitHub's.
    _fake_tool(
        bin_dir,
        "curl",
        f'printf "%s\\n" "$@" >> {log}; echo ---- >> {log}\n'
        'case "$*" in *access_tokens*) echo \'{"token":"ghs_fake"}\' ;; *) echo \'{"id":42}\' ;; esac\n',
    )
    key = tmp_path / "app.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_REPOSITORY": "example-org/flask-gitops",
        "WORKFLOW_TOKEN": "workflow-token",
        "APP_PRIVATE_KEY": key.read_text(),
    }
    if app_id is not None:
        env["APP_ID"] = app_id
    result = subprocess.run(
        [str(ROOT / ".github/scripts/push-credentials.sh")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=work,
    )
    return result, work


def _extraheader(work: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(work), "config", "--local", "http.https://github.com/.extraheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_push_credentials_mint_an_app_token_for_this_repository_only(tmp_path):
    import base64

    result, work = _push_credentials(tmp_path, "12345")
    assert result.returncode == 0, result.stderr
    assert "::add-mask::ghs_fake" in result.stdout
    assert _extraheader(work) == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:ghs_fake").decode()
    calls = [c.strip("\n").splitlines() for c in (tmp_path / "curl.log").read_text().split("----") if c.strip()]
    assert calls[0][-1] == "https://api.github.com/repos/example-org/flask-gitops/installation"
    assert "https://api.github.com/app/installations/42/access_tokens" in calls[1]
    body = json.loads(calls[1][calls[1].index("-d") + 1])
    assert body == {"repositories": ["flask-gitops"], "permissions": {"contents": "write"}}
    # The JWT: RS256 over header.payload with the App's key, issued by the App id, short-lived.
    (auth,) = [arg for arg in calls[0] if arg.startswith("Authorization: Bearer ")]
    header, payload, signature = auth.removeprefix("Authorization: Bearer ").split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(header)) == {"alg": "RS256", "typ": "JWT"}
    claims = json.loads(decode(payload))
    assert claims["iss"] == "12345"
    assert 0 < claims["exp"] - claims["iat"] <= 600
    (tmp_path / "signed").write_text(f"{header}.{payload}")
    (tmp_path / "sig").write_bytes(decode(signature))
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(tmp_path / "app.pem"), "-pubout"], capture_output=True, check=True
    ).stdout
    (tmp_path / "pub.pem").write_bytes(public)
    verified = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "signed"),
        ],
        capture_output=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


def test_push_credentials_fall_back_to_the_workflow_token_and_refuse_a_bad_app_id(tmp_path):
    import base64

    result, work = _push_credentials(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert _extraheader(work) == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:workflow-token").decode()
    assert not (tmp_path / "curl.log").exists()
    result, _ = _push_credentials(tmp_path / "bad", "12345; curl evil")
    assert result.returncode == 1
    assert "numeric id" in result.stderr


def test_docs_describe_an_app_token_not_a_branch_protection_bypass_for_actions():
    # The GitHub settings a fork needs live in docs/supply-chain.md; the README must not contradict them.
    for name in ("README.md", "docs/supply-chain.md"):
        text = (ROOT / name).read_text()
        assert not re.search(r"allow\s+the\s+Actions\s+bot\s+to\s+push", text, re.I), name
        assert not re.search(r"Actions[^.]*bypass|bypass[^.]*Actions", text, re.I), name
    settings = (ROOT / "docs" / "supply-chain.md").read_text()
    assert "BUMP_APP_ID" in settings
    assert "BUMP_APP_PRIVATE_KEY" in settings


def test_bump_cannot_run_on_pull_requests_and_serializes():
    release = load("release.yml")
    assert set(release["on"]) == {"push"}
    bump = release["jobs"]["bump"]
    assert bump["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert bump["concurrency"] == {"group": "deploy-dev", "cancel-in-progress": False}
    assert release["concurrency"]["cancel-in-progress"] is False
    assert bump["permissions"] == {"contents": "write", "packages": "read"}


def test_release_does_not_trigger_itself():
    paths = load("release.yml")["on"]["push"]["paths"]
    assert not any(p.startswith(("apps", "clusters", "argocd")) for p in paths)
    assert "src/**" in paths


def test_promote_inputs_reach_gitops_through_env():
    promote = load("promote.yml")
    # No workflow_call: nothing calls it since promotion follows the deploy, and no other
    # workflow should be able to start a promotion.
    assert set(promote["on"]) == {"repository_dispatch", "workflow_dispatch"}
    job = promote["jobs"]["pull-request"]
    step = next(s for s in job["steps"] if "promote-pr.sh" in s.get("run", ""))
    # FROM and TO are the resolve job's, whatever started the run.
    assert step["env"]["FROM"] == "${{ needs.resolve.outputs.from }}"
    assert step["env"]["TO"] == "${{ needs.resolve.outputs.to }}"
    assert step["run"] == '.github/scripts/promote-pr.sh "$FROM" "$TO"'
    script = (ROOT / ".github/scripts/promote-pr.sh").read_text()
    assert '.venv/bin/gitops promote "$from" "$to" --pr-body' in script


def test_promote_choices_follow_the_order_in_gitops_yaml():
    order = Repo.load(ROOT).environments
    inputs = load("promote.yml")["on"]["workflow_dispatch"]["inputs"]
    assert inputs["from"]["options"] == order[:-1]
    assert inputs["to"]["options"] == order[1:]


def test_release_no_longer_proposes_a_promotion():
    # Promotion follows a healthy deploy (Argo CD's event), not the push of the bump.
    release = load("release.yml")
    assert set(release["jobs"]) == {"build", "bump"}
    assert "promote.yml" not in (WORKFLOWS / "release.yml").read_text().split("\njobs:")[1]


def test_promote_starts_from_the_event_argo_cd_notifications_send():
    promote = load("promote.yml")
    assert promote["on"]["repository_dispatch"] == {"types": ["flask-gitops-deployed"]}
    # The event type is the one the notifications template sends, on the deployed trigger.
    cm = yaml.safe_load((ROOT / "argocd/notifications/argocd-notifications-cm.yaml").read_text())["data"]
    template = yaml.safe_load(cm["template.app-deployed-dispatch"])["webhook"]["github-dispatch"]
    assert '"event_type": "flask-gitops-deployed"' in template["body"]
    assert '"environment": ' in template["body"]
    (trigger,) = yaml.safe_load(cm["trigger.on-deployed"])
    assert "app-deployed-dispatch" in trigger["send"]
    assert "/dispatches" in yaml.safe_load(cm["service.webhook.github-dispatch"])["url"]


def test_promote_resolves_from_and_to_in_a_small_job_first():
    promote = load("promote.yml")
    resolve = promote["jobs"]["resolve"]
    assert resolve["permissions"] == {"contents": "read"}
    assert resolve["outputs"] == {
        "from": "${{ steps.resolve.outputs.from }}",
        "to": "${{ steps.resolve.outputs.to }}",
    }
    step = next(s for s in resolve["steps"] if s.get("id") == "resolve")
    assert step["run"] == ".venv/bin/python .github/scripts/promote-target.py"
    # The event's payload (untrusted) and the inputs reach the script through env only.
    assert step["env"] == {
        "EVENT_NAME": "${{ github.event_name }}",
        "ENVIRONMENT": "${{ github.event.client_payload.environment }}",
        "FROM": "${{ inputs.from }}",
        "TO": "${{ inputs.to }}",
    }
    text = (WORKFLOWS / "promote.yml").read_text()
    payload_uses = [line.strip() for line in text.splitlines() if "client_payload" in line and "${{" in line]
    assert payload_uses == [
        "group: promote-run-${{ github.event_name }}-${{ github.event.client_payload.application || inputs.to }}",
        "ENVIRONMENT: ${{ github.event.client_payload.environment }}",
    ]
    pull_request = promote["jobs"]["pull-request"]
    assert pull_request["needs"] == "resolve"
    assert pull_request["if"] == "needs.resolve.outputs.to != ''", "the last or an unknown environment: no PR"


def test_promote_serializes_per_resolved_target_without_deadlock():
    promote = load("promote.yml")
    job = promote["jobs"]["pull-request"]
    assert job["concurrency"] == {"group": "promote-${{ needs.resolve.outputs.to }}", "cancel-in-progress": False}
    # A job whose group equals its run's group deadlocks: the run's group is another name.
    assert promote["concurrency"]["group"].startswith("promote-run-")
    assert promote["concurrency"]["cancel-in-progress"] is False


def test_promote_passes_the_argo_cd_health_gate_credentials_to_gitops():
    job = load("promote.yml")["jobs"]["pull-request"]
    step = next(s for s in job["steps"] if "promote-pr.sh" in s.get("run", ""))
    assert step["env"]["ARGOCD_SERVER"] == "${{ vars.ARGOCD_SERVER }}"
    assert step["env"]["ARGOCD_AUTH_TOKEN"] == "${{ secrets.ARGOCD_AUTH_TOKEN }}"  # noqa: S105 an expression
    # Only that step sees the token: not the tool installation before it.
    text = (WORKFLOWS / "promote.yml").read_text()
    assert text.count("secrets.ARGOCD_AUTH_TOKEN") == 1


def _resolve(
    tmp_path: Path,
    event: str,
    *,
    environment: str = "",
    source: str = "",
    target: str = "",
    order: list[str] | None = None,
) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    work = tmp_path / "repo"
    work.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((ROOT / "gitops.yaml").read_text())
    if order is not None:
        settings["environments"] = order
        settings["digestRequired"] = order[-1:]
        settings.pop("manualSync", None)
    (work / "gitops.yaml").write_text(yaml.safe_dump(settings))
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_OUTPUT": str(outputs),
        "EVENT_NAME": event,
        "ENVIRONMENT": environment,
        "FROM": source,
        "TO": target,
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / ".github/scripts/promote-target.py")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=work,
    )
    return result, dict(line.split("=", 1) for line in outputs.read_text().splitlines())


@pytest.mark.parametrize(("deployed", "target"), [("dev", "staging"), ("staging", "prod")])
def test_resolver_promotes_a_deployed_environment_to_the_next(tmp_path, deployed, target):
    result, outputs = _resolve(tmp_path, "repository_dispatch", environment=deployed, source="x", target="y")
    assert result.returncode == 0, result.stdout
    assert outputs == {"from": deployed, "to": target}, "the inputs play no part in a deploy event"
    assert result.stdout == f"::notice title=promote::{deployed} -> {target}\n"


def test_resolver_proposes_nothing_after_the_last_environment(tmp_path):
    result, outputs = _resolve(tmp_path, "repository_dispatch", environment="prod")
    assert result.returncode == 0, result.stdout
    assert outputs == {}
    assert result.stdout.startswith("::notice title=promote::prod is the last environment")


@pytest.mark.parametrize("environment", ["", "qa", "Dev", "dev ", "dev\n::warning::injected", "staging%0A::error::x"])
def test_resolver_ignores_an_unknown_environment_with_a_notice(tmp_path, environment):
    result, outputs = _resolve(tmp_path, "repository_dispatch", environment=environment)
    assert result.returncode == 0, result.stdout
    assert outputs == {}, "no outputs: no pull request"
    # One notice line; the payload cannot start another workflow command, nor turn into
    # a line break when the runner decodes the message (% is escaped as %25).
    (line,) = result.stdout.splitlines()
    assert line.startswith("::notice title=promote::the deploy event names environment ")
    if "\n" in environment:
        assert "\\n::warning::" in line
    if "%" in environment:
        assert "staging%250A::error::x" in line


def test_resolver_follows_the_order_in_gitops_yaml(tmp_path):
    order = ["dev", "qa", "staging", "prod"]
    expected = {"dev": "qa", "qa": "staging", "staging": "prod"}
    for deployed, target in expected.items():
        result, outputs = _resolve(tmp_path / deployed, "repository_dispatch", environment=deployed, order=order)
        assert result.returncode == 0, result.stdout
        assert outputs == {"from": deployed, "to": target}
    result, outputs = _resolve(tmp_path / "last", "repository_dispatch", environment="prod", order=order)
    assert outputs == {}
    assert "last environment" in result.stdout


@pytest.mark.parametrize("event", ["workflow_dispatch", "push"])
def test_resolver_passes_the_inputs_of_a_manual_or_called_run(tmp_path, event):
    # Any event but the deploy event takes the inputs.
    result, outputs = _resolve(tmp_path, event, environment="prod", source="dev", target="staging")
    assert result.returncode == 0, result.stdout
    assert outputs == {"from": "dev", "to": "staging"}
    # Their order is gitops promote's to check (it refuses dev -> prod without --force).
    result, outputs = _resolve(tmp_path / "skip", event, source="dev", target="prod")
    assert outputs == {"from": "dev", "to": "prod"}


@pytest.mark.parametrize(("source", "target"), [("dev", "qa"), ("", "staging"), ("dev\nto=prod", "staging")])
def test_resolver_fails_on_inputs_that_are_not_environments(tmp_path, source, target):
    result, outputs = _resolve(tmp_path, "workflow_dispatch", source=source, target=target)
    assert result.returncode == 2
    assert outputs == {}
    (line,) = result.stdout.splitlines()
    assert line.startswith("::error title=promote::input ")


def test_dependabot_covers_actions_pip_docker_and_the_go_wrappers_grouped_with_a_cooldown():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip", "docker", "gomod"}
    assert all(u.get("groups") for u in ecosystems.values())
    assert all(u.get("cooldown", {}).get("default-days", 0) >= 7 for u in ecosystems.values())
    go_modules = {f"/{p.parent.relative_to(ROOT)}" for p in (ROOT / "tools").glob("*/go.mod")}
    assert go_modules == {"/tools/k8s", "/tools/argocd", "/tools/kube-router", "/tools/metrics-server"}
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
        "addons/metrics-server/kustomization.yaml",
        "addons/metrics-server/upstream/rbac.yaml",
        "clusters/prod-eu/kustomization.yaml",
        "argocd/projects/appproject.yaml",
        ".github/workflows/release.yml",
        ".github/CODEOWNERS",
        "gitops.yaml",
        "src/gitops/cli.py",
        "Makefile",
        "tools/versions.mk",
        "tools/k8s/go.mod",
        "tools/argocd/go.mod",
        "tools/kube-router/go.mod",
        "tools/metrics-server/go.mod",
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
