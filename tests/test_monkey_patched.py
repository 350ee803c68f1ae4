"""A step that monkey-patches the standard library for the whole process no longer hangs magnus (trial 20
N8). gevent's `monkey.patch_all()` (locust, grequests, some HTTP, database and grpc set-ups call it) turned
the threads magnus starts into greenlets that never ran: magnus hung for ever after the step, `magnus stop`
and SIGTERM did nothing, the run log PROCESSING; at a step module's top it made magnus exit 2 blaming the
module for `cannot release un-acquired lock`; eventlet's `monkey_patch()` hung it the same way. Now the
patch is refused as it is asked for: the step fails
at the call, one line saying why and what to do, and the run goes on (magnus_core/monkeypatch.py); one
made past the refusal is put back as the step ends. A step replacing `select.select` killed magnus's fd
thread (`Error: internal error`, the step recorded FAIL): magnus's threads use select as they found it.
Real runs in subprocesses, each bounded (a hang fails the test, never CI), in a temporary git repo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

# (a hang of the old code ends as a TimeoutExpired: the test fails, its magnus killed)
BOUND = 60

STEPS = """
import os, select, subprocess, sys, threading, time
from pathlib import Path


def patch_all():
    from gevent import monkey
    monkey.patch_all()
    import gevent
    jobs = [gevent.spawn(lambda i=i: i * 2) for i in range(3)]
    gevent.joinall(jobs)
    print("gevent results", [job.value for job in jobs])


def patch_socket():
    from gevent import monkey
    monkey.patch_socket()


def eventlet_patch():
    import eventlet
    eventlet.monkey_patch()


def past_the_refusal():
    import gevent.monkey, zope.event
    zope.event.subscribers.clear()  # (as a test framework's reset may): magnus is not told
    patch_all()


def check():
    import socket, threading
    print("main thread", threading.current_thread() is threading.main_thread(),
          threading.get_ident() == threading.main_thread().ident)
    print("unpatched", type(time.sleep).__name__, hasattr(select, "poll"), socket.socket.__module__)
    own = subprocess.run(
        [sys.executable, "-c", "from gevent import monkey; monkey.patch_all(); print('patched in a process of its own')"],
        capture_output=True, text=True, check=True,
    )
    print(own.stdout.strip())
    pid = os.fork()
    if pid == 0:  # (a forked child is a process of its own: it may patch)
        from gevent import monkey
        print("child patched", monkey.patch_all() is not False, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    return {"checked": 1}


def hold():
    Path("started").touch()
    for _ in range(1200):
        time.sleep(0.05)


def replace_select():
    def disabled(*args, **kwargs):
        raise RuntimeError("select disabled")
    select.select = disabled
    del select.poll
    print("select replaced")


def replace_sleep():
    def disabled(seconds):
        raise RuntimeError("sleep disabled")
    time.sleep = disabled  # (a mock.patch("time.sleep") started and never stopped, say)


def child_output():
    done = subprocess.run("echo child out; echo child err >&2", shell=True)
    print("child exited", done.returncode)
"""


def _project(root: Path, pipeline: str, module: str = "") -> None:
    (root / "steps.py").write_text(STEPS)
    (root / "p.yaml").write_text(pipeline)
    if module:
        (root / "mlproj").mkdir()
        (root / "mlproj" / "__init__.py").write_text("")
        (root / "mlproj" / "modgevent.py").write_text(module)


def _log(root: Path, run: str) -> dict[str, Any]:
    return json.loads((root / ".run_log_store" / f"{run}.json").read_text())


def _no_raw_tracebacks(stderr: str) -> None:
    """Nothing of magnus's own threads breaking (the old code: `Exception ignored in thread started by`)."""
    assert "Exception ignored" not in stderr, stderr
    assert "Exception in thread" not in stderr, stderr
    assert "internal error" not in stderr, stderr


REFUSED = (
    "refused: magnus runs python steps in its own process, beside threads of its own that patching stops (the "
    'run would hang); run this code in a process of its own: a shell step (python -c "import mod; mod.fn()") '
    "or subprocess.run([sys.executable, ...]) in the step"
)

GOES_ON = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.patch_all, next: success, on_failure: sock}
    sock: {type: task, command: steps.patch_socket, next: success, on_failure: ev}
    ev: {type: task, command: steps.eventlet_patch, next: success, on_failure: sh}
    sh: {type: task, command_type: shell, command: "for i in 1 2 3; do echo tick $i; done", next: after}
    after: {type: task, command: steps.check, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_patch_all_in_a_step_fails_that_step_and_the_run_goes_on(git_repo: Path, magnus: Any) -> None:
    _project(git_repo, GOES_ON)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r", timeout=BOUND)  # (the old code: hangs)
    _no_raw_tracebacks(ran.stderr)
    log = _log(git_repo, "r")
    steps = {name: (step["status"], step["message"]) for name, step in log["steps"].items()}
    assert steps["adv"] == ("FAIL", f"gevent's monkey.patch_all() {REFUSED}")
    assert steps["sock"] == ("FAIL", f"gevent's monkey-patching of socket {REFUSED}")
    assert steps["ev"] == ("FAIL", f"eventlet's monkey_patch() {REFUSED}")
    assert steps["sh"] == ("SUCCESS", "")
    assert steps["after"][0] == "SUCCESS", steps["after"]
    assert "adv: gevent's monkey.patch_all() refused: " in ran.stdout
    assert "  at steps.py:8 in patch_all" in ran.stdout  # (located at the call)
    assert "gevent results" not in ran.stdout  # (the step stopped at the call)
    # every step's output was written (the old code: the step's file never was)
    assert magnus("logs", "r", "sh").stdout.splitlines()[:3] == ["tick 1", "tick 2", "tick 3"]
    after = magnus("logs", "r", "after").stdout
    assert "main thread True True" in after  # the standard library as it was: nothing was patched
    assert "unpatched builtin_function_or_method True socket" in after
    assert "patched in a process of its own" in after  # (what the message says to do works)
    assert "child patched True" in after


@pytest.mark.parametrize(
    ("top", "call"),
    [
        ("from gevent import monkey\nmonkey.patch_all()\n", "gevent's monkey.patch_all()"),
        ("import eventlet\neventlet.monkey_patch()\n", "eventlet's monkey_patch()"),
    ],
    ids=["gevent", "eventlet"],
)
def test_patching_at_a_modules_top_is_refused_naming_the_module(
    git_repo: Path, magnus: Any, top: str, call: str
) -> None:
    pipeline = (
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: mlproj.modgevent.run, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    _project(git_repo, pipeline, f"{top}\n\ndef run():\n    print('runs')\n")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r", timeout=BOUND)
    assert ran.returncode == 2, ran.stderr
    _no_raw_tracebacks(ran.stderr)
    assert "cannot release un-acquired lock" not in ran.stderr  # (the old code's blame)
    errors = [line for line in ran.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: p.yaml: line 4: step 's': field 'command': importing module 'mlproj.modgevent' failed: "
        f"PatchRefused: {call} {REFUSED}, at mlproj/modgevent.py:2 in <module>"
    ], ran.stderr


PAST = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.past_the_refusal, next: success, on_failure: sh}
    sh: {type: task, command_type: shell, command: "echo shell after", next: after}
    after: {type: task, command: steps.check, next: hold}
    hold: {type: task, command: steps.hold, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_patch_made_past_the_refusal_is_put_back_and_a_stop_still_stops(git_repo: Path) -> None:
    """gevent's subscribers emptied, patch_all patches: as the step ends the standard library is put back
    (from gevent.monkey.saved; the main thread its own again), the step fails saying so, later steps run
    unpatched, and `magnus stop` stops the run (the old code: not even SIGKILL-free)."""
    _project(git_repo, PAST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        cwd=git_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + BOUND
        while not (git_repo / "started").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert (git_repo / "started").exists(), "the step after never began (the old code: magnus hung)"
        stopped = subprocess.run(
            [sys.executable, "-m", "magnus_core", "stop", "r"],
            cwd=git_repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=BOUND,
        )
        assert stopped.returncode == 0, stopped.stderr
        out, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    _no_raw_tracebacks(err)
    log = _log(git_repo, "r")
    assert log["status"] == "INTERRUPTED"
    assert log["steps"]["adv"]["status"] == "FAIL"
    assert log["steps"]["adv"]["message"].startswith(
        "gevent monkey-patched the standard library (_thread, _threading_local, logging, os, queue, select, "
        "selectors, signal, socket, ssl, subprocess, threading, time) and magnus put it back: magnus runs "
        "python steps in its own process"
    ), log["steps"]["adv"]["message"]
    assert "gevent results [0, 2, 4]" in out  # (the step's code ran patched, to its end)
    assert log["steps"]["sh"]["status"] == "SUCCESS"
    assert log["steps"]["after"]["status"] == "SUCCESS"
    assert log["steps"]["hold"]["status"] == "INTERRUPTED"
    assert "main thread True True" in out
    assert "unpatched builtin_function_or_method True socket" in out


SELECT = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.replace_select, next: sh}
    sh: {type: task, command_type: shell, command: "for i in 1 2 3; do echo tick $i; echo err $i >&2; done", next: after}
    after: {type: task, command: steps.child_output, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_step_that_replaces_select_does_not_break_magnuss_threads(git_repo: Path, magnus: Any) -> None:
    _project(git_repo, SELECT)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r", timeout=BOUND)
    assert ran.returncode == 0, ran.stderr  # (the old code: 1, `Error: internal error (RuntimeError: ...)`)
    _no_raw_tracebacks(ran.stderr)
    log = _log(git_repo, "r")
    assert {name: step["status"] for name, step in log["steps"].items()} == dict.fromkeys(
        ["adv", "sh", "after", "success"], "SUCCESS"
    )
    sh = magnus("logs", "r", "sh").stdout
    assert all(f"tick {i}" in sh and f"err {i}" in sh for i in (1, 2, 3)), sh
    after = magnus("logs", "r", "after").stdout
    assert "child out" in after and "child err" in after and "child exited 0" in after, after


MANY = """
dag:
  start_at: adv
  steps:
    adv: {type: task, command: steps.replace_select, next: m}
    m:
      type: map
      iterate_on: items
      iterate_as: it
      branch: {start_at: l, steps: {l: {type: task, command: steps.child_output, next: success}, success: {type: success}, fail: {type: fail}}}
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def test_a_step_that_replaces_select_leaves_the_runs_end_whole(git_repo: Path, magnus: Any) -> None:
    """100 python steps after it: their output files go to magnus's writer process, whose answers the
    run's end waits for with select (the old code, once the fd thread was fixed: `Error: internal error
    (RuntimeError: select disabled)` at the run's end, 3 runs of 3)."""
    _project(git_repo, MANY)
    (git_repo / "items.yaml").write_text(f"items: {list(range(100))}\n")
    ran = magnus("execute", "-f", "p.yaml", "-p", "items.yaml", "--run-id", "r", timeout=BOUND)
    assert ran.returncode == 0, ran.stderr
    _no_raw_tracebacks(ran.stderr)
    assert _log(git_repo, "r")["status"] == "SUCCESS"
    assert "child exited 0" in magnus("logs", "r", "m.99.l").stdout


def test_a_step_that_replaces_time_sleep_does_not_break_magnuss_threads(git_repo: Path, magnus: Any) -> None:
    """time.sleep replaced by a function that raises, then 100 python steps whose children print, with the
    chunked store (whose thread sleeps between its writes): the old code cut short about 3 of the 100
    (the end of an attempt waited for its pipes with time.sleep), the run FAIL, and the store's thread
    died (`Exception in thread magnus-chunked-starts`)."""
    _project(git_repo, MANY.replace("steps.replace_select", "steps.replace_sleep"))
    (git_repo / "items.yaml").write_text(f"items: {list(range(100))}\n")
    (git_repo / "config.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
    ran = magnus(
        "execute", "-f", "p.yaml", "-p", "items.yaml", "-c", "config.yaml", "--run-id", "r", timeout=BOUND
    )
    assert ran.returncode == 0, ran.stderr
    _no_raw_tracebacks(ran.stderr)
    assert "Run r: SUCCESS" in ran.stdout, ran.stdout
    assert "101/101 steps ran: 101 SUCCESS" in ran.stdout, ran.stdout


def test_sigterm_still_stops_a_run_after_a_refused_patch(git_repo: Path) -> None:
    """After a step's patch_all was refused, SIGTERM (what `magnus stop` sends) still stops the run."""
    pipeline = GOES_ON.replace("next: after}", "next: hold}").replace(
        "    success: {type: success}",
        "    hold: {type: task, command: steps.hold, next: success}\n    success: {type: success}",
    )
    _project(git_repo, pipeline)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        cwd=git_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + BOUND
        while not (git_repo / "started").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert (git_repo / "started").exists(), "the step after never began"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    _no_raw_tracebacks(err)
    log = _log(git_repo, "r")
    assert log["status"] == "INTERRUPTED"
    assert log["steps"]["adv"]["status"] == "FAIL"
    assert log["steps"]["hold"]["status"] == "INTERRUPTED"
