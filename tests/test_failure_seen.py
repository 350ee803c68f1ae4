"""A failure is seen where a user looks first (trial 6): the pod log of a step run alone
(`magnus execute_single_node`), `magnus show` of a run driven one step at a time, and `magnus logs` of a step
whose output does not say how it failed (sys.exit). Each test runs the real command line in a subprocess, in
a temporary git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

STEPS = """
import sys


def load():
    return {"mean": 0.5}


def train(mean, lr=0.1):
    print(f"training lr={lr} mean={mean}")
    if lr > 1:
        raise ValueError(f"learning rate too high: {lr}")


def bail():
    print("bailing out with exit 2")
    sys.exit(2)
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: steps.load, next: train}
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    (git_repo / "bail.yaml").write_text(
        "dag:\n  start_at: bail\n  steps:\n"
        "    bail: {type: task, command: steps.bail, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / "shared.yaml").write_text("run_log_store: {type: chunked-fs, config: {log_folder: runs}}\n")
    (git_repo / "params.yaml").write_text("lr: 5\n")
    return git_repo


def _line(text: str) -> int:
    return STEPS.splitlines().index(text) + 1


def single(magnus: Any, run_id: str, step: str, *extra: str, file: str = "pipeline.yaml") -> Any:
    return magnus("execute_single_node", run_id, step, "-f", file, "-c", "shared.yaml", *extra)


def test_a_failed_single_node_step_says_why_on_stderr(project: Path, magnus: Any) -> None:
    assert single(magnus, "pod2", "load", "-p", "params.yaml").returncode == 0
    failed = single(magnus, "pod2", "train")
    assert failed.returncode == 1
    assert failed.stdout == "training lr=5 mean=0.5\n"  # the step's own output, as it was
    line = _line('        raise ValueError(f"learning rate too high: {lr}")')
    lines = failed.stderr.splitlines()
    assert lines[0] == "magnus: train: ValueError: learning rate too high: 5", failed.stderr
    assert lines[1] == f"magnus:   at steps.py:{line} in train"
    assert "magnus:   | training lr=5 mean=0.5" in lines  # its output's last lines
    assert lines[-1] == "magnus:   all of it: magnus logs pod2 train --config-file shared.yaml"

    ended = single(magnus, "pod2", "fail")  # the orchestrator's on_failure: the fail node
    assert ended.returncode == 1
    assert "magnus: fail: the fail node: run pod2 ended FAIL" in ended.stderr


def test_a_single_node_step_that_printed_nothing_still_says_why(project: Path, magnus: Any) -> None:
    failed = single(magnus, "pod3", "train")  # no load step: `mean` is missing
    assert failed.returncode == 1 and failed.stdout == ""
    said = [
        "magnus: train: function 'steps.train' needs argument(s) 'mean', which no parameter provides "
        "(known: none)",
        "magnus:   (the step printed nothing)",
    ]
    # (the run is made by this pod, at a step that is not the dag's first: said first, on a line of its own)
    created = (
        "magnus: run 'pod3' does not exist: created it at step 'train', not at the dag's first step 'load'"
    )
    assert failed.stderr.splitlines() == [created, *said]
    again = single(magnus, "pod3", "train").stderr.splitlines()  # a retried pod says it again
    assert again[-2:] == said and created not in again


def test_a_run_driven_step_by_step_is_not_called_interrupted(project: Path, magnus: Any) -> None:
    assert single(magnus, "pod2", "load", "-p", "params.yaml").returncode == 0
    assert single(magnus, "pod2", "train").returncode == 1
    shown = magnus("show", "pod2", "-c", "shared.yaml")
    head = shown.stdout.splitlines()[0]
    assert head == "Run pod2: PER-STEP (PROCESSING); last step train FAIL", shown.stdout
    assert "running for" not in shown.stdout  # (its orchestrator may be idle between steps)
    listed = magnus("runs", "-c", "shared.yaml")
    assert "INTERRUPTED" not in listed.stdout, listed.stdout
    stopped = magnus("stop", "pod2", "-c", "shared.yaml")
    assert stopped.returncode != 0 and "driven one step at a time" in stopped.stderr, stopped.stderr


def test_logs_say_how_a_step_that_printed_then_called_sys_exit_failed(project: Path, magnus: Any) -> None:
    assert single(magnus, "pod4", "bail", file="bail.yaml").returncode == 1
    where = f"steps.py:{_line('    sys.exit(2)')} in bail"
    shown = magnus("logs", "pod4", "bail", "-c", "shared.yaml")
    assert shown.returncode == 0
    assert shown.stdout == "bailing out with exit 2\n"  # the output, as it was written: can be piped
    assert (
        f"magnus: bail (attempt 0) failed: SystemExit: the step called sys.exit(2), at {where}"
        in shown.stderr.splitlines()
    ), shown.stderr

    data = json.loads(magnus("logs", "pod4", "bail", "-c", "shared.yaml", "--json").stdout)
    assert data["failures"] == [
        {
            "step": "bail",
            "step_type": "task",
            "message": "SystemExit: the step called sys.exit(2)",
            "attempt": 0,
            "where": where,
        }
    ]
    attempt = data["attempts"][0]
    assert attempt["message"] == "SystemExit: the step called sys.exit(2)"
    assert attempt["error"]["type"] == "SystemExit" and attempt["error"]["exit_code"] == 2


NOISY = """
dag:
  start_at: noisy
  steps:
    noisy:
      type: task
      command_type: shell
      command: 'for i in $(seq 1 300); do echo "line $i"; done; echo "ERROR: out of memory" >&2; exit 4'
      next: success
    success: {type: success}
    fail: {type: fail}
"""

# The reason written to stderr first, progress after it: the kept output does not end with the reason
# (what the two pipes' timing does to "print progress, write the reason to stderr, exit", made certain).
EARLY = """
dag:
  start_at: check
  steps:
    check:
      type: task
      command_type: shell
      command: 'echo "ERROR: disk quota exceeded" >&2; sleep 0.2; echo "checking score ..."; exit 3'
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def test_the_last_lines_on_stderr_are_kept_with_the_failure(project: Path, magnus: Any) -> None:
    (project / "noisy.yaml").write_text(NOISY)
    result = magnus("execute", "-f", "noisy.yaml", "-c", "shared.yaml", "--run-id", "noisy")
    assert result.returncode == 1
    log = json.loads(magnus("show", "noisy", "-c", "shared.yaml", "--json").stdout)
    error = log["steps"]["noisy"]["attempts"][-1]["error"]
    assert error["stderr"] == ["ERROR: out of memory"]  # whatever order the two pipes gave the output
    shown = result.stdout.splitlines()
    start = shown.index("noisy: shell command exited with code 4")
    # the reason is seen: under the error, or as the last line of output when the pipes kept the order
    under, last = shown[start + 1], shown[start + 10]
    assert under == "  stderr: ERROR: out of memory" or last == "  | ERROR: out of memory", shown[start:]


def test_a_reason_on_stderr_the_output_does_not_end_with_is_shown_under_the_error(
    project: Path, magnus: Any
) -> None:
    (project / "early.yaml").write_text(EARLY)
    result = magnus("execute", "-f", "early.yaml", "-c", "shared.yaml", "--run-id", "early")
    assert result.returncode == 1
    shown = result.stdout.splitlines()
    start = shown.index("check: shell command exited with code 3")
    assert shown[start + 1] == "  stderr: ERROR: disk quota exceeded", shown[start:]
    assert shown[start + 3] == "  | checking score ..."
    assert magnus("show", "early", "-c", "shared.yaml").stdout.splitlines().count(shown[start + 1]) == 1
    logs = magnus("logs", "early", "check", "-c", "shared.yaml")
    assert logs.stdout == "ERROR: disk quota exceeded\nchecking score ...\n"
    assert "magnus:   stderr: ERROR: disk quota exceeded" in logs.stderr.splitlines(), logs.stderr
    data = json.loads(magnus("logs", "early", "check", "-c", "shared.yaml", "--json").stdout)
    assert data["attempts"][0]["error"]["stderr"] == ["ERROR: disk quota exceeded"]


def test_a_python_step_keeps_what_a_library_logged_to_stderr(project: Path, magnus: Any) -> None:
    (project / "lib.py").write_text(
        "import logging\nimport sys\n\n\ndef work():\n"
        "    logging.basicConfig(stream=sys.stderr)\n"
        "    logging.getLogger('lib').error('CUDA out of memory, tried 2 GiB')\n"
        "    print('done')\n"
        "    raise RuntimeError('training failed')\n"
    )
    (project / "lib.yaml").write_text(
        "dag:\n  start_at: work\n  steps:\n"
        "    work: {type: task, command: lib.work, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = magnus("execute", "-f", "lib.yaml", "-c", "shared.yaml", "--run-id", "lib")
    assert result.returncode == 1
    log = json.loads(magnus("show", "lib", "-c", "shared.yaml", "--json").stdout)
    error = log["steps"]["work"]["attempts"][-1]["error"]
    assert error["stderr"] == ["ERROR:lib:CUDA out of memory, tried 2 GiB"]  # kept in the run log
    # shown in the tail above the traceback, not again under the error as its cause (trial 10, fault 6)
    shown = result.stdout.splitlines()
    assert "  | ERROR:lib:CUDA out of memory, tried 2 GiB" in shown, result.stdout
    assert not [line for line in shown if line.startswith("  stderr: ")], result.stdout


def test_stderr_lines_the_tail_ends_with_before_magnus_notes_are_not_said_twice() -> None:
    """Trial 23 F9: a notebook's traceback in a branch was its last stderr lines and its output's last
    lines, but the output ended with magnus's note of fd output beside other branches, so the summary said
    the traceback twice. magnus's own `[magnus: ...]` lines after them are set aside; a stdout line after
    them is not (then they may be the reason, kept before it by the pipes)."""
    from magnus_core.logs import stderr_unseen

    stderr = ["ValueError: svm: kernel matrix not PSD"]
    note = "[magnus: while this step ran beside other branches, a subprocess or C code wrote to ...]"
    assert stderr_unseen(stderr, ["Cell In[4], line 2", *stderr, note]) == []
    assert stderr_unseen(stderr, [*stderr, note, "[magnus: a thread still running ...]", ""]) == []
    assert stderr_unseen(stderr, [*stderr, "done on stdout"]) == stderr
    assert stderr_unseen(stderr, [note]) == stderr


EXIT_MESSAGE = """
import logging
import sys


def fatal():
    print("loading data")
    logging.basicConfig()
    logging.getLogger("app").error("config file missing: /etc/app.yaml")
    print("giving up", file=sys.stderr)
    sys.exit("fatal: cannot continue")
"""


def test_a_sys_exit_message_after_stderr_lines_does_not_set_them_apart_again(
    git_repo: Path, magnus: Any
) -> None:
    """trial 24: `sys.exit("fatal: ...")`, whose message python prints last on stderr, made the output's last
    lines not end with the step's last stderr lines, and the summary, `magnus show` and `magnus logs`
    repeated them (`stderr: giving up`) right above the same lines in the tail."""
    (git_repo / "steps.py").write_text(EXIT_MESSAGE)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: fatal\n  steps:\n    fatal: {type: task, command: steps.fatal, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 1
    assert "fatal: SystemExit: fatal: cannot continue" in done.stdout
    assert "  | giving up\n  | fatal: cannot continue\n" in done.stdout  # the tail shows them, in order
    shown = magnus("show", "r")
    for said in (done.stdout, shown.stdout, magnus("logs", "r", "fatal").stderr):
        assert "stderr:" not in said, said
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["steps"]["fatal"]["attempts"][0]["error"]["stderr"][-1] == "giving up"  # still recorded


CHECKED = """
import subprocess


def checked():
    command = "echo 'fatal: bad object deadbeef' >&2; for i in $(seq 1 15); do echo info $i; done; exit 128"
    subprocess.run(["sh", "-c", command], check=True)
"""


def test_a_failed_child_of_check_true_has_its_stderr_reason_said(git_repo: Path, magnus: Any) -> None:
    """trial 25: `subprocess.run(..., check=True)` raises CalledProcessError, which says only `returned
    non-zero exit status 128`; the child's reason, on its stderr and out of the last lines shown, was set
    apart for sys.exit() and shell steps but not for this exception."""
    (git_repo / "steps.py").write_text(CHECKED)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: steps.checked, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 1
    assert "  stderr: fatal: bad object deadbeef\n" in done.stdout, done.stdout
    assert "  stderr: fatal: bad object deadbeef\n" in magnus("show", "r").stdout
    assert "magnus:   stderr: fatal: bad object deadbeef" in magnus("logs", "r", "a").stderr
