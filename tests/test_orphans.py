"""No process a step started outlives a magnus that died at once (session 9, trial 13 faults 1 and 10, major).

A shell step runs in a session of its own and a python step's children in magnus's process group: when
magnus was SIGKILLed (the OOM killer), segfaulted, or was killed by `magnus stop` after its timeout (a hung
magnus), they ran on, re-parented to init, quiet work (`sleep 300`, a GPU job) for ever, while every view
said the run had ended and the resume hint started a second copy beside them. The shell's EXIT trap then
left its environment dump in the temporary folder, and the run its file of secrets' names asked for (1,010
of them in /tmp at 04:35 on the day). Now the watcher (magnus_core/watcher.py) stops them and removes those.

Real runs of `magnus execute` in sessions of their own (as a shell starts a job: magnus leads its process
group), a real kill -9 / segfault / SIGSTOP. Every process a test starts carries a mark in its environment
(inherited by every descendant), and is killed at the end whatever happened (`marked`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_magnus

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")

FUNCS = """
import ctypes, os, subprocess, time
from pathlib import Path

def spawn():
    child = subprocess.Popen(["sleep", "301"])   # in magnus's process group
    Path("pids/python-child").write_text(str(child.pid))
    if os.environ.get("CRASH") == "segv":
        time.sleep(0.5)                           # (the shell branch has begun too)
        ctypes.string_at(0)
    child.wait()

def daemon():
    child = subprocess.Popen(["sleep", "302"])   # left running on purpose: the user's to keep
    Path("pids/daemon").write_text(str(child.pid))
"""


def two_branches(shell_command: str) -> str:
    """A parallel of two branches run at once: `python` (orphf.spawn, whose child is in magnus's process
    group) and `shell` (a shell step running `shell_command`, in a session of its own); this module's and
    tests/test_watcher_record.py's pipelines."""
    return f"""
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        python:
          start_at: spawn
          steps:
            spawn: {{type: task, command: orphf.spawn, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
        shell:
          start_at: sh
          steps:
            sh:
              type: task
              command_type: shell
              command: {shell_command}
              next: success
            success: {{type: success}}
            fail: {{type: fail}}
    success: {{type: success}}
    fail: {{type: fail}}
executor: {{type: local, config: {{max_workers: 2}}}}
"""


PIPELINE = two_branches("'echo starting; echo $$ > pids/shell; sleep 300'")

DAEMON = """
dag:
  start_at: d
  steps:
    d: {type: task, command: orphf.daemon, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CHUNKED = "run_log_store:\n  type: chunked-fs\n"
MARK = "MAGNUS_TEST_ORPHAN_MARK"


def _marked(mark: str) -> list[int]:
    """The pids of live processes whose environment holds the mark (zombies are ended)."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
            if stat[stat.rfind(b")") + 2 :].split()[0] == b"Z":
                continue
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _commands(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        with contextlib.suppress(OSError):
            out.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return out


def _gone(mark: str, within: float) -> list[str]:
    """Wait up to `within` seconds for no marked process to be left; what is left, as pid: command."""
    deadline = time.monotonic() + within
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _commands(left)


@pytest.fixture
def project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """The project, a private temporary folder for magnus (TMPDIR: where the shell's environment dump
    goes), and a mark for every process; every marked process is killed when the test ends."""
    with marked_project(git_repo) as made:
        yield made


@contextlib.contextmanager
def marked_project(git_repo: Path) -> Iterator[dict[str, Any]]:
    """What `project` gives (tests/test_watcher_record.py's fixture too)."""
    (git_repo / "orphf.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "daemon.yaml").write_text(DAEMON)
    (git_repo / "cfg.yaml").write_text(CHUNKED)
    (git_repo / "pids").mkdir()
    tmp = git_repo.parent / "tmp"
    tmp.mkdir()
    mark = uuid.uuid4().hex
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "MAGNUS_STOP_GRACE": "2",
        "TMPDIR": str(tmp),
        MARK: mark,
    }
    try:
        yield {"root": git_repo, "tmp": tmp, "mark": mark, "env": env}
    finally:
        for pid in _marked(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _start(
    project: dict[str, Any], store: str, run_id: str, pipeline: str = "p.yaml", **env: str
) -> subprocess.Popen[bytes]:
    """`magnus execute` of `pipeline` in a session of its own, in the background (tests/test_watcher_record
    too)."""
    config = ["--config-file", "cfg.yaml"] if store == "chunked-fs" else []
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", pipeline, *config, "--run-id", run_id],
        cwd=project["root"],
        env={**project["env"], **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # as a shell starts a job: magnus leads its process group
    )


def _running(
    project: dict[str, Any],
    proc: subprocess.Popen[bytes],
    wanted: frozenset[str] = frozenset({"python-child", "shell"}),
    settle: float = 0.3,
) -> None:
    """Wait until the steps' processes run (the pid files `wanted` written), then `settle` seconds more."""
    pids = project["root"] / "pids"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        names = {p.name for p in pids.iterdir() if p.read_text().strip()}
        if wanted <= names:
            time.sleep(settle)  # the shell's `sleep 300` follows its pid file
            return
        assert proc.poll() is None, f"magnus ended first: {proc.returncode}"
        time.sleep(0.05)
    pytest.fail("the steps' processes did not start within 90 s")


def _step_processes(project: dict[str, Any]) -> list[int]:
    pids = project["root"] / "pids"
    return [int((pids / n).read_text()) for n in ("python-child", "shell")]


def _no_dump(project: dict[str, Any]) -> None:
    """No file of the run left in its temporary folder: the shell's environment dump (`magnus-env-*`), the
    run's file of secrets' names asked for (`magnus-secrets-*.names`)."""
    deadline = time.monotonic() + 5  # (the watcher removes them once the processes are gone)
    while (left := sorted(p.name for p in project["tmp"].iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"files of the run were left in its temporary folder: {left}"


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_killed_magnus_leaves_no_process_of_its_steps(project: dict[str, Any], store: str) -> None:
    proc = _start(project, store, "killed")
    _running(project, proc)
    for pid in _step_processes(project):  # the steps' processes do run (the test sees them)
        assert pid in _marked(project["mark"])
    proc.send_signal(signal.SIGKILL)  # the OOM killer's
    assert proc.wait(10) == -signal.SIGKILL
    left = _gone(project["mark"], 15)
    assert not left, f"processes of the steps outlived magnus (kill -9): {left}"
    _no_dump(project)


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_segfault_in_a_step_leaves_no_process_of_the_run(project: dict[str, Any], store: str) -> None:
    proc = _start(project, store, "segv", CRASH="segv")
    assert proc.wait(120) == -signal.SIGSEGV
    left = _gone(project["mark"], 15)
    assert not left, f"processes of the steps outlived a magnus that segfaulted: {left}"
    _no_dump(project)


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_stopping_a_hung_magnus_stops_its_steps_processes(project: dict[str, Any], store: str) -> None:
    proc = _start(project, store, "hung")
    _running(project, proc)
    os.kill(proc.pid, signal.SIGSTOP)  # a hung magnus: SIGTERM cannot be handled
    config = ["--config-file", "cfg.yaml"] if store == "chunked-fs" else []
    stopped = run_magnus(
        "stop", "hung", "--timeout", "1", *config, cwd=project["root"], env={"TMPDIR": str(project["tmp"])}
    )
    assert stopped.returncode == 0, stopped.stderr
    assert "killed after the timeout" in stopped.stdout + stopped.stderr
    assert proc.wait(10) == -signal.SIGKILL
    left = _gone(project["mark"], 15)
    assert not left, f"`magnus stop` of a hung magnus left processes of its steps: {left}"
    _no_dump(project)


def test_magnus_stop_returns_once_the_killed_magnus_s_step_processes_are_gone(
    project: dict[str, Any],
) -> None:
    """`magnus stop` of a hung magnus prints the resume command: by then no step's process runs (one that
    ignores SIGTERM takes the whole grace), so resuming starts no second copy beside one."""
    root = project["root"]
    (root / "p.yaml").write_text(
        PIPELINE.replace(
            "command: 'echo starting; echo $$ > pids/shell; sleep 300'",
            """command: 'trap "" TERM; echo $$ > pids/shell; sh -c "trap \\"\\" TERM; sleep 300"'""",
        )
    )
    proc = _start(project, "file-system", "hung2")
    _running(project, proc)
    os.kill(proc.pid, signal.SIGSTOP)
    stopped = run_magnus("stop", "hung2", "--timeout", "1", cwd=root, env={"TMPDIR": str(project["tmp"])})
    assert stopped.returncode == 0, stopped.stderr
    assert "resume it with" in stopped.stdout + stopped.stderr
    left = _commands(_marked(project["mark"]))  # at once: no wait here
    assert not left, f"`magnus stop` returned while processes of the steps still ran: {left}"
    _no_dump(project)


def test_a_run_that_ends_leaves_what_a_step_started_on_purpose(project: dict[str, Any]) -> None:
    """The watcher acts only on a death: a step's daemon, left running by a run that ended as it should,
    is the user's (as before)."""
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "daemon.yaml"],
        cwd=project["root"],
        env=project["env"],
        capture_output=True,
        start_new_session=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    daemon = int((project["root"] / "pids" / "daemon").read_text())
    time.sleep(1.0)  # the watcher, had it stopped it, would have by now (TERM: sleep ends at once)
    assert daemon in _marked(project["mark"]), "the run's end stopped a process a step left on purpose"
    assert _gone(project["mark"], 5) == _commands([daemon])  # the watcher itself has ended


def test_a_killed_magnus_that_a_script_ran_leaves_no_process_of_its_steps(project: dict[str, Any]) -> None:
    """magnus run by a script (no job control: magnus is in the script's process group, not its leader):
    its steps' processes are stopped all the same, and what the script itself started meanwhile, in the
    same group, is left alone."""
    root = project["root"]
    script = (
        f"{sys.executable} -m magnus_core execute -f p.yaml --run-id scripted & echo $! > pids/magnus; "
        # the script's own process, started in its group while the run runs (after the watcher)
        "(while [ ! -s pids/python-child ]; do sleep 0.05; done; exec sleep 304) & echo $! > pids/caller; "
        # and one it double-forks (`( cmd & )`, a tensorboard, a tunnel): its parent is init, like an orphan
        # of magnus's (trial 15 N1: the watcher took it for one and killed it)
        "while [ ! -s pids/python-child ]; do sleep 0.05; done; ( sleep 305 & echo $! > pids/forked ); "
        "wait"
    )
    leader = subprocess.Popen(
        ["bash", "-c", script],
        cwd=root,
        env=project["env"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the script leads its group; magnus is a member
    )
    pids = root / "pids"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        names = {p.name for p in pids.iterdir() if p.read_text().strip()}
        if {"python-child", "shell", "magnus", "caller", "forked"} <= names:
            break
        assert leader.poll() is None, "the script ended first"
        time.sleep(0.05)
    time.sleep(0.5)  # the shell's `sleep 300`, the caller's `sleep 304` (an exec: same pid) follow
    magnus = int((pids / "magnus").read_text())
    caller = int((pids / "caller").read_text())
    forked = int((pids / "forked").read_text())
    assert os.getpgid(magnus) == leader.pid != magnus  # not its group's leader
    os.kill(magnus, signal.SIGKILL)
    script_own = {leader.pid, caller, forked}
    deadline = time.monotonic() + 15
    while (left := set(_marked(project["mark"])) - script_own) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the steps outlived magnus (kill -9): {_commands(sorted(left))}"
    assert script_own <= set(_marked(project["mark"])), "the script's own processes were stopped"
    assert "sleep 304" in " ".join(_commands([caller])) and "sleep 305" in " ".join(_commands([forked]))
    _no_dump(project)


STUBBORN = """
dag:
  start_at: sh
  steps:
    sh:
      type: task
      command_type: shell
      command: >-
        if [ -n "$AGAIN" ]; then if kill -0 $(cat pids/old) 2>/dev/null; then echo both > pids/both; fi; exit 0; fi;
        trap '' TERM; sleep 300 & echo $! > pids/old; wait
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def test_a_rerun_typed_at_once_waits_for_the_killed_runs_processes(project: dict[str, Any]) -> None:
    """Trial 15 N7: after a kill -9, the watcher stops the steps' processes within MAGNUS_STOP_GRACE
    (SIGTERM, then SIGKILL); the printed resume command typed meanwhile ran the step again beside the one
    still being stopped (a GPU job twice). The re-run waits for the old run's watcher, saying so."""
    root = project["root"]
    (root / "stubborn.yaml").write_text(STUBBORN)
    env = {**project["env"], "MAGNUS_STOP_GRACE": "8"}  # (the re-run starts well within it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "stubborn.yaml", "--run-id", "stub"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ((root / "pids" / "old").exists() and (root / "pids" / "old").read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = run_magnus(
        "execute", "-f", "stubborn.yaml", "--use-cached", "stub", "--run-id", "again",
        cwd=root, env={**env, "AGAIN": "1"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "the processes of run 'stub' are still being stopped (its watcher, pid" in again.stderr, (
        again.stderr
    )
    assert not (root / "pids" / "both").exists(), "the re-run's step ran beside the killed run's"
