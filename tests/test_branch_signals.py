"""What a step in a map item (a branch run by a thread, max_workers 2) changes from C for the whole process
(`ctypes.CDLL(None).signal(13, 0)`, as a C extension could) is put right as that item ends, not once every
item has (trial 20 N2): the items queued after it ran with SIGPIPE's default action, so `magnus execute ...
| head -1` was killed, exit 141, the run log left PROCESSING; with SIGTERM's, a `magnus stop` said the run
stopped and magnus died by SIGTERM, exit 143, the log PROCESSING; with SIGCHLD ignored, every later shell
step failed, not run. A branch thread cannot call signal.signal: the main thread, which waits for the
branches, puts it right as the step ends (stepguard.BranchWait, in_main_thread). Real runs in
subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

STEPS = """
import ctypes, time
from pathlib import Path

LIBC = ctypes.CDLL(None)  # (ctypes loaded with the module: a quick step that calls it loads nothing)


def items():
    return {"items": ["a", "b", "c", "d"]}


def _until(name):
    for _ in range(600):  # (30 s at most)
        if Path(name).exists():
            return
        time.sleep(0.05)


def _sigpipe_ignored():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> 12 & 1)


def pipe(x):
    if x == "a":
        LIBC.signal(13, ctypes.c_void_p(0))  # SIGPIPE to its default action, behind python's back
        time.sleep(0.05)  # (a step of 10 ms or more: the kernel's masks are read as it ends, and it is said)
    elif x == "b":
        _until("c-started")  # (b ends after a and c: no branch's end in between puts it right)
    else:
        Path(f"{x}-started").touch()
        for i in range(3):
            print(f"item {x} {i}", flush=True)  # (into a pipe nobody reads: killed under SIGPIPE's default)


def pipe_quickly(x):
    if x == "a":
        LIBC.signal(13, ctypes.c_void_p(0))  # (a quick step, not read as it ends: put right as its item ends)
    elif x == "b":
        _until("c-started")
    else:
        if x == "c":
            for _ in range(600):  # (whether the main thread put it right before the branches end)
                if _sigpipe_ignored():
                    break
                time.sleep(0.05)
        Path(f"{x}-started").touch()
        for i in range(3):
            print(f"item {x} {i}", flush=True)


def pipe_beside(x):  # (a branch printing while another's change is in force, as in trial 20's map)
    if x == "a":
        LIBC.signal(13, ctypes.c_void_p(0))
        LIBC.signal(17, ctypes.c_void_p(1))
        LIBC.signal(15, ctypes.c_void_p(0))
        Path("changed").touch()
        _until("b-printed")  # (a runs on, its change in force, until b's line has been written)
    elif x == "b":
        _until("changed")
        print("item b", flush=True)  # (magnus's first write into the pipe nobody reads)
        Path("b-printed").touch()
    else:
        print(f"item {x}", flush=True)


def term(x):
    if x == "a":
        LIBC.signal(15, ctypes.c_void_p(0))  # SIGTERM to its default action: magnus's handler bypassed
        time.sleep(0.05)
        return
    Path(f"{x}-started").touch()
    for _ in range(1200):
        time.sleep(0.05)


def children(x):
    if x == "a":
        LIBC.signal(17, ctypes.c_void_p(1))  # SIGCHLD ignored: the kernel reaps children, statuses lost
    elif x == "b":
        _until('sh-"a"')  # (its shell step runs once a's has: none of its children ends while ignored)
"""

MAP = """
dag:
  start_at: p
  steps:
    p: {{type: task, command: steps.items, next: each}}
    each:
      type: map
      iterate_on: items
      iterate_as: x
      next: {after}
      branch:
        start_at: w
        steps:
          w: {{type: task, command: steps.{function}, next: {inner}}}
{shell}          success: {{type: success}}
          fail: {{type: fail}}
{tail}    success: {{type: success}}
    fail: {{type: fail}}
"""

SEQ = '    after: {type: task, command_type: shell, command: "seq 1 2000", next: success}\n'


def _project(project: Path, function: str, shell: str = "", after: str = "after", tail: str = SEQ) -> None:
    (project / "steps.py").write_text(STEPS)
    inner = "sh" if shell else "success"
    (project / "p.yaml").write_text(
        MAP.format(function=function, inner=inner, shell=shell, after=after, tail=tail)
    )
    (project / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def _into_a_closed_pipe(project: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    """`magnus execute` with its stdout a pipe whose reader has gone (as `| head -1` leaves it)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "magnus_core",
                "execute",
                "-f",
                "p.yaml",
                "-c",
                "conf.yaml",
                "--run-id",
                run_id,
            ],
            cwd=project,
            env=_env(),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("function", ["pipe", "pipe_quickly", "pipe_beside"])
def test_sigpipes_default_set_from_c_in_a_map_item_is_put_right_for_the_items_after_it(
    git_repo: Path, function: str
) -> None:
    """Item a sets SIGPIPE's default from C and ends; item c, after it, prints into a pipe nobody reads.
    After a step of 10 ms or more it is read and put right as the step ends, said naming the step; after
    a quick one, as its item ends, said naming the branches it may be in (c waits until it is: the old code
    never did while the map ran). While it is in force (pipe_beside: b prints as a, which set it, still
    runs), magnus's writes into the pipe hold SIGPIPE (output._pipe_held). The old code: killed by SIGPIPE
    (-13, `| head` says 141), the run log PROCESSING."""
    _project(git_repo, function)
    done = _into_a_closed_pipe(git_repo, "r")
    assert done.returncode == 0, done.stderr  # (the old code: -13)
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "SUCCESS", log["status"]
    assert log["steps"]["after"]["status"] == "SUCCESS"
    said = [line for line in done.stderr.splitlines() if "SIGPIPE" in line]
    if function == "pipe":
        assert said == [
            "magnus: step each.a.w changed what SIGPIPE does from C (a C extension or ctypes: no longer "
            "ignored) and did not put it back; magnus did: its default action kills magnus once a pipe it "
            "prints to has closed (| head)"
        ], done.stderr
    elif function == "pipe_quickly":  # (said as its item ends, naming the branches that ran since: c too
        assert len(said) == 1, done.stderr  # if it began before the main thread looked)
        assert re.fullmatch(
            r"magnus: a step in (branch each\.a or each\.b|one of the branches each\.a, each\.b, each\.c) "
            r"changed what SIGPIPE does from C \(a C extension or ctypes: no longer ignored\) and did not put "
            r"it back; magnus did: its default action kills magnus once a pipe it prints to has closed \(\| "
            r"head\)",
            said[0],
        ), said
    else:  # (said, for SIGCHLD and SIGTERM too, naming the branches it may be in)
        for name in ("SIGCHLD", "SIGPIPE", "SIGTERM"):
            assert f"changed what {name} does from C" in done.stderr, done.stderr


def test_sigterms_default_set_from_c_in_a_map_item_does_not_let_a_later_stop_kill_magnus(
    git_repo: Path,
) -> None:
    """Item a sets SIGTERM's default from C and ends; `magnus stop` comes while the items after it run. The
    old code: `magnus stop` said the run stopped, but magnus died by SIGTERM (-15), the run log PROCESSING.
    Now the handler is installed again as a's step ends, said, and the stop is a stop: 143, INTERRUPTED."""
    _project(git_repo, "term")
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r"],
        cwd=git_repo,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (git_repo / "c-started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # (c starts once a has ended, in a's thread)
        assert (git_repo / "c-started").exists(), proc.poll()
        stopped = subprocess.run(
            [sys.executable, "-m", "magnus_core", "stop", "r"], cwd=git_repo, env=_env(), capture_output=True
        )
        assert stopped.returncode == 0, stopped.stderr
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err  # (the old code: -15, killed by SIGTERM)
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "INTERRUPTED"
    said = [line for line in err.splitlines() if "SIGTERM" in line and "from C" in line]
    assert said == [
        "magnus: step each.a.w changed what SIGTERM does from C (a C extension or ctypes: its handler "
        "bypassed, the default action) and did not put it back; magnus did: magnus stop and kill stop the "
        "run through it"
    ], err


CHILDREN_SHELL = (
    '          sh: {type: task, command_type: shell, command: \'touch "sh-$MAGNUS_PRM_x"; '
    "case $MAGNUS_PRM_x in *d*) exit 1;; esac', next: success}\n"
)


def test_sigchld_ignored_from_c_in_a_map_item_leaves_later_shell_steps_running_and_their_statuses_kept(
    git_repo: Path, magnus: Any
) -> None:
    """Item a's python step ignores SIGCHLD from C (a quick step, not read as it ends); each item's shell
    step after it finds it ignored: the main thread gives SIGCHLD its default action back and the shell step
    runs, its exit status kept (item d's fails, exit 1). The old code: a shell step in a branch thread then
    failed, not run, in every item until the branches had ended."""
    _project(git_repo, "children", shell=CHILDREN_SHELL, after="success", tail="")
    (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
    ran = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # (item d's shell step fails: its status kept)
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    branches = log["steps"]["each"]["branches"]
    shells = {
        name: (step["status"], step["message"])
        for branch in branches.values()
        for name, step in branch["steps"].items()
        if name.endswith(".sh")
    }
    assert shells == {
        "each.a.sh": ("SUCCESS", ""),
        "each.b.sh": ("SUCCESS", ""),
        "each.c.sh": ("SUCCESS", ""),
        "each.d.sh": ("FAIL", "shell command exited with code 1"),
    }, shells  # (the old code: each.a.sh FAIL, 'SIGCHLD is ignored in magnus's process ...: not run')
    assert "SIGCHLD was ignored in magnus's process" in ran.stderr, ran.stderr
