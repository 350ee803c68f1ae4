"""Session 9, tui9 item 4: the run screen and the runs list at 80x24, as a user reads them, for a failed run
with a long multi-line error and a step killed by kill -9. A 250-character first line wrapped over the
Output tab's 3-line failure header and the runs list's panel and pushed `at steps.py:13 in longerr` (and
the count of further lines) out of both; an interrupted run opened on its first step, not on the one cut
short, and its panel said only `interrupted after 1 of 2 steps`. Real runs, the real app at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import Static
from tui_helpers import open_run_screen, plain, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import fit_failure

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import os
import signal
import time


def load():
    print("loaded")


def longerr():
    print("computing", flush=True)
    first = "validation failed for the training configuration loaded from configs/experiment_v3.yaml: "
    raise RuntimeError(
        first + "x" * 150 + "\\nfield 'optimizer.lr': expected a float\\nfield 'data.path': missing\\n"
        "field 'epochs': must be positive\\nfield 'batch': too big"
    )


def killed():
    print("allocating 40 GB", flush=True)
    time.sleep(2)
    os.kill(os.getpid(), signal.SIGKILL)
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {{type: task, command: steps.load, next: {step}}}
    {step}: {{type: task, command: steps.{step}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""


def run(repo: Path, step: str, code: int) -> None:
    (repo / "steps.py").write_text(STEPS)
    (repo / f"{step}.yaml").write_text(PIPELINE.format(step=step))
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", f"{step}.yaml", "--run-id", step],
        cwd=repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == code, done.stderr


async def test_a_long_first_line_leaves_the_place_in_view(git_repo: Path) -> None:
    run(git_repo, "longerr", 1)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(reason), what="the runs list's panel")
        await pilot.pause(0.2)
        shown = plain(reason).splitlines()
        assert shown[0].endswith("… (+4 lines: o shows them)") and shown[1] == "  at steps.py:13 in longerr"
        # as the terminal shows it: the message wraps into two rows, the place under them
        assert reason.region.height == 4  # (its border on top): three rows, all in view
        drawn = [line.rstrip() for line in screen_lines(app)[reason.region.y : reason.region.bottom]]
        assert drawn[1].startswith(" ✗ longerr: RuntimeError: validation failed")
        assert drawn[2].endswith("… (+4 lines: o shows them)")
        assert drawn[3] == "   at steps.py:13 in longerr"
        screen = await open_run_screen(pilot, "longerr")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: screen.query_one("#tabs").active == "output", what="the Output tab")
        await wait_for(pilot, lambda: output.source == "longerr" and not output.reading_now)
        header = output.query_one("#output-failure", Static)
        await pilot.pause(0.2)
        rows = plain(header).splitlines()
        assert len(rows) == 3 and header.region.height == 3
        assert rows[0].startswith("✗ RuntimeError: validation failed")
        assert rows[1].endswith("…, at steps.py:13 in longerr")
        assert rows[2] == "    (+4 more lines: i shows them)  i: the step's detail"
        assert all(len(row) <= header.content_region.width for row in rows)


def test_fit_failure_keeps_the_stderr_line_and_counts_the_rest() -> None:
    reason = "ValueError: bad\n    two\n    three\n    four\nstderr: out of memory"
    rows, hint = fit_failure(reason, "✗", "steps.py:3 in f", 60)
    assert rows == [
        "✗ ValueError: bad, at steps.py:3 in f",
        "    (+3 more lines: i shows them)",
        "stderr: out of memory",
    ]
    assert hint
    rows, _ = fit_failure("KeyError: 'z'\n    two", "✗", "steps.py:3 in f", 60)
    assert rows == ["✗ KeyError: 'z', at steps.py:3 in f", "    two"]


async def test_a_step_killed_by_sigkill_is_where_the_run_opens(git_repo: Path) -> None:
    run(git_repo, "killed", -9)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "interrupted" in plain(reason), what="the runs list's panel")
        assert plain(reason).splitlines() == [
            "■ interrupted: 2 of 2 steps ran",  # the cut-short step ran, as show says (trial 13 fault 2)
            "  killed: attempt 0 was cut short: the run's process ended while it ran",
        ]
        screen = await open_run_screen(pilot, "killed")
        assert screen.selected == "killed"  # not `load`, the first step
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "ended while attempt 0 ran" in plain(message), what="the Step tab")
