"""`gitops configure`: this fork's repository URL and image name, everywhere or nowhere."""

from __future__ import annotations

import os

from tests.gitops.conftest import refused, run, snapshot


def test_non_utf8_file_that_configure_rewrites(repo, capsys):
    (repo / "README.md").write_bytes(b"registry.example.com/example-org/flask-app \xff\n")
    refused(repo, capsys, 2, ["configure", "--image", "registry.example.net/acme/app"], "README.md: cannot read")


def test_configure_refuses_a_symlink_and_writes_nothing(repo, capsys):
    target = repo / "argocd" / "applicationset.yaml"
    real = repo / "argocd" / "applicationset-real.yaml"
    target.rename(real)
    os.symlink(real.name, target)
    refused(repo, capsys, 2, ["configure", "--repo", "https://git.example.org/acme/x.git"], "is a symbolic link")


def test_configure_rewrites_url_and_image_everywhere(repo, capsys):
    url = "https://git.example.org/acme/platform.git"
    image = "registry.example.org/acme/flask-app"
    assert run(repo, "configure", "--repo", url, "--image", image) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("validate: ")
    # The notifications' GitHub API URL has no equivalent on another forge: named, not guessed.
    notifications = "argocd/notifications/argocd-notifications-cm.yaml"
    assert f"configure: note: {notifications} still names the old repository" in out
    texts = {p: p.read_text() for p in repo.rglob("*.yaml") if ".git" not in p.parts}
    joined = "".join(t for p, t in texts.items() if not str(p).endswith(notifications))
    assert "example-org" not in joined
    # gitops.yaml, three AppProjects, two ApplicationSets (x2 each), root app
    assert joined.count(url) == 9
    assert "https://git.example.org/acme/platform/tree/main/" in joined
    assert joined.count(f"newName: {image}\n") == 3
    # The add-on's mirror moves with the app's registry and owner (addons/metrics-server).
    assert joined.count("newName: registry.example.org/acme/metrics-server\n") == 1
    assert run(repo, "configure", "--repo", url, "--image", image) == 0
    assert "already configured" in capsys.readouterr().out


def test_configure_rewrites_the_github_api_url_for_a_github_fork(repo, capsys):
    assert run(repo, "configure", "--repo", "https://github.com/acme/platform.git", "--no-validate") == 0
    assert "note:" not in capsys.readouterr().out
    texts = "".join(p.read_text() for p in repo.rglob("*.yaml") if ".git" not in p.parts)
    assert "example-org/flask-gitops" not in texts
    assert "https://api.github.com/repos/acme/platform/dispatches" in texts


def test_configure_rejects_bad_input_and_touches_nothing(repo, capsys):
    before = snapshot(repo)
    assert run(repo, "configure", "--repo", "ftp://x; rm -rf /") == 2
    assert run(repo, "configure", "--image", "acme/Flask-App") == 2
    assert snapshot(repo) == before


def test_configure_refuses_an_image_the_addons_cannot_sit_beside(repo, capsys):
    # The add-on's mirror is the image's registry and owner with the add-on's name (repo.Addon.mirror).
    mirror = "registry.example.org/acme/metrics-server"
    refused(repo, capsys, 2, ["configure", "--image", mirror], f"--image '{mirror}'", "add-on metrics-server's mirror")
    for image in ("flask-app", "acme/flask-app"):
        refused(repo, capsys, 2, ["configure", "--image", image], f"--image '{image}': name its registry")
