"""`gitops render`: every cluster's, overlay's and argocd/ folder's rendered manifests."""

from __future__ import annotations

from tests.gitops.conftest import run


def test_render_writes_every_target(repo, tmp_path, capsys):
    out = tmp_path / "rendered"
    assert run(repo, "render", "--out", str(out)) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "argocd.yaml",
            "argocd__destinations.yaml",
            "argocd__notifications.yaml",
            "argocd__projects.yaml",
            "argocd__settings.yaml",
            "apps__flask-app__overlays__dev.yaml",
            "apps__flask-app__overlays__staging.yaml",
            "apps__flask-app__overlays__prod.yaml",
            "clusters__dev.yaml",
            "clusters__staging.yaml",
            "clusters__prod-eu.yaml",
            "clusters__prod-us.yaml",
        ]
    )
    assert "kind: HorizontalPodAutoscaler" in (out / "clusters__dev.yaml").read_text()
    assert "kind: ValidatingAdmissionPolicy\n" in (out / "clusters__dev.yaml").read_text()
    assert "kind: AppProject" in (out / "argocd__projects.yaml").read_text()
    assert "kind: AppProject" not in (out / "argocd.yaml").read_text()
