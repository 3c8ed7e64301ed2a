"""Hypothesis over the whole `gitops` command line: hostile files, git states and arguments.

Each case copies a real clone (with a real bare origin), damages it in up to three ways
(file contents, file kinds, permissions, git state, PATH), runs one command with
arguments drawn from valid, borderline and hostile values, and asserts:

- the exit code is 0, 1 or 2 and no exception escapes ``main``;
- stderr holds at most one line, and after an error exactly one ``gitops: error:``
  line (``diff`` and ``validate`` exit 1 with their findings on stdout), never a
  traceback or an internal error;
- after a non-zero exit no byte changed: files, modes, symbolic links, HEAD, refs,
  the index, and the origin's refs.

Derandomized and bounded (``max_examples``, a per-case alarm) so that it is part of
`make test`; the number of cases run is printed at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.cli import main
from gitops.files import MAX_BYTES
from tests.gitops.conftest import copy_repo, git

pytestmark = pytest.mark.slow

# GITOPS_FUZZ_EXAMPLES=5000 for a longer local run; the default keeps `make test` under a minute.
MAX_EXAMPLES = int(os.environ.get("GITOPS_FUZZ_EXAMPLES", "300"))
CASE_SECONDS = 30  # a case that runs longer is a hang: fail it with its arguments
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same cases on every run (CI and laptops alike); GITOPS_FUZZ_RANDOM=1 explores new ones.
    derandomize=os.environ.get("GITOPS_FUZZ_RANDOM") != "1",
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

DEV = "apps/flask-app/overlays/dev/kustomization.yaml"
STAGING = "apps/flask-app/overlays/staging/kustomization.yaml"
PROD = "apps/flask-app/overlays/prod/kustomization.yaml"
FILES = [
    "gitops.yaml",
    DEV,
    STAGING,
    PROD,
    "apps/flask-app/overlays/dev/hpa-bounds.yaml",
    "clusters/dev/config.yaml",
    "clusters/prod-eu/config.yaml",
    "clusters/dev/kustomization.yaml",
    "argocd/applicationset.yaml",
    "README.md",
]
FOLDERS = ["clusters", "clusters/dev", "apps/flask-app/overlays", "apps/flask-app/overlays/dev", "argocd"]
DIGEST = "sha256:" + "0123456789abcdef" * 4
BOMB = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 8)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)
STATS: Counter = Counter()

# --- values -----------------------------------------------------------------------
hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "-", "--", "-x", "--help", "\n", "é", "\x00", "a" * 300, "../..", "/etc/passwd"]),
)
# Valid values are drawn more often than hostile ones, so most cases get past the
# argument checks and reach the files and git.
valid_envs = st.sampled_from(["dev", "staging", "prod"])
envs = st.one_of(valid_envs, valid_envs, valid_envs, st.sampled_from(["qa", "DEV", "../dev", "dev\n"]), hostile_text)
valid_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)
tags = st.one_of(
    st.sampled_from(["sha-1a2b3c4", "v1.2.3", "latest", "1e3", "0o17", "1.10", "on", "_x", "a" * 128, "a" * 129]),
    valid_tags,
    valid_tags,
    hostile_text,
)
digests = st.one_of(
    st.just(DIGEST), st.just(DIGEST), st.sampled_from(["sha256:abc", "SHA256:" + "a" * 64]), hostile_text
)
valid_images = st.sampled_from(["registry.example.net/acme/app", "registry.example.com/example-org/flask-app"])
images = st.one_of(valid_images, valid_images, st.sampled_from(["Evil/Name", "x:y"]), hostile_text)
urls = st.one_of(
    st.sampled_from(
        [
            "https://git.example.org/acme/platform.git",
            "https://github.com/example-org/flask-gitops2.git",
            "git@github.com:acme/x.git",
        ]
    ),
    st.sampled_from(["ftp://x", "https://x/a b", "https://github.com/example-org/flask-gitops.git"]),
    hostile_text,
)
refs = st.one_of(
    st.sampled_from(["HEAD", "HEAD~1", "main", "origin/main", "no-such", "--output=/tmp/x", "HEAD..x"]), hostile_text
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def option(name: str, values: st.SearchStrategy, required: bool = False) -> st.SearchStrategy:
    """``[name, value]``, ``[name=value]`` or ``[]`` (rarely, for a required option)."""
    given, joined, absent = values.map(lambda v: [name, v]), values.map(lambda v: [f"{name}={v}"]), st.just([])
    if required:
        return st.one_of(given, given, given, given, given, joined, absent)
    return st.one_of(given, joined, absent, absent)


def flags(*names: str) -> st.SearchStrategy:
    return st.lists(st.sampled_from(names), max_size=len(names), unique=True)


def concat(*parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(lambda chunks: [item for chunk in chunks for item in chunk])


extra = st.one_of(st.just([]), st.just([]), st.just([]), st.just([]), st.lists(hostile_text, max_size=2))
commands = st.one_of(
    concat(
        st.just(["set-image"]),
        option("--env", envs, required=True),
        option("--tag", tags, required=True),
        option("--digest", digests),
        option("--image", images),
        flags("--commit", "--push"),
        extra,
    ),
    concat(
        st.just(["set-image", "--env"]),
        st.tuples(envs).map(list),
        st.just(["--tag"]),
        st.tuples(tags).map(list),
        flags("--commit", "--push"),
        extra,
    ),
    concat(
        st.just(["set-image", "--env", "prod", "--digest", DIGEST, "--tag"]),
        st.tuples(tags).map(list),
        flags("--commit", "--push"),
    ),
    concat(
        st.just(["promote"]),
        st.lists(envs, min_size=0, max_size=2),
        flags("--force", "--pr-body", "--commit", "--push"),
        extra,
    ),
    concat(st.just(["promote", "dev", "staging"]), flags("--pr-body", "--commit", "--push")),
    concat(st.just(["status"]), option("--output", st.sampled_from(["table", "json", "xml"])), extra),
    concat(st.just(["diff"]), option("--base", refs), extra),
    concat(
        st.just(["configure"]), option("--repo", urls), option("--image", images), st.just(["--no-validate"]), extra
    ),
    concat(st.just(["configure"]), option("--repo", urls), option("--image", images)),
    concat(
        st.just(["validate"]),
        st.lists(st.sampled_from(["clusters/dev", "argocd", "nope", DEV]), max_size=2),
        option("--skip-policy", st.sampled_from(["GO116", "GO999", ""])),
    ),
    st.just(["validate", "--list-policies"]),
    concat(st.just(["render", "--out"]), st.sampled_from([["out"], ["work/gitops.yaml"], ["/dev/null/x"]])),
    st.lists(hostile_text, max_size=3),
    st.sampled_from([["--help"], ["set-image", "--help"], [], ["-C"], ["nope"]]),
)
roots = st.one_of(
    st.just("work"), st.just("work"), st.just("work"), st.sampled_from(["", "work/gitops.yaml", "missing", "work/apps"])
)

# --- damage -----------------------------------------------------------------------
file_damage = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=48)),
    st.tuples(st.just("text"), st.text(max_size=120)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("splice"), st.tuples(st.integers(0, 4000), st.text(max_size=30))),
    st.tuples(
        st.just("field"),
        st.tuples(
            st.sampled_from(
                [
                    "environments",
                    "digestRequired",
                    "images",
                    "cluster",
                    "environment",
                    "repoURL",
                    "app",
                    "clusters",
                    "overlays",
                    "newTag",
                    "skipPolicies",
                ]
            ),
            json_values,
        ),
    ),
    st.tuples(st.just("duplicate"), st.integers(0, 40)),
    st.sampled_from(
        [
            (kind, None)
            for kind in (
                "bomb",
                "deep",
                "big",
                "crlf",
                "bom",
                "nul",
                "delete",
                "folder",
                "symlink",
                "outside-link",
                "dangling-link",
                "fifo",
                "read-only",
                "read-only-folder",
                "empty",
            )
        ]
    ),
)
git_damage = st.sampled_from(
    [
        "detach",
        "no-git",
        "no-remote",
        "bad-remote",
        "reject-push",
        "dirty",
        "dirty-other",
        "staged-other",
        "index-lock",
        "no-git-on-path",
        "unborn",
    ]
)
damages = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(FILES), file_damage),
        st.tuples(
            st.sampled_from(FOLDERS),
            st.sampled_from([("delete", None), ("read-only-folder", None), ("symlink-folder", None), ("file", None)]),
        ),
        st.tuples(st.just("git"), git_damage.map(lambda g: (g, None))),
    ),
    max_size=3,
)


def damage(base: Path, target: str, how: tuple) -> None:
    work = base / "work"
    kind, arg = how
    if target == "git":
        if kind == "detach":
            _git(work, "checkout", "--quiet", "--detach")
        elif kind == "no-git":
            shutil.rmtree(work / ".git", ignore_errors=True)
        elif kind == "no-remote":
            _git(work, "remote", "remove", "origin")
        elif kind == "bad-remote":
            _git(work, "remote", "set-url", "origin", str(base / "missing.git"))
        elif kind == "reject-push":
            hook = base / "origin.git" / "hooks" / "pre-receive"
            hook.write_text("#!/bin/sh\necho denied >&2\nexit 1\n")
            hook.chmod(0o755)
        elif kind in ("dirty", "dirty-other"):
            path = work / (DEV if kind == "dirty" else PROD)
            if path.is_file() and not path.is_symlink():
                path.write_bytes(path.read_bytes() + b"# hand edit\n")
        elif kind == "staged-other":
            (work / "NOTES.md").write_text("staged\n")
            _git(work, "add", "NOTES.md")
        elif kind == "index-lock" and (work / ".git").is_dir():
            (work / ".git" / "index.lock").write_text("")
        elif kind == "no-git-on-path":
            (base / "no-git-on-path").write_text("")
        elif kind == "unborn":
            _git(work, "checkout", "--quiet", "--orphan", "fresh")
        return
    path = work / target
    exists = path.exists() or path.is_symlink()
    if kind == "delete":
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif exists:
            path.unlink()
    elif kind == "folder":
        if exists and not path.is_dir():
            path.unlink()
            path.mkdir()
    elif kind == "file":
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            path.write_text("a file now\n")
    elif kind == "symlink":
        if exists and not path.is_dir():
            path.unlink()
            os.symlink(os.path.relpath(work / "gitops.yaml", path.parent), path)
    elif kind == "symlink-folder":
        if path.is_dir() and not path.is_symlink():
            moved = base / f"moved-{path.name}"
            if not moved.exists():
                path.rename(moved)
                os.symlink(moved, path)
    elif kind == "outside-link":
        if exists and not path.is_dir():
            outside = base / "outside.yaml"
            outside.write_bytes(path.read_bytes() if path.is_file() else b"x: 1\n")
            path.unlink()
            os.symlink(outside, path)
    elif kind == "dangling-link":
        if exists and not path.is_dir():
            path.unlink()
        if not path.exists():
            os.symlink(base / "nowhere", path)
    elif kind == "fifo":
        if exists and not path.is_dir():
            path.unlink()
        if not path.exists() and path.parent.is_dir():
            os.mkfifo(path)
    elif kind == "read-only":
        if path.is_file():
            path.chmod(0o444)
    elif kind == "read-only-folder":
        folder = path if path.is_dir() else path.parent
        if folder.is_dir():
            folder.chmod(0o555)
    elif path.parent.is_dir() and not path.is_dir() and not (path.exists() and not path.is_file()):
        old = path.read_bytes() if path.is_file() else b""
        path.unlink(missing_ok=True)
        path.write_bytes(_content(kind, arg, old))


def _git(cwd: Path, *args: str) -> None:
    """git for the damage: it may fail (no .git any more), which is then no damage."""
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def _content(kind: str, arg: object, old: bytes) -> bytes:
    if kind == "bytes":
        return arg  # type: ignore[return-value]
    if kind == "text":
        return str(arg).encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(arg).encode()
    if kind == "splice":
        at, text = arg  # type: ignore[misc]
        return old[:at] + text.encode("utf-8", "surrogatepass") + old[at:]
    if kind == "field":
        key, value = arg  # type: ignore[misc]
        return old + f"{key}: {json.dumps(value)}\n".encode()
    if kind == "duplicate":
        lines = [line for line in old.splitlines(keepends=True) if line[:1].isalpha()]
        return old + (lines[arg % len(lines)] if lines else b"a: 1\na: 2\n")  # type: ignore[operator]
    if kind == "bomb":
        return BOMB.encode() + old
    if kind == "deep":
        return b"[" * 3000 + old
    if kind == "big":
        return old + b"#" * (MAX_BYTES + 1)
    if kind == "crlf":
        return old.replace(b"\n", b"\r\n")
    if kind == "bom":
        return b"\xef\xbb\xbf" + old
    if kind == "nul":
        return old[:10] + b"\x00" + old[10:]
    return b""


# --- state ------------------------------------------------------------------------
def state(base: Path) -> tuple:
    """What must not change after a non-zero exit."""
    work = base / "work"
    files = {}
    for dirpath, dirnames, filenames in os.walk(work):
        rel_dir = os.path.relpath(dirpath, work)
        if rel_dir == ".git" or rel_dir.startswith(".git/"):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if not (rel_dir == "." and d == ".git")]
        for name in [*filenames, *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))]:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                files[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    files[path] = (stat.S_IMODE(info.st_mode), handle.read())
            else:
                files[path] = (stat.S_IFMT(info.st_mode),)
        for name in dirnames:
            files[os.path.join(dirpath, name) + "/"] = (stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode),)
    return files, _git_state(work), _git_state(base / "origin.git")


def _git_state(repo: Path) -> tuple | None:
    git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
    if not (git_dir / "HEAD").is_file():
        return None
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    index = ""
    if git_dir != repo:
        index = subprocess.run(["git", "ls-files", "-s"], cwd=repo, capture_output=True, text=True, check=False).stdout
    return (git_dir / "HEAD").read_text(), refs, index


# --- the test ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Iterator[Path]:
    """A clone and its bare origin; each case copies both (into memory, /dev/shm, when there is one)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        top = Path(tempfile.mkdtemp(prefix="gitops-fuzz-", dir=shm))
    else:
        top = tmp_path_factory.mktemp("fuzz")
    try:
        yield _template(top / "template")
    finally:
        _cleanup(top)


def _template(base: Path) -> Path:
    seed = copy_repo(base / "seed")
    (seed / "README.md").write_text("# fork\nhttps://github.com/example-org/flask-gitops\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "--quiet", "-m", "readme")
    git(base, "clone", "--quiet", "--bare", "--no-local", str(seed), str(base / "origin.git"))
    git(base, "clone", "--quiet", "--no-local", str(base / "origin.git"), str(base / "work"))
    shutil.rmtree(seed)
    for repo in (base / "origin.git", base / "work" / ".git"):  # few files: each case copies both
        git(repo, "repack", "-adq")
        git(repo, "prune-packed")
        for folder in sorted(repo.rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        for sample in (repo / "hooks").glob("*.sample"):
            sample.unlink()
    return base


def fresh_copy(template: Path) -> Path:
    base = Path(tempfile.mkdtemp(prefix="case-", dir=template.parent))
    shutil.copytree(template / "origin.git", base / "origin.git", symlinks=True)
    shutil.copytree(template / "work", base / "work", symlinks=True)
    config = base / "work" / ".git" / "config"
    config.write_text(config.read_text().replace(str(template), str(base)))
    return base


def _hang(signum, frame):
    raise TimeoutError(f"a case ran longer than {CASE_SECONDS}s")


@contextlib.contextmanager
def case_env(base: Path):
    """cwd in the case folder, PATH without git when asked, an alarm against hangs."""
    cwd, path = os.getcwd(), os.environ.get("PATH", "")
    os.chdir(base)
    if (base / "no-git-on-path").exists():
        os.environ["PATH"] = str(base / "empty-bin")
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.environ["PATH"] = path
        os.chdir(cwd)


def _cleanup(base: Path) -> None:
    for dirpath, dirnames, _ in os.walk(base):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), 0o700)
    shutil.rmtree(base, ignore_errors=True)


@FUZZ
@given(damages=damages, root=roots, argv=commands)
def test_fuzz_the_whole_cli(template, damages, root, argv):
    base = fresh_copy(template)
    try:
        for target, how in damages:
            damage(base, target, how)
        before = state(base)
        full = (["-C", root] if root else []) + argv
        out, err = io.StringIO(), io.StringIO()
        with case_env(base), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(full)
        STATS["cases"] += 1
        STATS[f"exit {code}"] += 1
        stderr = err.getvalue()
        context = (damages, full, code, stderr)
        assert code in (0, 1, 2), context
        assert "Traceback" not in stderr, context
        assert "internal error" not in stderr, context
        assert stderr.count("\n") <= 1, context
        if stderr:
            assert stderr.startswith("gitops: error: "), context
            assert stderr.endswith("\n"), context
        if code == 2 or (code == 1 and not (set(argv[:1]) & {"diff", "validate"})):
            assert stderr, context
        if code != 0:
            assert state(base) == before, context
    finally:
        _cleanup(base)


def test_fuzz_figures(record_property):
    """The number of cases the fuzz test ran (runs after it, in file order)."""
    record_property("fuzz_cases", STATS["cases"])
    print(
        f"\nfuzz: {STATS['cases']} cases; " + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items()) if k != "cases")
    )
    assert STATS["cases"] == 0 or STATS["cases"] >= MAX_EXAMPLES // 2
