"""`magnus logs` of an output file that is not what the run recorded (its size, its SHA256) says so on
stderr and in --json's `differs`, and still prints it (trial 16 F8: a file changed after the run, or a
catalog copied in part from another machine, was printed as the step's output with no word). The real
command line, on a real run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

PIPELINE = """
dag:
  start_at: shellerr
  steps:
    shellerr: {type: task, command_type: shell, command: "echo line one; echo line two", next: py}
    py: {type: task, command_type: shell, command: "echo other", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_an_output_file_changed_after_the_run_is_said(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(PIPELINE)
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r1", cwd=git_repo).returncode == 0
    # as the run left it: nothing said, for the step or the whole run
    plain = run_magnus("logs", "r1", "shellerr", cwd=git_repo)
    assert plain.returncode == 0 and plain.stdout == "line one\nline two\n" and plain.stderr == ""
    whole = run_magnus("logs", "r1", cwd=git_repo)
    assert "differs" not in whole.stderr, whole.stderr
    listed = json.loads(run_magnus("logs", "r1", "--json", cwd=git_repo).stdout)["attempts"]
    assert [a["differs"] for a in listed] == ["", ""]

    kept = git_repo / ".catalog" / "r1" / ".magnus" / "output" / "shellerr.0.log"
    assert kept.read_bytes() == b"line one\nline two\n"
    kept.write_text("garbage\n")  # another size
    changed = run_magnus("logs", "r1", "shellerr", cwd=git_repo)
    assert changed.returncode == 0 and changed.stdout == "garbage\n"
    assert changed.stderr == (
        "magnus: shellerr (attempt 0): its output file differs from what the run recorded "
        "(8 bytes, recorded 18; SHA256 differs)\n"
    )
    kept.write_text("line one\nline 2wo\n")  # the same size
    changed = run_magnus("logs", "r1", cwd=git_repo)
    assert (
        "magnus: shellerr (attempt 0): its output file differs from what the run recorded (18 bytes, as "
        "recorded; SHA256 differs)"
    ) in changed.stderr
    assert "py (attempt 0)" not in changed.stderr
    listed = json.loads(run_magnus("logs", "r1", "--json", cwd=git_repo).stdout)["attempts"]
    assert listed[0]["differs"].endswith("(18 bytes, as recorded; SHA256 differs)")
    assert listed[1]["differs"] == ""
