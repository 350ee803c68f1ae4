"""A step run by `magnus execute_single_node` whose process is killed reads cut short (session 10, trial 15
N8): it stayed `PROCESSING` in `magnus show`, `magnus logs` and `--json`, with no word that its process was
gone, although that process ran exactly this one attempt. Each step the per-step entry point begins now
records its process (StepLog.process: pid, host, start time), so a reader on that host says `wait: attempt 0
was cut short: its process (pid N) is gone`, as for a local run; the hint's command run again adds attempt 1
and keeps attempt 0 (trial 14 F5's fix), now naming the pid it lost.

Real `magnus execute_single_node` processes in sessions of their own, a real kill -9, both ways a step is
written (the models' path, and the plain one of a python step on chunked-fs with the do-nothing catalog)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_magnus
from tests.test_orphans import _gone, marked_project

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

FUNCS = """
import ctypes, os, time

def wait():
    print("starting training", flush=True)
    if not os.environ.get("QUICK"):
        time.sleep(300)

def crash():
    print("calling the C extension with batch 17", flush=True)
    if not os.environ.get("QUICK"):
        ctypes.string_at(0)
"""

SEGV = """
dag:
  start_at: wait
  steps:
    wait: {type: task, command: pkill9.crash, next: success}
    success: {type: success}
    fail: {type: fail}
"""

SHELL = """
dag:
  start_at: wait
  steps:
    wait:
      type: task
      command_type: shell
      command: 'echo starting training; [ -n "$QUICK" ] || sleep 300'
      next: success
    success: {type: success}
    fail: {type: fail}
"""

PYTHON = """
dag:
  start_at: wait
  steps:
    wait: {type: task, command: pkill9.wait, next: success}
    success: {type: success}
    fail: {type: fail}
"""

# the plain path's store and catalog (magnus_core/single_plain.py)
PLAIN = "run_log_store:\n  type: chunked-fs\ncatalog:\n  type: do-nothing\n"


@pytest.fixture
def project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """Every process of the test marked, and killed at its end (tests/test_orphans.py)."""
    with marked_project(git_repo) as made:
        (git_repo / "pkill9.py").write_text(FUNCS)
        (git_repo / "shell.yaml").write_text(SHELL)
        (git_repo / "python.yaml").write_text(PYTHON)
        (git_repo / "plain.yaml").write_text(PLAIN)
        (git_repo / "segv.yaml").write_text(SEGV)
        yield made


def _killed(project: dict[str, Any], run_id: str, args: list[str]) -> int:
    """Start `magnus execute_single_node RUN wait ARGS`, kill -9 it once its step has printed; its pid."""
    root = project["root"]
    out = root / f"{run_id}.out"
    with open(out, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "magnus_core", "execute_single_node", run_id, "wait", *args],
            cwd=root,
            env=project["env"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while b"starting training" not in out.read_bytes():
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, "the step did not start within 90 s"
        time.sleep(0.05)
    if "--config-file" not in args:  # (the plain path's run: a python step, no shell to start)
        time.sleep(0.3)
    live = run_magnus("show", run_id, *args[2:], cwd=root)
    assert "cut short" not in live.stdout, live.stdout  # its process lives: not said while it runs
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    assert not _gone(project["mark"], 20)  # (the watcher has stopped the shell's sleep, and ended)
    return proc.pid


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("shell.yaml", []), id="shell-models-path"),
        pytest.param(("python.yaml", ["--config-file", "plain.yaml"]), id="python-plain-path"),
    ],
)
def test_a_killed_per_step_process_reads_cut_short_and_its_rerun_adds_an_attempt(
    project: dict[str, Any], case: tuple[str, list[str]]
) -> None:
    pipeline, config = case
    root = project["root"]
    args = ["--file", pipeline, *config]
    pid = _killed(project, "psk1", args)
    said = f"wait: attempt 0 was cut short: its process (pid {pid}) is gone"

    shown = run_magnus("show", "psk1", *config, cwd=root)
    assert said in shown.stdout.splitlines(), shown.stdout
    assert "PER-STEP (PROCESSING)" in shown.stdout  # the run: its orchestrator may go on

    logs = run_magnus("logs", "psk1", *config, cwd=root)
    assert "starting training" in logs.stdout or "none of its output" in logs.stderr, logs
    assert f"magnus: wait (attempt 0) {said.partition(': attempt 0 ')[2]}" in logs.stderr, logs.stderr
    attempts = json.loads(run_magnus("logs", "psk1", "--json", *config, cwd=root).stdout)["attempts"]
    assert [(a["attempt"], a["status"], a["cut_short"]) for a in attempts] == [(0, "INTERRUPTED", True)]

    again = run_magnus("execute_single_node", "psk1", "wait", *args, cwd=root, env={"QUICK": "1"})
    assert again.returncode == 0, again.stderr
    assert "kept; this is attempt 1" in again.stderr, again.stderr
    data = json.loads(run_magnus("show", "psk1", "--json", *config, cwd=root).stdout)
    step = data["steps"]["wait"]
    assert [(a["attempt_number"], a["status"]) for a in step["attempts"]] == [
        (0, "INTERRUPTED"),
        (1, "SUCCESS"),
    ]
    assert f"(pid {pid})" in step["attempts"][0]["message"]
    assert step["process"]["pid"] != pid and step["process"]["host"]
    assert "cut short" not in run_magnus("show", "psk1", *config, cwd=root).stdout


def test_a_segfault_in_a_per_step_process_is_located(project: dict[str, Any]) -> None:
    """cut10's left item: `execute_single_node` wrote neither faulthandler's file nor the output held in
    memory, so a segfault in a per-step run was located nowhere and its last line was lost. Each such
    process now keeps its own (`.magnus/steps/<step>.<pid>.fatal.log` and `.held.log`: the run's other
    steps' processes never truncate them), read as a local run's are."""
    root = project["root"]
    crashed = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute_single_node", "ps3", "wait", "--file", "segv.yaml"],
        cwd=root,
        env=project["env"],
        capture_output=True,
        start_new_session=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    steps = root / ".catalog" / "ps3" / ".magnus" / "steps"
    fatal = sorted(p.name for p in steps.iterdir())
    assert len(fatal) == 2 and fatal[0].endswith(".fatal.log") and fatal[1].endswith(".held.log"), fatal
    shown = run_magnus("show", "ps3", cwd=root)
    assert "wait: crashed (Segmentation fault) at pkill9.py:12 in crash" in shown.stdout.splitlines(), (
        shown.stdout
    )
    logs = run_magnus("logs", "ps3", cwd=root)
    assert "calling the C extension with batch 17" in logs.stdout, logs  # (held in memory: written through)
    assert "Fatal Python error: Segmentation fault" in logs.stdout, logs.stdout
    assert f"magnus: every thread's frames at the crash: .catalog/ps3/.magnus/steps/{fatal[0]}" in logs.stderr
    assert "magnus: wait (attempt 0) crashed (Segmentation fault) at pkill9.py:12 in crash" in logs.stderr

    again = run_magnus(
        "execute_single_node", "ps3", "wait", "--file", "segv.yaml", cwd=root, env={"QUICK": "1"}
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in steps.iterdir()) == fatal  # the crash's kept; a normal end leaves none
    assert "crashed" not in run_magnus("show", "ps3", cwd=root).stdout
