"""A python step that lowers a resource limit of magnus's own process (resource.setrlimit, resource.prlimit)
and leaves it lowered no longer takes the run down (trial 18): RLIMIT_NOFILE at 12 stopped the run with
"Too many open files", exit 1, no step named and no reason in `magnus show`; RLIMIT_FSIZE at 100 bytes left
the run log PROCESSING ("the run's process ended while it ran"). magnus puts a lowered limit back after the
step, in the main thread or a branch thread, and says so once, naming the limit and what it would have done
(stepguard._put_limits_back); a hard limit it may not raise again is said so. Real runs in subprocesses, in
a temporary git repo."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

STEPS = """
import resource, time


def fewer_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (12, 4096))


def small_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(0, resource.RLIMIT_FSIZE, (100, hard))


def lower_hard():
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, 200))


def opens():
    handles = [open(__file__) for _ in range(40)]  # more than 12
    for handle in handles:
        handle.close()
    print("limits", resource.getrlimit(resource.RLIMIT_NOFILE), flush=True)


def writes():
    time.sleep(0.3)
    print("x" * 5000, flush=True)
"""


def _pipeline(first: str) -> str:
    return (
        "dag:\n  start_at: first\n  steps:\n"
        f"    first: {{type: task, command: steps.{first}, next: shell}}\n"
        '    shell: {type: task, command_type: shell, command: "seq 1 20000", next: then}\n'
        "    then: {type: task, command: steps.opens, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )


def _files_limit() -> None:
    """magnus starts with 1024 open files (soft), 4096 (hard): what the warnings say it was."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))


def _execute(project: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("the warnings' figures need a hard limit of 4096 open files or more")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "magnus_core", "execute", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_files_limit,
    )


def _statuses(project: Path, run_id: str) -> tuple[str, dict[str, str]]:
    log = json.loads((project / ".run_log_store" / f"{run_id}.json").read_text())
    return log["status"], {name: step["status"] for name, step in log["steps"].items()}


ALL_SUCCEEDED = {"first": "SUCCESS", "shell": "SUCCESS", "then": "SUCCESS", "success": "SUCCESS"}


def test_a_step_that_lowers_the_open_files_limit_does_not_stop_the_run(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline("fewer_files"))
    ran = _execute(git_repo, "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, (
        ran.stdout[-2000:] + ran.stderr[-2000:]
    )  # (the old code: 1, "Too many open files")
    assert _statuses(git_repo, "r") == ("SUCCESS", ALL_SUCCEEDED)
    assert "limits (1024, 4096)" in ran.stdout
    said = [line for line in ran.stderr.splitlines() if "RLIMIT" in line]
    assert said == [
        "magnus: a step lowered RLIMIT_NOFILE to soft 12, hard 4096 (it was soft 1024, hard 4096) and did not "
        "put it back; magnus did: so low, magnus cannot open the run log, the steps' output files or a shell "
        "step's pipes (Too many open files)"
    ], ran.stderr


def _words(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def _size_words(value: int) -> str:
    """A limit in bytes as magnus says it (trial 19 F13: `209715200` read as a count): `100 bytes`,
    `1.0 MB (1048576 bytes)`."""
    from magnus_core.table import fmt_size

    return "unlimited" if value == resource.RLIM_INFINITY else fmt_size(value, exact=True)


PARALLEL = """
dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: then
      branches:
        one: {start_at: a, steps: {a: {type: task, command: steps.small_files, next: b}, b: {type: task, command_type: shell, command: "seq 1 20000", next: success}, success: {type: success}, fail: {type: fail}}}
        two: {start_at: c, steps: {c: {type: task, command: steps.writes, next: success}, success: {type: success}, fail: {type: fail}}}
    then: {type: task, command: steps.opens, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("where", ["main", "branch"])
def test_a_step_that_lowers_the_file_size_limit_leaves_the_run_log_finished(
    git_repo: Path, where: str
) -> None:
    """In the main thread and in a branch thread (max_workers 2: limits are the whole process's), through
    resource.prlimit on magnus's own process."""
    (git_repo / "steps.py").write_text(STEPS)
    if where == "main":
        (git_repo / "p.yaml").write_text(_pipeline("small_files"))
        ran = _execute(git_repo, "-f", "p.yaml", "--run-id", "r")
    else:
        (git_repo / "p.yaml").write_text(PARALLEL)
        (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
        ran = _execute(git_repo, "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert ran.returncode == 0, (
        ran.stdout[-2000:] + ran.stderr[-2000:]
    )  # (the old code: 1, "File too large", run log unfinished)
    status, steps = _statuses(git_repo, "r")
    assert status == "SUCCESS"
    if where == "main":
        assert steps == ALL_SUCCEEDED
    else:
        assert steps == {"fan": "SUCCESS", "then": "SUCCESS", "success": "SUCCESS"}
        log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
        branches = log["steps"]["fan"]["branches"]
        inner = {s["internal_name"]: s["status"] for b in branches.values() for s in b["steps"].values()}
        assert set(inner.values()) == {"SUCCESS"} and len(inner) == 5, inner
        assert "x" * 5000 in ran.stdout
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    said = [line for line in ran.stderr.splitlines() if "RLIMIT" in line]
    assert said == [
        f"magnus: a step lowered RLIMIT_FSIZE to soft 100 bytes, hard {_size_words(hard)} (it was soft "
        f"{_size_words(soft)}, hard {_size_words(hard)}) and did not put it back; magnus did: so low, magnus's writes past it fail (File "
        "too large): the run log, the steps' output files"
    ], ran.stderr


def test_a_hard_limit_magnus_may_not_raise_again_is_said_and_the_run_goes_on(git_repo: Path) -> None:
    """Only a process allowed to (root with CAP_SYS_RESOURCE) raises a hard limit again: without it the soft
    limit is raised as far as the hard one lets, and the warning says it could not do more."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # (root: without CAP_SYS_RESOURCE, as a user is)
        if shutil.which("setpriv") is None:
            pytest.skip("as root, dropping CAP_SYS_RESOURCE needs setpriv(1)")
        prefix = ("setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource")
        if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
            pytest.skip("setpriv cannot drop CAP_SYS_RESOURCE here (no CAP_SETPCAP)")
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline("lower_hard"))
    ran = _execute(git_repo, "-f", "p.yaml", "--run-id", "r", prefix=prefix)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert _statuses(git_repo, "r") == ("SUCCESS", ALL_SUCCEEDED)
    assert "limits (200, 200)" in ran.stdout, ran.stderr[-2000:]
    said = [line for line in ran.stderr.splitlines() if "RLIMIT" in line]
    assert said == [  # (the old code: nothing said)
        "magnus: a step lowered RLIMIT_NOFILE to soft 100, hard 200 (it was soft 1024, hard 4096) and did not "
        "put it back; only a process with CAP_SYS_RESOURCE (root, unless a container took it away) can raise "
        "a hard limit again, so magnus could not (it is soft 200, hard 200 "
        "now): at that limit, magnus cannot open the run log, the steps' output files or a shell step's pipes "
        "(Too many open files)"
    ], ran.stderr


def test_a_raised_limit_stays(git_repo: Path, magnus: Any) -> None:
    """A step that raises a limit (more open files for what comes after) keeps it, unsaid; one it lowers in
    the same step is put back."""
    (git_repo / "steps.py").write_text(
        "import resource\n\n"
        "def more():\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (2048, 4096))\n"
        "    resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))\n\n"
        "def then():\n"
        "    print('limits', resource.getrlimit(resource.RLIMIT_NOFILE), flush=True)\n"
    )
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: steps.more, next: b}\n"
        "    b: {type: task, command: steps.then, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ran = _execute(git_repo, "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "limits (2048, 4096)" in ran.stdout
    said = [line for line in ran.stderr.splitlines() if "RLIMIT" in line]
    assert len(said) == 1 and said[0].startswith(
        "magnus: a step lowered RLIMIT_STACK to soft 1.0 MB (1048576 bytes), hard "
    ), said
