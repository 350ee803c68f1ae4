"""Steps of a run's dag that have not run (trials 8 and 9): `magnus logs RUN STEP` tells a real step that
has not run yet, or never ran, from a name that is not in the dag; `--follow` waits for a step to come;
`magnus show` of an ended run lists its steps that never ran, whichever way the run was driven; a step of
a run whose process died reads cut short, not running. Real runs in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_magnus

STEPS = """\
import os, time
from pathlib import Path

def ok():
    print("ok ran")

def gate():
    print("gate waits", flush=True)
    while not Path("go").exists():
        time.sleep(0.05)
    if Path("fail").exists():
        raise ValueError("told to fail")

def bad():
    raise ValueError("boom")

def later():
    print("later ran")
"""


def pipeline(*steps: str) -> str:
    """A dag of tasks `name: command`, one after another, then success (and a fail node)."""
    names = [s.split(":")[0] for s in steps]
    lines = ["dag:", f"  start_at: {names[0]}", "  steps:"]
    for i, step in enumerate(steps):
        name, command = step.split(":")
        after = names[i + 1] if i + 1 < len(names) else "success"
        lines.append(f"    {name}: {{type: task, command: steps.{command.strip()}, next: {after}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}", ""]
    return "\n".join(lines)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text(STEPS)
    return tmp_path


def _start(project: Path, *args: str) -> subprocess.Popen[bytes]:
    """`magnus execute ... --run-id r` in the background, once its run log exists."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", *args, "--run-id", "r"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # (no signal meant for the tests' process group reaches it)
    )
    deadline = time.time() + 60
    while time.time() < deadline:  # the gate step has begun: the run is at it
        shown = run_magnus("logs", "r", "gate", cwd=project)
        if "gate waits" in shown.stdout:
            return run
        time.sleep(0.1)
    run.kill()
    raise AssertionError("the run did not reach its gate")


def _end(run: subprocess.Popen[bytes], project: Path) -> int:
    """The background run's exit code once its gate is opened; killed if it does not end within 60 s, so
    a test failing before it opened the gate leaves no run waiting for ever (one was found 46 minutes
    later, in a deleted pytest folder, holding a core)."""
    (project / "go").touch()
    try:
        return run.wait(timeout=60)
    except subprocess.TimeoutExpired:
        run.kill()
        raise


def _follow(project: Path, *args: str) -> subprocess.Popen[str]:
    """`magnus logs r ... --follow` in the background, once it is in its loop of looks at the run: asleep
    between two looks (the kernel's wait channel of its thread is nanosleep; nothing before the loop sleeps).
    On a loaded machine a follow that had not read the run yet when the test let the run go on would find
    it ended, and rightly say so (exit 2)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    follow = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "logs", "r", *args, "--follow"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wchan = Path(f"/proc/{follow.pid}/wchan")
    deadline = time.time() + 60
    while time.time() < deadline and follow.poll() is None:
        try:
            if "nanosleep" in wchan.read_text():
                return follow
        except OSError:  # (no /proc: give it time)
            time.sleep(3)
            return follow
        time.sleep(0.02)
    raise AssertionError(f"the follow did not reach its loop: {follow.poll()}")


def test_a_step_not_run_yet_is_told_from_a_name_not_in_the_dag_and_follow_waits_for_it(project: Path) -> None:
    (project / "p.yaml").write_text(pipeline("a: ok", "gate: gate", "c: later"))
    run = _start(project, "-f", "p.yaml")
    try:
        early = run_magnus("logs", "r", "c", cwd=project)
        assert early.returncode == 2
        assert "step 'c' has not run yet in run r (RUNNING); --follow waits for it" in early.stderr
        assert "has no step" not in early.stderr  # trial 8: read as a mistyped name
        wrong = run_magnus("logs", "r", "cc", cwd=project)  # a typo of a step to come: suggested
        assert wrong.returncode == 2 and "run 'r' has no step 'cc'; did you mean c?" in wrong.stderr
        far = run_magnus("logs", "r", "zzz", cwd=project)
        assert far.returncode == 2 and "has no step 'zzz' (steps: a, gate, c)" in far.stderr
        follow = _follow(project, "c")  # begun before c: waits for it, as tail -F waits for a file
        assert follow.poll() is None
        (project / "go").touch()
        out, err = follow.communicate(timeout=60)
    finally:
        ended = _end(run, project)
    assert ended == 0
    assert follow.returncode == 0, err
    assert out == "later ran\n"
    assert err.strip().splitlines()[-1] == "run r ended SUCCESS"


def test_follow_of_a_step_the_run_never_reaches_says_so_when_the_run_ends(project: Path) -> None:
    (project / "p.yaml").write_text(pipeline("a: ok", "gate: gate", "c: later"))
    (project / "fail").touch()
    run = _start(project, "-f", "p.yaml")
    try:
        follow = _follow(project, "c")
        (project / "go").touch()
        out, err = follow.communicate(timeout=60)
    finally:
        ended = _end(run, project)
    assert ended == 1
    assert follow.returncode == 1 and out == "", err
    lines = err.strip().splitlines()
    assert lines[-2] == "magnus: step 'c' never ran in run r: not reached before the run ended FAIL"
    assert lines[-1].startswith("run r ended FAIL: gate: ValueError: told to fail")


def test_an_ended_runs_never_run_step_says_it_never_ran(project: Path) -> None:
    (project / "p.yaml").write_text(pipeline("a: ok", "b: bad", "c: later"))
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=project).returncode == 1
    for extra in ((), ("--follow",), ("--json",)):
        shown = run_magnus("logs", "r", "c", *extra, cwd=project)
        assert shown.returncode == 2, extra
        assert (
            shown.stderr.strip()
            == "Error: step 'c' never ran in run r: not reached before the run ended FAIL"
        )
    whole = run_magnus("logs", "r", cwd=project)  # the whole run: what it never reached, said once
    assert (
        whole.stderr.strip().splitlines()[-1]
        == "magnus: never ran (not reached before the run ended FAIL): c"
    )
    assert json.loads(run_magnus("logs", "r", "--json", cwd=project).stdout)["never_ran"] == ["c"]
    attempt = run_magnus("logs", "r", "b", "--attempt", "4", cwd=project)
    assert attempt.returncode == 2 and "(attempts: 0)" in attempt.stderr
    typo = run_magnus("logs", "r", "zzz", cwd=project)  # no "none yet" about an ended run
    assert typo.returncode == 2 and "has no step 'zzz' (steps: a, b, fail, c)" in typo.stderr


def _rows(text: str) -> dict[str, list[str]]:
    """The summary table's rows by step name: [type, status..., attempts, time]."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("step "))
    rows = {}
    for line in lines[start + 1 :]:
        if " steps ran: " in line:
            break
        words = line.split()
        rows[words[0]] = words[1:]
    return rows


def test_show_lists_an_ended_runs_steps_that_never_ran_whichever_way_it_was_driven(project: Path) -> None:
    """Trial 9: a run driven step by step (as Argo or by hand) listed only the steps that ran; so did one made
    by `magnus execute`. Both list them now, after those that ran, as the counts line counts them."""
    (project / "p.yaml").write_text(pipeline("a: ok", "b: bad", "c: later", "d: later"))
    executed = run_magnus("execute", "-f", "p.yaml", "--run-id", "whole", cwd=project)
    assert executed.returncode == 1
    for step in ("a", "b", "fail"):
        assert run_magnus("execute_single_node", "hand", step, "-f", "p.yaml", cwd=project).returncode in (
            0,
            1,
        )
    expected = {
        "a": ["task", "SUCCESS", "1"],
        "b": ["task", "FAIL", "1"],
        "fail": ["fail", "FAIL", "1"],
        "c": ["task", "not", "run", "0", "-"],
        "d": ["task", "not", "run", "0", "-"],
    }
    for run_id in ("whole", "hand"):
        shown = run_magnus("show", run_id, cwd=project)
        assert shown.returncode == 0  # a failed run shown: what was asked was printed (as git show)
        rows = _rows(shown.stdout)
        assert list(rows) == ["a", "b", "fail", "c", "d"], shown.stdout
        assert {k: v[: len(expected[k])] for k, v in rows.items()} == expected, shown.stdout
        assert "2/4 steps ran: 1 SUCCESS, 1 FAIL, 2 not run" in shown.stdout
    assert "c     task  not run" in executed.stdout  # the summary `magnus execute` prints, the same


def test_a_run_driven_per_step_that_skipped_a_step_lists_it_and_a_running_one_does_not(project: Path) -> None:
    (project / "p.yaml").write_text(pipeline("a: ok", "b: ok", "c: later"))
    for step in ("a", "c"):
        assert run_magnus("execute_single_node", "skip", step, "-f", "p.yaml", cwd=project).returncode == 0
    going = run_magnus("show", "skip", cwd=project)  # not at an end: its steps to come are not `not run`
    assert list(_rows(going.stdout)) == ["a", "c"], going.stdout
    said = run_magnus("logs", "skip", "b", cwd=project)
    assert said.returncode == 2 and "step 'b' has not run yet in run skip (PER-STEP)" in said.stderr
    assert run_magnus("execute_single_node", "skip", "success", "-f", "p.yaml", cwd=project).returncode == 0
    ended = run_magnus("show", "skip", cwd=project)
    assert ended.stdout.startswith("Run skip: SUCCESS")
    rows = _rows(ended.stdout)
    assert rows["b"][:3] == ["task", "not", "run"], ended.stdout
    said = run_magnus("logs", "skip", "b", cwd=project)
    assert (
        said.returncode == 2
        and "step 'b' never ran in run skip: not reached before the run ended SUCCESS" in said.stderr
    )


def test_a_step_of_a_run_whose_process_died_reads_cut_short_not_running(project: Path) -> None:
    (project / "p.yaml").write_text(pipeline("a: ok", "gate: gate", "c: later"))
    run = _start(project, "-f", "p.yaml")
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    shown = run_magnus("show", "r", cwd=project)
    rows = _rows(shown.stdout)
    assert rows["gate"][:3] == ["task", "INTERRUPTED", "(PROCESSING)"], shown.stdout
    assert rows["c"][:3] == ["task", "not", "run"]
    assert "2/3 steps ran: 1 SUCCESS, 1 INTERRUPTED, 1 not run" in shown.stdout  # it ran (trial 12 fault 7)
    said = run_magnus("logs", "r", "c", cwd=project)
    assert (
        said.returncode == 2
        and "never ran in run r: not reached before the run ended INTERRUPTED" in said.stderr
    )
    attempts = json.loads(run_magnus("logs", "r", "gate", "--json", cwd=project).stdout)["attempts"]
    assert [(a["status"], a["state"]) for a in attempts] == [("INTERRUPTED", "live")]  # not PROCESSING


def test_a_stopped_step_counts_as_ran_in_every_view(project: Path) -> None:
    """Trial 12 fault 7: `1/3 steps ran: 1 SUCCESS, 1 INTERRUPTED` left out the interrupted step, which ran
    (`magnus runs` said 1/3, and 0/1 for a one-step run stopped after 3 s), while a failed step counts:
    the summary, `magnus show` and the run index (`magnus runs`) say 2/3."""
    (project / "p.yaml").write_text(pipeline("a: ok", "gate: gate", "c: later"))
    run = _start(project, "-f", "p.yaml")
    os.killpg(run.pid, signal.SIGINT)
    assert run.wait(timeout=60) == 130
    shown = run_magnus("show", "r", cwd=project)
    assert shown.stdout.startswith("Run r: INTERRUPTED"), shown.stdout
    assert "2/3 steps ran: 1 SUCCESS, 1 INTERRUPTED, 1 not run" in shown.stdout
    listed = json.loads(run_magnus("runs", "--json", cwd=project).stdout)
    (row,) = [r for r in listed["runs"] if r["run_id"] == "r"]
    assert (row["steps_done"], row["steps"]) == (2, 3)
    table = run_magnus("runs", cwd=project).stdout
    assert any(line.split()[0] == "r" and "2/3" in line.split() for line in table.splitlines()[1:]), table


def test_a_large_summary_shows_where_the_run_stopped(project: Path) -> None:
    steps = [f"s{i}: ok" for i in range(60)]
    steps[9] = "s9: bad"
    (project / "p.yaml").write_text(pipeline(*steps))
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "big", cwd=project).returncode == 1
    shown = run_magnus("show", "big", cwd=project).stdout
    lines = shown.splitlines()
    assert lines[1] == "10/60 steps ran: 9 SUCCESS, 1 FAIL, 50 not run", shown
    first = next(line for line in lines if line.startswith("s10 "))
    assert first.split() == ["s10", "task", "not", "run", "0", "-", "first", "not", "run", "(+49", "more)"]
    # 5 steps that ran are not listed, and 49 that did not: counted as the failed ones are
    assert "... 54 more steps (49 not run); every step: magnus show big --steps" in lines, shown
    every = run_magnus("show", "big", "--steps", cwd=project).stdout
    assert all(f"s{i} " in every for i in range(10, 60))


def test_a_step_of_a_branch_the_run_did_not_choose_never_ran_without_being_reached(project: Path) -> None:
    (project / "p.yaml").write_text(
        """\
dag:
  start_at: pick
  steps:
    pick:
      type: conditional
      parameter: model
      branches:
        forest:
          start_at: f
          steps:
            f: {type: task, command: steps.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        tree:
          start_at: t
          steps:
            t: {type: task, command: steps.ok, next: success}
            success: {type: success}
            fail: {type: fail}
      next: success
    success: {type: success}
    fail: {type: fail}
"""
    )
    assert (
        run_magnus("execute", "-f", "p.yaml", "--run-id", "r", "--model", "tree", cwd=project).returncode == 0
    )
    said = run_magnus("logs", "r", "pick.forest.f", cwd=project)
    assert said.returncode == 2
    assert said.stderr.strip() == (
        "Error: step 'pick.forest.f' never ran in run r: the run ended SUCCESS without reaching it"
    )
