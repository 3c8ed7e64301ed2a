"""Admission: the repository's own ValidatingAdmissionPolicies deny, they do not only report."""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Doc, Outcome, Scope, check


@check("GO151", "admission-deny")
def admission_deny(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An admission policy is a defence only when it refuses: a binding whose
    validationActions lack `Deny` (only `Audit` or `Warn`) lets every refused object in, and
    a policy with `failurePolicy: Ignore` lets everything in whenever it cannot evaluate."""
    spec = doc.body.get("spec") or {}
    if not isinstance(spec, dict):
        return
    if doc.kind == "ValidatingAdmissionPolicyBinding":
        actions = spec.get("validationActions") or []
        problem = f"{actions} does not deny: a refused object is admitted" if "Deny" not in actions else None
        yield Outcome("spec.validationActions", problem)
    elif doc.kind == "ValidatingAdmissionPolicy":
        policy = spec.get("failurePolicy", "Fail")
        problem = f"{policy!r}: an error in the policy admits the object (use Fail)" if policy != "Fail" else None
        yield Outcome("spec.failurePolicy", problem)
