"""Files the user names are read without trusting them: a FIFO (which would block forever), a device (st_size
is 0 for /dev/zero, which never ends) or a socket is refused with one clear line, before anything blocks;
and a size cap is enforced by reading at most the cap.

Every test that could hang if the refusal failed runs the real command line in a subprocess with a timeout,
or the call in a thread joined with a timeout: a regression fails the test, it never hangs the suite.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from magnus_core.errors import MagnusError, RunLogError, UsageError
from magnus_core.paths import read_regular_file
from tests.conftest import run_magnus

TIMEOUT = 30  # seconds: each refusal takes milliseconds; a blocked read would take forever

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: stub, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def finishes(call: Callable[[], Any], timeout: float = 10) -> BaseException | None:
    """Run `call` in a thread; fail the test if it has not finished within `timeout` (it blocked)."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the read blocked (a FIFO or a device was opened and read)"
    return outcome[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    return git_repo


# -- the helper every reader uses ------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_before_reading(device: str) -> None:
    error = finishes(lambda: read_regular_file(device, limit=1024, what="pipeline file"))
    assert isinstance(error, UsageError)
    assert str(error) == (
        f"{device}: pipeline file is a character device, not a regular file "
        "(refused: reading it could block or never end)"
    )


def test_a_fifo_is_refused_without_blocking(fifo: Path) -> None:
    error = finishes(lambda: read_regular_file(fifo, limit=1024, what="parameters file"))
    assert isinstance(error, UsageError)
    assert "parameters file is a FIFO (named pipe), not a regular file" in str(error)


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "run.json"
    link.symlink_to("/dev/zero")
    error = finishes(lambda: read_regular_file(link, limit=1024, what="run log", error=RunLogError))
    assert isinstance(error, RunLogError) and "character device" in str(error)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        error = finishes(lambda: read_regular_file(path, limit=1024))
    finally:
        server.close()
    assert isinstance(error, UsageError) and "is a socket" in str(error)


def test_the_cap_is_what_is_read_not_what_stat_says(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 1000)
    assert read_regular_file(path, limit=1000) == b"x" * 1000
    with pytest.raises(UsageError, match="larger than the 999 bytes allowed"):
        read_regular_file(path, limit=999)
    assert read_regular_file(path, limit=10, head=True) == b"x" * 10


def test_a_file_swapped_for_a_fifo_after_the_check_is_refused_by_fstat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is checked with stat, then the opened descriptor again with fstat: a FIFO put in place
    between the two is opened non-blocking and refused, not read."""
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    real_open = os.open

    def swap_then_open(target: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(target) == path:
            path.unlink()
            os.mkfifo(path)
            assert flags & os.O_NONBLOCK, "opened in a way that blocks on a FIFO"
        return real_open(target, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swap_then_open)
    error = finishes(lambda: read_regular_file(path, limit=1024))
    assert isinstance(error, UsageError) and "FIFO" in str(error)


# -- every command-line input that is a file ---------------------------------------------------------------
@pytest.mark.parametrize(
    "args, expected",
    [
        (["execute", "--file", "/dev/zero"], "Error: /dev/zero: pipeline file is a character device"),
        (["execute", "-p", "/dev/zero"], "Error: /dev/zero: parameters file is a character device"),
        (["execute", "-c", "/dev/zero"], "Error: /dev/zero: config file is a character device"),
        (["execute", "-v", "/dev/zero"], "Error: /dev/zero: var file is a character device"),
        (["execute", "--file", "FIFO"], "pipeline file is a FIFO (named pipe)"),
        (["execute", "-p", "FIFO"], "parameters file is a FIFO (named pipe)"),
        (["execute", "-c", "FIFO"], "config file is a FIFO (named pipe)"),
        (["execute", "-v", "FIFO"], "var file is a FIFO (named pipe)"),
        (["diff", "/dev/zero", "x.json"], "Error: /dev/zero: run log is a character device"),
        (["diff", "FIFO", "x.json"], "run log is a FIFO (named pipe)"),
        (["runs", "-c", "FIFO"], "config file is a FIFO (named pipe)"),
    ],
)
def test_command_line_files_that_are_not_regular_are_refused(
    project: Path, args: list[str], expected: str
) -> None:
    fifo = project / "in.fifo"
    os.mkfifo(fifo)
    result = run_magnus(*[str(fifo) if a == "FIFO" else a for a in args], cwd=project, timeout=TIMEOUT)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / ".run_log_store").exists()  # refused before anything was written


def test_a_dag_definition_that_is_a_fifo_is_refused(project: Path) -> None:
    os.mkfifo(project / "sub.yaml")
    (project / "pipeline.yaml").write_text(
        "dag:\n  start_at: d\n  steps:\n    d: {type: dag, dag_definition: sub.yaml, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = run_magnus("execute", "--file", "pipeline.yaml", cwd=project, timeout=TIMEOUT)
    assert result.returncode == 2, result.stderr
    assert "sub.yaml: dag_definition file is a FIFO (named pipe)" in result.stderr


def test_a_project_config_that_is_a_fifo_is_refused(project: Path) -> None:
    os.mkfifo(project / "magnus-config.yaml")
    result = run_magnus("execute", "--file", "pipeline.yaml", cwd=project, timeout=TIMEOUT)
    assert result.returncode == 2, result.stderr
    assert "magnus-config.yaml: config file is a FIFO (named pipe)" in result.stderr


def test_a_secrets_file_that_is_a_fifo_is_refused(project: Path) -> None:
    os.mkfifo(project / ".env")
    (project / "pipeline.yaml").write_text(PIPELINE + "secrets: {type: dotenv, config: {location: .env}}\n")
    result = run_magnus("execute", "--file", "pipeline.yaml", cwd=project, timeout=TIMEOUT)
    assert result.returncode == 2, result.stderr
    assert ".env: secrets file is a FIFO (named pipe)" in result.stderr


# -- files found in a store or a project, not named by the user ---------------------------------------------
def test_a_fifo_in_the_store_is_listed_broken_and_never_blocks_runs(project: Path) -> None:
    assert run_magnus("execute", "--run-id", "good", cwd=project, timeout=TIMEOUT).returncode == 0
    os.mkfifo(project / ".run_log_store" / "planted.json")
    os.symlink("/dev/zero", project / ".run_log_store" / "zero.json")
    result = run_magnus("runs", "--json", cwd=project, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    import json

    runs = {r["run_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["good"]["status"] == "SUCCESS"
    assert runs["planted"]["status"] == "BROKEN" and "FIFO" in runs["planted"]["broken_reason"]
    assert runs["zero"]["status"] == "BROKEN" and "character device" in runs["zero"]["broken_reason"]


def test_a_fifo_among_chunked_parts_is_reported_not_read(project: Path) -> None:
    store = "run_log_store: {type: chunked-fs, config: {log_folder: .chunks}}\n"
    (project / "pipeline.yaml").write_text(PIPELINE + store)
    assert run_magnus("execute", "--run-id", "c1", cwd=project, timeout=TIMEOUT).returncode == 0
    os.mkfifo(project / ".chunks" / "c1" / "steps" / "zz.json")
    (project / "cfg.yaml").write_text(store)
    result = run_magnus("runs", "-c", "cfg.yaml", cwd=project, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "BROKEN" in result.stdout
    assert "run-log part is a FIFO (named pipe)" in result.stdout


def test_the_workbench_pipeline_finder_skips_fifos_and_devices(project: Path) -> None:
    from magnus_tui.source import Project

    os.mkfifo(project / "blocked.yaml")
    (project / "zero.yaml").symlink_to("/dev/zero")
    found: list[list[str]] = []
    error = finishes(lambda: found.append(Project(root=project).pipelines()))
    assert error is None
    assert found == [["pipeline.yaml"]]


def test_errors_are_magnus_errors_so_the_cli_exits_2() -> None:
    """What read_regular_file raises is always one of ours (exit code 2), never OSError."""
    for target in ("/nonexistent/x", "/dev/zero", "/"):
        error = finishes(lambda target=target: read_regular_file(target, limit=10))
        assert isinstance(error, MagnusError) and error.exit_code == 2


def test_a_fifo_planted_under_a_catalog_name_fails_the_put_without_blocking(git_repo: Path) -> None:
    from magnus_core.runner import RunRequest, execute, prepare

    (git_repo / "make15.py").write_text(
        "from pathlib import Path\n\n\ndef make():\n    Path('data').mkdir(exist_ok=True)\n"
        "    Path('data/out.csv').write_text('x')\n"
    )
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: make15.make, catalog: {put: ['*.csv']}, "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / ".catalog" / "r1").mkdir(parents=True)
    os.mkfifo(git_repo / ".catalog" / "r1" / "out.csv")
    logs: list[Any] = []
    error = finishes(
        lambda: logs.append(execute(prepare(RunRequest(file="p.yaml", run_id="r1")))), timeout=60
    )
    assert error is None
    assert logs[0].status == "FAIL"
    assert "'out.csv' in the catalog is not a regular file" in logs[0].steps["a"].message


def test_a_fifo_planted_as_branch_parameters_is_refused_without_blocking(git_repo: Path) -> None:
    import shutil

    from magnus_core.single import execute_single_node, fan_out, job_from_files
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (git_repo / "shared.yaml").write_text(
        "run_log_store: {type: chunked-fs, config: {log_folder: runs}}\ncatalog: {type: do-nothing}\n"
    )

    def job(step: str) -> Any:
        return job_from_files("r1", step, file="examples/composite.yaml", config_file="shared.yaml")

    assert execute_single_node(job("prepare")) == 0
    assert fan_out(job("parallel%step"))[0] == 0
    from magnus_core.stores.chunked import part_name

    planted = git_repo / "runs" / "r1" / "branch-parameters" / part_name("parallel step.branch a")
    planted.unlink()
    os.mkfifo(planted)
    error = finishes(lambda: execute_single_node(job("parallel%step.branch%a.a1")), timeout=60)
    assert isinstance(error, RunLogError) and "branch parameters is a FIFO (named pipe)" in str(error)
