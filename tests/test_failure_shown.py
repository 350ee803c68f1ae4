"""How a failure is shown (trial 10, faults 6, 7 and 9): a python step's logging is not set apart as the
reason of its exception, no shown line is longer than logs.SHOWN_WIDTH characters however long the step's
line or message was, and `magnus logs` of a failed step whose output is not kept still says how it failed,
with the traceback's frames from the run log. Each test runs the real command line in subprocesses, in a
temporary git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHOWN_WIDTH = 1000  # characters of a shown line, as docs/logs.md says (logs.SHOWN_WIDTH)

STEPS = """
import logging
import sys

log = logging.getLogger("mylib")


def load():
    print("loading")
    return {"mean": 0.5}


def lookup(table):
    return table["z"]


def train(mean):
    for i in range(5):
        log.warning("retrying the download, try %d", i)
    print("training")
    return lookup({})


def bail():
    print("config file missing: /etc/app.toml", file=sys.stderr)
    sys.stderr.flush()
    for i in range(3):
        print(f"cleaning up {i}")
    sys.exit(1)


def bar():
    for epoch in range(40):
        for pct in range(0, 101, 10):
            sys.stderr.write(f"\\repoch {epoch}: {pct}%|" + "#" * (pct // 10))
        sys.stderr.write("\\n")
        log.warning("epoch %d done", epoch)
        print("step " * 20)
    raise ValueError("loss diverged")


def huge():
    raise ValueError("x" * 100000)


def wide():
    print("y" * 200000)
    raise RuntimeError("after a wide line")
"""


def _pipeline(*steps: str, catalog: str = "") -> str:
    names = [step.split(":")[0] for step in steps]
    lines = [catalog, "dag:", f"  start_at: {names[0]}", "  steps:"]
    for i, step in enumerate(steps):
        name, _, rest = step.partition(":")
        after = names[i + 1] if i + 1 < len(names) else "success"
        lines.append(f"    {name}: {{type: task, command: steps.{rest or name}, next: {after}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}", ""]
    return "\n".join(line for line in lines if line)


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "train.yaml").write_text(_pipeline("load", "train"))
    (git_repo / "bail.yaml").write_text(_pipeline("bail"))
    (git_repo / "bar.yaml").write_text(_pipeline("bar"))
    (git_repo / "sh.yaml").write_text(
        "dag:\n  start_at: sh\n  steps:\n"
        '    sh: {type: task, command_type: shell, command: \'printf "get 10%%\\\\rget 50%%\\\\rget 100%%\\\\n" >&2;'
        " echo HTTP 429 >&2; echo done; exit 3', next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / "huge.yaml").write_text(_pipeline("huge", "wide"))
    (git_repo / "dn.yaml").write_text(_pipeline("load", "train", catalog="catalog: {type: do-nothing}"))
    return git_repo


INNER = '    return table["z"]'


def _line(text: str) -> int:
    return STEPS.splitlines().index(text) + 1


def _block(stdout: str, first: str) -> list[str]:
    """The failure block that starts with `first`, up to its `all of it:` or note line."""
    lines = stdout.splitlines()
    start = lines.index(first)
    end = next(
        i
        for i in range(start, len(lines))
        if lines[i].startswith("  all of it:") or lines[i].startswith("  (")
    )
    return lines[start : end + 1]


def test_a_python_steps_logging_is_not_shown_as_the_reason_of_its_exception(
    project: Path, magnus: Any
) -> None:
    """Fault 6: five `logging` warnings (stderr) then a KeyError: the summary printed them as `stderr:` lines
    under the error, above the tail that shows them again with the traceback."""
    run = magnus("execute", "-f", "train.yaml", "--run-id", "t1")
    assert run.returncode == 1, run.stderr
    where = f"steps.py:{_line(INNER)} in lookup"
    for shown in (run.stdout, magnus("show", "t1").stdout):
        block = _block(shown, "train: KeyError: 'z'")
        assert block[1] == f"  at {where}", block
        assert not [line for line in block if line.startswith("  stderr:")], block
        assert "  | retrying the download, try 4" in block and block[-2] == "  | KeyError: 'z'", block
    logs = magnus("logs", "t1", "train")
    assert logs.returncode == 0 and logs.stdout.endswith("KeyError: 'z'\n"), logs.stdout
    assert logs.stderr.splitlines() == [f"magnus: train (attempt 0) failed: KeyError: 'z', at {where}"]
    recorded = json.loads(magnus("show", "t1", "--json").stdout)["steps"]["train"]["attempts"][0]["error"]
    assert recorded["stderr"][-1] == "retrying the download, try 4"  # the run log keeps them


def test_a_python_step_that_called_sys_exit_keeps_its_stderr_as_the_reason(
    project: Path, magnus: Any
) -> None:
    """The neighbouring case kept: no exception, so what it wrote to stderr may be why (as for a shell
    step). Written before its last stdout lines, it is said under the error."""
    run = magnus("execute", "-f", "bail.yaml", "--run-id", "b1")
    assert run.returncode == 1
    block = _block(run.stdout, "bail: SystemExit: the step called sys.exit(1)")
    assert block[2] == "  stderr: config file missing: /etc/app.toml", block
    assert block[-2] == "  | cleaning up 2", block
    logs = magnus("logs", "b1", "bail")
    assert "magnus:   stderr: config file missing: /etc/app.toml" in logs.stderr.splitlines(), logs.stderr


def _longest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def test_no_shown_line_is_longer_than_the_width_and_the_file_keeps_it_whole(
    project: Path, magnus: Any
) -> None:
    """Fault 7: ValueError("x" * 100000) printed a 100,016-character line in the tail and `magnus show`;
    a step that printed a 200,000-character line did the same."""
    (project / "huge.yaml").write_text(
        _pipeline("huge", "wide").replace("next: wide}", "next: wide, on_failure: wide}")
    )
    run = magnus("execute", "-f", "huge.yaml", "--run-id", "h1")
    assert run.returncode == 1, run.stderr
    limit = SHOWN_WIDTH + 60  # the width, the two-character `| ` and the marker
    shown = magnus("show", "h1")
    summary = run.stdout[run.stdout.index("Run h1: FAIL") :]  # (above it, the steps' own output, streamed)
    for text in (summary, shown.stdout):
        assert _longest(text) <= limit, [len(line) for line in text.splitlines()]
        lines = text.splitlines()
        # the message, cut at 4,000 characters in the run log, counted from what the step raised
        assert f"huge: ValueError: {'x' * (SHOWN_WIDTH - 12)}\u2026 (99,012 more characters)" in lines
        assert f"  | ValueError: {'x' * (SHOWN_WIDTH - 12)}\u2026 (99,012 more characters)" in lines
        assert f"  | {'y' * SHOWN_WIDTH}\u2026 (199,000 more characters)" in lines
    logs = magnus("logs", "h1", "huge")
    assert _longest(logs.stderr) <= limit + 40, logs.stderr  # (`magnus: huge (attempt 0) failed: `)
    assert "\u2026 (99,012 more characters), at steps.py:" in logs.stderr
    assert f"ValueError: {'x' * 100000}\n" in logs.stdout  # `magnus logs` prints the output whole
    wide = magnus("logs", "h1", "wide")
    assert f"{'y' * 200000}\n" in wide.stdout
    assert (
        (project / ".catalog" / "h1" / ".magnus" / "output" / "wide.0.log")
        .read_text()
        .startswith("y" * 200000)
    )


def test_logs_of_a_failed_step_with_no_output_kept_say_how_it_failed(project: Path, magnus: Any) -> None:
    """Fault 9: with the do-nothing catalog, `magnus logs R train` said only that no output is kept (exit
    0), and the traceback was nowhere but in --json."""
    run = magnus("execute", "-f", "dn.yaml", "--run-id", "d1")
    assert run.returncode == 1
    inner, outer = _line(INNER), _line("    return lookup({})")
    said = [
        "magnus: no output is kept: the run's catalog is do-nothing (a file-system catalog keeps steps' output)",
        f"magnus: train (attempt 0) failed: KeyError: 'z', at steps.py:{inner} in lookup",
        "magnus:   traceback (most recent call last), as the run log keeps it:",
        f'magnus:     File "steps.py", line {outer}, in train',
        "magnus:       return lookup({})",
        f'magnus:     File "steps.py", line {inner}, in lookup',
        'magnus:       return table["z"]',
    ]
    logs = magnus("logs", "d1", "train")
    assert logs.returncode == 0 and logs.stdout == ""
    assert logs.stderr.splitlines() == said, logs.stderr
    whole = magnus("logs", "d1")  # the whole run: the same, the note said once
    assert whole.stderr.splitlines() == said, whole.stderr


def test_logs_of_a_failed_step_whose_output_file_is_gone_say_how_it_failed(
    project: Path, magnus: Any
) -> None:
    """Fault 9's other case: the file deleted, `magnus logs` said only that it cannot be read."""
    assert magnus("execute", "-f", "train.yaml", "--run-id", "m1").returncode == 1
    (project / ".catalog" / "m1" / ".magnus" / "output" / "train.0.log").unlink()
    logs = magnus("logs", "m1", "train")
    assert logs.returncode == 1
    lines = logs.stderr.splitlines()
    assert lines[0].startswith("magnus: train (attempt 0): output file cannot be read: "), lines
    assert lines[1].startswith("magnus: train (attempt 0) failed: KeyError: 'z', at steps.py:"), lines
    assert lines[2] == "magnus:   traceback (most recent call last), as the run log keeps it:", lines
    assert lines[-1] == 'magnus:       return table["z"]', lines


def test_with_no_output_kept_a_python_steps_logging_is_still_not_the_reason(
    project: Path, magnus: Any
) -> None:
    """Trial 11 (fault 3's capped case): with MAGNUS_OUTPUT_CAP=0 the tail holds only magnus's cut marker,
    and the summary, `magnus show` and `magnus logs` set the five `logging` warnings apart as `stderr:`
    lines under the KeyError. The exception is still the reason."""
    run = magnus("execute", "-f", "train.yaml", "--run-id", "c0", env={"MAGNUS_OUTPUT_CAP": "0"})
    assert run.returncode == 1, run.stderr
    for shown in (run.stdout, magnus("show", "c0").stdout):
        block = _block(shown, "train: KeyError: 'z'")
        assert not [line for line in block if "stderr:" in line], block
        assert block[2].startswith("  | [magnus: output cut here at 0 bytes"), block
    logs = magnus("logs", "c0", "train")
    assert not [line for line in logs.stderr.splitlines() if "stderr:" in line], logs.stderr
    assert "failed: KeyError: 'z'" in logs.stderr


def test_with_its_traceback_cut_by_the_cap_a_python_steps_stderr_is_still_not_the_reason(
    project: Path, magnus: Any
) -> None:
    """Trial 12 (fault 1): a cap of 4 KB kept some of the step's lines but not its traceback, and four
    frames of one progress bar were set apart as `stderr:` lines under the ValueError (with a cap of 0 none
    were: the two cases disagreed). A python step that raised is explained by its exception, cap or not."""
    run = magnus("execute", "-f", "bar.yaml", "--run-id", "cap4", env={"MAGNUS_OUTPUT_CAP": "4KB"})
    assert run.returncode == 1, run.stderr
    for shown in (run.stdout, magnus("show", "cap4").stdout):
        block = _block(shown, "bar: ValueError: loss diverged")
        assert not [line for line in block if "stderr:" in line], block
    logs = magnus("logs", "cap4", "bar")
    assert not [line for line in logs.stderr.splitlines() if "stderr:" in line], logs.stderr


def test_a_shell_steps_last_stderr_lines_count_a_progress_bar_as_its_last_frame(
    project: Path, magnus: Any
) -> None:
    """Trial 12 (fault 1): the run log's last stderr lines split a line at its carriage returns, so a
    progress bar's frames pushed the reason out of the five lines kept. Now a line is its last frame, as a
    terminal shows it (logs.last_frame)."""
    run = magnus("execute", "-f", "sh.yaml", "--run-id", "sh1")
    assert run.returncode == 1, run.stderr
    recorded = json.loads(magnus("show", "sh1", "--json").stdout)["steps"]["sh"]["attempts"][0]["error"]
    assert recorded["stderr"] == ["get 100%", "HTTP 429"], recorded
    block = _block(run.stdout, "sh: shell command exited with code 3")
    assert not [line for line in block if "10%" in line or "50%" in line], block
