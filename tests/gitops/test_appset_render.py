"""The ApplicationSet as Argo CD renders it (appset-render: Argo CD's own generator and template code)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops.appset import render
from gitops.cli import main
from gitops.kustomize import build
from gitops.toolchain import repo_root, tool
from tests.gitops.conftest import git

ROOT = repo_root()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def argocd() -> list[dict]:
    return build(ROOT / "argocd").documents()


@pytest.fixture(scope="module")
def appset(argocd) -> dict:
    return next(d for d in argocd if d["kind"] == "ApplicationSet" and d["metadata"]["name"] == "flask-app")


def configs(root: Path) -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text()) for p in sorted((root / "clusters").glob("*/config.yaml"))}


def apps_by_name(appset: dict, root: Path) -> dict[str, dict]:
    (rendered,) = render([appset], root)
    assert rendered.errors == []
    return {a["metadata"]["name"]: a for a in rendered.applications}


def run_tool(root: Path, appset: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("appset-render"), "-root", str(root), "-"],
        input=json.dumps(appset),
        capture_output=True,
        text=True,
        check=False,
    )


def test_todays_repository_one_application_per_cluster_folder(appset, argocd):
    projects = [d for d in argocd if d["kind"] == "AppProject"]
    (rendered,) = render([appset], ROOT, projects)
    assert rendered.errors == []
    found = configs(ROOT)
    assert sorted(found) == ["dev", "prod-eu", "prod-us", "staging"]
    assert [a["metadata"]["name"] for a in rendered.applications] == [f"flask-app-{c}" for c in found]
    assert rendered.generated_from == [f"clusters/{c}/config.yaml" for c in found]
    for app, (folder, config) in zip(rendered.applications, found.items(), strict=True):
        assert (app["kind"], app["apiVersion"]) == ("Application", "argoproj.io/v1alpha1")
        assert app["metadata"]["namespace"] == "argocd"  # the ApplicationSet's own
        assert "finalizers" not in app["metadata"]  # preserveResourcesOnDeletion: nothing cascades
        assert "status" not in app
        spec = app["spec"]
        assert spec["project"] == "flask-app"
        assert spec["destination"] == {"name": config["cluster"]["name"], "namespace": config["namespace"]}
        assert spec["source"]["path"] == f"clusters/{folder}"
        assert ("automated" in spec["syncPolicy"]) is (config["autoSync"] is True)
        assert app["metadata"]["labels"]["flask-gitops/environment"] == config["environment"]
    prod = [a for a in rendered.applications if a["metadata"]["labels"]["flask-gitops/environment"] == "prod"]
    assert len(prod) == 2
    assert all("automated" not in a["spec"]["syncPolicy"] for a in prod)


def test_template_patch_is_applied_and_cannot_change_the_project(appset, tmp_path):
    shutil.copytree(ROOT / "clusters", tmp_path / "clusters")
    patched = copy.deepcopy(appset)
    patched["spec"]["templatePatch"] = (
        "metadata:\n  annotations:\n    from-patch: '{{ .cluster.name }}-{{ .path.basename }}'\n"
        "spec:\n  project: other\n"
        '{{- if eq .environment "dev" }}\n  revisionHistoryLimit: 3\n{{- end }}\n'
    )
    apps = apps_by_name(patched, tmp_path)
    assert apps["flask-app-dev"]["metadata"]["annotations"]["from-patch"] == "dev-dev"
    assert apps["flask-app-dev"]["spec"]["revisionHistoryLimit"] == 3
    assert "revisionHistoryLimit" not in apps["flask-app-staging"]["spec"]
    assert {a["spec"]["project"] for a in apps.values()} == {"flask-app"}  # Argo CD keeps the template's


def test_without_preserve_resources_argo_cd_adds_the_finalizer(appset, tmp_path):
    shutil.copytree(ROOT / "clusters", tmp_path / "clusters")
    changed = copy.deepcopy(appset)
    del changed["spec"]["syncPolicy"]
    apps = apps_by_name(changed, tmp_path)
    assert {tuple(a["metadata"]["finalizers"]) for a in apps.values()} == {("resources-finalizer.argocd.argoproj.io",)}


def test_string_false_auto_sync_is_automated(appset, tmp_path):
    # Go templates test a string's emptiness: "false" is true, as Argo CD renders it.
    shutil.copytree(ROOT / "clusters", tmp_path / "clusters")
    config = tmp_path / "clusters" / "prod-eu" / "config.yaml"
    config.write_text(config.read_text().replace("autoSync: false", 'autoSync: "false"'))
    apps = apps_by_name(appset, tmp_path)
    assert apps["flask-app-prod-eu"]["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in apps["flask-app-prod-us"]["spec"]["syncPolicy"]


def test_validate_flags_string_false_by_schema_and_on_the_rendered_application(repo, capsys):
    config = repo / "clusters" / "prod-eu" / "config.yaml"
    config.write_text(config.read_text().replace("autoSync: false", 'autoSync: "false"'))
    assert main(["-C", str(repo), "validate"]) == 1
    lines = capsys.readouterr().out.splitlines()[:-1]
    assert any(line.startswith("GO127 clusters/prod-eu/config.yaml") and "autoSync" in line for line in lines), lines
    rendered = [line for line in lines if line.startswith("GO144 argocd:")]
    assert len(rendered) == 1, lines
    assert ": ApplicationSet/flask-app: spec.template.spec.syncPolicy.automated: " in rendered[0]
    assert rendered[0].endswith("(for clusters/prod-eu/config.yaml)")


def test_missing_key_is_one_line_error_naming_the_file(appset, tmp_path):
    shutil.copytree(ROOT / "clusters", tmp_path / "clusters")
    config = tmp_path / "clusters" / "staging" / "config.yaml"
    config.write_text("".join(line for line in config.read_text().splitlines(True) if not line.startswith("url:")))
    result = run_tool(tmp_path, appset)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("-: ApplicationSet flask-app: clusters/staging/config.yaml: failed to execute go template ")
    assert line.endswith('map has no entry for key "url"')
    out = json.loads(result.stdout)["applicationSets"][0]
    # As in Argo CD, the other elements still render (the controller then updates none).
    assert [a["metadata"]["name"] for a in out["applications"]] == [
        "flask-app-dev",
        "flask-app-prod-eu",
        "flask-app-prod-us",
    ]
    assert out["errors"] == [
        {"field": "spec.template", "source": "clusters/staging/config.yaml", "message": line.split(": ", 3)[3]}
    ]


def test_missing_key_in_the_template_patch(appset, tmp_path):
    shutil.copytree(ROOT / "clusters", tmp_path / "clusters")
    changed = copy.deepcopy(appset)
    changed["spec"]["templatePatch"] = changed["spec"]["templatePatch"].replace(".autoSync", ".autoSyncc")
    (rendered,) = render([changed], tmp_path)
    assert [(e.field, e.source) for e in rendered.errors] == [
        ("spec.templatePatch", f"clusters/{c}/config.yaml") for c in ("dev", "prod-eu", "prod-us", "staging")
    ]
    assert all('map has no entry for key "autoSyncc"' in e.message for e in rendered.errors)
    assert rendered.applications == []


def test_validate_reports_a_missing_key_under_go124(repo, capsys):
    config = repo / "clusters" / "dev" / "config.yaml"
    config.write_text(config.read_text().replace("environment: dev\n", ""))
    assert main(["-C", str(repo), "validate"]) == 1
    lines = capsys.readouterr().out.splitlines()[:-1]
    go124 = [line for line in lines if line.startswith("GO124 ")]
    assert len(go124) == 1, lines
    assert go124[0].startswith("GO124 argocd: ApplicationSet/flask-app: spec.template: Argo CD cannot render it: ")
    assert go124[0].endswith(
        "clusters/dev/config.yaml: failed to execute go template {{ .environment }}: "
        'template: base:1:3: executing "base" at <.environment>: map has no entry for key "environment"'
    )
    assert any(line.startswith("GO127 clusters/dev/config.yaml") for line in lines), lines  # the schema too


def test_git_file_selection_is_the_repo_servers(appset, repo):
    # The pattern is a git pathspec: `*` crosses `/`. Untracked files count (the next
    # commit), ignored and deleted ones do not.
    nested = repo / "clusters" / "eu" / "extra"
    nested.mkdir(parents=True)
    shutil.copy(repo / "clusters" / "dev" / "config.yaml", nested / "config.yaml")
    text = (nested / "config.yaml").read_text().replace("name: dev", "name: nested")
    (nested / "config.yaml").write_text(text)
    ignored = repo / "clusters" / "scratch"
    ignored.mkdir()
    (ignored / "config.yaml").write_text(text.replace("name: nested", "name: scratch"))
    (repo / ".gitignore").write_text("clusters/scratch/\n")
    (repo / "clusters" / "staging" / "config.yaml").unlink()  # tracked, deleted in the working tree
    (rendered,) = render([appset], repo)
    assert rendered.errors == []
    assert rendered.generated_from == [
        "clusters/dev/config.yaml",
        "clusters/eu/extra/config.yaml",
        "clusters/prod-eu/config.yaml",
        "clusters/prod-us/config.yaml",
    ]
    nested_app = rendered.applications[1]
    assert nested_app["metadata"]["name"] == "flask-app-nested"
    assert nested_app["spec"]["source"]["path"] == "clusters/eu/extra"
    git(repo, "add", "-A")  # the same once committed
    assert render([appset], repo)[0].generated_from == rendered.generated_from


def test_plain_folder_and_directories_generator(tmp_path):
    # No git repository: every file not ignored. The directories generator skips hidden folders.
    for folder in ("apps/b", "apps/a", ".hidden/c", "apps/a/deep"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "kustomization.yaml").write_text("resources: []\n")
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "dirs", "namespace": "argocd"},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [
                {
                    "git": {
                        "repoURL": "https://example.invalid/r.git",
                        "revision": "HEAD",
                        "directories": [{"path": "*/*"}, {"path": "apps/b", "exclude": True}],
                    }
                }
            ],
            "template": {
                "metadata": {"name": "{{ .path.basenameNormalized }}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://example.invalid/r.git", "path": "{{ .path.path }}"},
                    "destination": {"name": "in-cluster", "namespace": "{{ index .path.segments 0 }}"},
                },
            },
        },
    }
    (rendered,) = render([appset], tmp_path)
    assert rendered.errors == []
    assert [(a["metadata"]["name"], a["spec"]["source"]["path"]) for a in rendered.applications] == [("a", "apps/a")]


def test_generators_that_need_a_live_argo_cd_are_refused_by_name(appset, tmp_path):
    changed = copy.deepcopy(appset)
    changed["spec"]["generators"] = [{"clusters": {}}]
    result = run_tool(tmp_path, changed)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "-: ApplicationSet flask-app: the Clusters generator asks a live service: it is not rendered offline"
    )
