"""`magnus logs last --follow` that finds the newest run already ended says so on stderr, with how to follow
a run started a moment ago (trial 23 F8: typed right after `magnus execute ... &`, it followed the previous
run, which had ended, and exited 1 with that run's outcome, nothing said)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_magnus

PIPELINE = """
dag:
  start_at: say
  steps:
    say: {type: task, command_type: shell, command: "echo hello from r1; exit 3", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_following_last_that_has_ended_says_which_run_it_is(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r1", cwd=git_repo).returncode == 1
    followed = run_magnus("logs", "last", "--follow", cwd=git_repo)
    assert followed.returncode == 1  # the run's outcome, as documented
    assert "hello from r1" in followed.stdout
    assert (
        "magnus: last is run r1, which has ended (FAIL): its output follows. A run started a moment ago may "
        "not be in the store yet: start it with --run-id ID and follow ID" in followed.stderr
    )
    by_id = run_magnus("logs", "r1", "--follow", cwd=git_repo)  # named by its id: nothing to say
    assert by_id.returncode == 1 and "which has ended" not in by_id.stderr
