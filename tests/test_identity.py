"""The code identity read by asking git itself (magnus_core.identity), in real repositories in temp folders:
the commit, the changed tracked files (staged or not, deleted and added ones, names with spaces), the origin
remote without credentials, and what it records where there is no commit, no repository, or no git."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.identity import NO_COMMITS, NOT_A_REPOSITORY, git_identity
from tests.conftest import git


def test_a_clean_tree_is_dependable_with_its_head_and_remote(git_repo: Path) -> None:
    git(git_repo, "remote", "add", "origin", "git@example.com:team/repo.git")
    identity = git_identity(git_repo)
    assert identity.code_identifier == git(git_repo, "rev-parse", "HEAD").strip()
    assert identity.code_identifier_dependable is True
    assert identity.code_identifier_message == ""
    assert identity.code_identifier_url == "git@example.com:team/repo.git"


def test_every_kind_of_change_to_a_tracked_file_is_listed(git_repo: Path) -> None:
    (git_repo / "with space.py").write_text("a = 1\n")
    (git_repo / "gone.py").write_text("b = 1\n")
    (git_repo / "moved.py").write_text("c = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "files")
    (git_repo / "with space.py").write_text("a = 2\n")  # changed, not staged
    (git_repo / "gone.py").unlink()  # deleted, not staged
    git(git_repo, "mv", "moved.py", "renamed.py")  # staged rename: both names
    (git_repo / "added.py").write_text("d = 1\n")
    git(git_repo, "add", "added.py")  # staged new file
    (git_repo / "untracked.py").write_text("e = 1\n")  # untracked: not a change of the commit's code
    identity = git_identity(git_repo)
    assert identity.code_identifier_dependable is False
    assert identity.code_identifier_message == (
        "changes found in added.py, gone.py, moved.py, renamed.py, with space.py"
    )
    assert identity.code_identifier == git(git_repo, "rev-parse", "HEAD").strip()


def test_a_folder_below_the_top_of_the_repository_has_its_identity(git_repo: Path) -> None:
    (git_repo / "sub" / "deeper").mkdir(parents=True)
    identity = git_identity(git_repo / "sub" / "deeper")
    assert identity.code_identifier == git(git_repo, "rev-parse", "HEAD").strip()


def test_a_repository_without_commits_says_so(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    identity = git_identity(tmp_path)
    assert identity.code_identifier is None and identity.code_identifier_dependable is False
    assert identity.code_identifier_message == NO_COMMITS


def test_outside_a_repository_it_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # a /tmp inside a checkout
    monkeypatch.setenv("LANG", "de_DE.UTF-8")  # git's own language does not change what is recorded
    identity = git_identity(tmp_path)
    assert identity.code_identifier is None and identity.code_identifier_dependable is False
    assert identity.code_identifier_message == NOT_A_REPOSITORY


def test_without_git_on_the_path_it_says_so(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(git_repo))  # no git there
    identity = git_identity(git_repo)
    assert identity.code_identifier is None and identity.code_identifier_dependable is False
    assert identity.code_identifier_message == "git is not installed"


def test_a_git_that_refuses_the_repository_is_recorded_not_raised(git_repo: Path) -> None:
    # a repository git will not read (here: a corrupt index; also: another owner's, safe.directory)
    (git_repo / ".git" / "index").write_bytes(b"not an index")
    identity = git_identity(git_repo)
    assert identity.code_identifier is None and identity.code_identifier_dependable is False
    assert (identity.code_identifier_message or "").startswith("git identity unavailable: ")
    assert "index" in (identity.code_identifier_message or "")


def test_reading_the_identity_writes_nothing_in_the_repository(git_repo: Path) -> None:
    # steps started at once in one checkout (a parallel step's processes) each read the identity: a git
    # status that refreshed the index would take .git/index.lock and rewrite the index under the others
    (git_repo / "f.py").write_text("x = 1\n")
    git(git_repo, "add", "f.py")
    git(git_repo, "commit", "-qm", "f")
    os.utime(git_repo / "f.py", (1, 1))  # stat data differs from the index: git status would refresh it
    index = git_repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    identity = git_identity(git_repo)
    assert identity.code_identifier_dependable is True, identity.code_identifier_message
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


def test_the_identity_imports_no_git_library(git_repo: Path) -> None:
    code = "import sys; from magnus_core.identity import git_identity; git_identity(); print('git' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"
