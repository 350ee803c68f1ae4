"""Code identity: which commit of which repository ran, and whether the tree had uncommitted changes.

Read once per run (per process for steps run one per process), not once per step, by asking the `git`
command itself: `git status --porcelain=v2` gives the commit and the changed tracked files in one process,
`git config` the `origin` remote. (gitpython asks the same command for the changes, and importing it cost
about 85 ms of every run's and every Argo pod's start-up: issue 19.)
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magnus_core.models.run_log import CodeIdentity

log = logging.getLogger("magnus")

CHANGED = "changes found in "  # the message's start when the tree has uncommitted changes (files follow)
NOT_A_REPOSITORY = "not a git repository"
NO_COMMITS = "git repository has no commits yet"

# git's messages in English whatever the user's locale (they are matched below); no optional lock on the
# index (git status would refresh it), so that steps reading the identity at once in one checkout never
# stand in each other's way, and a read-only checkout is only read
_GIT_ENV = {"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}


class _GitFailed(Exception):
    """git ran and exited non-zero; the message is the last line it wrote on stderr."""

    def __init__(self, code: int, stderr: str) -> None:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        super().__init__(lines[-1] if lines else f"git exited with {code}")
        self.stderr = stderr


def _git(path: str | Path, *args: str) -> str:
    """The stdout of `git -C path *args` (text, surrogateescape); _GitFailed on a non-zero exit,
    FileNotFoundError when there is no git command."""
    result = subprocess.run(
        ["git", "-C", str(path), *args],
        capture_output=True,
        env={**os.environ, **_GIT_ENV},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise _GitFailed(result.returncode, result.stderr.decode("utf-8", "replace"))
    return result.stdout.decode("utf-8", "surrogateescape")


def _status(text: str) -> tuple[str | None, list[str]]:
    """(HEAD's sha, or None before the first commit; the changed tracked files) from the output of
    `git status --porcelain=v2 -z --branch --untracked-files=no --no-renames`: headers `# branch.oid <sha>`
    (`(initial)` without commits), entries `1 XY sub mH mI mW hH hI <path>` (changed) and
    `u XY sub m1 m2 m3 mW h1 h2 h3 <path>` (unmerged); a path may hold spaces, never NUL."""
    sha: str | None = None
    changed: set[str] = set()
    for entry in text.split("\0"):
        if entry.startswith("# branch.oid "):
            oid = entry.removeprefix("# branch.oid ").strip()
            sha = None if oid == "(initial)" else oid
        elif entry.startswith("1 "):
            changed.add(entry.split(" ", 8)[8])
        elif entry.startswith("u "):
            changed.add(entry.split(" ", 10)[10])
    return sha, sorted(changed)


def git_identity(path: str | Path = ".") -> CodeIdentity:
    """identity_fields(path) as the run log's CodeIdentity."""
    from magnus_core.models.run_log import CodeIdentity, made

    return made(CodeIdentity, **identity_fields(path))


def identity_fields(path: str | Path = ".") -> dict[str, Any]:
    """The git identity of the working tree at `path` (or a folder above it), as the fields of the run log's
    CodeIdentity it gives (plain values, no model: a step run alone imports none): HEAD's commit, whether any
    tracked file differs from it (staged or not, changed, added or deleted; untracked files do not count)
    and which, and the `origin` remote's URL without credentials. Outside a repository, before the first
    commit, or when git cannot be run or refuses the repository, it says so in `code_identifier_message`
    instead of raising: identity is a record, never a reason for a run to fail."""
    try:
        sha, changed = _status(
            _git(path, "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=no", "--no-renames")
        )
    except FileNotFoundError:
        return dict(code_identifier_dependable=False, code_identifier_message="git is not installed")
    except _GitFailed as exc:
        if "not a git repository" in exc.stderr.lower():
            return dict(
                code_identifier=None,
                code_identifier_type="git",
                code_identifier_dependable=False,
                code_identifier_url=None,
                code_identifier_message=NOT_A_REPOSITORY,
            )
        log.debug("git status failed: %s", exc.stderr)
        return dict(
            code_identifier=None,
            code_identifier_dependable=False,
            code_identifier_message=f"git identity unavailable: {exc}",
        )
    except OSError as exc:  # the folder vanished, git is not executable, ...
        log.debug("git identity failed", exc_info=True)
        return dict(
            code_identifier=None,
            code_identifier_dependable=False,
            code_identifier_message=f"git identity unavailable: {exc.__class__.__name__}",
        )
    if sha is None:
        return dict(
            code_identifier=None,
            code_identifier_dependable=False,
            code_identifier_url=None,
            code_identifier_message=NO_COMMITS,
        )
    try:
        url = _git(path, "config", "--get", "remote.origin.url").strip()
    except (_GitFailed, OSError):  # no origin (git config exits 1)
        url = ""
    return dict(
        code_identifier=sha,
        code_identifier_type="git",
        code_identifier_dependable=not changed,
        code_identifier_url=_strip_credentials(url),
        code_identifier_message=f"{CHANGED}{', '.join(changed)}" if changed else "",
    )


def files_between(before: str, after: str, path: str | Path = ".") -> list[str] | None:
    """The files changed between two commits of the repository holding `path` (`git diff --name-only`,
    a renamed file by its new name), sorted; None when git, the repository or either commit is not there."""
    try:
        text = _git(path, "diff", "--name-only", "-z", "--no-ext-diff", "-M", before, after, "--")
    except (_GitFailed, OSError):
        return None
    return sorted({name for name in text.split("\0") if name})


def _strip_credentials(url: str) -> str:
    """A remote URL may carry a token (https://user:token@host/...): never record it."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def uncommitted_patch(files: list[str], path: str | Path = ".") -> bytes | None:
    """What the working tree at `path` changes in tracked `files` against HEAD: `git diff HEAD` of them,
    binary files included (`--binary`, so the patch applies again: code_change), as bytes; None when git or
    the repository cannot say. The changed files of a run come from its identity (git_identity's message)."""
    if not files:
        return b""
    try:
        result = subprocess.run(
            ["git", "-C", str(path), "diff", "--no-ext-diff", "--no-color", "--binary", "HEAD", "--", *files],
            capture_output=True,
            env={**os.environ, **_GIT_ENV},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def has_commit(commit: str, path: str | Path = ".") -> bool:
    """Does the repository holding `path` have `commit`?"""
    try:
        _git(path, "cat-file", "-e", f"{commit}^{{commit}}")
    except (_GitFailed, OSError):
        return False
    return True


def tree_of(commit: str, patch: bytes | None, path: str | Path = ".") -> str | None:
    """The git tree of `commit` with `patch` (a run's uncommitted changes) applied, made in a temporary
    index (`read-tree`, `apply --cached`, `write-tree`): nothing in the working tree or the real index is
    touched. None when the repository lacks the commit or the patch does not apply (cut at the cap, or a
    secret in it masked)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="magnus-code-") as folder:
        env = {**os.environ, **_GIT_ENV, "GIT_INDEX_FILE": os.path.join(folder, "index")}

        def git(*args: str, data: bytes | None = None) -> str | None:
            try:
                done = subprocess.run(
                    ["git", "-C", str(path), *args], input=data, capture_output=True, env=env, check=False
                )
            except OSError:
                return None
            return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else None

        if git("read-tree", commit) is None:
            return None
        if patch and git("apply", "--cached", "--whitespace=nowarn", "-", data=patch) is None:
            return None
        return git("write-tree")


def diff_trees(before: str, after: str, path: str | Path = ".") -> str | None:
    """`git diff` between two trees or commits of the repository holding `path` (text, no colour, renames
    found); None when git cannot."""
    try:
        return _git(path, "diff", "--no-ext-diff", "--no-color", "-M", before, after, "--")
    except (_GitFailed, OSError):
        return None
