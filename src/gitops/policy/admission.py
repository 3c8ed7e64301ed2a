"""Admission: the repository's own ValidatingAdmissionPolicies deny, they do not only report."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator

from .registry import Doc, Outcome, Scope, check

# Kinds that change what the API server admits or mutates cluster-wide: the app ships none.
FORBIDDEN_KINDS = {
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
}
# The reviewed image policy (apps/flask-app/base/validatingadmissionpolicy.yaml), as sha256
# of its spec with the two values that vary by repository and environment blanked (the
# repository, and digestRequired). Any other change to what it admits is a change to this
# line, reviewed with the code (the finding prints the new value).
REVIEWED_POLICY = "d5fe144fb113c1138fa6a28e55b64eb5ab453722b76de850058af83aaa995677"
VARYING = ("digestRequired", "repository")


def reviewed_digest(spec: dict) -> str:
    """sha256 of the policy ``spec`` with the VARYING variables' expressions blanked."""
    spec = copy.deepcopy(spec)
    for variable in spec.get("variables") or []:
        if isinstance(variable, dict) and variable.get("name") in VARYING:
            variable["expression"] = ""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


# Binding fields that narrow what the policy sees.
NARROWING = ("excludeResourceRules", "objectSelector", "resourceRules")


@check("GO151", "admission-deny")
def admission_deny(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An admission policy is a defence only when it refuses, and sees what it guards: a
    binding whose validationActions lack `Deny` lets every refused object in; one whose
    namespace selector is not the app's namespace, or that excludes resources, guards
    nothing; a policy changed from its reviewed form (its match conditions, variables and
    validations are pinned by a hash), with `failurePolicy: Ignore` or a
    validation that is always true admits everything; webhooks and mutating policies change
    what every namespace admits."""
    spec = doc.body.get("spec") or {}
    if doc.kind in FORBIDDEN_KINDS:
        yield Outcome("kind", f"a {doc.kind} changes what the API server admits everywhere")
    if not isinstance(spec, dict):
        return
    if doc.kind == "ValidatingAdmissionPolicyBinding":
        actions = spec.get("validationActions") or []
        problem = f"{actions} does not deny: a refused object is admitted" if "Deny" not in actions else None
        yield Outcome("spec.validationActions", problem)
        match = spec.get("matchResources") or {}
        for key in NARROWING:
            if key in match:
                yield Outcome(f"spec.matchResources.{key}", "narrows what the policy sees")
        namespaces = {d.namespace for d in scope.render if d.kind == "Deployment" and d.namespace}
        selector = match.get("namespaceSelector")
        wanted = [{"matchLabels": {"kubernetes.io/metadata.name": ns}} for ns in sorted(namespaces)]
        if wanted:
            problem = f"{selector} is not the app's namespace {sorted(namespaces)}"
            yield Outcome("spec.matchResources.namespaceSelector", None if selector in wanted else problem)
        policies = {d.name for d in scope.render if d.kind == "ValidatingAdmissionPolicy"}
        if policies:
            name = spec.get("policyName")
            yield Outcome("spec.policyName", None if name in policies else f"{name!r} is no policy of this render")
    elif doc.kind == "ValidatingAdmissionPolicy":
        digest = reviewed_digest(spec)
        problem = f"not the reviewed image policy (sha256 {digest}: REVIEWED_POLICY in policy/admission.py)"
        yield Outcome("spec", None if digest == REVIEWED_POLICY else problem)
        policy = spec.get("failurePolicy", "Fail")
        problem = f"{policy!r}: an error in the policy admits the object (use Fail)" if policy != "Fail" else None
        yield Outcome("spec.failurePolicy", problem)
        for i, validation in enumerate(spec.get("validations") or []):
            expression = str((validation or {}).get("expression", "")).strip() if isinstance(validation, dict) else ""
            constant = expression.lower() in ("true", "1 == 1", "!false") or not expression
            yield Outcome(f"spec.validations[{i}].expression", "always true: admits everything" if constant else None)
