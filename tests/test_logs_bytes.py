"""`magnus logs RUN STEP` of one attempt, piped, writes the kept file byte for byte: a last line the step
left unended stays so (trial 25: a newline was added, so the piped bytes no longer matched the size and
SHA256 the run log records). With headings (several attempts or steps) it is ended before the next."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "printf 'one\\\\nno-newline'", next: b}
    b: {type: task, command_type: shell, command: "echo second", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_one_attempt_piped_is_the_kept_file_byte_for_byte(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo).returncode == 0
    record = json.loads((git_repo / ".run_log_store" / "r.json").read_text())["steps"]["a"]["attempts"][0]
    piped = subprocess.run(
        [sys.executable, "-m", "magnus_core", "logs", "r", "a"],
        cwd=git_repo,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    ).stdout
    assert piped == b"one\nno-newline"
    assert len(piped) == record["output"]["size"]
    assert hashlib.sha256(piped).hexdigest() == record["output"]["sha256"]
    both = run_magnus("logs", "r", cwd=git_repo).stdout  # headed: the unended line ends before b's heading
    assert "no-newline\n==> b (attempt 0) <==\nsecond\n" in both


def test_a_run_log_file_is_refused_with_what_to_give_instead(git_repo: Path) -> None:
    """trial 25: `magnus logs p1/.run_log_store/r.json` said `field 'run_id': run id ... is not allowed: use
    letters, digits, ...`, where `magnus show` takes the file."""
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo).returncode == 0
    refused = run_magnus("logs", ".run_log_store/r.json", cwd=git_repo)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "magnus logs takes a run id, not a run-log file ('.run_log_store/r.json')" in refused.stderr
    assert refused.stderr.rstrip().endswith("magnus logs r")


THREADED = """
import threading, time


def leave():
    print("line 1")
    print("line 2")
    threading.Thread(target=time.sleep, args=(2,), daemon=True, name="uploader").start()
"""


def test_tail_does_not_count_magnus_notes_as_lines(git_repo: Path) -> None:
    """trial 26: `magnus logs RUN STEP --tail 1` of a step whose file ends with magnus's note printed the note
    alone: it is given, not counted."""
    (git_repo / "steps.py").write_text(THREADED)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: steps.leave, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "t", cwd=git_repo).returncode == 0
    tail = run_magnus("logs", "t", "s", "--tail", "1", cwd=git_repo).stdout
    assert tail.startswith("line 2\n[magnus: a thread still running as this step ended (uploader)"), tail


def test_follow_of_an_attempt_the_ended_run_does_not_have_is_exit_2(git_repo: Path) -> None:
    """trial 27: `--attempt 3 --follow` of a step with one attempt waited for the run and exited 1, naming
    nothing, though the run had ended; without --follow it was exit 2 naming the attempts there are."""
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo).returncode == 0
    for how in ((), ("--follow",)):
        done = run_magnus("logs", "r", "a", "--attempt", "3", *how, cwd=git_repo)
        assert done.returncode == 2, (how, done.stderr)
        assert "step 'a' of run 'r' has no attempt 3 (attempts: 0)" in done.stderr
