"""`gitops validate`: yamllint, kustomize build, kubeconform (offline, strict), policy."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import policy
from .errors import GitopsError
from .render import Rendered, build_many, tool
from .repo import Repo, is_kustomization

SCHEMA_LOCATION = (
    "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
)
YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = {".git", ".venv", ".tools", "build", "node_modules", "__pycache__"}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)  # one line each
    files: int = 0
    documents: int = 0
    checks: int = 0
    seconds: float = 0.0
    targets: int = 0

    def summary(self) -> str:
        return (
            f"validate: {self.targets} targets, {self.files} files, {self.documents} documents, "
            f"{self.checks} checks, {len(self.errors)} failures in {self.seconds:.2f}s"
        )


def kubernetes_versions() -> list[str]:
    versions = [os.environ.get("KUBERNETES_VERSION"), os.environ.get("KUBERNETES_OLDEST_VERSION")]
    versions = [v for v in versions if v]
    if versions:
        return versions
    # Outside make: read the pins from tools/versions.mk.
    pins = Path(__file__).resolve().parents[2] / "tools" / "versions.mk"
    found = {}
    for line in pins.read_text().splitlines():
        if ":=" in line and line.startswith("KUBERNETES_"):
            key, _, value = line.partition(":=")
            found[key.strip()] = value.strip()
    return [found["KUBERNETES_VERSION"], found["KUBERNETES_OLDEST_VERSION"]]


def schemas_dir() -> Path:
    base = os.environ.get("GITOPS_SCHEMAS")
    if base:
        path = Path(base)
    else:
        tools_dir = os.environ.get("TOOLS_DIR") or str(Path(__file__).resolve().parents[2] / ".tools")
        path = Path(tools_dir) / "schemas"
    for version in kubernetes_versions():
        if not (path / f"v{version}-standalone-strict").is_dir():
            raise GitopsError(f"{path}: no schemas for Kubernetes {version}; run 'make schemas'")
    return path


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(YAML_SUFFIXES)]
    return sorted(set(out))


def run_yamllint(files: list[Path], root: Path, report: Report) -> None:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config_path = root / ".yamllint"
    config = YamlLintConfig(file=str(config_path)) if config_path.is_file() else YamlLintConfig("extends: default")
    for path in files:
        rel = os.path.relpath(path, root)
        if config.is_file_ignored(rel):
            continue
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            report.errors.append(f"YAML {rel}: cannot read: {getattr(exc, 'strerror', None) or exc}")
            continue
        # Like `yamllint --strict`: warnings fail too.
        for problem in linter.run(text, config, rel):
            report.errors.append(
                f"YAML {rel}:{problem.line}:{problem.column}: {problem.level}: {problem.desc}"
                + (f" ({problem.rule})" if problem.rule else "")
            )


def plain_documents(path: Path, root: Path) -> list[dict]:
    rel = os.path.relpath(path, root)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GitopsError(f"{rel}: cannot read: {getattr(exc, 'strerror', None) or exc}", 1) from None
    try:
        return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise GitopsError(f"{rel}{line}: invalid YAML: {getattr(exc, 'problem', exc)}", 1) from None


def run_kubeconform(rendered: list[tuple[str, str]], schemas: Path, report: Report) -> None:
    """Validate every document against every pinned Kubernetes version, in one pass each."""
    with tempfile.TemporaryDirectory(prefix="gitops-validate-") as tmp:
        names: dict[str, str] = {}
        for index, (label, text) in enumerate(rendered):
            path = Path(tmp) / f"{index:05d}.yaml"
            path.write_text(text)
            names[str(path)] = label
        if not names:
            return
        for version in kubernetes_versions():
            result = subprocess.run(
                [
                    tool("kubeconform"),
                    "-strict",
                    "-output",
                    "json",
                    "-n",
                    str(os.cpu_count() or 2),
                    "-kubernetes-version",
                    version,
                    "-schema-location",
                    str(schemas / SCHEMA_LOCATION),
                    *names,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            try:
                resources = json.loads(result.stdout or "{}").get("resources") or []
            except json.JSONDecodeError:
                raise GitopsError(f"kubeconform: unreadable output: {result.stderr.strip()[:200]}", 1) from None
            for res in resources:
                status = res.get("status")
                if status in ("statusValid", "statusSkipped", "statusEmpty"):
                    continue
                label = names.get(res.get("filename"), res.get("filename"))
                who = f"{res.get('kind') or '?'}/{res.get('name') or '?'}"
                msg = res.get("msg", "")
                if "could not find schema" in msg:
                    msg = f"no schema for {res.get('version')} {res.get('kind')} (kubeconform never skips)"
                else:
                    msg = msg.split(" - at ", 1)[-1] if " - at " in msg else msg
                    msg = msg.replace("problem validating schema. Check JSON formatting: ", "")
                report.errors.append(f"SCHEMA {label}: {who}: Kubernetes {version}: {msg}")
            if result.returncode != 0 and not resources:
                raise GitopsError(f"kubeconform failed: {result.stderr.strip()[:300]}", 1)


def validate(repo: Repo, paths: list[Path] | None = None) -> Report:
    started = time.perf_counter()
    report = Report()
    targets = [Path(p).resolve() for p in paths] if paths else repo.default_targets()
    for target in targets:
        if not target.exists():
            raise GitopsError(f"{target}: no such file or directory")
    report.targets = len(targets)

    # 1. yamllint over every YAML file (for the default run: the whole repository).
    lint_roots = targets if paths else [repo.root]
    files = yaml_files(lint_roots)
    report.files = len(files)
    run_yamllint(files, repo.root, report)

    # 2. Render: kustomizations with kustomize, plain folders and files as they are.
    kustomizations = [t for t in targets if is_kustomization(t)]
    plain = [t for t in targets if t not in kustomizations]
    rendered: list[tuple[str, str, list[dict], str | None]] = []
    for target, result in zip(kustomizations, build_many(kustomizations), strict=True):
        label = repo.rel(target)
        if not isinstance(result, Rendered):
            report.errors.append(f"KUSTOMIZE {label}: build failed: {getattr(result, 'reason', result)}")
            continue
        if result.warnings:
            report.errors.append(f"KUSTOMIZE {label}: warning: {result.warnings.splitlines()[0]}")
        docs = result.documents()
        rendered.append((label, result.text, docs, repo.environment_of(result.target)))
    for target in plain:
        for path in yaml_files([target]):
            try:
                docs = plain_documents(path, repo.root)
            except GitopsError as exc:
                report.errors.append(f"YAML {exc}")
                continue
            rendered.append((repo.rel(path), path.read_text(), docs, None))

    report.documents = sum(len(docs) for _, _, docs, _ in rendered)

    # 3. kubeconform, offline and strict, against every pinned Kubernetes version.
    run_kubeconform([(label, text) for label, text, docs, _ in rendered if docs], schemas_dir(), report)

    # 4. Policy.
    ctx = policy.Context(root=repo.root, digest_required=repo.digest_required)
    docs = [policy.Doc(label, body, env) for label, _, bodies, env in rendered for body in bodies]
    result = policy.run(docs, ctx)
    report.errors += [str(f) for f in result.findings]
    report.checks = result.checks
    report.seconds = time.perf_counter() - started
    return report
