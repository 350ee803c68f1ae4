"""Keys everywhere: the help lists each key of the screen once (movement included), global keys work from
dialogs, the palette finds runs, `o` and `e` hand the terminal to $PAGER and $EDITOR and come back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from textual.command import CommandList, CommandPalette
from tui_helpers import leave_screen, write_diff_pair

from magnus_tui.dialogs.help import HelpScreen, key_rows
from magnus_tui.screens.run import RunScreen
from magnus_tui.screens.runs import RunsScreen


def keys_of(screen) -> dict[str, str]:
    """what -> keys, over every section of the help for `screen`."""
    return {text: keys for _, rows in key_rows(screen) for keys, text in rows}


async def test_help_lists_every_key_once_movement_included(make_app, project_dir: Path) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        runs = keys_of(app.screen)
        assert runs["Up"] == "↑ k" and runs["Down"] == "↓ j"
        assert "home" in runs["First row"] and "g" in runs["First row"] and "^home" in runs["First row"]
        assert "G" in runs["Last row"] and "end" in runs["Last row"]
        assert runs["Open"] in ("⏎", "enter")
        assert any(text.startswith("Sort by:") and keys == "S I U P T A D N R" for text, keys in runs.items())
        listed = [keys for _, rows in key_rows(app.screen) for keys, _ in rows]
        singles = [k for keys in listed for k in keys.split(" ")]
        assert len(singles) == len(set(singles)), "a key is listed twice"

        app.open_diff("after", "before")
        for _ in range(1500):  # its tabs' keys once the screen is mounted and focused (not a fixed pause)
            await pilot.pause(0.02)
            if "Previous tab" in keys_of(app.screen):
                break
        diff = keys_of(app.screen)
        assert diff["Previous tab"] == "← h" and diff["Next tab"] == "→ l"
        assert "Up" in diff and "First row" in diff

        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")  # F1 again closes it
        assert not isinstance(app.screen, HelpScreen)


async def test_global_keys_work_from_a_modal(make_app, project_dir: Path) -> None:
    app = make_app()
    app.screenshot_dir = project_dir
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f12")  # a screenshot of the help itself
        await pilot.pause()
        assert list(project_dir.glob("*.svg"))
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert CommandPalette.is_open(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_palette_finds_runs_by_pipeline_or_tag_and_opens_them(make_app, project_dir: Path) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"getting-started")
        options = app.screen.query_one(CommandList)
        texts: list[str] = []
        for _ in range(100):
            await pilot.pause(0.05)
            texts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            if sum("Open run" in t for t in texts) >= 2:
                break
        assert any("Open run after" in t for t in texts) and any("Open run before" in t for t in texts)
        assert not any("Open run gs_run" in t for t in texts)  # the original tool's log has no pipeline
        index = next(i for i, t in enumerate(texts) if "Open run before" in t)
        options.highlighted = index
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "before"


def recorder(tmp: Path, name: str) -> str:
    """A program that copies the file it is given to tmp/<name> (standing in for less or vi)."""
    script = tmp / f"{name}.py"
    script.write_text(f"import shutil, sys\nshutil.copy(sys.argv[1], {str(tmp / name)!r})\n")
    return f"{sys.executable} {script}"


async def test_v_pages_the_run_log_and_e_edits_the_pipeline(make_app, project_dir: Path, monkeypatch) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    (project_dir / "examples").mkdir()
    (project_dir / "examples" / "getting-started.yaml").write_text("dag: {start_at: a, steps: {}}\n")
    monkeypatch.setenv("PAGER", recorder(project_dir, "paged"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", recorder(project_dir, "edited"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen) and screen.highlighted() == "after"
        await pilot.press("v")  # (o and l open the run's output)
        await pilot.pause()
        paged = json.loads((project_dir / "paged").read_text())
        assert paged["run_id"] == "after" and paged["status"] == "FAIL"
        await pilot.press("e")
        await pilot.pause()
        assert (project_dir / "edited").read_text().startswith("dag:")
        assert app.screen is screen  # back in the workbench

        await pilot.press("G")  # the original tool's log records no pipeline file: said, nothing run
        (project_dir / "edited").unlink()
        await pilot.press("e")
        await pilot.pause()
        assert not (project_dir / "edited").exists()
        monkeypatch.setenv("PAGER", str(project_dir / "no-such-pager"))
        await pilot.press("v")  # a pager that is not there: a notice, not a crash
        await pilot.pause()
        assert app.screen is screen


async def palette_titles(pilot, app) -> list[str]:
    """Every command the palette offers with nothing typed, by title."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    options = app.screen.query_one(CommandList)
    titles: list[str] = []
    for _ in range(100):
        await pilot.pause(0.05)
        titles = [
            str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)
        ]
        if "Runs" in titles and "Open run" in titles:
            break
    await pilot.press("escape")
    await pilot.pause()
    return titles


async def test_the_palette_lists_each_command_once(make_app, project_dir: Path) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        titles = await palette_titles(pilot, app)
        assert titles.count("Experiments") == 1 and titles.count("Quit") == 1, titles
        assert len(titles) == len(set(titles)), f"listed twice: {titles}"
        assert "Theme" not in titles and "Change theme" in titles  # Textual's twin is left out, ours kept


async def test_ctrl_c_quits_and_help_says_so(make_app, project_dir: Path) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert "ctrl+c" in keys_of(app.screen)["Quit"].replace("^c", "ctrl+c")
        app.open_run("after")
        await pilot.pause(0.3)
        await pilot.press("ctrl+c")  # from any screen, with no run started here: leave at once
        await pilot.pause()
    assert app.return_code == 0
    assert not [n for n in app._notifications if "to quit" in n.message]


async def test_help_words_every_key_in_one_case(make_app, project_dir: Path) -> None:
    """The help's words are sentence case, as magnus writes them (`Page up`, `First line`): Textual's own
    texts for the keys that scroll sideways read `Scroll Left`, `Page Right` among them, and ctrl+p's
    `palette` (session 11, found on the Output tab and the runs list at 80x24)."""
    import re

    from tui_helpers import open_run_screen, wait_for

    from magnus_tui.widgets.output_view import OutputView

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        texts = {text: "runs" for text in keys_of(app.screen)}
        screen = await open_run_screen(pilot, "failure_run")
        texts.update({text: "run" for text in keys_of(app.screen)})
        await pilot.press("o")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.log_widget.has_focus, what="the output's focus")
        output = keys_of(app.screen)
        texts.update({text: "output" for text in output})
        assert output["Scroll left"] == "←" and output["Page right"] == "^pgdn", output
        title_case = {text: where for text, where in texts.items() if re.search(r" [A-Z][a-z]", text)}
        assert not title_case, title_case
        lower = {text: where for text, where in texts.items() if text[:1].islower()}  # (`palette`)
        assert not lower, lower


async def test_the_palette_offers_only_what_applies(make_app, project_dir: Path) -> None:
    """As the footer and F1 (RunScreen.check_action): `Stop the run` while the run is live only, `Re-run
    from failure` once it failed (session 11, found at 80x24: on an ended run the palette offered Stop,
    and choosing it did nothing at all, not even the warning `x` gives)."""
    from tui_helpers import open_run_screen

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run_screen(pilot, "failure_run")
        titles = await palette_titles(pilot, app)
        assert "Stop the run" not in titles and "Re-run from failure" in titles, titles
        await pilot.press("escape")  # (the failed run opened on its Output tab: the keys back to the dag)
        await leave_screen(pilot)
        await open_run_screen(pilot, "gs_run")
        titles = await palette_titles(pilot, app)
        assert "Stop the run" not in titles and "Re-run from failure" not in titles, titles
        assert "Step detail" in titles and "Back to runs" in titles, titles
