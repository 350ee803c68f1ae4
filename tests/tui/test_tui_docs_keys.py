"""Every key the docs name for a workbench screen is bound there: docs/workbench.md's table of screens and
keys, docs/experiments.md's key table and the keys README names, checked against the bindings of each
screen as it runs (the screen, every widget in it, hidden tabs included, and the app)."""

from __future__ import annotations

import re
from pathlib import Path

from textual.keys import _character_to_key
from tui_helpers import wait_for, write_diff_pair

ROOT = Path(__file__).resolve().parents[2]
ARROWS = {"→": "right", "←": "left", "↑": "up", "↓": "down"}
WORDS = {"enter": "enter", "escape": "escape", "space": "space", "home": "home", "end": "end", "tab": "tab"}


def doc_keys(text: str) -> set[str]:
    """The keys a piece of docs names: `x`, `/`, `G`, ctrl+o, F1, and the words Enter, escape, space,
    Home, End, as Textual spells a binding's key (slash, ctrl+o, f1, enter)."""
    keys = {ARROWS.get(k) or _character_to_key(k) for k in re.findall(r"`([^`\s])`", text)}
    keys |= {k.lower() for k in re.findall(r"\b(?:ctrl|shift|alt)\+\w+", text)}
    keys |= {k.lower() for k in re.findall(r"\bF\d{1,2}\b", text)}
    keys |= {WORDS[w.lower()] for w in re.findall(r"\b(Enter|escape|space|Home|End)\b", text)}
    return keys


def workbench_rows() -> dict[str, str]:
    """docs/workbench.md's table: screen name -> the keys cell."""
    rows = {}
    for line in (ROOT / "docs/workbench.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 2 and cells[0] not in ("screen", "---"):
            rows[cells[0]] = cells[1]
    return rows


def bound(screen) -> set[str]:
    """Every key bound on the screen, in any widget of it (mounted tabs too) and in the app."""
    nodes = [screen.app, screen, *screen.walk_children()]
    return {key for node in nodes for key in node._bindings.key_to_bindings}


def test_doc_keys_parser() -> None:
    assert doc_keys("`/` filter, `n`/`N` next, ctrl+o pick, Enter open, escape back, F1") == {
        "slash", "n", "N", "ctrl+o", "enter", "escape", "f1",
    }  # fmt: skip
    assert doc_keys("`→` completes") == {"right"}
    assert doc_keys("`$PAGER` (default `less`)") == set()  # not keys


async def test_every_key_the_docs_name_is_bound_on_its_screen(make_app, project_dir: Path) -> None:
    from magnus_tui.screens.experiments import ExperimentsScreen
    from magnus_tui.screens.step_pair import StepPairScreen

    write_diff_pair(project_dir / ".run_log_store")
    rows = workbench_rows()
    assert set(rows) >= {"Runs", "Experiments", "Run", "Diff", "Step records", "Start"}
    experiments_doc = (ROOT / "docs/experiments.md").read_text()
    table = experiments_doc.split("## The workbench's experiments screen", 1)[1].split("\n## ", 1)[0]
    experiments_keys = doc_keys("\n".join(line.split("|")[1] for line in table.splitlines() if "|" in line))
    readme = (ROOT / "README.md").read_text()
    app = make_app(poll_interval=3600)
    missing: dict[str, set[str]] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()

        async def check(name: str, keys: set[str]) -> None:
            await pilot.pause(0.2)
            await wait_for(  # the run screen mounts its tabs (the output's keys) after the dag
                pilot,
                lambda: getattr(app.screen, "ready", True),
                what=f"the {name} screen to be ready",
                why=lambda: app.screen.tabs_missing(),
            )
            gone = keys - bound(app.screen)
            if gone:
                missing[name] = gone

        await check("Runs", doc_keys(rows["Runs"]) | {"x", "s"})  # README: `x` experiments, `s` start
        app.open_experiments()
        assert isinstance(app.screen, ExperimentsScreen)
        await check("Experiments", doc_keys(rows["Experiments"]) | experiments_keys)
        app.pop_screen()
        app.open_run("before")
        await check(
            "Run", doc_keys(rows["Run"]) | ({"x"} if "stopping a running run (`x`" in readme else set())
        )
        app.pop_screen()
        app.open_diff("before", "after")
        await check("Diff", doc_keys(rows["Diff"]))
        a, b = app.project.get_run("before"), app.project.get_run("after")
        app.push_screen(StepPairScreen(next(iter(a.steps)), a, b))
        assert isinstance(app.screen, StepPairScreen)
        await check("Step records", doc_keys(rows["Step records"]))
        app.pop_screen()
        app.pop_screen()
        await pilot.press("s")
        await check("Start", doc_keys(rows["Start"]))
    assert missing == {}, f"keys the docs name that the screen does not bind: {missing}"
    assert (
        "`e` opens the experiments" not in experiments_doc
        and "e opens the experiments" not in experiments_doc
    )
