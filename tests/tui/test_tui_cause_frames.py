"""Session 10, trial 14 fault F3 (major): with the output cap (MAGNUS_OUTPUT_CAP=0) or the do-nothing
catalog no output holds a step's traceback, and the workbench's Output tab shows the one the run log keeps;
for `raise RuntimeError(...) from e` it listed the outer frames only, so the root cause (a JSONDecodeError
of a bad config file), its message and its frames were nowhere in the workbench, while `magnus logs` prints
them. Now the tab lists each cause after the outer frames as `magnus logs` does (`caused by
JSONDecodeError: ...:` and its frames), the cause's line wrapped to be read whole; the runs list's panel,
the Output tab's header and the Step tab say `caused by ...` under the error (aa1171e), checked here at the
trial's 120x40 too. Real runs in subprocesses, the real app under App.run_test()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_tui_output_wrap import rows_of
from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

HELPERS = """import json


def read_config(text):
    return json.loads(text)
"""

STEPS = """from nightly import helpers


def chained():
    try:
        helpers.read_config("{bad json")
    except ValueError as e:
        raise RuntimeError("could not load config") from e
"""

PIPELINE = """
dag:
  start_at: chained
  steps:
    chained: {type: task, command: nightly.steps.chained, next: success}
    success: {type: success}
    fail: {type: fail}
"""

DECODE = "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"


def magnus(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200", **env},
        timeout=120,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs `cap0` (output cut at 0 bytes) and `nocat` (the do-nothing catalog: no output kept) of a step
    raising RuntimeError from a JSONDecodeError in a helper module."""
    repo = tmp_path_factory.mktemp("cause")
    (repo / "nightly").mkdir()
    (repo / "nightly" / "__init__.py").write_text("")
    (repo / "nightly" / "helpers.py").write_text(HELPERS)
    (repo / "nightly" / "steps.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    (repo / "nocat.yaml").write_text("catalog:\n  type: do-nothing\n")
    done = magnus(repo, "execute", "-f", "p.yaml", "--run-id", "cap0", MAGNUS_OUTPUT_CAP="0")
    assert done.returncode == 1, done.stderr
    done = magnus(repo, "execute", "-f", "p.yaml", "-c", "nocat.yaml", "--run-id", "nocat")
    assert done.returncode == 1, done.stderr
    return repo


def logs_traceback(repo: Path, run_id: str, *config: str) -> list[str]:
    """The traceback `magnus logs RUN chained` prints as the run log keeps it, each line stripped."""
    done = magnus(repo, "logs", run_id, "chained", *config)
    lines = [line.removeprefix("magnus:").strip() for line in done.stderr.splitlines()]
    start = lines.index("traceback (most recent call last), as the run log keeps it:") + 1
    return lines[start:]


@pytest.mark.parametrize("run_id", ["cap0", "nocat"])
async def test_the_output_tab_lists_the_causes_frames_as_magnus_logs_does(
    project: Path, monkeypatch: pytest.MonkeyPatch, run_id: str
) -> None:
    config = ("-c", "nocat.yaml") if run_id == "nocat" else ()
    expected = logs_traceback(project, run_id, *config)
    assert f"caused by {DECODE}:" in expected  # (the CLI's, as the trial saw it)
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(Path(config[1]) if config else None, project), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run_screen(pilot, run_id)
        assert screen.selected == "chained"
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "chained" and bool(view.lines), what="the output")
        title = "[magnus: the traceback as the run log keeps it (no output holds it), most recent call last]"
        listed = view.lines[view.lines.index(title) + 1 :]
        assert [line.strip() for line in listed] == expected
        assert f"  caused by {DECODE}:" in listed
        assert '  File "nightly/helpers.py", line 5, in read_config' in listed
        assert "    return json.loads(text)" in listed
        # on the screen: the cause's line whole (wrapped at the tab's width), its frames after it
        await pilot.pause(0.1)
        rows = await rows_of(pilot, view)
        joined = " ".join(row.strip() for row in rows)
        assert f"caused by {DECODE}:" in joined, rows
        assert joined.index(DECODE) < joined.index('File "nightly/helpers.py", line 5, in read_config')
        # the header under the title and the Step tab say the cause under the error
        header = plain(view.query_one("#output-failure", Static))
        assert "caused by JSONDecodeError" in header and "helpers.py:5 in read_config" in header, header
        await pilot.press("i")
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "caused by" in plain(message), what="the cause in the Step tab")
        assert f"caused by {DECODE}, at nightly/helpers.py:5 in read_config" in plain(message)


async def test_the_runs_list_panel_says_the_cause_at_120_columns(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(reason), what="the runs list's panel")
        lines = plain(reason).splitlines()
        assert lines[0].endswith("chained: RuntimeError: could not load config"), lines
        assert any(
            line.strip().startswith("caused by JSONDecodeError: Expecting")
            and line.endswith("at nightly/helpers.py:5 in read_config")
            for line in lines
        ), lines
