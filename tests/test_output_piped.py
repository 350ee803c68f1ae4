"""Output is never cut when piped; on a narrow terminal `magnus runs` drops whole columns in a stated order,
never the run id (issue 18, item 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from magnus_core.table import Cell, fit_columns, render, render_columns
from tests.conftest import ROOT, run_magnus

LONG_STEP = "a very long step name that says in detail what the step does for whoever reads it"
PIPELINE = f"""
dag:
  start_at: {LONG_STEP}
  steps:
    {LONG_STEP}: {{type: task, command_type: shell, command: "exit 1", next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""
TAG = "baseline-with-a-long-descriptive-tag"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    first = run_magnus("execute", "--file", "p.yaml", "--run-id", "first", "--tag", TAG, cwd=tmp_path)
    assert first.returncode == 1
    again = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", "first", "--run-id", "second", cwd=tmp_path
    )
    assert again.returncode == 1
    # a run whose process died: the state column then reads INTERRUPTED (PROCESSING)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    log = json.loads((tmp_path / ".run_log_store" / "first.json").read_text())
    log.update(run_id="killed", status="PROCESSING", tag="killed-run")
    log["run_config"]["process"]["pid"] = int(dead.stdout)
    (tmp_path / ".run_log_store" / "killed.json").write_text(json.dumps(log))
    return tmp_path


def test_piped_runs_show_every_column_whole_whatever_columns_says(store: Path) -> None:
    listed = run_magnus("runs", cwd=store, env={"COLUMNS": "40"})
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["run", "id", "status", "tag", "start", "duration", "steps", "re-run", "of"]
    assert len(lines) == 4  # one row per run
    baseline = [line for line in lines if TAG in line]  # `magnus runs | grep baseline` finds the run
    # and its re-run, which keeps the original's tag (trial 8, finding 1)
    assert [line.split()[0] for line in baseline] == ["second", "first"]
    second = next(line for line in lines if line.startswith("second "))
    assert second.rstrip().endswith(" first")  # the re-run column whole
    assert "INTERRUPTED (PROCESSING)" in listed.stdout and "killed-run" in listed.stdout  # the tag stays
    assert "hidden" not in listed.stderr


def test_piped_summary_keeps_long_step_names_and_tags_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "--file", "p.yaml", "--tag", TAG * 3, cwd=tmp_path, env={"COLUMNS": "40"})
    assert done.returncode == 1
    assert any(line.startswith(LONG_STEP) and "FAIL" in line for line in done.stdout.splitlines()), (
        done.stdout
    )
    assert f"(tag {TAG * 3})" in done.stdout.splitlines()[0]


def on_terminal(
    cwd: Path, *args: str, columns: int = 80, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> Any:
    """`magnus ARGS` run on a real terminal (pexpect) of 24 rows and `columns` columns, TERM=xterm, COLUMNS
    unset, `env` added and the variables in `drop` removed; the ended child (its output in `.before`)."""
    pexpect = pytest.importorskip("pexpect")
    full = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", **(env or {})}
    for name in ("COLUMNS", *drop):
        full.pop(name, None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "magnus_core", *args],
        cwd=str(cwd),
        env=full,
        dimensions=(24, columns),
        encoding="utf-8",
    )
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    return child


def test_a_narrow_terminal_drops_whole_columns_in_order_never_the_run_id(store: Path) -> None:
    child = on_terminal(store, "runs", env={"NO_COLOR": "1"})
    assert child.exitstatus == 0, child.before
    lines = [line.rstrip() for line in child.before.replace("\r", "").splitlines() if line.strip()]
    table = lines[:4]
    assert table[0].split()[:3] == ["run", "id", "status"]
    assert all(len(line) <= 80 for line in table), table
    assert {line.split()[0] for line in table[1:]} == {"first", "second", "killed"}  # ids whole
    assert table[0].split() == ["run", "id", "status", "tag"]  # the tag outlasts start, duration, steps
    assert any(TAG in line for line in table)
    assert (
        "4 column(s) hidden to fit the terminal: start, duration, steps, re-run of"
        in child.before.replace("\r\n", " ").replace("\n", " ")
    )


def test_drop_order_is_followed_and_stops_as_soon_as_the_table_fits() -> None:
    headers = ["id", "a", "b", "c"]
    rows = [[Cell("x" * 10), Cell("y" * 10), Cell("z" * 10), Cell("w" * 10)]]
    assert fit_columns(headers, rows, None, [3, 2, 1]) == [0, 1, 2, 3]
    assert fit_columns(headers, rows, 46, [3, 2, 1]) == [0, 1, 2, 3]
    assert fit_columns(headers, rows, 45, [3, 2, 1]) == [0, 1, 2]
    assert fit_columns(headers, rows, 22, [3, 2, 1]) == [0, 1]
    assert fit_columns(headers, rows, 5, [3, 2, 1]) == [0]  # the first column is never in the drop order


def test_a_table_given_by_columns_pads_aligns_and_colours_each_cell() -> None:
    """`magnus runs` builds its 20,000-row table column by column; `render` (rows of cells) goes through the
    same code, so both give these exact lines."""
    headers = ["run id", "status", "n"]
    columns = [["a", "longer-id"], ["SUCCESS", "FAIL"], ["5", "12"]]
    plain = render_columns(headers, columns, right={2})
    assert plain.split("\n") == [
        "run id     status    n",
        "a          SUCCESS   5",
        "longer-id  FAIL     12",
    ]
    rows = [
        [Cell("a"), Cell("SUCCESS", "green"), Cell("5")],
        [Cell("longer-id"), Cell("FAIL", "red"), Cell("12")],
    ]
    coloured = render_columns(headers, columns, right={2}, styles=[None, ["green", "red"], None], colour=True)
    assert render(headers, rows, right={2}, colour=True) == coloured
    lines = coloured.split("\n")
    assert lines[1] == "a          \x1b[32mSUCCESS\x1b[0m   5" and "\x1b[31mFAIL   \x1b[0m" in lines[2]
    assert lines[0].startswith("\x1b[1mrun id   \x1b[0m")
    assert render_columns(headers, [[], [], []]) == "run id  status  n"  # no rows: the header alone


@pytest.mark.parametrize("plain", [{"NO_COLOR": "1"}, {"TERM": "dumb"}, {}])
def test_diff_on_a_terminal_prints_no_escape_with_no_color(store: Path, plain: dict[str, str]) -> None:
    # trial 3: under NO_COLOR `magnus diff` kept rich's bold and dim while the summary and `show` print none
    runs = sorted(p.stem for p in (store / ".run_log_store").glob("*.json"))
    drop = () if plain else ("NO_COLOR",)
    child = on_terminal(store, "diff", *runs[:2], columns=120, env=plain, drop=drop)
    assert "Comparing" in child.before
    assert ("\x1b[" in child.before) is (not plain)


def test_columns_asked_for_outlast_the_others_on_a_narrow_terminal(tmp_path: Path) -> None:
    # trial 4: `magnus runs --params lr --metrics auc` at 80 columns hid exactly params.lr and metrics.auc
    (tmp_path / "steps.py").write_text(
        "from magnus import track_this\n\ndef train(lr):\n    track_this(auc=0.5 + lr)\n"
    )
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: train\n  steps:\n"
        "    train: {type: task, command: steps.train, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "-f", "p.yaml", "--lr", "0.25", "--tag", TAG, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    child = on_terminal(tmp_path, "runs", "--params", "lr", "--metrics", "auc", env={"NO_COLOR": "1"})
    header = child.before.replace("\r", "").splitlines()[0].split()
    assert header[:3] == ["run", "id", "status"] and header[-2:] == ["params.lr", "metrics.auc"], header
    assert "0.25" in child.before and "0.75" in child.before


def test_show_says_what_a_processing_run_means_now_as_runs_does(store: Path) -> None:
    # trial 4: `magnus runs` said INTERRUPTED (PROCESSING), `magnus show` only PROCESSING
    shown = run_magnus("show", "killed", cwd=store)
    assert shown.stdout.splitlines()[0].startswith("Run killed: INTERRUPTED (PROCESSING)"), shown.stdout
    listed = run_magnus("runs", cwd=store)
    assert "INTERRUPTED (PROCESSING)" in listed.stdout


CLOSES_STDERR = """
import sys


def close_original_stderr():
    sys.__stderr__.close()


def fine():
    print("fine")
"""


def test_a_step_closing_the_original_stderr_leaves_the_exit_code_the_runs(
    git_repo: Path, magnus: Any
) -> None:
    """Trial 19 F14: a step that closed sys.__stderr__ made a SUCCESS run exit 1, nothing said anywhere:
    installing the output seam again for the exit functions flushed the closed stream through logging's
    setStream (ValueError). The exit code is the run's."""
    (git_repo / "closing.py").write_text(CLOSES_STDERR)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n"
        "    a: {type: task, command: closing.close_original_stderr, next: b}\n"
        "    b: {type: task, command: closing.fine, next: sh}\n"
        "    sh: {type: task, command_type: shell, command: 'echo shell fails >&2; exit 5', next: success, "
        "on_failure: final}\n"
        "    final: {type: task, command: closing.fine, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "closed")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # (the old code: 1)
    assert "Run closed: SUCCESS" in ran.stdout
    log = json.loads((git_repo / ".run_log_store" / "closed.json").read_text())
    assert log["status"] == "SUCCESS"
    assert log["steps"]["final"]["status"] == "SUCCESS"
