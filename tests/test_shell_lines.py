"""bash's line numbers in a shell step's errors are the lines of the command as written (trial 12 fault 3:
magnus put a line of its own first, so a one-line command's error said `line 2`, and a `command: |` block
sent its reader one line too far). The real command line, in a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PIPELINE = """
dag:
  start_at: s
  steps:
    s:
      type: task
      command_type: shell
      command: {command}
      next: success
    success: {{type: success}}
    fail: {{type: fail}}
"""


def test_a_one_line_command_errs_at_line_1(git_repo: Path, magnus: Any) -> None:
    command = "'set -e; echo fetching; curl_missing_tool --fetch s3://bucket/x; echo never'"
    (git_repo / "p.yaml").write_text(PIPELINE.format(command=command))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "one")
    assert done.returncode == 1
    assert "line 1: curl_missing_tool: command not found" in done.stdout, done.stdout
    assert "line 2:" not in done.stdout
    logs = magnus("logs", "one", "s")
    assert "line 1: curl_missing_tool: command not found" in logs.stdout + logs.stderr


def test_a_block_errs_at_the_line_of_the_block(git_repo: Path, magnus: Any) -> None:
    command = "|\n        echo one\n        echo two\n        not_a_tool_here\n        echo four"
    (git_repo / "p.yaml").write_text(PIPELINE.format(command=command))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "block")
    assert done.returncode == 0  # (no set -e: the last command's code)
    logs = magnus("logs", "block", "s")
    assert "line 3: not_a_tool_here: command not found" in logs.stdout + logs.stderr, logs.stdout


def test_exported_metrics_still_reach_the_run_log(git_repo: Path, magnus: Any) -> None:
    """The trap that reads the shell's final environment still runs, now on the command's first line."""
    (git_repo / "p.yaml").write_text(PIPELINE.format(command="'export MAGNUS_TRACK_loss=0.5; echo done'"))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "m").returncode == 0
    shown = magnus("show", "m", "--json").stdout
    assert '"loss": 0.5' in shown
