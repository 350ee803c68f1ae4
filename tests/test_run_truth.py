"""A run's truth is kept and told (trial 10, issue 16): every usage error before the run exists, a run
that ends never leaves a step running, and what stopped it is said by `magnus show` and `magnus logs`.

End to end with the real command in subprocesses, in a temporary git repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, git

STEPS = """
def noisy(lines: int = 3):
    for i in range(lines):
        print("line", i)
"""

NOISY = """
dag:
  start_at: noisy
  steps:
    noisy: {type: task, command: truth_steps.noisy, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "truth_steps.py").write_text(STEPS)
    (git_repo / "noisy.yaml").write_text(NOISY)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "steps")
    return git_repo


def runs_in(project: Path) -> list[Path]:
    store = project / ".run_log_store"
    return sorted(store.glob("*.json")) if store.exists() else []


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MAGNUS_OUTPUT_CAP", "lots", "a size in bytes such as 100MB, 512KB or 1048576"),
        ("MAGNUS_OUTPUT_CAP", "10XB", "a size in bytes such as 100MB, 512KB or 1048576"),
        ("MAGNUS_OUTPUT_CAP", "-5", "a size in bytes such as 100MB, 512KB or 1048576"),
        ("MAGNUS_STOP_GRACE", "soon", "a number of seconds such as 5 or 0.5"),
        ("MAGNUS_STOP_GRACE", "-1", "a number of seconds such as 5 or 0.5"),
        ("MAGNUS_MAX_RUN_LOG_MB", "big", "a number of megabytes such as 256 or 1024"),
        ("MAGNUS_MAX_RUN_LOG_MB", "0", "a number of megabytes such as 256 or 1024"),
    ],
)
def test_a_bad_setting_is_refused_before_the_run_exists(
    project: Path, magnus: Any, variable: str, value: str, expected: str
) -> None:
    """Trial 10, fault 1: `MAGNUS_OUTPUT_CAP=lots magnus execute` exited 2 yet left a FAIL run whose step
    stayed PROCESSING with no attempt and no reason; MAGNUS_STOP_GRACE was read when a shell step ran (the
    step failed: `ValueError: could not convert string to float`), MAGNUS_MAX_RUN_LOG_MB at import (an
    internal error, exit 1). Each is now one line naming the variable, exit 2, and nothing is written, by
    `magnus execute` and by the per-step entry point alike."""
    line = f"Error: {variable}: expected {expected}, got '{value}'"
    for args in (
        ("execute", "--file", "noisy.yaml"),
        ("execute_single_node", "r1", "noisy", "-f", "noisy.yaml"),
    ):
        done = magnus(*args, env={variable: value})
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [line]
        assert runs_in(project) == []
    listed = magnus("runs", env={variable: value})  # every command says it, before it does anything
    assert listed.returncode == 2 and listed.stderr.strip() == line
    # help is printed whatever they hold
    for help_args in (("execute", "--help"), ("runs", "-h"), ("--help",)):
        shown = magnus(*help_args, env={variable: value})
        assert shown.returncode == 0 and shown.stdout.startswith("Usage: magnus") and shown.stderr == ""


def test_good_settings_still_run(project: Path, magnus: Any) -> None:
    done = magnus(
        "execute",
        "--file",
        "noisy.yaml",
        env={"MAGNUS_OUTPUT_CAP": "1MB", "MAGNUS_STOP_GRACE": "0.5", "MAGNUS_MAX_RUN_LOG_MB": "64"},
    )
    assert done.returncode == 0, done.stderr
    assert len(runs_in(project)) == 1


# A fault of magnus itself once the run exists (here: reading the output cap raises), in the real command:
# not a step's failure (nodes/task keeps those in their attempts), so it ends the run.
BROKEN = """
import sys
import magnus_core.capture as capture

def broken(catalog=None):
    raise RuntimeError("the cap could not be read")

capture.output_cap = broken
from magnus_core.cli import main
sys.argv = ["magnus", *sys.argv[1:]]
main()
"""


def test_an_error_after_the_run_exists_ends_its_step_with_the_reason(project: Path, magnus: Any) -> None:
    """The net under fault 1: whatever raises after the run log exists, the run ends FAIL and the step in
    progress ends FAIL with the reason in an attempt (never PROCESSING in an ended run, which the workbench
    showed ticking `running` for ever); `magnus show` and `magnus logs` say why (logs printed nothing and
    exited 0)."""
    done = subprocess.run(
        [sys.executable, "-c", BROKEN, "execute", "--file", "noisy.yaml", "--run-id", "broke"],
        cwd=project,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "internal error (RuntimeError: the cap could not be read)" in done.stderr
    log = json.loads((project / ".run_log_store" / "broke.json").read_text())
    assert log["status"] == "FAIL"
    step = log["steps"]["noisy"]
    reason = "the run stopped: internal error (RuntimeError: the cap could not be read)"
    assert step["status"] == "FAIL" and step["message"] == reason
    (attempt,) = step["attempts"]
    assert (attempt["status"], attempt["message"]) == ("FAIL", reason)
    shown = magnus("show", "broke")
    assert "PROCESSING" not in shown.stdout and f"noisy: {reason}" in shown.stdout
    logs = magnus("logs", "broke")
    assert reason in logs.stderr and logs.returncode != 0
    followed = magnus("logs", "broke", "--follow")
    assert f"ended FAIL: noisy: {reason}" in followed.stdout + followed.stderr


def test_a_cap_of_0_keeps_the_marker_alone(project: Path, magnus: Any) -> None:
    """Trial 10, item 14: MAGNUS_OUTPUT_CAP=0 kept a file of an empty line then the marker. 0 keeps no
    output, only the marker line saying how much the step wrote (docs/configuration.md), so `magnus logs`
    tells a step cut at 0 from one that printed nothing."""
    done = magnus(
        "execute", "--file", "noisy.yaml", "--run-id", "zero", "--lines", "3", env={"MAGNUS_OUTPUT_CAP": "0"}
    )
    assert done.returncode == 0, done.stderr
    log = json.loads((project / ".run_log_store" / "zero.json").read_text())
    output = log["steps"]["noisy"]["attempts"][0]["output"]
    kept = (project / ".catalog" / output["catalog_relative_path"]).read_bytes()
    marker = (
        "[magnus: output cut here at 0 bytes; the step wrote 21 bytes (the cap is MAGNUS_OUTPUT_CAP or the "
        "catalog's output_cap)]\n"
    )
    assert kept == marker.encode()
    assert (output["size"], output["written"]) == (len(marker), len("line 0\nline 1\nline 2\n"))
    assert magnus("logs", "zero", "noisy").stdout == marker


PARAMETERS_STEP = """
from pathlib import Path


def takes(**given):
    print(sorted(given.items()))
    if Path("fail-now").exists():
        raise RuntimeError("failing on purpose")
"""

# (as typed on the command line, as the resume command must print it)
TYPED = [
    ("name", "b", "b"),
    ("zip", "02142", "02142"),  # stays text (docs/parameters.md): never quoted into "02142"
    ("when", "2024-01-31", "2024-01-31"),
    ("words", "hello world", "'hello world'"),
    ("three", '"3"', "'\"3\"'"),  # the text 3: bare, it would be the number
    ("yes", '"true"', "'\"true\"'"),
    ("dash", '"-x"', "'\"-x\"'"),  # never read as an option
    ("empty", '""', "'\"\"'"),
    ("n", "3", "3"),
    ("f", "0.5", "0.5"),
    ("flag", "true", "true"),
]


def test_the_resume_command_gives_parameters_as_typed_and_means_the_same(project: Path, magnus: Any) -> None:
    """Trial 10, fault 12: after `--name b` the resume command read `--name '"b"'`: correct, but not what
    was typed. Each value is now printed as a user types it, quoted only where the bare text would be read
    as another value; and the printed command, run as typed by a shell, starts from the same parameters."""
    import shlex

    (project / "params_step.py").write_text(PARAMETERS_STEP)
    (project / "takes.yaml").write_text(NOISY.replace("truth_steps.noisy", "params_step.takes"))
    (project / "fail-now").write_text("")
    args = [word for name, typed, _ in TYPED for word in (f"--{name}", typed)]
    failed = magnus("execute", "--file", "takes.yaml", "--run-id", "first", *args)
    assert failed.returncode == 1, failed.stderr
    (printed,) = [line for line in failed.stderr.splitlines() if line.startswith("Resume with: ")]
    shown = " ".join(f"--{name} {text}" for name, _, text in TYPED)
    assert printed == f"Resume with: magnus execute --file takes.yaml --use-cached first {shown}"
    assert printed in magnus("show", "first").stdout.splitlines()  # the same words from the run log
    command = printed.removeprefix("Resume with: ") + " --run-id again"
    again = subprocess.run(  # as typed: through a shell, `magnus` being this checkout's command line
        ["bash", "-c", f'magnus() {{ {shlex.quote(sys.executable)} -m magnus_core "$@"; }}; {command}'],
        cwd=project,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1, again.stderr  # (still failing on purpose)
    first, second = (
        json.loads((project / ".run_log_store" / f"{run}.json").read_text())["run_config"]["parameters"]
        for run in ("first", "again")
    )
    assert second == first
    assert first["zip"] == "02142" and first["three"] == "3" and first["n"] == 3 and first["empty"] == ""
