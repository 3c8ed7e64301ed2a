"""docs/examples/clouds: each cloud's Service patch, copied into a prod cluster folder as
docs/clouds.md says, passes `gitops validate` (GO160 among the rest); without Local it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops.toolchain import repo_root
from tests.gitops.test_validate import validate

EXAMPLES = repo_root() / "docs" / "examples" / "clouds"
CLOUDS = ["aks", "eks", "gke"]


def test_one_example_per_cloud_and_the_page_names_each():
    assert sorted(p.name for p in EXAMPLES.iterdir()) == CLOUDS
    page = (repo_root() / "docs" / "clouds.md").read_text()
    for cloud in CLOUDS:
        assert f"examples/clouds/{cloud}/service-loadbalancer.yaml" in page


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_example_passes_in_a_prod_cluster(repo: Path, capsys, cloud):
    example = (EXAMPLES / cloud / "service-loadbalancer.yaml").read_text()
    assert yaml.safe_load(example)["spec"]["externalTrafficPolicy"] == "Local"
    (repo / "clusters" / "prod-eu" / "service-loadbalancer.yaml").write_text(example)
    assert validate(repo, repo / "clusters" / "prod-eu", capsys=capsys) == (0, [])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_example_without_local_is_refused(repo: Path, capsys, cloud):
    example = (EXAMPLES / cloud / "service-loadbalancer.yaml").read_text()
    (repo / "clusters" / "prod-eu" / "service-loadbalancer.yaml").write_text(
        example.replace("externalTrafficPolicy: Local", "externalTrafficPolicy: Cluster")
    )
    code, lines = validate(repo, repo / "clusters" / "prod-eu", capsys=capsys)
    assert code == 1
    assert [line.split(": ")[2] for line in lines] == ["spec.externalTrafficPolicy"], lines
    assert lines[0].startswith("GO160 clusters/prod-eu: Service/flask-app: spec.externalTrafficPolicy: "), lines
