"""Session 11 (ui10's left item): the Output tab's search scrolled to `line - 2` as if every line were one
row, so with `w` (or magnus's own lines, which always wrap) `n`/`N` landed rows above the match, which was
often off the screen; `g`/`G` then `n`/`N` went on from the match before, far from what was shown; and `w`
or a resize after a search lost the place. Now a match is brought into view at the row it is on (of a
wrapped line, the row holding it; of a line that does not wrap, scrolled sideways to it), `n` after `g`
finds the first match from the top of what is shown and `N` after `G` the last, and `w` keeps the match
in view.

A real run in a subprocess (a step printing long lines, a few of them with `needle-N` near their end); the
real app under App.run_test() at 80x24 and 120x40; what is checked is what the screen shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import open_run_screen, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView
from tests.conftest import run_magnus

STEPS = """
def talk():
    words = " ".join(f"word{w}" for w in range(30))
    for i in range(120):
        print(f"row {i:03d} {words}" + (f" needle-{i}" if i % 17 == 5 else "") + " end")
"""

PIPELINE = """
dag:
  start_at: talk
  steps:
    talk: {type: task, command: steps.talk, next: success}
    success: {type: success}
    fail: {type: fail}
"""

NEEDLES = [i for i in range(120) if i % 17 == 5]  # 5, 22, 39, 56, 73, 90, 107
SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def talked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("search")
    (repo / "steps.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "talk1", cwd=repo)
    assert done.returncode == 0, done.stderr
    return repo


def shown(pilot, view: OutputView) -> list[str]:
    """The rows the Output tab's lines draw now."""
    region = view.log_widget.content_region
    return [row[region.x : region.right] for row in screen_lines(pilot.app)[region.y : region.bottom]]


async def lands_on(pilot, view: OutputView, key: str, needle: int, of: int) -> None:
    """`key` brings match `needle` (the `of`th of them) into view, whole, and the title counts it."""
    await pilot.press(key)
    await pilot.pause(0.1)
    rows = shown(pilot, view)
    assert any(f"needle-{needle} " in row for row in rows), (key, needle, rows)
    title = screen_lines(pilot.app)[view.query_one("#output-title").region.y]
    assert f"/needle: {of}/{len(NEEDLES)}" in title, (key, title)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_n_and_N_land_on_the_match_wrapped_or_not(
    talked: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(talked)
    app = MagnusApp(Project.open(None, talked), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        screen = await open_run_screen(pilot, "talk1")
        await pilot.press("o")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "talk" and len(view.lines) == 120, what="the output")
        await pilot.press("w")
        await wait_for(pilot, lambda: view.log_widget.wrap, what="wrap on")
        await pilot.pause(0.1)
        assert len(view.log_widget.lines) > 2 * 120  # every line wraps: the test's premise
        await pilot.press("slash", *"needle")
        await lands_on(pilot, view, "enter", NEEDLES[0], 1)
        for k, needle in enumerate(NEEDLES[1:], start=2):
            await lands_on(pilot, view, "n", needle, k)
        await lands_on(pilot, view, "n", NEEDLES[0], 1)  # round to the first
        await lands_on(pilot, view, "N", NEEDLES[-1], len(NEEDLES))
        await lands_on(pilot, view, "N", NEEDLES[-2], len(NEEDLES) - 1)
        # g / G (Home / End) then n / N: from what is shown, as less does
        await pilot.press("g")
        await lands_on(pilot, view, "n", NEEDLES[0], 1)
        await pilot.press("G")
        await lands_on(pilot, view, "N", NEEDLES[-1], len(NEEDLES))
        await pilot.press("home")
        await lands_on(pilot, view, "n", NEEDLES[0], 1)
        await lands_on(pilot, view, "n", NEEDLES[1], 2)
        await pilot.press("end")
        await lands_on(pilot, view, "N", NEEDLES[-1], len(NEEDLES))
        # `w` off: each line one row, scrolled sideways to the match (it is past the edge); on again
        await lands_on(pilot, view, "w", NEEDLES[-1], len(NEEDLES))
        assert not view.log_widget.wrap
        await lands_on(pilot, view, "N", NEEDLES[-2], len(NEEDLES) - 1)
        await lands_on(pilot, view, "w", NEEDLES[-2], len(NEEDLES) - 1)
        assert view.log_widget.wrap
        await lands_on(pilot, view, "N", NEEDLES[-3], len(NEEDLES) - 2)
