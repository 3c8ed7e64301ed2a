"""The policy registry and runner, without kustomize: ids, reasons, skipping, no mutation."""

from __future__ import annotations

import copy
import re

import pytest

from gitops import policy
from gitops.policy.pod import RESTRICTED
from gitops.settings import repo_root


def deployment(**container: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1", **container}]}}},
    }


def findings(*bodies: dict, skip: tuple[str, ...] = ()) -> list[str]:
    docs = [policy.Doc("case", body) for body in bodies]
    return [str(f) for f in policy.run(docs, policy.Context(root=repo_root()), skip).findings]


def test_every_policy_is_registered_once_with_a_name_and_a_reason():
    assert len(policy.POLICIES) == 44
    for pid, entry in policy.POLICIES.items():
        assert re.fullmatch(r"GO\d{3}", pid)
        assert entry.id == pid
        assert re.fullmatch(r"[a-z-]+", entry.name)
        assert len(entry.reason) > 40
    assert len({p.name for p in policy.POLICIES.values()}) == len(policy.POLICIES)


def test_a_check_needs_a_new_id_and_a_reason():
    def again(doc, scope):
        """A second registration of the same id."""

    with pytest.raises(ValueError, match="GO101 registered twice"):
        policy.check("GO101", "again")(again)
    with pytest.raises(ValueError, match="GO999 has no reason"):
        policy.check("GO999", "unexplained")(lambda doc, scope: ())
    assert "GO999" not in policy.POLICIES


def test_run_changes_neither_its_documents_nor_its_context():
    docs = [policy.Doc("case", deployment()), policy.Doc("case", {"kind": "AppProject", "metadata": {"name": "p"}})]
    ctx = policy.Context(root=repo_root(), digest_required=frozenset({"prod"}))
    before = (copy.deepcopy(docs), copy.deepcopy(ctx))
    policy.run(docs, ctx)
    assert (docs, ctx) == before


def test_skipped_ids_do_not_run():
    everything = {line.split()[0] for line in findings(deployment())}
    assert "GO101" in everything
    assert {line.split()[0] for line in findings(deployment(), skip=("GO101", "GO104"))} == everything - {
        "GO101",
        "GO104",
    }
    with pytest.raises(ValueError, match="GO999"):
        findings(deployment(), skip=("GO999",))


@pytest.mark.parametrize("rule", RESTRICTED, ids=lambda rule: rule.field)
def test_each_restricted_rule_is_data_with_a_failing_value(rule):
    assert rule.level in {"pod", "container"}
    assert not rule.allowed(
        {
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "volumes[*].hostPath": {"path": "/"},
            "securityContext.runAsUser": 0,
            "securityContext.allowPrivilegeEscalation": True,
            "securityContext.privileged": True,
            "securityContext.capabilities.drop": ["NET_RAW"],
            "securityContext.capabilities.add": ["SYS_ADMIN"],
            "securityContext.runAsNonRoot": False,
            "securityContext.seccompProfile.type": "Unconfined",
        }[rule.field]
    )
    assert rule.message(["SYS_ADMIN"])
