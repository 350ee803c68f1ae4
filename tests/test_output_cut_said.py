"""A step whose output passed the cap is said under the summary's table, whatever its status (trial 22: a
SUCCESS step's cut output was said only by the kept file's last line), with the `magnus logs` command; a
step that printed less than the cap is not. Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STEPS = """
def big():
    for _ in range(3000):
        print("y" * 1000)
    print("LAST LINE")


def small():
    print("a line")
"""

PIPELINE = """dag:
  start_at: small
  steps:
    small: {type: task, command: b.small, next: big}
    big: {type: task, command: b.big, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_cut_output_is_said_under_the_table(git_repo: Path, magnus: Any) -> None:
    (git_repo / "b.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r1", env={"MAGNUS_OUTPUT_CAP": "1MB"})
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if "output cut at" in line]
    assert said == [
        "big: output cut at 1.0 MB of 2.9 MB written (MAGNUS_OUTPUT_CAP or the catalog's output_cap): "
        "magnus logs r1 big"
    ], done.stdout
    assert said == [line for line in magnus("show", "r1").stdout.splitlines() if "output cut at" in line]
    # the same run under the default cap: nothing is cut, nothing said
    assert "output cut at" not in magnus("execute", "-f", "p.yaml", "--run-id", "r2").stdout


def test_a_cut_steps_stderr_reason_is_said_once_by_magnus_logs(
    tmp_path: Path, magnus: Any, monkeypatch: Any
) -> None:
    """trial 26: with the output cut at the cap, `magnus logs RUN STEP` said the step's stderr lines twice
    (once after its output, once more with the failure's frames that follow a cut output)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cap.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n"
        '    s: {type: task, command_type: shell, command: "seq 1 500; echo ERROR: disk full >&2; exit 1", '
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    monkeypatch.setenv("MAGNUS_OUTPUT_CAP", "100")
    assert magnus("execute", "-f", "cap.yaml", "--run-id", "c").returncode == 1
    said = magnus("logs", "c", "s").stderr
    assert said.count("magnus:   stderr: ERROR: disk full") == 1, said
