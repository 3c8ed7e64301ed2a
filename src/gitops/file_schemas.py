"""The schemas of gitops.yaml and of each cluster's config.yaml, as JSON schemas.

gitops.yaml: a file that does not match is a one-line error naming the file and the
field; nothing downstream ever sees a value of the wrong type. The repository URL and
image name patterns are the ones `gitops configure` accepts.

clusters/<cluster>/config.yaml (``cluster_config_schema``): the ApplicationSet turns every
one into an Application with `missingkey=error`, so an unknown key, a missing one or a
wrong type breaks or silently changes what Argo CD does (`autoSync: "false"` is a
non-empty string, so true). ``cluster_config_problems`` lists every problem, one
(field, message) pair each: the repository model keeps them, `gitops validate` reports
them (GO127) and the other commands stop at the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from . import oci
from .errors import GitopsError, one_line

# https anywhere, plain http only on this machine (the local remote of `make up`), or ssh.
REPO_URL = (
    r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+"
    r"|http://(127\.0\.0\.1|localhost)(:[0-9]+)?/[A-Za-z0-9._/-]+"
    r"|git@[A-Za-z0-9.-]+:[A-Za-z0-9._/-]+"
)
REPO_URL_RE = re.compile(REPO_URL)
# The end of a pattern: Python's '$' (jsonschema's) also matches before a final newline, so
# "dev\n" passed as a DNS label; '(?!\n)' keeps the pattern ECMA-262 (JSON Schema's dialect).
END = r"$(?!\n)"
NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?" + END  # a DNS label: environments, the app, cluster names
# https, a host (and port), an optional path; no query, fragment or trailing slash (the
# ApplicationSet appends /version).
HTTPS_URL = r"^https://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[^\s?#]*[^\s?#/])?" + END
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
DURATION = r"^[1-9][0-9]{0,4}[smh]" + END  # 30s, 10m, 1h: never 0 (that would switch the wait off)
# A folder inside the repository: relative, no `..`, no empty or hidden components.
FOLDER = r"^(?!/)(?!.*(^|/)\.)(?!.*//)[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}\Z"


def _string(pattern: str, description: str, max_length: int = 255) -> dict:
    return {"type": "string", "pattern": pattern, "maxLength": max_length, "description": description}


GITOPS_YAML = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gitops.yaml",
    "type": "object",
    "additionalProperties": False,
    "required": ["repoURL", "image", "environments"],
    "properties": {
        "repoURL": _string(f"^(?:{REPO_URL})\\Z", "a Git URL: https://host/owner/name(.git) or git@host:owner/name"),
        "image": _string(f"^(?:{oci.NAME_RE.pattern})\\Z", "an image name without tag (OCI reference grammar)"),
        "app": _string(NAME, "a DNS label, the images: entry name", 63),
        "overlays": _string(FOLDER, "a folder inside the repository", 200),
        "clusters": _string(FOLDER, "a folder inside the repository", 200),
        "environments": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "uniqueItems": True,
            "items": _string(NAME, "an environment name, a DNS label", 63),
        },
        "digestRequired": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(NAME, "an environment name", 63),
        },
        "skipPolicies": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(r"^[A-Z]{2}[0-9]{3}\Z", "a policy id such as GO116", 5),
        },
        "manualSync": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(NAME, "an environment name", 63),
        },
        "reviewedAppProjects": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(DNS_SUBDOMAIN, "an AppProject name (a DNS subdomain)", 253),
        },
        # What Argo CD is told beyond a path (policy/controls.py): deny by default.
        "argocd": _string(FOLDER, "a folder inside the repository", 200),
        "revision": _string(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}\Z", "a branch name or HEAD", 200),
        "reviewedSyncOptions": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(r"^[A-Za-z]+=[A-Za-z0-9,-]+\Z", "a sync option such as PruneLast=true", 100),
        },
        "reviewedAnnotations": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(r"^[a-z0-9.-]+/[A-Za-z0-9._-]+=[^\n]*\Z", "an annotation as key=value", 300),
        },
        "reviewedAppFields": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(
                r"^[A-Za-z]+(\.[A-Za-z]+)*\Z", "an Application spec field such as source.kustomize.images", 200
            ),
        },
        "reviewedFinalizers": {
            "type": "array",
            "uniqueItems": True,
            "items": _string(r"^[a-z0-9.-]+=[a-z0-9.-]+(/[a-z0-9.-]+)?\Z", "APPLICATION=FINALIZER", 300),
        },
        "reviewedGenerators": {
            "type": "array",
            "uniqueItems": True,
            "items": {"enum": ["git", "list", "matrix", "merge"]},
        },
        # The promotion gate's wait (health.py): stable health for healthyFor, and per
        # environment a longer soak before it is promoted from.
        "healthyFor": _string(DURATION, "a duration such as 30s, 10m or 1h", 8),
        "soak": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"type": "string", "pattern": NAME},
            "additionalProperties": _string(DURATION, "a duration such as 30s, 10m or 1h", 8),
        },
    },
}

_UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    """A duration the schema accepted (``30s``, ``10m``, ``1h``), in seconds."""
    return int(duration[:-1]) * _UNITS[duration[-1]]


_VALIDATORS = {id(schema): Draft202012Validator(schema) for schema in (GITOPS_YAML,)}


def check(data: object, schema: dict, where: str) -> dict:
    """``data`` when it matches ``schema``; else a one-line GitopsError naming the field."""
    error = best_match(_VALIDATORS[id(schema)].iter_errors(data))
    if error is None:
        return data  # type: ignore[return-value]
    raise GitopsError(one_line(f"{where}: {_field(error)}: {_message(error)}"))


def _field(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return path or "(top level)"


def _message(error: ValidationError) -> str:
    if error.validator == "pattern":
        return f"{_short(error.instance)} is not {error.schema.get('description', 'allowed here')}"
    if error.validator == "type":
        return f"expected {error.validator_value}, found {_type_name(error.instance)}"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)
        return f"unknown field(s) {', '.join(_short(k) for k in extra)}"
    if error.validator == "uniqueItems":
        return "lists a value twice"
    return error.message


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def cluster_config_schema(environments: tuple[str, ...]) -> dict:
    """The JSON Schema of clusters/<cluster>/config.yaml (environments from gitops.yaml)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "clusters/<cluster>/config.yaml",
        "type": "object",
        "additionalProperties": False,
        "required": ["cluster", "environment", "namespace", "autoSync", "url"],
        "properties": {
            "cluster": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": {"type": "string", "pattern": NAME}},
            },
            "environment": {"type": "string", "enum": list(environments)},
            "namespace": {"type": "string", "pattern": NAME},
            "autoSync": {"type": "boolean"},
            "url": {"type": "string", "pattern": HTTPS_URL},
        },
    }


# What a pattern and a type mean, for the one-line problems of a cluster's config.yaml.
PATTERNS = {NAME: "a DNS label (a-z, 0-9, '-', at most 63)", HTTPS_URL: "an https:// URL without query or '/' end"}
_TYPE_NAMES: dict[object, str] = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
    "string": "a string",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
}


def _dotted(path: object) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _cluster_config_errors(error: ValidationError, environments: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """The (field, message) pairs of one schema error: one per unknown or missing key."""
    where = list(error.path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(known)):
            close = difflib.get_close_matches(str(key), known, n=1) or [k for k in known if k.lower() == key.lower()]
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            yield _dotted([*where, key]), f"unknown key ({hint})"
        return
    if error.validator == "required":
        for key in error.validator_value:
            if key not in error.instance:
                yield _dotted([*where, key]), "missing (the ApplicationSet template needs it)"
        return
    if error.validator == "enum":
        message = f"{error.instance!r} is not an environment of gitops.yaml ({', '.join(environments)})"
    elif error.validator == "type":
        found_type = _TYPE_NAMES.get(type(error.instance), "a value")
        message = f"{error.instance!r} is {found_type}, not {_TYPE_NAMES[error.validator_value]}"
        if error.validator_value == "boolean":
            message += " (write true or false, unquoted)"
    elif error.validator == "pattern":
        message = f"{error.instance!r} is not {PATTERNS.get(error.validator_value, error.validator_value)}"
    else:
        message = error.message
    yield _dotted(where), message


def cluster_config_problems(config: object, environments: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Every problem of a cluster's config.yaml content, (field, message), each once, by field."""
    validator = Draft202012Validator(cluster_config_schema(environments))
    found: dict[tuple[str, str], None] = {}
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        found.update(dict.fromkeys(_cluster_config_errors(error, environments)))
    return tuple(found)
