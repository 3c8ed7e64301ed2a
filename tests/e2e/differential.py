"""The differential harness: one manifest case judged by `gitops validate` and by the API server.

The project's verdict is what `gitops validate` says of the documents, in-process: the
schema layer (kubeconform, strict, against the pinned Kubernetes versions, through
``gitops.validation.run_kubeconform``, one batch per test) and the policies
(``gitops.policy.run`` over the case's render, with the repository's gitops.yaml).

The server's verdict is a server-side apply dry run (``dryRun=All``,
``fieldValidation=Strict``, ``force=true``): what Argo CD's ServerSideApply sync sends and
what the e2e render test runs. A warning counts as a refusal, as there: the renders must
dry-run with zero errors and zero warnings. An apiVersion the server does not serve (by
its discovery) is a refusal too.

What "agree" means is per case:

- every case: the server refusing what the project accepts is a disagreement, and so is
  the schema layer refusing what the server accepts (it only checks formats) in the
  pinned Kubernetes version, the server's minor (validate also checks the oldest
  supported version, which may still require a field: that is stricter by design);
- a format rule (``Case.exact``): the rule's ids must refuse exactly what the server
  refuses;
- a cross-resource rule (``Case.normalize``): the rule's findings must be the same on the
  manifest and on the object as the server would store it (defaults filled in, converted
  into the version sent), so a rule cannot misread what an older apiVersion or an
  omitted field means. Otherwise such a rule, and a security rule, may be stricter than
  the server (which does not relate objects, and admits what the rule keeps out).
"""

from __future__ import annotations

import copy
import functools
import http.client
import json
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import yaml

from gitops import policy
from gitops.kustomize import build
from gitops.repo import Repo
from gitops.toolchain import kubernetes_versions, schemas_dir
from gitops.validation import Report, policy_context, run_kubeconform

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "flask-gitops-differential"
MANAGER = "flask-gitops-differential"
SOURCE = "clusters/dev"  # the render every case changes
ENVIRONMENT = "dev"
PINNED = kubernetes_versions()[0]  # the Kubernetes version validate pins (the e2e API server is its minor)
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
_WARNING = re.compile(r'^\d{3} \S+ "((?:[^"\\]|\\.)*)"')


# --- the API server ---------------------------------------------------------------------
@dataclass(frozen=True)
class ServerVerdict:
    status: int
    message: str = ""  # the error, when refused
    warnings: tuple[str, ...] = ()
    answer: dict | None = None  # the object as the server would store it (dry run)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return not self.ok or bool(self.warnings)

    def __str__(self) -> str:
        if not self.ok:
            return f"refused (HTTP {self.status}): {self.message}"
        if self.warnings:
            return "accepted with warnings (a refusal here): " + " | ".join(self.warnings)
        return "accepted"


class ApiServer:
    """One kept HTTPS connection to the API server of a kubeconfig (client certificate)."""

    def __init__(self, kubeconfig: Path, timeout: float = 30):
        config = json.loads(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        url = urlsplit(cluster["server"])
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])
        self.timeout = timeout
        self._connection: http.client.HTTPSConnection | None = None
        self.requests = 0
        # (apiVersion, kind) -> (resource, namespaced), for every served version
        self.resources: dict[tuple[str, str], tuple[str, bool]] = {}
        self.discover()

    def request(self, method: str, path: str, body: object = None, content_type: str = "application/json"):
        """(status, warnings, decoded JSON body) of one request; reconnects once when the connection dropped."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=self.timeout
                )
            try:
                self._connection.request(method, path, body=data, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                self._connection.close()
                self._connection = None
                if attempt == 2:
                    raise
                continue
            self.requests += 1
            warnings = tuple(
                match.group(1).replace('\\"', '"')
                for value in response.headers.get_all("Warning") or []
                if (match := _WARNING.match(value))
            )
            try:
                decoded = json.loads(raw) if raw else {}
            except ValueError:
                decoded = {"message": raw.decode(errors="replace")[:500]}
            return response.status, warnings, decoded
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> dict:
        status, _, body = self.request("GET", path)
        assert status == 200, f"GET {path}: HTTP {status}: {body}"
        return body

    def discover(self) -> None:
        """Every kind of every group version the server serves (its discovery, as kubectl reads it)."""
        versions = [f"/api/{v}" for v in self.get_json("/api")["versions"]]
        for group in self.get_json("/apis")["groups"]:
            versions += [f"/apis/{v['groupVersion']}" for v in group["versions"]]
        for path in versions:
            listing = self.get_json(path)
            for resource in listing["resources"]:
                if "/" not in resource["name"]:
                    key = (listing["groupVersion"], resource["kind"])
                    self.resources[key] = (resource["name"], resource["namespaced"])

    def served(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.resources

    def versions(self, kind: str, group: str) -> list[str]:
        """The served apiVersions of ``kind`` in ``group`` ("" for the core group)."""
        return sorted(
            version
            for version, k in self.resources
            if k == kind and (version.rpartition("/")[0] if "/" in version else "") == group
        )

    def _path(self, obj: dict, named: bool = True) -> str | None:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        found = self.resources.get((api_version, kind))
        if found is None:
            return None
        resource, namespaced = found
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced:
            base += f"/namespaces/{quote((obj.get('metadata') or {}).get('namespace') or NAMESPACE, safe='')}"
        base += f"/{resource}"
        if named:
            base += f"/{quote(str((obj.get('metadata') or {}).get('name', '')), safe='')}"
        return base

    def _verdict(self, obj: dict, method: str, path: str | None, query: dict, content_type: str) -> ServerVerdict:
        if path is None:
            return ServerVerdict(404, f"{obj.get('apiVersion')} {obj.get('kind')} is not served (discovery)")
        status, warnings, body = self.request(method, f"{path}?{urlencode(query)}", obj, content_type)
        if 200 <= status < 300:
            return ServerVerdict(status, "", warnings, body)
        return ServerVerdict(status, str(body.get("message", body))[:2000], warnings)

    def dry_run(self, obj: dict) -> ServerVerdict:
        """A server-side apply dry run, strict about fields (kubectl apply --server-side --dry-run=server)."""
        query = {"dryRun": "All", "fieldManager": MANAGER, "fieldValidation": "Strict", "force": "true"}
        return self._verdict(obj, "PATCH", self._path(obj), query, "application/apply-patch+yaml")

    def dry_run_create(self, obj: dict) -> ServerVerdict:
        """A create dry run (POST): the name is validated as part of the object, not the URL.

        409 (it exists) comes after validation: the object, name included, is valid.
        """
        query = {"dryRun": "All", "fieldManager": MANAGER, "fieldValidation": "Strict"}
        verdict = self._verdict(obj, "POST", self._path(obj, named=False), query, "application/json")
        return ServerVerdict(200, "", verdict.warnings) if verdict.status == 409 else verdict

    def apply(self, obj: dict) -> dict:
        """A real server-side apply; the stored object."""
        query = {"fieldManager": MANAGER, "fieldValidation": "Strict", "force": "true"}
        verdict = self._verdict(obj, "PATCH", self._path(obj), query, "application/apply-patch+yaml")
        assert verdict.ok, f"apply {obj.get('kind')}/{obj['metadata']['name']}: {verdict}"
        return verdict.answer or {}

    def get(self, api_version: str, kind: str, name: str, namespace: str = NAMESPACE) -> dict | None:
        path = self._path({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}})
        status, _, body = self.request("GET", path)
        return body if status == 200 else None

    def delete(self, api_version: str, kind: str, name: str, namespace: str = NAMESPACE) -> None:
        path = self._path({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}})
        status, _, body = self.request("DELETE", path + "?propagationPolicy=Background")
        assert status in (200, 202, 404), f"DELETE {path}: HTTP {status}: {body}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# --- the project ------------------------------------------------------------------------
@functools.cache
def _render() -> str:
    docs = build(ROOT / "clusters" / "dev").documents()
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if "namespace" in meta:
            meta["namespace"] = NAMESPACE
    return json.dumps(docs)


def base_render() -> list[dict]:
    """The dev cluster's render (built once), every object in the differential namespace (cluster-scoped ones
    keep theirs): a fresh copy each call."""
    return json.loads(_render())


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def index(docs: list[dict], kind: str, name: str | None = None) -> int:
    return docs.index(find(docs, kind, name))


class Project:
    """`gitops validate`'s layers, called the way it calls them."""

    def __init__(self) -> None:
        self.context = policy_context(Repo.load(ROOT))
        self.schemas = schemas_dir()

    def findings(self, docs: Iterable[dict], stage: str = policy.DOCUMENT) -> list[policy.Finding]:
        """The policies' findings on one render (the document stage), or on cluster inputs (the input stage)."""
        source = SOURCE if stage == policy.DOCUMENT else f"{SOURCE}/config.yaml"
        bodies = [policy.Doc(source, copy.deepcopy(d), ENVIRONMENT) for d in docs]
        return policy.run(bodies, self.context, stage=stage).findings

    def schema_errors(self, batches: Sequence[Sequence[dict]]) -> list[list[str]]:
        """kubeconform's errors per batch of documents, in one run over all of them."""
        rendered = []
        for i, docs in enumerate(batches):
            rendered += [(f"case-{i}-doc-{j}", yaml.safe_dump(d, sort_keys=False)) for j, d in enumerate(docs)]
        report = Report()
        run_kubeconform(rendered, self.schemas, report)
        errors: list[list[str]] = [[] for _ in batches]
        for line in report.errors:
            label = line.split()[1].rstrip(":")
            errors[int(label.split("-")[1])].append(line)
        return errors


# --- cases and verdicts -------------------------------------------------------------------
@dataclass
class Case:
    """One variant: the documents of a render, which of them the server judges, and what must agree."""

    rule: str  # the rule (and policy ids) under test, as reported
    what: str  # the varied value(s), one line
    docs: list[dict]
    sent: tuple[int, ...]  # the documents the case changed: the server judges these
    ids: frozenset[str]  # the policy ids that read the varied fields
    exact: bool  # a format rule: the ids must refuse exactly what the server refuses
    normalize: tuple[int, ...] = ()  # cross-resource: these documents are re-read as the server stores them
    create: bool = False  # judge with a create dry run (the name is what varies) instead of an apply
    checked: list[dict] | None = None  # what validate checks, when not ``docs`` (an input file)
    stage: str = policy.DOCUMENT

    def key(self) -> str:
        return json.dumps([self.rule, self.docs, self.sent], sort_keys=True, default=str)


@dataclass
class Judged:
    case: Case
    server: list[ServerVerdict]
    schema: list[str]
    findings: list[policy.Finding]
    normalized: list[policy.Finding] | None = None
    problems: list[str] = field(default_factory=list)

    def rule_findings(self, findings: Iterable[policy.Finding]) -> set[tuple[str, str, str]]:
        return {(f.id, f.resource, f.field) for f in findings if f.id in self.case.ids}

    def report(self) -> str:
        sent = [self.case.docs[i] for i in self.case.sent]
        lines = [
            f"--- {self.case.rule}: {self.case.what}",
            *(f"DISAGREEMENT: {p}" for p in self.problems),
            "API server:",
            *(
                f"  {d.get('apiVersion')} {d.get('kind')}/{(d.get('metadata') or {}).get('name')}: {v}"
                for d, v in zip(sent, self.server, strict=True)
            ),
            "gitops validate:",
            *(f"  {line}" for line in self.schema),
            *(f"  {f}" for f in self.findings),
        ]
        if not self.schema and not self.findings:
            lines.append("  no finding")
        if self.normalized is not None:
            lines += ["the rule on the objects as the server stores them:"]
            lines += [f"  {f}" for f in self.normalized if f.id in self.case.ids] or ["  no finding"]
        lines += ["manifests sent:", yaml.safe_dump_all(sent, sort_keys=False).rstrip()]
        return "\n".join(lines)


def judge(api: ApiServer, project: Project, cases: Sequence[Case]) -> list[Judged]:
    """Every case through the server (per sent document) and the project (schema layer batched)."""
    schema = project.schema_errors([[c.docs[i] for i in c.sent] for c in cases])
    out = []
    for case, schema_errors in zip(cases, schema, strict=True):
        server = [(api.dry_run_create if case.create else api.dry_run)(case.docs[i]) for i in case.sent]
        findings = project.findings(case.docs if case.checked is None else case.checked, case.stage)
        judged = Judged(case, server, schema_errors, findings)
        server_refuses = any(v.refused for v in server)
        project_refuses = bool(schema_errors or findings)
        rule_refuses = bool(schema_errors) or any(f.id in case.ids for f in findings)
        if server_refuses and not project_refuses:
            judged.problems.append("the API server refuses what gitops validate accepts")
        elif case.exact and server_refuses and not rule_refuses:
            judged.problems.append(f"the API server refuses what {case.rule} accepts (a format rule must agree)")
        # The schema layer also checks the oldest supported Kubernetes (a field it lacks, a field it still
        # requires): only its verdict for the pinned version, the server's minor, must match the server's.
        if any(f"Kubernetes {PINNED}:" in line for line in schema_errors) and not server_refuses:
            judged.problems.append(f"the schema layer (Kubernetes {PINNED}) refuses what the API server accepts")
        if case.exact and rule_refuses and not server_refuses:
            judged.problems.append(f"{case.rule} refuses what the API server accepts (a format rule must agree)")
        if case.normalize and not server_refuses:
            stored = list(case.docs)
            for i in case.normalize:
                answer = server[case.sent.index(i)].answer or {}
                stored[i] = {k: v for k, v in answer.items() if k != "status"}
            judged.normalized = project.findings(stored)
            if judged.rule_findings(findings) != judged.rule_findings(judged.normalized):
                judged.problems.append(
                    f"{case.rule} reads the manifest and the object the API server stores differently"
                )
        out.append(judged)
    return out


def unique(cases: Iterable[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        seen.setdefault(case.key(), case)
    return list(seen.values())
