"""Session 9 (fail9): a chained exception (`raise RuntimeError(...) from exc`) keeps its cause in the run
log (`error.cause`), and the summary, `magnus show` and `magnus logs` say its root under the error
(`caused by JSONDecodeError: ..., at steps.py:5 in _read`); the workbench said the outer exception only, in
the runs list's panel, the Output tab's failure header and the Step tab. Each now says the same line, fitted
to its width with the place kept. A real run, the real app at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import json


def _read():
    return json.loads("{bad")


def _config():
    try:
        return _read()
    except ValueError as exc:
        raise KeyError("config") from exc


def train():
    try:
        _config()
    except KeyError as exc:
        raise RuntimeError("could not start training") from exc
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CAUSE = (
    "caused by JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
    "(char 1), at steps.py:5 in _read"
)


def chained_run(repo: Path, run_id: str) -> list[str]:
    """Run the pipeline whose step raises a chain of three; `magnus show`'s lines."""
    (repo / "steps.py").write_text(STEPS)
    (repo / "chain.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "chain.yaml", "--run-id", run_id],
        cwd=repo,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "magnus_core", "show", run_id],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return shown.stdout.splitlines()


async def test_every_view_of_a_chained_failure_says_its_root_cause(git_repo: Path) -> None:
    shown = chained_run(git_repo, "chained")
    at = shown.index("train: RuntimeError: could not start training")
    assert shown[at + 1 : at + 3] == ["  at steps.py:19 in train", f"  {CAUSE}"]  # as the CLI says it
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(reason), what="the runs list's panel")
        lines = plain(reason).splitlines()
        assert lines[:2] == ["✗ train: RuntimeError: could not start training", "  at steps.py:19 in train"]
        # its third row: cut before the place to fit the panel's width (78 cells inside its padding)
        assert lines[2].startswith("  caused by JSONDecodeError: Expecting ") and len(lines[2]) <= 78
        assert lines[2].endswith("…, at steps.py:5 in _read") and len(lines) == 3
        screen = await open_run_screen(pilot, "chained")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: output.source == "train" and not output.reading_now)
        header = output.query_one("#output-failure", Static)
        await wait_for(  # (drawn whole until laid out, then fitted to its width: fit_failure)
            pilot, lambda: "…, at steps.py:5 in _read" in plain(header), what="the cause in the Output header"
        )
        rows = plain(header).splitlines()
        assert rows[0] == "✗ RuntimeError: could not start training, at steps.py:19 in train"
        assert rows[1].startswith("  caused by JSONDecodeError: Expecting ") and rows[1].endswith(
            "…, at steps.py:5 in _read"
        )
        await pilot.press("i")
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "caused by" in plain(message), what="the cause in the Step tab")
        assert plain(message).splitlines() == [
            "RuntimeError: could not start training",
            "at steps.py:19 in train",
            CAUSE,
        ]
