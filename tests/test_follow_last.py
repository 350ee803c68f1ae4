"""`magnus logs last --follow` follows the newest run still executing: when the newest run has ended, the
run started next is waited for (up to --wait seconds), so `magnus execute ... &` then `magnus logs last
--follow`, the second command looking before the first has written its run log, follows the new run.
Trial 23 F8 and trial 24 F2: it followed the previous run, which had ended, and exited with that run's
exit code (0 when it had succeeded: `&& deploy` went on), nothing said (session 16 added only a note)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: say
  steps:
    say: {type: task, command_type: shell, command: "echo hello from $WHO; exit $CODE", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _execute(project: Path, run_id: str, code: int) -> int:
    env = {"WHO": run_id, "CODE": str(code)}
    return run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=project, env=env).returncode


def test_following_last_waits_for_the_run_started_after_the_newest_ended(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert _execute(git_repo, "r1", 3) == 1
    follower = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "logs", "last", "--follow", "--wait", "60"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stderr is not None
    first = follower.stderr.readline()  # said as it first looks: r1 is the newest, and has ended
    assert first == (
        "magnus: the newest run, r1, has ended (FAIL): waiting for a run to start (up to 60 s; --wait "
        "SECONDS). Its output: magnus logs r1\n"
    )
    assert _execute(git_repo, "r2", 0) == 0
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err  # r2's outcome, not r1's
    assert "hello from r2" in out and "hello from r1" not in out
    assert "run r2 ended SUCCESS" in err


def test_following_last_when_no_run_starts_is_a_usage_error_naming_the_ended_run(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert _execute(git_repo, "r1", 0) == 0
    followed = run_magnus("logs", "last", "--follow", "--wait", "0.5", cwd=git_repo)
    assert followed.returncode == 2  # not r1's 0, which reads as the new run's success
    assert "hello from r1" not in followed.stdout
    assert followed.stderr.splitlines()[-1] == (
        "Error: no run started within 0.5 s; the newest, r1, ended SUCCESS: magnus logs r1 shows its output"
    )
    by_id = run_magnus("logs", "r1", "--follow", cwd=git_repo)  # named by its id: followed, as it is
    assert by_id.returncode == 0 and "hello from r1" in by_id.stdout and "has ended" not in by_id.stderr
    plain = run_magnus("logs", "last", cwd=git_repo)  # without --follow, `last` is the newest run
    assert plain.returncode == 0 and "hello from r1" in plain.stdout


def test_following_last_in_an_empty_store_waits_for_the_first_run(git_repo: Path) -> None:
    followed = run_magnus("logs", "last", "--follow", "--wait", "0.3", cwd=git_repo)
    assert followed.returncode == 2
    assert "magnus: waiting for a run to start (up to 0.3 s; --wait SECONDS)" in followed.stderr


def test_following_last_prefers_a_run_starting_now_to_one_executing_since_a_while(git_repo: Path) -> None:
    """trial 26: run A executing for a while, `magnus execute B &` then `magnus logs last --follow`: B not
    in the store yet (its modules importing), A was followed, 2 times in 3, nothing said which. A run that
    began LAST_GRACE (3) seconds or more before the command is followed only when no newer one appears
    within those seconds; the run followed is said."""
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "long.yaml").write_text(PIPELINE.replace("echo hello from $WHO; exit $CODE", "sleep 20"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "magnus_core"]
    long = subprocess.Popen([*command, "execute", "-f", "long.yaml", "--run-id", "a"], cwd=git_repo, env=env)
    try:
        for _ in range(200):  # (until a is in the store and 3.5 s old)
            if (git_repo / ".run_log_store" / "a.json").exists():
                break
            time.sleep(0.05)
        time.sleep(3.5)
        follower = subprocess.Popen(
            [*command, "logs", "last", "--follow"],
            cwd=git_repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # (started as the follower looks, within its 3 s; running 1.5 s, so never found ended at its first look)
        (git_repo / "b.yaml").write_text(PIPELINE.replace("echo hello", "sleep 1.5; echo hello"))
        b = run_magnus(
            "execute", "-f", "b.yaml", "--run-id", "b", cwd=git_repo, env={"WHO": "b", "CODE": "0"}
        )
        assert b.returncode == 0, b.stderr
        out, err = follower.communicate(timeout=60)
    finally:
        long.terminate()
        long.wait(timeout=30)
    assert follower.returncode == 0, err
    assert "hello from b" in out
    assert "magnus: following run b (started " in err and "following run a" not in err
