"""What the watcher stopped after magnus died is said where a reader looks (session 10, trial 15 N4).

After a kill -9 of magnus, the watcher stopped the steps' processes within the grace, but `magnus show`,
`--json`, `magnus logs` and the workbench said only `attempt 0 was cut short: the run's process ended while
it ran`: whether the GPU job still ran was answered by `ps` alone. Now the watcher writes what it stopped to
the run's `.magnus/stopped.json` and every view says it under the step: `its processes (pgid N) were
stopped by the watcher: SIGTERM, then SIGKILL after 2 s`.

Real runs of `magnus execute` in sessions of their own, a shell step and a python step's child that both
ignore SIGTERM (so the watcher needs its SIGKILL), a real kill -9; every process carries a mark and is
killed at the end (tests/test_orphans.py's fixture)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_magnus
from tests.test_orphans import _gone, _marked, _running, _start, marked_project, two_branches

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")


@pytest.fixture
def project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """The project of tests/test_orphans.py: every process of a test marked, and killed at its end."""
    with marked_project(git_repo) as made:
        yield made


STUBBORN_FUNCS = """
import subprocess
from pathlib import Path

def spawn():
    child = subprocess.Popen(["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open('pids/python-child', 'w').write('x'); time.sleep(301)"])
    child.wait()

def quick():
    child = subprocess.Popen(["sleep", "303"])     # ends at the SIGTERM
    Path("pids/python-child").write_text(str(child.pid))
    child.wait()
"""

STUBBORN = two_branches(
    """'trap "" TERM; echo $$ > pids/shell; echo gpu job started; sh -c "trap \\"\\" TERM; sleep 300"'"""
)

QUICK = """
dag:
  start_at: q
  steps:
    q: {type: task, command: orphf.quick, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _killed(project: dict[str, Any], pipeline: str, run_id: str, wait_for: set[str]) -> None:
    """Run `pipeline`, kill -9 magnus once the pid files `wait_for` are written, and wait until the watcher
    has stopped every process of the run and ended."""
    root = project["root"]
    (root / "orphf.py").write_text(STUBBORN_FUNCS)
    (root / "run.yaml").write_text(pipeline)
    proc = _start(project, "file-system", run_id, pipeline="run.yaml")
    _running(project, proc, frozenset(wait_for), settle=0.5)  # (the shell's `sleep 300` follows its pid file)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    left = _gone(project["mark"], 20)  # the watcher too (it carries the mark): its record is whole
    assert not left, left


def test_show_logs_and_json_say_what_the_watcher_stopped(project: dict[str, Any]) -> None:
    root = project["root"]
    _killed(project, STUBBORN, "st1", {"python-child", "shell"})
    shell = int((root / "pids" / "shell").read_text())  # its group: the shell leads it

    shown = run_magnus("show", "st1", cwd=root)
    lines = shown.stdout.splitlines()
    at = lines.index("par.shell.sh: attempt 0 was cut short: the run's process ended while it ran")
    assert lines[at + 1] == (
        f"  its processes (pgid {shell}) were stopped by the watcher: SIGTERM, then SIGKILL after 2 s"
    ), shown.stdout
    at = lines.index("par.python.spawn: attempt 0 was cut short: the run's process ended while it ran")
    said = lines[at + 1]
    assert said.startswith("  its processes (pid ") and ": python3) were stopped by the watcher" in said, said
    assert said.endswith("SIGTERM, then SIGKILL after 2 s"), said

    data = json.loads(run_magnus("show", "st1", "--json", cwd=root).stdout)
    stopped = data["stopped"]
    assert stopped["state"] == "stopped" and stopped["grace"] == 2.0
    assert stopped["file"] == ".catalog/st1/.magnus/stopped.json"
    groups = {p["pid"]: p for p in stopped["processes"] if p["pgid"] == shell}
    assert shell in groups and groups[shell]["step"] == "par.shell.sh"
    assert {p["ended"] for p in stopped["processes"]} == {"SIGKILL"}, stopped

    logs = run_magnus("logs", "st1", cwd=root)
    assert (
        f"magnus: par.shell.sh (attempt 0): its processes (pgid {shell}) were stopped by the watcher: SIGTERM, "
        "then SIGKILL after 2 s"
    ) in logs.stderr.splitlines(), logs.stderr
    assert "magnus: par.python.spawn (attempt 0): its processes (pid " in logs.stderr
    assert json.loads(run_magnus("logs", "st1", "--json", cwd=root).stdout)["stopped"] == stopped


def test_a_process_that_ends_at_the_sigterm_reads_so(project: dict[str, Any]) -> None:
    root = project["root"]
    _killed(project, QUICK, "q1", {"python-child"})
    child = int((root / "pids" / "python-child").read_text())
    shown = run_magnus("show", "q1", cwd=root)
    lines = shown.stdout.splitlines()
    at = lines.index("q: attempt 0 was cut short: the run's process ended while it ran")
    said = lines[at + 1]
    assert said.startswith(
        f"  its processes (pid {child}: sleep) were stopped by the watcher: SIGTERM, gone"
    ), said


def test_a_run_that_ends_leaves_no_record(project: dict[str, Any]) -> None:
    """The record is a dead run's: a run that ends (its child still running, on purpose) has none, and a
    run's views say nothing of a watcher."""
    import subprocess
    import sys

    root = project["root"]
    (root / "orphf.py").write_text(STUBBORN_FUNCS.replace("child.wait()\n", "pass\n"))
    (root / "run.yaml").write_text(QUICK)
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "run.yaml", "--run-id", "ok1"],
        cwd=root,
        env=project["env"],
        capture_output=True,
        start_new_session=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not (root / ".catalog" / "ok1" / ".magnus" / "stopped.json").exists()
    assert "watcher" not in run_magnus("show", "ok1", cwd=root).stdout
    assert _marked(project["mark"])  # (the child it left: the fixture kills it)
