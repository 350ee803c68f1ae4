"""What a step's module does to the whole process as it is imported is put back, as what the step's function
does is (issue 16 point 4, trial 19 F19): magnus imports every python step's module before the run (to
check it), outside any step, so nothing was undone. `os.chdir` to the module's folder at its top moved the
run log and the catalog there (every command the summary suggested then said "no run"); a non-daemon
thread it started kept magnus from ever exiting; `sys.stdout = None` ended magnus in an internal error; and
SIGPIPE's default put back killed `magnus execute ... | head -1` (exit 141, the run log PROCESSING). Each
is now put back after the import, said naming the step and its module. Real runs in subprocesses, in a
temporary git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def test_a_module_that_changes_folder_as_imported_leaves_the_run_where_magnus_started(
    git_repo: Path, magnus: Any
) -> None:
    _project(git_repo, "os.chdir(os.path.dirname(os.path.abspath(__file__)))")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "m2")
    assert ran.returncode == 0, ran.stderr
    assert _statuses(git_repo, "m2") == ALL_SUCCEEDED  # (the old code: in pkg/.run_log_store)
    assert not (git_repo / "pkg" / ".run_log_store").exists()
    assert f"s runs in {git_repo}\n" in ran.stdout  # the steps run where magnus started, the shell one too
    assert f"\n{git_repo}\n" in ran.stdout
    assert _said(ran.stderr, "working folder") == [
        f"magnus: step s's module pkg.steps, as it was imported, changed the working folder (to {git_repo / 'pkg'}) "
        f"and did not change it back; magnus did: the steps, the run log and the catalog stay in {git_repo}, where "
        "magnus started (a file beside a module is found from its __file__)"
    ]
    logs = magnus("logs", "m2", "s")  # what the summary suggests works (the old code: "no run 'm2'", exit 2)
    assert logs.returncode == 0, logs.stderr
    assert f"s runs in {git_repo}" in logs.stdout


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
    """`magnus execute_single_node` imports the module inside the step: its function ran in the folder the
    import moved to (the old code: `s runs in .../pkg`), unlike under `magnus execute`, and nothing named
    the module."""
    top = "os.chdir(os.path.dirname(os.path.abspath(__file__)))\nthreading.Thread(target=time.sleep, args=(300,), name='warmer').start()"
    _project(git_repo, top)
    ran = magnus("execute_single_node", "-f", "p.yaml", "r", "s")
    assert ran.returncode == 0, ran.stderr
    assert f"s runs in {git_repo}\n" in ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["steps"]["s"]["status"] == "SUCCESS"
    assert _said(ran.stderr, "pkg.steps") == [
        f"magnus: step s's module pkg.steps, as it was imported, changed the working folder (to {git_repo / 'pkg'}) "
        f"and did not change it back; magnus did: the steps, the run log and the catalog stay in {git_repo}, where "
        "magnus started (a file beside a module is found from its __file__)",
        "magnus: step s's module pkg.steps, as it was imported, left a thread running ('warmer'); magnus exits "
        "without waiting for it (join the threads a step starts, or make them daemon threads)",
    ]
    logs = magnus("logs", "r", "s")
    assert logs.returncode == 0 and f"s runs in {git_repo}" in logs.stdout, logs.stderr
