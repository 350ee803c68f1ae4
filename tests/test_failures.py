"""No step takes the runner down: every way a python step can end (an exception of any kind, sys.exit with any
code, a value or a metric the run log cannot hold, an exception whose message cannot even be read) ends that
step with a located error, and the run goes on to `next` or `on_failure` with every step in its log.

Each test runs the real `magnus execute` in a subprocess, in a temporary git repository."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

STEPS = """
import os
import sys

from magnus import track_this


class SomeObject:
    pass


class Weird(BaseException):
    pass


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


def fine():
    print("fine")


def key_error():
    data = {}
    return data["z"]


def deep():
    return key_error()


def exit_zero():
    sys.exit(0)


def exit_none():
    sys.exit()


def exit_false():
    sys.exit(False)


def exit_true():
    sys.exit(True)


def exit_one():
    sys.exit(1)


def exit_text():
    sys.exit("config.yaml is missing")


def returns_object():
    return {"model": SomeObject(), "ok": 1}


def returns_bad_text():
    return {"nested": {"items": [1, {"text": "bad \\udcff"}]}}


def returns_huge_number():
    return {"big": 10**5000}


def tracks_object():
    track_this(model=SomeObject())


def weird():
    raise Weird("not an Exception")


def unprintable():
    raise Unprintable()


def surrogates():
    raise ValueError("bad \\udcff bytes")


def huge_message():
    raise ValueError("x" * 1_000_000)


def moves():
    os.makedirs("elsewhere", exist_ok=True)
    os.chdir("elsewhere")
"""


def chain(*steps: tuple[str, str]) -> str:
    """A dag running each (name, command) in turn; every step's on_failure is the next step too, so every
    one of them runs whatever the one before did."""
    lines = ["dag:", f"  start_at: {steps[0][0]}", "  steps:"]
    for index, (name, command) in enumerate(steps):
        following = steps[index + 1][0] if index + 1 < len(steps) else "success"
        lines += [
            f"    {name}:",
            "      type: task",
            f"      command: {command}",
            f"      next: {following}",
            f"      on_failure: {following}",
        ]
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    return git_repo


def run(magnus: Any, project: Path, *steps: tuple[str, str]) -> tuple[Any, dict[str, Any]]:
    (project / "p.yaml").write_text(chain(*steps))
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert "internal error" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    return result, log


def last(log: dict[str, Any], step: str) -> dict[str, Any]:
    return log["steps"][step]["attempts"][-1]


def test_a_raised_exception_is_located_in_the_users_code(project: Path, magnus: Any) -> None:
    result, log = run(magnus, project, ("train", "steps.deep"))
    error = last(log, "train")["error"]
    assert error["type"] == "KeyError" and error["message"] == "'z'"
    frames = [(f["file"], f["function"]) for f in error["frames"]]
    assert frames == [("steps.py", "deep"), ("steps.py", "key_error")]  # no frame of magnus itself
    line = STEPS.splitlines().index('    return data["z"]') + 1
    assert error["frames"][-1]["line"] == line
    assert error["frames"][-1]["text"] == 'return data["z"]'
    assert log["steps"]["train"]["message"] == "KeyError: 'z'"
    assert f"steps.py:{line} in key_error" in result.stdout  # the summary says where


# (sys.exit(False): a bool is the int it is, status 0, as for python: trial 26 saw it fail the step)
@pytest.mark.parametrize("command", ["steps.exit_zero", "steps.exit_none", "steps.exit_false"])
def test_sys_exit_zero_or_none_is_a_success(project: Path, magnus: Any, command: str) -> None:
    result, log = run(magnus, project, ("leave", command), ("after", "steps.fine"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert log["status"] == "SUCCESS"
    assert log["steps"]["leave"]["status"] == "SUCCESS" and "error" not in last(log, "leave")
    assert log["steps"]["after"]["status"] == "SUCCESS"  # the run went on to `next`


@pytest.mark.parametrize(("command", "said"), [("exit_one", "1"), ("exit_true", "True")])
def test_sys_exit_with_a_code_fails_the_step_and_the_run_goes_on(
    project: Path, magnus: Any, command: str, said: str
) -> None:
    result, log = run(magnus, project, ("leave", f"steps.{command}"), ("after", "steps.fine"))
    assert log["steps"]["leave"]["status"] == "FAIL"
    error = last(log, "leave")["error"]
    assert error["type"] == "SystemExit" and error["exit_code"] == 1
    assert error["frames"][-1]["function"] == command
    assert log["steps"]["leave"]["message"] == f"SystemExit: the step called sys.exit({said})"
    assert log["steps"]["after"]["status"] == "SUCCESS"  # on_failure was followed
    assert "Run r:" in result.stdout  # the summary was printed


def test_sys_exit_with_a_message_fails_with_that_message(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        "dag:\n  start_at: leave\n  steps:\n"
        "    leave: {type: task, command: steps.exit_text, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 1  # the run failed (the fail node), not magnus
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL"
    error = last(log, "leave")["error"]
    assert error["message"] == "config.yaml is missing" and error["exit_code"] == 1
    assert "leave: SystemExit: config.yaml is missing" in result.stdout


def test_a_value_the_run_log_cannot_hold_fails_that_step_only(project: Path, magnus: Any) -> None:
    _, log = run(
        magnus,
        project,
        ("first", "steps.fine"),
        ("model", "steps.returns_object"),
        ("text", "steps.returns_bad_text"),
        ("huge", "steps.returns_huge_number"),
        ("metric", "steps.tracks_object"),
        ("after", "steps.fine"),
    )
    assert list(log["steps"]) == ["first", "model", "text", "huge", "metric", "after", "success"]
    assert log["steps"]["first"]["status"] == "SUCCESS" and log["steps"]["after"]["status"] == "SUCCESS"
    message = log["steps"]["model"]["message"]
    assert "parameter 'model'" in message and "steps.SomeObject" in message and "catalog" in message
    assert "model" not in log["parameters"] and "ok" not in log["parameters"]  # nothing of it was kept
    # what converting at the source lets through, the check before recording catches, saying where
    text = log["steps"]["text"]["message"]
    assert text.startswith("returned parameter 'nested' holds text that is not valid Unicode")
    assert "at nested['items'][1]['text']" in text
    assert log["steps"]["huge"]["message"].startswith("returned parameter 'big' holds a number too long")
    assert "metric 'model'" in log["steps"]["metric"]["message"]
    assert "steps.SomeObject" in log["steps"]["metric"]["message"]
    assert log["steps"]["metric"]["user_defined_metrics"] == {}
    shown = magnus("logs", "r", "model", cwd=project)  # printed nothing: what there is to show is why
    assert shown.returncode == 0 and shown.stdout == ""
    assert "model (attempt 0): printed nothing; it failed: returned parameter 'model'" in shown.stderr


def test_any_exception_even_unreadable_ones_fails_the_step(project: Path, magnus: Any) -> None:
    _, log = run(
        magnus,
        project,
        ("weird", "steps.weird"),
        ("unprintable", "steps.unprintable"),
        ("surrogates", "steps.surrogates"),
        ("huge", "steps.huge_message"),
        ("after", "steps.fine"),
    )
    assert log["steps"]["weird"]["message"] == "Weird: not an Exception"
    assert last(log, "weird")["error"]["type"] == "Weird"
    assert log["steps"]["unprintable"]["message"].startswith(
        "Unprintable: <the exception's message could not"
    )
    assert log["steps"]["surrogates"]["message"] == "ValueError: bad \\udcff bytes"
    huge = log["steps"]["huge"]["message"]
    assert len(huge) < 5000 and huge.endswith("more characters)")
    assert log["steps"]["after"]["status"] == "SUCCESS"


def test_a_step_that_moves_the_working_folder_does_not_move_the_run(project: Path, magnus: Any) -> None:
    result, log = run(magnus, project, ("moves", "steps.moves"), ("after", "steps.fine"))
    assert log["status"] == "SUCCESS"  # the log was written where it began, to the end
    assert not (project / "elsewhere" / ".run_log_store").exists()
    assert "changed the working folder" in result.stderr


def test_a_shell_step_records_its_exit_code(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        "dag:\n  start_at: sh\n  steps:\n"
        "    sh: {type: task, command_type: shell, command: 'echo why >&2; exit 6', next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    error = last(log, "sh")["error"]
    assert error == {
        "type": "ExitCode",
        "message": "exited with code 6",
        "frames": [],
        "exit_code": 6,
        "stderr": ["why"],  # what it wrote to stderr last, kept with the failure (trial 6)
    }
    assert "sh: shell command exited with code 6" in result.stdout


def test_os_exit_in_a_step_ends_the_step_not_magnus(project: Path, magnus: Any) -> None:
    (project / "hard.py").write_text(
        "import os\n\n\ndef bye():\n    print('leaving', flush=True)\n    os._exit(3)\n\n\n"
        "def fine_exit():\n    os._exit(0)\n"
    )
    result, log = run(
        magnus, project, ("hard", "hard.bye"), ("soft", "hard.fine_exit"), ("after", "steps.fine")
    )
    assert log["status"] == "SUCCESS"  # on_failure led on, and the last steps succeeded
    assert log["steps"]["hard"]["message"] == "SystemExit: the step called os._exit(3)"
    assert last(log, "hard")["error"]["exit_code"] == 3
    # one name in every view: the text says SystemExit, so does the JSON (trial 14 fault 8: `HardExit`)
    assert last(log, "hard")["error"]["type"] == "SystemExit"
    assert log["steps"]["soft"]["status"] == "SUCCESS"
    assert "Run r: SUCCESS" in result.stdout


def test_an_alarm_a_step_leaves_does_not_end_the_run(project: Path, magnus: Any) -> None:
    (project / "alarm.py").write_text(
        "import signal\nimport time\n\n\ndef arm():\n    signal.alarm(1)\n\n\n"
        "def slow():\n    time.sleep(2)\n"
    )
    result, log = run(magnus, project, ("arm", "alarm.arm"), ("slow", "alarm.slow"))
    assert log["status"] == "SUCCESS" and result.returncode == 0
    assert "left an alarm" in result.stderr


def test_a_timer_a_step_leaves_with_its_own_handler_never_fails_a_later_step(
    project: Path, magnus: Any
) -> None:
    """Trial 19 F16: a step that armed a timeout (signal.alarm, or a repeating setitimer) with its own raising
    handler and returned before it rang left it running: it rang in the next step, which failed with the
    earlier step's TimeoutError, nothing said. The timer is cancelled as the step ends, said."""
    (project / "timers.py").write_text(
        "import signal\nimport time\n\n\ndef _ring(signum, frame):\n    raise TimeoutError('step timed out')\n\n\n"
        "def arm():\n    signal.signal(signal.SIGALRM, _ring)\n    signal.alarm(1)\n\n\n"
        "def arm_repeating():\n    signal.signal(signal.SIGALRM, _ring)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.2, 0.05)\n\n\n"
        "def slow():\n    time.sleep(1.5)\n"
    )
    result, log = run(
        magnus,
        project,
        ("arm", "timers.arm"),
        ("slow", "timers.slow"),
        ("again", "timers.arm_repeating"),
        ("later", "timers.slow"),
    )
    assert result.returncode == 0, result.stdout + result.stderr  # (the old code: 1, slow failed)
    assert log["status"] == "SUCCESS"
    assert [log["steps"][s]["status"] for s in ("arm", "slow", "again", "later")] == ["SUCCESS"] * 4
    said = [line for line in result.stderr.splitlines() if "timer running" in line]
    assert said == [
        f"magnus: step {step} left a timer running (signal.alarm or setitimer) with its own handler (_ring); "
        "magnus cancelled it: it would have rung in a later step"
        for step in ("arm", "again")
    ], result.stderr


def test_a_process_the_step_forks_never_runs_the_rest_of_the_dag(project: Path, magnus: Any) -> None:
    (project / "forks.py").write_text(
        "import os\n\n\ndef fork():\n    pid = os.fork()\n    if pid == 0:\n"
        "        print('child returns', flush=True)\n        return {'who': 'child'}\n"
        "    os.waitpid(pid, 0)\n    return {'who': 'parent'}\n"
    )
    result, log = run(magnus, project, ("forked", "forks.fork"), ("after", "steps.fine"))
    assert result.returncode == 0 and log["status"] == "SUCCESS"
    assert result.stdout.count("Run r: SUCCESS") == 1  # one summary: the child ended with its step
    assert log["parameters"]["who"] == "parent"
    assert [a["attempt_number"] for a in log["steps"]["after"]["attempts"]] == [0]


def test_a_thread_the_step_leaves_running_never_keeps_magnus_from_exiting(project: Path, magnus: Any) -> None:
    (project / "threads.py").write_text(
        "import threading, time\n\n\n"
        "def leaves():\n"
        "    threading.Thread(target=time.sleep, args=(300,), name='uploader').start()\n"
        "    threading.Thread(target=time.sleep, args=(300,), daemon=True).start()  # python never waits\n"
        "    threading.Thread(target=lambda: None).start()  # ends at once\n"
    )
    started = time.monotonic()
    result, log = run(magnus, project, ("upload", "threads.leaves"), ("after", "steps.fine"))
    assert time.monotonic() - started < 100  # not the thread's 300 s (magnus's timeout is 120 s)
    assert result.returncode == 0 and log["status"] == "SUCCESS"
    assert "Run r: SUCCESS" in result.stdout  # the summary, then the warning
    warnings = [line for line in result.stderr.splitlines() if "left a thread running" in line]
    assert len(warnings) == 1, result.stderr
    assert "step upload left a thread running ('uploader'); magnus exits without waiting" in warnings[0]


def test_the_message_reads_as_english_for_any_type() -> None:
    from magnus_core.failure import value_message

    # trial 4: "holds a object"
    assert "'x' holds an object," in (value_message("returned parameter", "x", object()) or "")
    assert "'x' holds a range," in (value_message("returned parameter", "x", range(3)) or "")


def test_a_clock_a_step_leaves_replaced_never_changes_the_run_logs_times(project: Path, magnus: Any) -> None:
    """Trial 19 F3: a step that replaced time.time (freezegun left on, `time.time = lambda: 0.0`) and did not
    put it back gave the step's end and every later step a time in 1970 and negative durations in show and
    runs, nothing said. magnus records with the clock it bound at import."""
    (project / "clock.py").write_text(
        "import time\n\n\ndef freeze():\n    time.time = lambda: 0.0\n    time.localtime = lambda *a: time.gmtime(0)\n"
    )
    result, log = run(magnus, project, ("freeze", "clock.freeze"), ("after", "steps.fine"))
    assert result.returncode == 0 and log["status"] == "SUCCESS", result.stdout + result.stderr
    for step in ("freeze", "after"):
        attempt = last(log, step)
        assert not attempt["end_time"].startswith("1970"), attempt  # (the old code: 1970-01-01...)
        assert attempt["end_time"] >= attempt["start_time"], attempt
    assert not log["steps"]["after"]["start_time"].startswith("1970")
