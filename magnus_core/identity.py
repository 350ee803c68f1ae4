"""Code identity: which commit of which repository ran, and whether the tree had uncommitted changes.

Read once per run (gitpython), not once per step.
"""

from __future__ import annotations

import logging
from pathlib import Path

from magnus_core.models.run_log import CodeIdentity

log = logging.getLogger("magnus")

CHANGED = "changes found in "  # the message's start when the tree has uncommitted changes (files follow)


def git_identity(path: str | Path = ".") -> CodeIdentity:
    """The git identity of the working tree at `path`; outside a repository it says so instead of failing."""
    try:
        import git  # gitpython: imported here, it is slow to import
    except ImportError:  # pragma: no cover - gitpython is a dependency
        return CodeIdentity(code_identifier_message="gitpython is not installed")
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return CodeIdentity(
            code_identifier=None,
            code_identifier_type="git",
            code_identifier_dependable=False,
            code_identifier_url=None,
            code_identifier_message="not a git repository",
        )
    try:
        try:
            sha = repo.head.commit.hexsha
        except ValueError:
            return CodeIdentity(
                code_identifier=None,
                code_identifier_dependable=False,
                code_identifier_url=None,
                code_identifier_message="git repository has no commits yet",
            )
        changed = sorted(
            {d.a_path for d in repo.index.diff(None) if d.a_path}
            | {d.a_path for d in repo.index.diff("HEAD") if d.a_path}
        )
        url = ""
        try:
            if "origin" in [r.name for r in repo.remotes]:
                url = repo.remotes.origin.url
        except Exception:
            url = ""
        message = f"{CHANGED}{', '.join(changed)}" if changed else ""
        return CodeIdentity(
            code_identifier=sha,
            code_identifier_type="git",
            code_identifier_dependable=not changed,
            code_identifier_url=_strip_credentials(url),
            code_identifier_message=message,
        )
    except Exception as exc:
        log.debug("git identity failed", exc_info=True)
        return CodeIdentity(
            code_identifier=None,
            code_identifier_dependable=False,
            code_identifier_message=f"git identity unavailable: {exc.__class__.__name__}",
        )
    finally:
        repo.close()


def _strip_credentials(url: str) -> str:
    """A remote URL may carry a token (https://user:token@host/...): never record it."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url
