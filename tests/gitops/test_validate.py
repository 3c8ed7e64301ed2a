"""gitops validate: known-bad manifests fail with the exact id, file and exit code."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from yamllint.config import YamlLintConfig

from gitops.cli import main
from gitops.kustomize import build
from gitops.policy import POLICIES
from gitops.toolchain import repo_root
from tests.gitops.conftest import snapshot

ROOT = repo_root()
# validate lints the cases' files with the repository's yamllint config, like any other file.
LINE_MAX = YamlLintConfig(file=str(ROOT / ".yamllint")).rules["line-length"]["max"]

pytestmark = pytest.mark.slow


# The known-good render: a prod cluster (its admission policy too) and every Argo CD object
# (the AppProjects live in argocd/projects/, applied by an admin, outside the root
# Application's reach).
GOOD_TARGETS = ("clusters/prod-eu", "argocd", "argocd/projects")


def good_render() -> list[dict]:
    return [doc for target in GOOD_TARGETS for doc in build(ROOT / target).documents()]


@pytest.fixture(scope="module")
def good() -> list[dict]:
    return good_render()


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    return next(d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))


def container(docs: list[dict]) -> dict:
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def validate(repo: Path, *paths: Path, capsys) -> tuple[int, list[str]]:
    code = main(["-C", str(repo), "validate", *map(str, paths)])
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("validate: ")
    return code, out[:-1]


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def dump(docs: list[dict]) -> str:
    """The documents as YAML within the repository's line length.

    PyYAML folds a string at the first space past ``width``, so a line overruns ``width`` by
    up to a whole word (the admission policy's CEL holds words of 70 characters): the width
    leaves room for the longest word of any string it may fold, quoted and escaped.
    """
    words = [w for s in _strings(docs) if " " in s for w in s.split(" ")]
    longest = max((len(w) + w.count("'") + w.count('"') + w.count("\\") for w in words), default=0)
    width = LINE_MAX - longest - 4
    assert width >= 40, f"a word of {longest} characters leaves no room within {LINE_MAX} columns"
    return yaml.safe_dump_all(docs, sort_keys=False, width=width)


def write(tmp_path: Path, docs: list[dict], name: str = "case.yaml") -> Path:
    path = tmp_path / "manifests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(dump(docs))
    return path


Mutation = Callable[[list[dict]], None]


def _set(path: str, value) -> Callable[[dict], None]:
    def apply(obj: dict) -> None:
        keys = path.split(".")
        for key in keys[:-1]:
            obj = obj.setdefault(key, {})
        if value is _DELETE:
            obj.pop(keys[-1], None)
        else:
            obj[keys[-1]] = value

    return apply


_DELETE = object()


def deployment(path: str, value=None) -> Mutation:
    return lambda docs: _set(path, _DELETE if value is None else value)(find(docs, "Deployment"))


def in_container(path: str, value=None) -> Mutation:
    return lambda docs: _set(path, _DELETE if value is None else value)(container(docs))


def add_cidr(cidr: str) -> Mutation:
    def apply(docs):
        find(docs, "NetworkPolicy", "flask-app")["spec"]["ingress"].append({"from": [{"ipBlock": {"cidr": cidr}}]})

    return apply


def drop(kind: str, name: str) -> Mutation:
    def apply(docs):
        docs.remove(find(docs, kind, name))

    return apply


def appset(path: str, value) -> Mutation:
    return lambda docs: _set(path, value)(find(docs, "ApplicationSet", "flask-app"))


POLICY_CASES: dict[str, tuple[Mutation, str]] = {
    "GO101": (in_container("readinessProbe"), "spec.template.spec.containers[flask-app].readinessProbe"),
    "GO102": (
        lambda d: container(d).update(readinessProbe=copy.deepcopy(container(d)["livenessProbe"])),
        "spec.template.spec.containers[flask-app].readinessProbe",
    ),
    "GO103": (
        in_container("livenessProbe.initialDelaySeconds", 30),
        "spec.template.spec.containers[flask-app].livenessProbe.initialDelaySeconds",
    ),
    "GO104": (
        in_container("resources.limits.memory"),
        "spec.template.spec.containers[flask-app].resources.limits.memory",
    ),
    "GO105": (
        in_container("resources.requests.cpu"),
        "spec.template.spec.containers[flask-app].resources.requests.cpu",
    ),
    "GO106": (
        lambda d: _set("spec.scaleTargetRef.name", "nope")(find(d, "HorizontalPodAutoscaler")),
        "spec.scaleTargetRef",
    ),
    "GO107": (deployment("spec.replicas", 3), "spec.replicas"),
    "GO108": (
        lambda d: _set("spec.selector", {"app.kubernetes.io/name": "other"})(find(d, "Service")),
        "spec.selector",
    ),
    "GO109": (lambda d: find(d, "Service")["spec"]["ports"][0].update(targetPort="web"), "spec.ports[http].targetPort"),
    "GO110": (
        in_container("readinessProbe.httpGet.port", 8080),
        "spec.template.spec.containers[flask-app].readinessProbe.httpGet.port",
    ),
    "GO111": (
        lambda d: _set("spec.podSelector.matchLabels", {"app.kubernetes.io/name": "typo"})(
            find(d, "NetworkPolicy", "flask-app")
        ),
        "spec.podSelector",
    ),
    "GO112": (add_cidr("10.0.0.1/8"), "spec.ingress[2].from[0].ipBlock.cidr"),
    "GO113": (drop("NetworkPolicy", "default-deny"), "metadata.namespace"),
    "GO114": (
        in_container("securityContext.allowPrivilegeEscalation", True),
        "spec.template.spec.containers[flask-app].securityContext.allowPrivilegeEscalation",
    ),
    "GO115": (
        in_container("securityContext.readOnlyRootFilesystem", False),
        "spec.template.spec.containers[flask-app].securityContext.readOnlyRootFilesystem",
    ),
    "GO116": (
        in_container("image", "registry.example.com/example-org/flask-app:latest"),
        "spec.template.spec.containers[flask-app].image",
    ),
    "GO118": (
        lambda d: [doc["metadata"].update(namespace="default") for doc in d if doc["kind"] == "ServiceAccount"],
        "metadata.namespace",
    ),
    "GO119": (
        deployment("spec.template.spec.automountServiceAccountToken", True),
        "spec.template.spec.automountServiceAccountToken",
    ),
    "GO120": (lambda d: _set("spec.project", "missing")(find(d, "Application")), "spec.project"),
    # One the root app's project does not allow (a system namespace would be GO134, an app's GO144 too).
    "GO121": (
        lambda d: _set("spec.destination.namespace", "other")(find(d, "Application")),
        "spec.destination",
    ),
    "GO122": (
        lambda d: _set("spec.source.repoURL", "https://git.example.net/other/repo.git")(find(d, "Application")),
        "spec.source[0].repoURL",
    ),
    "GO123": (lambda d: _set("spec.source.path", "no/such/path")(find(d, "Application")), "spec.source[0].path"),
    "GO124": (
        lambda d: find(d, "ApplicationSet", "flask-app")["spec"]["generators"][0]["git"]["files"][0].update(
            path="nothing/*/config.yaml"
        ),
        "spec.generators[0].git.files[0].path",
    ),
}


def test_every_policy_has_a_case():
    # GO117 is tested on an overlay below; GO125 in test_validate_policies.py and test_kustomize_gate.py.
    assert {pid for pid in POLICIES if pid < "GO125"} - set(POLICY_CASES) == {"GO117"}


def test_known_good_render_passes(repo, tmp_path, good, capsys):
    code, lines = validate(repo, write(tmp_path, good), capsys=capsys)
    assert (code, lines) == (0, [])


@pytest.mark.parametrize("pid", sorted(POLICY_CASES))
def test_policy_failure(repo, tmp_path, good, capsys, pid):
    docs = copy.deepcopy(good)
    mutate, field = POLICY_CASES[pid]
    mutate(docs)
    path = write(tmp_path, docs)
    code, lines = validate(repo, path, capsys=capsys)
    assert code == 1
    ids = {line.split()[0] for line in lines}
    # A source elsewhere is also another repository (GO145), a path nowhere also no cluster folder (GO149).
    also = {"GO105": {"GO104"}, "GO122": {"GO145"}, "GO123": {"GO149"}}
    allowed = {pid, *also.get(pid, ())}
    assert ids == allowed, lines
    mine = [line for line in lines if line.startswith(pid)]
    assert any(f": {field}: " in line for line in mine), mine
    file_label = mine[0].split()[1].rstrip(":")
    assert Path(repo, file_label).resolve() == path.resolve()


def test_prod_overlay_without_digest_fails_go117(repo, capsys):
    path = repo / "apps/flask-app/overlays/prod/kustomization.yaml"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "digest:" not in line))
    code, lines = validate(repo, capsys=capsys)
    assert code == 1
    assert {line.split()[0] for line in lines} == {"GO117"}
    assert {line.split()[1] for line in lines} == {
        "apps/flask-app/overlays/prod:",
        "clusters/prod-eu:",
        "clusters/prod-us:",
    }


SCHEMA_CASES = {
    "unknown-field": (deployment("spec.bogus", 1), "Deployment/flask-app", "additional properties 'bogus'"),
    "wrong-version-for-fields": (
        lambda d: find(d, "HorizontalPodAutoscaler").update(apiVersion="autoscaling/v1"),
        "HorizontalPodAutoscaler/flask-app",
        "additional properties",
    ),
    "wrong-type": (
        lambda d: _set("spec.minReplicas", "two")(find(d, "HorizontalPodAutoscaler")),
        "HorizontalPodAutoscaler/flask-app",
        "/spec/minReplicas",
    ),
    "missing-required": (deployment("spec.selector"), "Deployment/flask-app", "selector"),
    "argocd-unknown-field": (appset("spec.bogus", True), "ApplicationSet/flask-app", "additional properties 'bogus'"),
    "no-schema": (
        lambda d: d.append(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "flask-app-prod"}}
        ),
        "Widget/w",
        "no schema for example.com/v1 Widget",
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_schema_failure(repo, tmp_path, good, capsys, case):
    docs = copy.deepcopy(good)
    mutate, who, message = SCHEMA_CASES[case]
    mutate(docs)
    code, lines = validate(repo, write(tmp_path, docs), capsys=capsys)
    assert code == 1
    schema = [line for line in lines if line.startswith("SCHEMA ")]
    assert schema, lines
    assert all(who in line and message in line for line in schema), schema
    versions = {line.split("Kubernetes ")[1].split(":")[0] for line in schema}
    assert len(versions) == 2, "checked against the pinned and the oldest supported version"


def test_invalid_yaml(repo, tmp_path, capsys):
    path = tmp_path / "manifests" / "broken.yaml"
    path.parent.mkdir()
    path.write_text("kind: Service\nmetadata: {name: x\n")
    code, lines = validate(repo, path, capsys=capsys)
    assert code == 1
    assert any(line.startswith("YAML ") and "broken.yaml:" in line and "syntax error" in line for line in lines)


def test_unreadable_file(repo, tmp_path, capsys):
    path = tmp_path / "manifests" / "binary.yaml"
    path.parent.mkdir()
    path.write_bytes(b"kind: \xff\xfe\n")
    code, lines = validate(repo, path, capsys=capsys)
    assert code == 1
    assert any(line.startswith("YAML ") and "binary.yaml: cannot read" in line for line in lines), lines


def test_kustomization_that_fails_to_build(repo, capsys):
    bad = repo / "clusters" / "dev" / "kustomization.yaml"
    bad.write_text(bad.read_text() + "  - missing-patch.yaml\n".replace("  -", "patches:\n  - path:"))
    code, lines = validate(repo, repo / "clusters" / "dev", capsys=capsys)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("KUSTOMIZE clusters/dev: build failed: ")


def test_missing_path_is_exit_2(repo, capsys):
    assert main(["-C", str(repo), "validate", str(repo / "nope")]) == 2
    assert "nope: no such file or directory" in capsys.readouterr().err


def test_appset_generator_must_match(repo, capsys):
    import shutil

    for folder in (repo / "clusters").iterdir():
        shutil.rmtree(folder)
    (repo / "clusters" / ".keep").write_text("")
    code, lines = validate(repo, repo / "argocd", capsys=capsys)
    assert code == 1
    # Each ApplicationSet (the app's, the add-ons') matches nothing.
    assert sorted(line.split()[0] + " " + line.split()[2] for line in lines) == [
        "GO124 ApplicationSet/addons:",
        "GO124 ApplicationSet/flask-app:",
    ]


def test_argocd_alone_is_checked_against_the_repository_appprojects(repo, capsys):
    # The AppProjects live in argocd/projects/ (applied by an admin), not in argocd/'s render.
    assert validate(repo, repo / "argocd", capsys=capsys) == (0, [])
    root = repo / "argocd" / "application-root.yaml"
    root.write_text(root.read_text().replace("project: flask-gitops-bootstrap", "project: missing"))
    code, lines = validate(repo, repo / "argocd", capsys=capsys)
    assert code == 1
    assert [line.split()[0] for line in lines] == ["GO120"]
    assert "spec.project: AppProject 'missing' is not defined" in lines[0]


def test_an_appproject_in_the_run_wins_over_the_repository_one(repo, tmp_path, capsys):
    project = find(build(repo / "argocd" / "projects").documents(), "AppProject", "flask-gitops-bootstrap")
    project["spec"]["destinations"] = [{"name": "in-cluster", "namespace": "flask-app-dev"}]
    code, lines = validate(repo, repo / "argocd", write(tmp_path, [project]), capsys=capsys)
    assert code == 1
    assert [line.split()[:2] for line in lines] == [["GO121", "argocd:"]]
    assert "Application/flask-gitops-root: spec.destination: " in lines[0]


def test_repository_appprojects_that_do_not_build_are_a_failure(repo, capsys):
    projects = repo / "argocd" / "projects" / "kustomization.yaml"
    projects.write_text(projects.read_text() + "  - missing.yaml\n")
    code, lines = validate(repo, repo / "argocd", capsys=capsys)
    assert code == 1
    assert lines[0].startswith("KUSTOMIZE argocd/projects: build failed (its AppProjects are unknown): "), lines
    assert {line.split()[0] for line in lines[1:]} == {"GO120"}


def test_repository_passes_and_validation_changes_nothing(repo, capsys):
    before = snapshot(repo)
    code, lines = validate(repo, capsys=capsys)
    assert (code, lines) == (0, [])
    assert snapshot(repo) == before


def test_list_policies_documents_every_id(capsys):
    assert main(["-C", str(ROOT), "validate", "--list-policies"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == sorted(POLICIES)
    assert all(len(line) > 40 for line in out)


def test_docs_policy_table_is_the_registry(capsys):
    assert main(["-C", str(ROOT), "validate", "--list-policies=markdown"]) == 0
    table = capsys.readouterr().out
    page = (ROOT / "docs" / "validation.md").read_text()
    assert table in page, "docs/validation.md policy table is stale: paste 'gitops validate --list-policies=markdown'"
    assert table.count("\n") == len(POLICIES) + 2


def test_a_policy_is_switched_off_by_id_on_the_command_line(repo, tmp_path, good, capsys):
    docs = copy.deepcopy(good)
    in_container("securityContext.readOnlyRootFilesystem", False)(docs)
    path = write(tmp_path, docs)
    code = main(["-C", str(repo), "validate", "--skip-policy", "GO115", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert (code, out[:-1]) == (0, [])
    assert out[-1].endswith("(policies skipped: GO115)")


def test_a_policy_is_switched_off_by_id_in_gitops_yaml(repo, tmp_path, good, capsys):
    config = repo / "gitops.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["skipPolicies"] = ["GO113"]  # the key edited, never written twice (a duplicate key is refused)
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    docs = copy.deepcopy(good)
    drop("NetworkPolicy", "default-deny")(docs)
    code, lines = validate(repo, write(tmp_path, docs), capsys=capsys)
    assert (code, lines) == (0, [])


def test_an_unknown_policy_id_is_refused(repo, capsys):
    assert main(["-C", str(repo), "validate", "--skip-policy", "GO999"]) == 2
    assert "unknown policy id(s) GO999" in capsys.readouterr().err
