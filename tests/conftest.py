"""Shared fixtures: real git repositories in temp folders, and running the real `magnus` command."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import PostgresServer, S3Server

ROOT = Path(__file__).resolve().parents[1]
# Run logs and pipelines made by the released original tool (magnus 0.1.2, 0.3.12, 0.4.22), kept in the repo
# so a clone with nothing beside it runs every test (tests/test_self_contained.py guards it).
FIXTURES = ROOT / "tests" / "data" / "fixtures"
ORIGINAL = FIXTURES / "magnus-0.3.12"


def pytest_configure(config: pytest.Config) -> None:
    """Run indexes (magnus_core/index), parsed large pipelines (magnus_core/parse_cache.py) and the consoles
    of runs the workbench starts (magnus_tui/launcher.py) go to temporary folders, never the user's cache or
    state folder: set before any test runs, so every subprocess (run_magnus copies os.environ) and every
    xdist worker inherits them."""
    import tempfile

    if not hasattr(config, "workerinput"):  # (xdist's controller, or a run without xdist: once)
        _compile_magnus()
    if not os.environ.get("MAGNUS_INDEX_DIR"):
        os.environ["MAGNUS_INDEX_DIR"] = tempfile.mkdtemp(prefix="magnus-test-index-")
    if not os.environ.get("MAGNUS_CONSOLE_DIR"):
        os.environ["MAGNUS_CONSOLE_DIR"] = tempfile.mkdtemp(prefix="magnus-test-console-")
    if os.environ.get("MAGNUS_YAML_CACHE") is None:  # the parse cache of large pipelines (parse_cache.py)
        os.environ["MAGNUS_YAML_CACHE"] = tempfile.mkdtemp(prefix="magnus-test-yaml-")


def _compile_magnus() -> None:
    """Byte-compile magnus's packages in the clone before any test runs. Most tests run the real `magnus`
    as a new process, and where PYTHONDONTWRITEBYTECODE is set (this project's CI machines) none of them
    writes the .pyc files python reads back (it still reads them), so each compiled about 70 modules from
    source again: 0.45 of 1.0 CPU seconds of a one-step `magnus execute` (session 15), the larger part of
    the suite's time. compileall writes them whatever the variable says; up-to-date files are skipped."""
    import compileall

    for package in ("magnus_core", "magnus", "magnus_tui"):
        compileall.compile_dir(ROOT / package, quiet=1)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository with one commit, as the working directory."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def original_project(git_repo: Path) -> Path:
    """The original tool's fixture pipelines and functions, committed in a git repo."""
    for f in (ORIGINAL / "pipelines").iterdir():
        shutil.copy(f, git_repo / f.name)
    (git_repo / ".env").write_text("api_key=s3cr3t\n")
    (git_repo / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n.env\n.flaky_count\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "pipelines")
    return git_repo


def start_magnus(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The real command line started in the background, in a session of its own (as a shell starts a job:
    os.killpg(proc.pid, ...) stops it and what it started), its output discarded: for a test that reads a
    run while it executes (`magnus logs`, `show`, `stop`) from other processes."""
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_magnus(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (python -m magnus_core, so no install is assumed), with
    the variables `unset` taken out of the environment it inherits."""
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in unset},
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def magnus():
    """Call as magnus("execute", "--file", ...) -> CompletedProcess (cwd is the test's working directory)."""
    return lambda *args, **kw: run_magnus(*args, cwd=kw.pop("cwd", Path.cwd()), **kw)


def read_only(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`magnus *args` in `project` made read-only for the command: a read-only bind mount in a private mount
    namespace when root (root ignores permissions), plain permissions otherwise."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120"}
    command = [sys.executable, "-m", "magnus_core", *args]
    if os.geteuid() != 0:
        project.chmod(0o555)
        try:
            return subprocess.run(
                command, cwd=cwd or project, env=env, capture_output=True, text=True, timeout=120
            )
        finally:
            project.chmod(0o755)
    if shutil.which("unshare") is None:
        pytest.skip("as root, a read-only mount needs unshare(1)")
    p = shlex.quote(str(project))
    script = (
        f"mount --bind {p} {p} && mount -o remount,bind,ro {p} && cd {shlex.quote(str(cwd or project))} && "
        f"exec {shlex.join(command)}"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    if "mount:" in done.stderr and "Error" not in done.stderr:
        pytest.skip(f"this machine refuses a private read-only mount: {done.stderr.strip()}")
    return done


# -- real servers: PostgreSQL and S3, one of each per test session (per xdist worker), started on first use --


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; PGPASSWORD is set (as a team would set it), never a config."""
    pytest.importorskip("psycopg")
    server = PostgresServer().start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.env.items():
            patch.setenv(key, value)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """An S3-compatible server (moto) for the session; credentials and endpoint in the environment."""
    pytest.importorskip("s3fs")
    server = S3Server().start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.env.items():
            patch.setenv(key, value)
        try:
            yield server
        finally:
            server.stop()


def fresh_schema() -> str:
    """A schema no other test uses: each test's postgres store starts empty. (Random: this module may be
    imported twice, as conftest and as tests.conftest, so a counter here would repeat.)"""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def store_block(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], dict[str, Any]]:
    """Call with a store type: the config block of a fresh, empty store of that type (two stores made
    from one block see the same runs, as two processes would)."""
    blocks: dict[str, dict[str, Any]] = {}

    def make(kind: str) -> dict[str, Any]:
        if kind not in blocks:
            if kind == "postgres":
                server = request.getfixturevalue("postgres")
                blocks[kind] = {"type": kind, "config": {"dsn": server.dsn, "schema": fresh_schema()}}
            elif kind == "buffered":
                blocks[kind] = {"type": kind, "config": {}}
            else:
                blocks[kind] = {"type": kind, "config": {"log_folder": str(tmp_path / f"logs-{kind}")}}
        return blocks[kind]

    return make


@pytest.fixture
def bucket(s3: S3Server) -> str:
    """A fresh, empty bucket on the session's S3 server."""
    return s3.make_bucket(f"bucket-{uuid.uuid4().hex[:16]}")
