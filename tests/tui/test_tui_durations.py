"""Issue 16 F6: the workbench showed a success or fail node's duration as `0.003ms`, a figure to the
microsecond that reads as a measurement; under a millisecond it reads `<1ms` (view.fmt_duration), in the
dag tree, the run panel and the step tab. The real app under App.run_test(); what the screen shows."""

from __future__ import annotations

import re

from tui_helpers import open_run_screen, screen_lines

from magnus_tui.view import fmt_duration


def test_durations_under_a_millisecond_read_less_than_one() -> None:
    assert fmt_duration(0.000003) == "<1ms"
    assert fmt_duration(0.00099) == "<1ms"
    assert fmt_duration(0.0042) == "4.2ms"
    assert fmt_duration(0.0) == "0ms"  # (a duration of none at all, not one too small to say)
    assert fmt_duration(None) == ""


async def test_the_fail_nodes_duration_reads_less_than_a_millisecond(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run_screen(pilot, "failure_run")
        await pilot.pause(0.1)
        lines = screen_lines(app)
        fail = [line for line in lines if re.search(r"\bfail\b", line) and "ms" in line]
        assert fail and all("<1ms" in line for line in fail), lines  # (the old code: 0.0..ms)
        assert not any(re.search(r"\b0\.\d+ms", line) for line in lines), lines
