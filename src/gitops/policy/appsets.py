"""ApplicationSets: which generators may make Applications, from what, with which template functions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from .registry import Doc, Outcome, Scope, check

APPSET_FIELDS = frozenset({"goTemplate", "goTemplateOptions", "syncPolicy.preserveResourcesOnDeletion"})
# Generator fields, by kind and key, that only say which repository files make Applications.
GENERATOR_FIELDS = frozenset(
    {
        "git.repoURL", "git.revision", "git.files.path", "git.directories.path", "git.directories.exclude",
        "list.elements", "matrix.generators", "merge.generators", "merge.mergeKeys",
    }
)  # fmt: skip
# Fields through which a generator reads a token or a secret: never allowed.
SECRET_FIELDS = frozenset({"tokenRef", "secretRef", "appSecretName", "caRef", "basicAuth", "bearerToken"})


def _git_generators(node: object, where: str) -> Iterator[tuple[str, dict]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _git_generators(item, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "git" and isinstance(value, dict):
                yield f"{where}.git", value
            else:
                yield from _git_generators(value, f"{where}.{key}")


def _generator_kinds(node: object, where: str) -> Iterator[tuple[str, str]]:
    """(field, kind) of every generator, nested ones (matrix, merge) included."""
    for i, generator in enumerate(node if isinstance(node, list) else []):
        for kind, value in (generator or {}).items() if isinstance(generator, dict) else ():
            if kind in ("selector", "values"):
                continue
            yield f"{where}[{i}].{kind}", str(kind)
            if isinstance(value, dict) and kind in ("matrix", "merge"):
                yield from _generator_kinds(value.get("generators"), f"{where}[{i}].{kind}.generators")


def _generator_fields(node: object, where: str) -> Iterator[tuple[str, str]]:
    """(field, KIND.KEY[.SUBKEY]) of every generator setting, nested generators included."""
    for i, generator in enumerate(node if isinstance(node, list) else []):
        for kind, value in generator.items() if isinstance(generator, dict) else ():
            here = f"{where}[{i}].{kind}"
            if not isinstance(value, dict):
                yield here, str(kind)
                continue
            for key, inner in value.items():
                if key == "generators" and kind in ("matrix", "merge"):
                    yield f"{here}.generators", f"{kind}.generators"
                    yield from _generator_fields(inner, f"{here}.generators")
                elif isinstance(inner, list) and key in ("files", "directories"):
                    for j, entry in enumerate(inner):
                        for sub in entry if isinstance(entry, dict) else ["?"]:
                            yield f"{here}.{key}[{j}].{sub}", f"{kind}.{key}.{sub}"
                else:
                    yield f"{here}.{key}", f"{kind}.{key}"


def _secret_fields(node: object, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in SECRET_FIELDS:
                yield here
            yield from _secret_fields(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_fields(value, f"{where}[{i}]")


@check("GO148", "appset-generators")
def appset_generators(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An ApplicationSet generator decides which Applications exist: the pull-request and
    SCM-provider generators call outside services with a token Argo CD reads from its own
    Secrets (a `tokenRef` can send Argo CD's session-signing key to any host), the cluster
    generator deploys to every registered cluster. Only the kinds in gitops.yaml
    reviewedGenerators (default: git), and no token or secret reference at all."""
    if doc.kind != "ApplicationSet":
        return
    spec = doc.body.get("spec") or {}
    reviewed = scope.context.reviewed_generators
    for where, kind in _generator_kinds(spec.get("generators"), "spec.generators"):
        problem = f"a {kind!r} generator is not reviewed (gitops.yaml reviewedGenerators)"
        yield Outcome(where, None if kind in reviewed else problem)
    for where in _secret_fields(spec, "spec"):
        yield Outcome(where, "a token or secret reference: Argo CD would send that secret to the service it names")


TEMPLATE_FUNCTIONS = frozenset(
    {
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "and", "or",
    "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "nil",
    "true", "false", "default", "empty", "coalesce", "ternary", "quote", "squote", "upper", "lower", "title",
    "trim", "trimPrefix", "trimSuffix", "trimAll", "replace", "contains", "hasPrefix", "hasSuffix", "toJson",
    "toPrettyJson", "toRawJson", "toYaml", "list", "dict", "get", "hasKey", "keys", "join", "split",
    "splitList", "first", "last", "toString", "atoi", "int", "add", "sub", "mul", "max", "min", "regexMatch",
    "regexReplaceAll", "normalize", "slugify",
    }
)  # fmt: skip
_ACTION = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)
_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
_IDENTIFIER = re.compile(r"(?<![.$\w])[A-Za-z_]\w*")


def template_functions(text: str) -> set[str]:
    """Every function or keyword the Go template actions of ``text`` name (fields and variables aside)."""
    names: set[str] = set()
    for action in _ACTION.findall(text):
        names |= set(_IDENTIFIER.findall(_LITERAL.sub('""', action)))
    return names


@check("GO157", "appset-template-functions")
def appset_template_functions(doc: Doc, scope: Scope) -> Iterator[Outcome]:
    """An ApplicationSet's template is rendered again on every reconcile: a function of the
    clock or of chance (`now`, `date`, `randInt`, `uuidv4`) makes what deploys tomorrow
    differ from what the gate rendered at merge time, a time bomb no review sees. The
    template and templatePatch may call Go's and Sprig's pure functions only."""
    if doc.kind != "ApplicationSet":
        return
    spec = doc.body.get("spec") or {}
    for field in ("template", "templatePatch"):
        value = spec.get(field)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        unknown = sorted(template_functions(text) - TEMPLATE_FUNCTIONS)
        yield Outcome(f"spec.{field}", f"calls {', '.join(unknown)}: not a pure template function" if unknown else None)
