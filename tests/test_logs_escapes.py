"""`magnus logs`' own notes on stderr never pass a step's terminal escape sequences on (ui10's left item of
trial 14 F13): the output itself is printed as written (stdout, as cat), but the `magnus: STEP (attempt N)
failed: ...` line, its `caused by ...` line, the traceback the run log keeps (`caused by ...:` and the
frames) and a shell step's `stderr:` lines are magnus's words. On a terminal they set its title
(`\\x1b]0;...\\x07` in a cause's message) and its colours (click strips colour codes only when stderr is
not a terminal, so a pipe hid them: the test reads stderr through a pseudo-terminal). The traceback is
listed by logs.kept_traceback, as the workbench's Output tab lists it.

Real runs of `magnus execute` and `magnus logs` in subprocesses."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_magnus

STEPS = r"""
def chained():
    try:
        raise ValueError("\x1b]0;cause title\x07bad \x1b[33mcause\x1b[0m")
    except ValueError as e:
        raise RuntimeError("\x1b[31mred message\x1b[0m") from e
"""

PIPELINE = r"""
dag:
  start_at: chained
  steps:
    chained: {type: task, command: steps.chained, next: success, on_failure: shell}
    shell:
      type: task
      command_type: shell
      command: printf 'out line\n'; printf '\033]0;sh title\007\033[31mdisk full\033[0m\n' >&2; exit 3
      next: success
    success: {type: success}
    fail: {type: fail}
"""

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _stderr_on_a_terminal(cwd: Path, *args: str) -> str:
    """`magnus ARGS`' stderr as a terminal receives it (a pseudo-terminal; stdout a pipe, read apart)."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "magnus_core", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"},
            timeout=120,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # (EIO: the other end closed)
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_magnus_logs_notes_pass_no_escape_sequence(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    for run_id, env in (("kept", {}), ("cap0", {"MAGNUS_OUTPUT_CAP": "0"})):
        done = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, env=env)
        assert done.returncode == 1, done.stderr
    # the output kept: the failed line and its cause's, the shell step's stderr lines
    said = _stderr_on_a_terminal(git_repo, "logs", "kept")
    assert (
        "magnus: chained (attempt 0) failed: RuntimeError: red message, at steps.py:6 in chained" in said
    ), said
    assert "magnus:   caused by ValueError: bad cause, at steps.py:4 in chained" in said, said
    assert not CONTROL.search(said.replace("\n", "")), said
    # cut at 0 bytes: the traceback as the run log keeps it, each cause's line and frames too
    said = _stderr_on_a_terminal(git_repo, "logs", "cap0")
    assert "magnus:   caused by ValueError: bad cause:\n" in said, said
    assert "magnus:   stderr: disk full" in said, said
    assert not CONTROL.search(said.replace("\n", "")), said
    # the listing is logs.kept_traceback's, line for line (the workbench's Output tab lists it)
    from magnus_core.logs import kept_traceback
    from magnus_core.models.run_log import RunLog

    log = RunLog.model_validate_json((git_repo / ".run_log_store" / "cap0.json").read_text())
    error = log.steps["chained"].attempts[-1].error
    assert error is not None
    listed = kept_traceback(error)
    assert "caused by ValueError: bad cause:" in listed and not any(CONTROL.search(x) for x in listed), listed
    title = "magnus:   traceback (most recent call last), as the run log keeps it:\n"
    block = said[said.index(title) + len(title) :].split("\n")[: len(listed)]
    assert [re.sub(r"^magnus: {3}( {2})?", "", row) for row in block] == listed, block
    # the output itself is as written (stdout, as cat)
    raw = run_magnus("logs", "kept", "shell")
    assert "\x1b[31mdisk full\x1b[0m" in raw.stdout, raw.stdout
