"""Generate the JSON schemas kubeconform validates against, locally and offline.

Kubernetes: from the schema data of the pinned `kubernetes-validate` package, whose
per-kind files point into a shared `_definitions.json`; each kind is made standalone
(its definitions copied in, references rewritten) so kubeconform needs nothing else.

Argo CD: from the CRDs of the pinned Argo CD Go module (manifests/crds/), strict
(unknown fields rejected wherever the CRD does not preserve them).

The layout is kubeconform's own:
  OUT/v{VERSION}-standalone-strict/{kind}-{group}-{version}.json

Usage: python -m gitops.kube_schemas --out DIR --kubernetes 1.34.0 [--kubernetes ...] --crds DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import yaml

_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")
LOCATION = "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"


class SchemaError(Exception):
    """A schema source is missing or malformed."""


def kubernetes_source(version: str) -> Path:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    src = base / f"v{version}-local-strict"
    if not src.is_dir():
        known = sorted(p.name for p in base.iterdir() if p.name.endswith("-local-strict"))
        raise SchemaError(f"kubernetes-validate has no schemas for {version} (it has: {', '.join(known)})")
    return src


def _refs(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            match = _REF.match(ref)
            if match:
                found.add(match.group(1))
                node["$ref"] = f"#/$defs/{match.group(1)}"
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def standalone(schema: dict, definitions: dict) -> dict:
    """Copy ``schema`` with every definition it reaches embedded under ``$defs``."""
    schema = json.loads(json.dumps(schema))
    schema.pop("$id", None)
    pending: set[str] = set()
    _refs(schema, pending)
    embedded: dict[str, object] = {}
    while pending:
        name = pending.pop()
        if name in embedded:
            continue
        if name not in definitions:
            raise SchemaError(f"definition {name} is referenced but missing")
        definition = json.loads(json.dumps(definitions[name]))
        embedded[name] = definition
        found: set[str] = set()
        _refs(definition, found)
        pending |= found - embedded.keys()
    if embedded:
        schema["$defs"] = dict(sorted(embedded.items()))
    return schema


def kubernetes_schemas(version: str) -> dict[str, dict]:
    """File name -> standalone strict schema, for every top-level kind of ``version``."""
    src = kubernetes_source(version)
    definitions = json.loads((src / "_definitions.json").read_text())["$defs"]
    out: dict[str, dict] = {}
    for path in sorted(src.glob("*.json")):
        if path.name in {"_definitions.json", "all.json"}:
            continue
        schema = json.loads(path.read_text())
        if "x-kubernetes-group-version-kind" not in schema:
            continue
        props = schema.get("properties", {})
        if "kind" not in props or "apiVersion" not in props:
            continue
        out[path.name] = standalone(schema, definitions)
    return out


def _strict(node: object) -> None:
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def crd_schemas(crds_dir: Path) -> dict[str, dict]:
    """File name -> strict schema for every served version of every CRD in ``crds_dir``."""
    out: dict[str, dict] = {}
    files = sorted(crds_dir.glob("*.yaml"))
    if not files:
        raise SchemaError(f"{crds_dir}: no CRD files (run 'make tools')")
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            group = spec["group"]
            kind = spec["names"]["kind"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if not schema:
                    raise SchemaError(f"{path}: {kind} {version['name']} has no openAPIV3Schema")
                schema = json.loads(json.dumps(schema))
                _strict(schema)
                props = schema.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                props["kind"] = {"type": "string", "enum": [kind]}
                props.setdefault("metadata", {"type": "object"})
                name = f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"
                out[name] = {"$schema": "http://json-schema.org/draft-07/schema#", **schema}
    return out


def write_tree(out: Path, versions: list[str], crds_dir: Path) -> dict[str, int]:
    """Write every version's folder atomically (built aside, then renamed into place)."""
    out.mkdir(parents=True, exist_ok=True)
    crds = crd_schemas(crds_dir)
    counts = {}
    for version in versions:
        schemas = kubernetes_schemas(version)
        overlap = schemas.keys() & crds.keys()
        if overlap:
            raise SchemaError(f"CRD schema names clash with Kubernetes ones: {sorted(overlap)}")
        schemas.update(crds)
        final = out / f"v{version}-standalone-strict"
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out))
        for name, schema in schemas.items():
            (staging / name).write_text(json.dumps(schema, separators=(",", ":")))
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=out))
            os.rename(final, old / "x")
            _rmtree(old)
        os.rename(staging, final)
        counts[version] = len(schemas)
    return counts


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitops.kube_schemas", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kubernetes", action="append", required=True, metavar="VERSION")
    parser.add_argument("--crds", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        counts = write_tree(args.out, args.kubernetes, args.crds)
    except (SchemaError, OSError, yaml.YAMLError) as exc:
        print(f"gitops.kube_schemas: error: {exc}", file=sys.stderr)
        return 2
    for version, count in counts.items():
        print(f"schemas: {count} schemas for Kubernetes {version} (+ Argo CD CRDs) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
