"""What a step's module does to the whole process as it is imported is put back, as what the step's function
does is (issue 16 point 4, trial 19 F19): magnus imports every python step's module before the run (to
check it), outside any step, so nothing was undone. `os.chdir` to the module's folder at its top moved the
run log and the catalog there (every command the summary suggested then said "no run"); a non-daemon
thread it started kept magnus from ever exiting; `sys.stdout = None` ended magnus in an internal error; and
SIGPIPE's default put back killed `magnus execute ... | head -1` (exit 141, the run log PROCESSING). Each
is now put back after the import, said naming the step and its module; the folder a module chose is its
own steps' while they run (trial 20 N5: putting it back failed the idiom's `open("data.csv")`). Real runs in subprocesses, in a
temporary git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

PIPELINE = """
dag:
  start_at: s
  steps:
    s: {type: task, command: pkg.steps.s, next: t}
    t: {type: task, command_type: shell, command: "seq 1 20000; pwd", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _project(root: Path, top: str, body: str = "") -> None:
    """pkg/steps.py: `top` at import, then the step function s (which prints where it runs)."""
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "steps.py").write_text(
        f"import os, signal, sys, threading, time\n{top}\n\n\ndef s():\n{body}    print('s runs in', os.getcwd())\n"
    )
    (root / "p.yaml").write_text(PIPELINE)


def _statuses(root: Path, run: str) -> dict[str, str]:
    log = json.loads((root / ".run_log_store" / f"{run}.json").read_text())
    assert log["status"] == "SUCCESS", log["status"]
    return {name: step["status"] for name, step in log["steps"].items()}


ALL_SUCCEEDED = dict.fromkeys(["s", "t", "success"], "SUCCESS")


def _said(stderr: str, what: str) -> list[str]:
    return [line for line in stderr.splitlines() if what in line]


def test_a_module_that_changes_folder_as_imported_runs_its_steps_there_and_the_run_where_magnus_started(
    git_repo: Path, magnus: Any
) -> None:
    """The idiom `os.chdir(os.path.dirname(os.path.abspath(__file__)))` at a module's top, then a file named
    beside it: its steps run in its folder, as in one python process (trial 20 N5: the folder was put back
    after the import, so `open("data.csv")` failed the step, FileNotFoundError, though python ran it); the
    shell step, the run log and the catalog stay where magnus started (trial 19 F19)."""
    _project(
        git_repo,
        "os.chdir(os.path.dirname(os.path.abspath(__file__)))",
        "    with open('data.csv') as handle:\n        print('rows', len(handle.readlines()))\n",
    )
    (git_repo / "pkg" / "data.csv").write_text("a,b\n1,2\n")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "m2")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: 1, FileNotFoundError: 'data.csv')
    assert _statuses(git_repo, "m2") == ALL_SUCCEEDED  # (before F19: in pkg/.run_log_store)
    assert not (git_repo / "pkg" / ".run_log_store").exists() and not (git_repo / "pkg" / ".catalog").exists()
    assert (git_repo / ".catalog" / "m2" / ".magnus" / "output" / "s.0.log").exists()
    assert f"rows 2\ns runs in {git_repo / 'pkg'}\n" in ran.stdout
    assert f"\n{git_repo}\n" in ran.stdout  # the shell step runs where magnus started
    assert _said(ran.stderr, "working folder") == [
        f"magnus: step s's module pkg.steps, as it was imported, changed the working folder to {git_repo / 'pkg'}: "
        "its steps run there, as they would in one python process; the other steps, the run log and the catalog "
        f"stay in {git_repo}, where magnus started"
    ]
    logs = magnus("logs", "m2", "s")  # what the summary suggests works (before F19: "no run 'm2'", exit 2)
    assert logs.returncode == 0, logs.stderr
    assert f"s runs in {git_repo / 'pkg'}" in logs.stdout


PARALLEL = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      branches:
        A: {start_at: s, steps: {s: {type: task, command: pkg.steps.s, next: success}, success: {type: success}, fail: {type: fail}}}
        B: {start_at: u, steps: {u: {type: task, command: pkg.other.u, next: success}, success: {type: success}, fail: {type: fail}}}
      next: t
    t: {type: task, command: pkg.steps.s, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_modules_folder_is_its_steps_own_and_beside_other_branches_said(
    git_repo: Path, magnus: Any, workers: int
) -> None:
    """A step of another module (pkg.other) runs where magnus started, each time a step of the folder's
    module ran before it; beside other branches (max_workers 2) the working folder is the whole process's,
    so the module's step runs where magnus started too, and that is said once (trial 20 N5)."""
    _project(git_repo, "os.chdir(os.path.dirname(os.path.abspath(__file__)))")
    (git_repo / "pkg" / "other.py").write_text(
        "import os\n\n\ndef u():\n    print('u runs in', os.getcwd())\n"
    )
    (git_repo / "p.yaml").write_text(PARALLEL)
    (git_repo / "conf.yaml").write_text(f"executor: {{type: local, config: {{max_workers: {workers}}}}}\n")
    ran = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"u runs in {git_repo}\n" in ran.stdout
    assert ran.stdout.count(f"s runs in {git_repo / 'pkg'}\n") == (2 if workers == 1 else 1)
    beside = _said(ran.stderr, "beside other branches")
    if workers == 1:
        assert beside == []
        return
    assert f"s runs in {git_repo}\n" in ran.stdout  # (the branch's step)
    assert beside == [  # (the old code: the step ran where magnus started, t too, nothing said at the step)
        f"magnus: step par.A.s's module pkg.steps changed the working folder to {git_repo / 'pkg'} as it was "
        "imported, but beside other branches (max_workers > 1) the working folder is the whole process's: the "
        f"step runs in {git_repo}, where magnus started"
    ]


def test_a_step_of_such_a_module_that_changes_folder_itself_is_put_back_and_said(
    git_repo: Path, magnus: Any
) -> None:
    """The module's folder is its steps' own; a folder the step's function moves to is put back after it
    and said, as for any step."""
    _project(git_repo, "os.chdir(os.path.dirname(os.path.abspath(__file__)))", "    os.chdir('../out')\n")
    (git_repo / "out").mkdir()
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stderr
    assert f"s runs in {git_repo / 'out'}\n" in ran.stdout and _statuses(git_repo, "r") == ALL_SUCCEEDED
    assert f"\n{git_repo}\n" in ran.stdout  # the shell step
    assert _said(ran.stderr, "did not change it back") == [
        f"magnus: step s changed the working folder (to {git_repo / 'out'}) and did not change it back; magnus did: the "
        f"steps, the run log and the catalog stay in {git_repo}, where magnus started (a file beside a module is "
        "found from its __file__)"
    ]


def test_a_step_that_changes_folder_as_it_runs_is_said_the_same_way(git_repo: Path, magnus: Any) -> None:
    """A step's function that changes folder was put back already, said without the step's name."""
    _project(git_repo, "", "    os.chdir('pkg')\n")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stderr
    assert _statuses(git_repo, "r") == ALL_SUCCEEDED
    assert f"s runs in {git_repo / 'pkg'}\n" in ran.stdout and f"\n{git_repo}\n" in ran.stdout
    assert _said(ran.stderr, "working folder") == [  # (the old code: "a step changed the working folder ...")
        f"magnus: step s changed the working folder (to {git_repo / 'pkg'}) and did not change it back; magnus "
        f"did: the steps, the run log and the catalog stay in {git_repo}, where magnus started (a file beside a "
        "module is found from its __file__)"
    ]
    assert magnus("logs", "r", "s").returncode == 0


def test_a_thread_a_module_starts_as_imported_does_not_keep_magnus_running(
    git_repo: Path, magnus: Any
) -> None:
    _project(git_repo, "threading.Thread(target=time.sleep, args=(300,), name='warmer').start()")
    started = time.monotonic()
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")  # (the old code: the 120 s timeout)
    assert time.monotonic() - started < 100
    assert ran.returncode == 0, ran.stderr
    assert _statuses(git_repo, "r") == ALL_SUCCEEDED
    assert "Run r: SUCCESS" in ran.stdout
    assert _said(ran.stderr, "left a thread running") == [
        "magnus: step s's module pkg.steps, as it was imported, left a thread running ('warmer'); magnus exits "
        "without waiting for it (join the threads a step starts, or make them daemon threads)"
    ]


def test_a_module_that_sets_stdout_to_none_as_imported_does_not_end_magnus(
    git_repo: Path, magnus: Any
) -> None:
    _project(git_repo, "sys.stdout = None")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stderr  # (the old code: 1, "internal error (AttributeError ...)")
    assert "internal error" not in ran.stderr
    assert _statuses(git_repo, "r") == ALL_SUCCEEDED
    assert "Run r: SUCCESS" in ran.stdout and f"s runs in {git_repo}" in ran.stdout


def test_a_module_that_puts_sigpipes_default_back_as_imported_does_not_kill_magnus(git_repo: Path) -> None:
    _project(git_repo, "signal.signal(signal.SIGPIPE, signal.SIG_DFL)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    shell = f"{sys.executable} -m magnus_core execute -f p.yaml --run-id r | head -1; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], cwd=git_repo, env=env, capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "0", (done.stdout[-300:], done.stderr)  # (the old code: 141)
    assert _statuses(git_repo, "r") == ALL_SUCCEEDED  # (the old code: PROCESSING)
    assert _said(done.stderr, "SIGPIPE") == [
        "magnus: step s's module pkg.steps, as it was imported, changed what SIGPIPE does (to the default action) "
        "and did not put it back; magnus did: its default action kills magnus once a pipe it prints to has "
        "closed (| head)"
    ]


def test_the_per_step_entry_point_imports_a_module_as_magnus_execute_does(
    git_repo: Path, magnus: Any
) -> None:
    """`magnus execute_single_node` imports the module inside the step: its function runs in the folder the
    import moved to, as under `magnus execute` (trial 20 N5; before trial 19 F19 nothing named the module),
    the run log where magnus started."""
    top = "os.chdir(os.path.dirname(os.path.abspath(__file__)))\nthreading.Thread(target=time.sleep, args=(300,), name='warmer').start()"
    _project(git_repo, top)
    ran = magnus("execute_single_node", "-f", "p.yaml", "r", "s")
    assert ran.returncode == 0, ran.stderr
    assert f"s runs in {git_repo / 'pkg'}\n" in ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["steps"]["s"]["status"] == "SUCCESS"
    assert _said(ran.stderr, "pkg.steps") == [
        f"magnus: step s's module pkg.steps, as it was imported, changed the working folder to {git_repo / 'pkg'}: "
        "its steps run there, as they would in one python process; the other steps, the run log and the catalog "
        f"stay in {git_repo}, where magnus started",
        "magnus: step s's module pkg.steps, as it was imported, left a thread running ('warmer'); magnus exits "
        "without waiting for it (join the threads a step starts, or make them daemon threads)",
    ]
    logs = magnus("logs", "r", "s")
    assert logs.returncode == 0 and f"s runs in {git_repo / 'pkg'}" in logs.stdout, logs.stderr
