"""`magnus stop RUN`: a running run started in another terminal is stopped (INTERRUPTED, what was done kept,
resumable); only a process whose pid, host and start time all match the run log is ever signalled; exit
codes 0 stopped, 1 cannot be stopped from here, 2 unknown run or not running."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from magnus_core.runs import process_alive_at, process_record, run_state
from magnus_core.stores.file_system import load_run_log
from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "echo first done", next: wait}
    wait: {type: task, command_type: shell, command: "touch started; sleep 60", next: last}
    last: {type: task, command_type: shell, command: "echo last", next: success}
    success: {type: success}
    fail: {type: fail}
"""

STUBBORN = """
import time
from pathlib import Path


def hold():
    started = False
    while True:  # swallows the stop (SIGTERM arrives as an exception in python) and goes on
        try:
            if not started:  # said inside the try: a stop right after it is swallowed too
                Path("started").write_text("")
                started = True
            time.sleep(60)
        except BaseException:
            pass
"""


def start(project: Path, run_id: str, pipeline: str = "p.yaml") -> subprocess.Popen[bytes]:
    """`magnus execute` in another process; returns once its step is running."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "--file", pipeline, "--run-id", run_id],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (project / "started").exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def log_of(project: Path, run_id: str):
    return load_run_log(project / ".run_log_store" / f"{run_id}.json")


def test_stop_interrupts_a_run_of_another_process_and_it_resumes(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    proc = start(git_repo, "long")
    try:
        done = run_magnus("stop", "long", "--json", cwd=git_repo)
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["run_id"] == "long" and outcome["pid"] == proc.pid and not outcome["killed"]
        assert outcome["state"] == "INTERRUPTED"
        assert outcome["resume"] == "magnus execute --file p.yaml --use-cached long"
        assert proc.wait(timeout=30) == 143  # SIGTERM, handled like Ctrl-C
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_of(git_repo, "long")
    assert log.status == "INTERRUPTED"
    assert log.steps["first"].status == "SUCCESS"  # what was done is kept
    assert log.steps["wait"].status != "SUCCESS" and "last" not in log.steps
    # a stopped run is not running: stop again says so, as a usage error (exit 2, trial 8: not 1, which says
    # a run failed), and how to resume it; an unknown run is one too (exit 2), as for `magnus show`
    again = run_magnus("stop", "long", cwd=git_repo)
    assert again.returncode == 2 and "not running: it ended INTERRUPTED, nothing to stop" in again.stderr
    assert "resume it with magnus execute --file p.yaml --use-cached long" in again.stderr
    unknown = run_magnus("stop", "lnog", cwd=git_repo)
    assert unknown.returncode == 2 and "no run 'lnog'" in unknown.stderr and "long" in unknown.stderr
    # resumable: the step done is reused, the rest runs
    (git_repo / "p.yaml").write_text(PIPELINE.replace("sleep 60", "true"))
    resumed = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", "long", "--run-id", "again", cwd=git_repo
    )
    assert resumed.returncode == 0, resumed.stderr
    assert log_of(git_repo, "again").steps["first"].mock


def test_a_process_ignoring_the_stop_is_killed_after_the_timeout(git_repo: Path) -> None:
    (git_repo / "stubborn.py").write_text(STUBBORN)
    (git_repo / "s.yaml").write_text(
        "dag:\n  start_at: hold\n  steps:\n    hold: {type: task, command: stubborn.hold, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    proc = start(git_repo, "stubborn", "s.yaml")
    try:
        done = run_magnus("stop", "stubborn", "--timeout", "1", cwd=git_repo)
        assert done.returncode == 0, done.stderr
        assert "killed after the timeout" in done.stdout and "INTERRUPTED" in done.stdout
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_of(git_repo, "stubborn")
    assert log.status == "PROCESSING" and run_state(log) == "INTERRUPTED"  # killed: its process is gone


def fake_running_log(project: Path, run_id: str, process: dict) -> None:
    """A PROCESSING run log whose process record is `process` (as a crashed or foreign run leaves it)."""
    store = project / ".run_log_store"
    store.mkdir(exist_ok=True)
    log = {
        "run_id": run_id,
        "dag_hash": "",
        "use_cached": False,
        "tag": "",
        "original_run_id": "",
        "status": "PROCESSING",
        "steps": {},
        "parameters": {},
        "run_config": {"dag_file": "p.yaml", "process": process},
    }
    (store / f"{run_id}.json").write_text(json.dumps(log))


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    """The run's process died and the system gave its pid to another process: that one has another start
    time, so it is left alone, and the run reads INTERRUPTED, not RUNNING."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        started = psutil.Process(other.pid).create_time()
        here = socket.gethostname()
        fake_running_log(tmp_path, "reused", {"pid": other.pid, "host": here, "start_time": started - 3600})
        done = run_magnus("stop", "reused", cwd=tmp_path)
        assert done.returncode == 2  # not running (its process is gone): nothing to stop
        assert f"pid {other.pid} is another process now" in done.stderr
        assert other.poll() is None  # not signalled
        assert run_state(log_of(tmp_path, "reused")) == "INTERRUPTED"
        listed = run_magnus("runs", "--json", cwd=tmp_path)
        assert json.loads(listed.stdout)["runs"][0]["state"] == "INTERRUPTED"  # the run index agrees
        # a log without the start time (an older magnus): the pid alone is not trusted
        fake_running_log(tmp_path, "old", {"pid": other.pid, "host": here})
        done = run_magnus("stop", "old", cwd=tmp_path)
        assert done.returncode == 1 and "without the process's start time" in done.stderr
        assert other.poll() is None
        # another host: said where to stop it
        fake_running_log(tmp_path, "far", {"pid": other.pid, "host": "elsewhere", "start_time": started})
        done = run_magnus("stop", "far", cwd=tmp_path)
        assert done.returncode == 1 and "runs on host 'elsewhere'" in done.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_the_process_record_names_this_process() -> None:
    record = process_record()
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert process_alive_at(record["pid"], record["host"], record["start_time"]) is True
    assert process_alive_at(record["pid"], record["host"], record["start_time"] - 10) is False
    assert process_alive_at(record["pid"], "elsewhere", record["start_time"]) is None
    assert process_alive_at(0, record["host"]) is None and process_alive_at(-1, record["host"]) is None


def test_a_run_log_records_the_process_start_time(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE.replace("touch started; sleep 60", "true"))
    done = run_magnus("execute", "--file", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    process = log_of(git_repo, "r").run_config["process"]
    # (and the watcher that stops its steps' processes if magnus dies at once: a re-run waits for it)
    assert set(process) == {"pid", "host", "started_at", "start_time", "user", "cwd", "watcher"}
    assert set(process["watcher"]) == {"pid", "start_time"} and process["watcher"]["pid"] != process["pid"]
    assert process["cwd"] == str(git_repo) and process["user"] == getpass.getuser()
    assert isinstance(process["start_time"], float) and abs(process["start_time"] - time.time()) < 600


IGNORES = """
import signal
import time
from pathlib import Path


def ignore():  # as a library installing its own handlers: the signals are ignored while it runs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path("started").touch()
    time.sleep(3)
"""

# (the step ignores the stop while it runs; magnus puts its handlers back after it: stepguard)
IGNORING = """
dag:
  start_at: ignore
  steps:
    ignore: {type: task, command: steps_ign.ignore, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_run_that_ends_on_its_own_after_the_stop_is_said_so(git_repo: Path) -> None:
    """Trial 16 F4: a step that ignores SIGTERM leaves the run going; when it then ends SUCCESS before the
    timeout, `magnus stop` printed `Run R stopped (...): SUCCESS; resume it with: ...` (exit 0). It says
    the run ended on its own, offers no resume for a success, and exits 2 (nothing was stopped)."""
    (git_repo / "steps_ign.py").write_text(IGNORES)
    (git_repo / "ign.yaml").write_text(IGNORING)
    proc = start(git_repo, "sig2", "ign.yaml")
    try:
        stopped = run_magnus("stop", "sig2", "--timeout", "30", cwd=git_repo)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0  # the run went on to its end
    assert stopped.returncode == 2, stopped
    assert stopped.stdout.startswith("Run sig2 ended SUCCESS on its own "), stopped.stdout
    assert "before it could be stopped" in stopped.stdout and "resume" not in stopped.stdout
    (git_repo / "started").unlink()
    again = start(git_repo, "sig3", "ign.yaml")
    try:
        told = json.loads(run_magnus("stop", "sig3", "--timeout", "30", "--json", cwd=git_repo).stdout)
        again.communicate(timeout=60)
    finally:
        if again.poll() is None:
            again.kill()
            again.communicate()
    assert told["status"] == "SUCCESS" and told["ended_on_its_own"] is True and told["resume"] == ""
