"""gitops.file_schemas: the one schema of gitops.yaml and of a cluster's config.yaml."""

from __future__ import annotations

import pytest

from gitops.errors import GitopsError


def test_cluster_names_and_namespaces_are_dns_labels_to_the_end():
    """jsonschema's Python '$' matched before a final newline: "dev\n" passed as a DNS label."""
    from gitops.file_schemas import cluster_config_problems

    config = {"cluster": {"name": "dev\n"}, "environment": "dev", "namespace": "app\n", "autoSync": True,
              "url": "https://dev.example.com\n"}  # fmt: skip
    fields = {where for where, _ in cluster_config_problems(config, ("dev",))}
    assert fields == {"cluster.name", "namespace", "url"}


def test_reviewed_appproject_names_refuse_a_trailing_newline():
    from gitops import file_schemas

    good = {"repoURL": "https://example.org/o/r.git", "image": "example.org/o/app", "environments": ["dev"]}
    assert file_schemas.check(good | {"reviewedAppProjects": ["flask-app"]}, file_schemas.GITOPS_YAML, "gitops.yaml")
    with pytest.raises(GitopsError, match=r"^gitops\.yaml: reviewedAppProjects\[0\]: "):
        file_schemas.check(good | {"reviewedAppProjects": ["flask-app\n"]}, file_schemas.GITOPS_YAML, "gitops.yaml")
