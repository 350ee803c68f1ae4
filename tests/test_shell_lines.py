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


def test_the_environment_a_shell_step_leaves_holds_no_secret(
    git_repo: Path, magnus: Any, tmp_path: Path
) -> None:
    """Trial 13 (fault 10): a shell step's EXIT trap wrote its whole environment (the run's secrets with it)
    to /tmp/magnus-env-*, which magnus removes after reading, but not when it was killed outright (kill -9,
    the OOM killer) while the shell went on: the file stayed. Only the exported MAGNUS_PRM_* and
    MAGNUS_TRACK_* variables magnus reads back are written now (the trap run by a real bash here, as an
    orphan's would be), and they still reach the run: the parameter and the metric."""
    import json
    import os
    import shutil
    import subprocess

    from magnus_core.tasks.shell import _dump_env

    dump = tmp_path / "magnus-env-test"
    bash = shutil.which("bash")
    assert bash is not None
    script = f"trap '{_dump_env(bash, str(dump))}' EXIT; export MAGNUS_PRM_x=5; MAGNUS_PRM_local=1"
    env = {**os.environ, "API_TOKEN": "hunter2-secret-value", "MAGNUS_PRM_given": "3"}
    subprocess.run([bash, "-c", script], env=env, check=True)
    kept = dump.read_bytes().split(b"\0")
    assert b"MAGNUS_PRM_x=5" in kept and b"MAGNUS_PRM_given=3" in kept, kept
    assert not [item for item in kept if b"hunter2" in item or item.startswith(b"PATH=")], kept
    assert not [item for item in kept if item.startswith(b"MAGNUS_PRM_local")], (
        kept
    )  # not exported: as env -0

    command = "'export MAGNUS_PRM_x=5 MAGNUS_TRACK_acc=0.5'"
    (git_repo / "p.yaml").write_text(PIPELINE.format(command=command))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "env", env={"API_TOKEN": "hunter2-secret-value"})
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(magnus("show", "env", "--json").stdout)
    assert shown["parameters"]["x"] == 5, shown["parameters"]
    assert "acc" in json.dumps(shown["steps"]["s"]), shown["steps"]["s"]
