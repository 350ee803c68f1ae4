"""The start form's values: opened on the highlighted run, remembered per pipeline in $XDG_STATE_HOME, keys
typed while it opens, the picker's filter, and a state file that cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, Static, TextArea
from tui_helpers import WORKBENCH, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.dialogs.pick import PickPipeline
from magnus_tui.form_state import FormMemory, FormValues, state_file
from magnus_tui.screens.start import TYPED_DELAY, StartScreen, parameters_text, parse_parameters
from magnus_tui.source import Project

PIPELINE = "dag:\n  start_at: a\n  steps:\n    a: {type: success}\n"


def make_project(root: Path) -> Project:
    """Three pipeline files and one run of `pipelines/train.yaml` that started with z=2, a text that looks
    like a number, a list, and `token`, recorded masked (its value held a secret)."""
    for name in ("pipelines/train.yaml", "pipelines/evaluate.yaml", "report.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(PIPELINE)
    log = json.loads((WORKBENCH / "getting-started.json").read_text())
    log["run_id"] = "trained"
    log["tag"] = "nightly"
    log["run_config"]["dag_file"] = "pipelines/train.yaml"
    log["run_config"]["config_file"] = "team-config.yaml"
    log["run_config"]["parameters"] = {"z": 2, "zip": "02142", "items": ["a", 1], "token": "*****"}
    log["masked_parameters"] = ["token"]
    store = root / ".run_log_store"
    store.mkdir()
    (store / "trained.json").write_text(json.dumps(log))
    return Project.open(None, root)


def form_text(form: StartScreen, selector: str) -> str:
    """A field's text ('' while the form is still being built)."""
    if not form.query(selector):
        return ""
    widget = form.query_one(selector)
    return widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]


# -- the state file ------------------------------------------------------------------------------------
def test_state_file_follows_xdg_state_home(tmp_path: Path) -> None:
    assert state_file({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "magnus" / "start-form.json"
    default = Path.home() / ".local" / "state" / "magnus" / "start-form.json"
    assert state_file({}) == default
    assert state_file({"XDG_STATE_HOME": "relative/dir"}) == default  # the spec: not absolute, ignored


def test_values_remembered_per_pipeline_without_masked_parameters(tmp_path: Path) -> None:
    path = tmp_path / "state" / "magnus" / "start-form.json"
    memory = FormMemory(path)
    values = FormValues("t1", {"lr": 0.1, "conn": "user-*****-x"}, "params.yaml", "c.yaml")
    assert memory.remember(tmp_path, "a.yaml", values, masked=["conn"]) and not memory.notice
    memory.remember(tmp_path / "other", "a.yaml", FormValues("t2"))
    again = FormMemory(path)
    assert again.recall(tmp_path, "a.yaml") == FormValues("t1", {"lr": 0.1}, "params.yaml", "c.yaml")
    assert again.recall(tmp_path / "other", "a.yaml") == FormValues("t2")
    assert again.recall(tmp_path, "b.yaml") is None
    assert "conn" not in path.read_text() and "*****" not in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["start-form.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "why"),
    [("{not json", "is not JSON"), ('["a list"]', "no 'forms' mapping"), (b"\xff\xfe", "cannot be read")],
)
def test_a_bad_state_file_is_told_once_and_moved_aside_not_lost(tmp_path: Path, content, why) -> None:
    path = tmp_path / "start-form.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    memory = FormMemory(path)
    assert why in memory.notice and str(path) in memory.notice and "\n" not in memory.notice
    assert memory.recall(tmp_path, "a.yaml") is None
    assert memory.remember(tmp_path, "a.yaml", FormValues("t"))
    assert "moved to" in memory.notice
    aside = tmp_path / "start-form.json.bad"
    assert aside.read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert FormMemory(path).recall(tmp_path, "a.yaml") == FormValues("t")


def test_a_state_path_that_is_a_folder_is_told_and_nothing_crashes(tmp_path: Path) -> None:
    path = tmp_path / "start-form.json"
    path.mkdir()
    (path / "keep").write_text("x")
    memory = FormMemory(path)
    assert "cannot be read" in memory.notice
    memory.remember(tmp_path, "a.yaml", FormValues("t"))
    assert (tmp_path / "start-form.json.bad" / "keep").read_text() == "x"  # moved aside, kept


def test_a_hand_edited_entry_of_the_wrong_shape_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "start-form.json"
    key = str((tmp_path / "a.yaml").resolve())
    path.write_text(json.dumps({"forms": {key: {"tag": 3}}}))
    assert FormMemory(path).recall(tmp_path, "a.yaml") is None


def test_parameters_text_reads_back_equal() -> None:
    values = {
        "a": 3,
        "zip": "02142",
        "rate": 1e-05,
        "flag": True,
        "none": None,
        "items": [1, "x", "02"],
        "nested": {"k": "v w"},
        "words": "hello: world",
        "yes": "yes",
        "odd name": "é",
    }
    assert parse_parameters(parameters_text(values)) == values


# -- the form in the app ---------------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project folder, the cwd (the store's folder is relative to it, as in `magnus tui`)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def form_of_trained(pilot) -> StartScreen:
    """`s` on the run `trained`: the start form, filled with that run's values."""
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.highlighted() == "trained")
    await pilot.press("s")
    form = app.screen
    assert isinstance(form, StartScreen)
    await wait_for(pilot, lambda: "Values of run trained" in plain(form.query_one("#start-note", Static)))
    return form


async def test_form_opens_on_the_highlighted_runs_values_without_masked_ones(root: Path) -> None:
    app = MagnusApp(make_project(root), poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await form_of_trained(pilot)
        assert form_text(form, "#pipeline") == "pipelines/train.yaml"
        assert form_text(form, "#tag") == "nightly"
        assert form_text(form, "#config") == "team-config.yaml"
        assert parse_parameters(form_text(form, "#parameters")) == {"z": 2, "zip": "02142", "items": ["a", 1]}
        note = plain(form.query_one("#start-note", Static))
        assert "token" in note and "type them again" in note


async def test_tab_into_the_parameters_puts_the_cursor_at_the_end(root: Path) -> None:
    """Trial 3: Tab into the parameters left the cursor at their start, so `25` typed to change the last
    value gave `2secs: 8`. It is at the end, as in every other field; a click puts it where clicked."""
    app = MagnusApp(make_project(root), poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await form_of_trained(pilot)
        area = form.query_one("#parameters", TextArea)
        before = area.text
        await pilot.press("tab")
        assert form.focused is area and area.cursor_location == area.document.end
        await pilot.press("backspace", *"5")
        assert area.text == before[:-1] + "5"
        form.query_one("#tag", Input).focus()
        area.move_cursor((0, 0))
        await pilot.click("#parameters", offset=(3, 0))  # (the box's padding is one column)
        await pilot.pause()
        assert form.focused is area and area.cursor_location == (0, 2)


async def test_keys_typed_while_the_form_opens_land_in_it(root: Path) -> None:
    """All keys arrive before `s` has run (as from a fast typist while the app is busy): none reaches
    the runs list (j would move, q quit, x open the experiments), all are typed in the form."""
    app = MagnusApp(make_project(root), poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.highlighted() == "trained")
        for key in ("s", "x", "q", "j", "G"):
            app.post_message(events.Key(key, key))
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        form = app.screen
        await wait_for(pilot, lambda: "Values of run" in plain(form.query_one("#start-note", Static)))
        await pilot.pause()
        assert app.is_running and len(app.screen_stack) == 2
        assert form_text(form, "#pipeline").endswith("xqjG")


async def test_picker_filters_as_you_type_and_brings_the_last_values(root: Path, state_home: Path) -> None:
    project = make_project(root)
    FormMemory().remember(root, "report.yaml", FormValues("weekly", {"n": 7}))
    # pipelines a user's project holds that are not theirs to run: tests' data, a virtualenv under any
    # name, a conda environment, installed packages (trial 5: the picker listed tests/data/...)
    for name in ("tests/data/leaks.yaml", "myenv/lib/pkg/p.yaml", "conda/x.yaml", "lib/site-packages/q.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(PIPELINE)
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "conda" / "conda-meta").mkdir()
    app = MagnusApp(project, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_start_run()  # from the palette: no run, the first pipeline file
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        form = app.screen
        await wait_for(pilot, lambda: form_text(form, "#pipeline") == "report.yaml")
        assert form_text(form, "#tag") == "weekly" and parse_parameters(form_text(form, "#parameters")) == {
            "n": 7
        }
        await pilot.press("ctrl+o")
        picker = app.screen
        assert isinstance(picker, PickPipeline)

        def shown() -> list[str]:
            options = app.screen.query_one("#pipelines")
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        assert shown() == ["report.yaml", "pipelines/evaluate.yaml", "pipelines/train.yaml"]
        await pilot.press(*"pipe")
        assert shown() == ["pipelines/evaluate.yaml", "pipelines/train.yaml"]
        await pilot.press("down", "enter")
        assert app.screen is form and form_text(form, "#pipeline") == "pipelines/train.yaml"
        # nothing remembered for train.yaml: report.yaml's parameters and tag are not its own (trial 4: `n:
        # 300000` of one pipeline kept for one that sleeps n seconds; trial 5: the tag went to the other
        # pipeline's run), its newest run's are (trial 6: "no values" with its runs in the store)
        await wait_for(pilot, lambda: "Values of run trained" in plain(form.query_one("#start-note", Static)))
        assert "the newest run of pipelines/train.yaml" in plain(form.query_one("#start-note", Static))
        assert form_text(form, "#tag") == "nightly"
        assert parse_parameters(form_text(form, "#parameters")) == {"z": 2, "zip": "02142", "items": ["a", 1]}
        await pilot.press("ctrl+o", *"report", "enter")  # back: its remembered values come back
        assert form_text(form, "#tag") == "weekly" and form_text(form, "#parameters") == "n: 7\n"
        assert "Values last used for report.yaml" in plain(form.query_one("#start-note", Static))
        await pilot.press("ctrl+o", *"train", "enter")
        assert form_text(form, "#tag") == "nightly" and "Values of run trained" in plain(
            form.query_one("#start-note", Static)
        )
        await pilot.press("ctrl+o", *"zzz")
        assert shown() == [] and "No pipeline file matches 'zzz'" in plain(app.screen.query_one("#pick-note"))
        await pilot.press("escape")
        assert app.screen is form and form_text(form, "#pipeline") == "pipelines/train.yaml"
        # parameters and a tag typed by the user are kept, with a word
        form.query_one("#parameters").text = "lr: 0.1\n"
        form.query_one("#tag", Input).value = "mine"
        await pilot.press("ctrl+o", *"eval", "enter")
        assert form_text(form, "#pipeline") == "pipelines/evaluate.yaml"
        assert form_text(form, "#parameters") == "lr: 0.1\n" and form_text(form, "#tag") == "mine"
        await wait_for(pilot, lambda: "No run of" in plain(form.query_one("#start-note", Static)))
        note = plain(form.query_one("#start-note", Static))
        assert "No run of pipelines/evaluate.yaml in the store and no values remembered" in note
        assert "parameters and tag typed here are kept" in note


def add_run(root: Path, run_id: str, pipeline: str, day: int, tag: str, parameters: dict) -> None:
    """A run of `pipeline` in the project's store, started on 2026-11-`day` (the index lists by start)."""
    log = json.loads((WORKBENCH / "getting-started.json").read_text())
    log.update(run_id=run_id, tag=tag)
    log["run_config"]["dag_file"] = pipeline
    log["run_config"]["parameters"] = parameters
    text = json.dumps(log).replace("2026-11-30", f"2026-11-{day:02d}")
    (root / ".run_log_store" / f"{run_id}.json").write_text(text)


async def test_another_pipeline_gets_its_newest_runs_values_and_going_back_its_own(root: Path) -> None:
    """Trial 6: the form opened on a run of train.yaml; picking report.yaml said "no values remembered"
    though runs of it were in the store; a parameters file typed for report.yaml stayed for train.yaml, and
    going back did not bring train.yaml's values back. The parameters file follows the pipeline; the
    config file is the project's and stays."""
    project = make_project(root)
    add_run(root, "report_old", "report.yaml", 20, "old", {"epochs": 1})
    add_run(root, "report_new", "./report.yaml", 22, "noisy", {"epochs": 3})  # started as ./report.yaml
    (root / ".run_log_store" / "report_bad.json").write_text("{broken")  # a broken log is passed over
    app = MagnusApp(project, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.screen._shown) == 4)  # (the broken log is listed first)
        app.screen.query_one("#runs").move_cursor(row=app.screen._shown.index("trained"))
        form = await form_of_trained(pilot)
        note = lambda: plain(form.query_one("#start-note", Static))  # noqa: E731
        await pilot.press("ctrl+o", *"report", "enter")
        await wait_for(pilot, lambda: "Values of run report_new" in note())
        assert form_text(form, "#tag") == "noisy" and form_text(form, "#parameters") == "epochs: 3\n"
        form.query_one("#parameters-file", Input).value = "noisy-params.yaml"
        form.query_one("#config", Input).value = "team-config.yaml"
        await pilot.press("ctrl+o", *"train", "enter")
        assert form_text(form, "#pipeline") == "pipelines/train.yaml"
        assert form_text(form, "#tag") == "nightly" and "Values of run trained." in note()
        assert parse_parameters(form_text(form, "#parameters")) == {"z": 2, "zip": "02142", "items": ["a", 1]}
        assert form_text(form, "#parameters-file") == ""  # report.yaml's, not train.yaml's
        assert form_text(form, "#config") == "team-config.yaml"  # the project's: it stays
        await pilot.press("ctrl+o", *"report", "enter")  # and back: what report.yaml had, its file too
        assert (
            form_text(form, "#parameters-file") == "noisy-params.yaml" and form_text(form, "#tag") == "noisy"
        )
        assert "Values of run report_new" in note()


async def test_a_pipeline_typed_by_hand_is_taken_as_if_picked(root: Path) -> None:
    """Closing 5's left list (trial 6): typing a pipeline's path, not picking it, left the form on the other
    pipeline's values. A path that names a file is taken after a pause, on Enter, or on leaving the field;
    a half-typed one (no such file yet) changes nothing."""
    project = make_project(root)
    add_run(root, "report_new", "report.yaml", 22, "noisy", {"epochs": 3})
    app = MagnusApp(project, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.screen._shown) == 2)
        app.screen.query_one("#runs").move_cursor(row=app.screen._shown.index("trained"))
        form = await form_of_trained(pilot)
        note = lambda: plain(form.query_one("#start-note", Static))  # noqa: E731
        form.query_one("#pipeline", Input).focus()
        await pilot.press("ctrl+u", *"report.ya")  # not a file yet: nothing changes, even after a pause
        await pilot.pause(TYPED_DELAY + 0.3)
        assert form_text(form, "#tag") == "nightly" and "Values of run trained" in note()
        await pilot.press(*"ml")  # now it is: after the pause, its newest run's values
        await wait_for(pilot, lambda: "Values of run report_new" in note())
        assert form_text(form, "#tag") == "noisy" and form_text(form, "#parameters") == "epochs: 3\n"
        assert form.focused is form.query_one("#pipeline", Input)  # (a pause moves no focus)
        await pilot.press("ctrl+u", *"pipelines/train.yaml", "enter")  # Enter takes it at once, as a pick
        assert form_text(form, "#tag") == "nightly" and "Values of run trained." in note()
        assert parse_parameters(form_text(form, "#parameters")) == {"z": 2, "zip": "02142", "items": ["a", 1]}
        assert form.focused is form.query_one("#parameters", TextArea)
        await pilot.press("shift+tab", "ctrl+u", *"report.yaml", "tab")  # leaving the field takes it too
        assert form_text(form, "#tag") == "noisy" and "Values of run report_new" in note()


async def test_typed_values_are_never_replaced_and_a_bad_state_file_is_one_notice(
    root: Path, state_home: Path
) -> None:
    project = make_project(root)
    path = state_file()
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    app = MagnusApp(project, poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.highlighted() == "trained")
        await pilot.press("s")
        form = app.screen
        assert isinstance(form, StartScreen)
        await wait_for(pilot, lambda: bool(form.query("#tag")))
        form.query_one("#tag", Input).value = "mine"  # typed (or before the run's values were read)
        await wait_for(pilot, lambda: "Values of run" in plain(form.query_one("#start-note", Static)))
        assert form_text(form, "#tag") == "mine"
        notices = [n.message for n in app._notifications]
        assert len([n for n in notices if "not loaded" in n]) == 1 and path.read_text() == "{broken"
        form.remember("trained")  # what the app does once a run has started (show_started)
        await wait_for(pilot, lambda: (path.parent / "start-form.json.bad").exists())
        assert (path.parent / "start-form.json.bad").read_text() == "{broken"
        await wait_for(pilot, lambda: any("moved to" in n.message for n in app._notifications))
        assert FormMemory(path).recall(root, "pipelines/train.yaml").tag == "mine"


async def test_a_config_for_another_store_is_refused_in_one_line(root: Path) -> None:
    project = make_project(root)
    (root / "other.yaml").write_text("run_log_store:\n  type: buffered\n")
    app = MagnusApp(project, poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_start_run("report.yaml")
        await wait_for(
            pilot, lambda: isinstance(app.screen, StartScreen) and bool(app.screen.query("#config"))
        )
        form = app.screen
        form.query_one("#config", Input).value = "other.yaml"
        await pilot.press("ctrl+r")
        message = plain(form.query_one("#start-error", Static))
        assert "other.yaml keeps runs in another run-log store" in message and "\n" not in message.strip()
        form.query_one("#config", Input).value = "missing.yaml"
        await pilot.press("ctrl+r")
        assert "missing.yaml" in plain(form.query_one("#start-error", Static))
        assert not app.launched


async def test_after_picking_typing_goes_to_the_parameters_and_tab_skips_pick(root: Path) -> None:
    """Trial 2, finding 5: after ctrl+o the pipeline field had focus with its text selected, so typed
    parameters replaced the pipeline; Pick… was a Tab stop that sent them into Tag."""
    app = MagnusApp(make_project(root), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_start_run()
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        form = app.screen
        await wait_for(pilot, lambda: form_text(form, "#pipeline") == "report.yaml")
        area = form.query_one("#parameters", TextArea)
        area.load_text("")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PickPipeline))
        await pilot.press(*"evaluate", "enter")  # (no run of it: the box stays empty)
        await wait_for(pilot, lambda: app.screen is form)
        await pilot.pause()
        assert form.focused is area and area.selected_text == ""
        await pilot.press(*"secs: 25")
        assert form_text(form, "#pipeline") == "pipelines/evaluate.yaml"
        assert parse_parameters(form_text(form, "#parameters")) == {"secs": 25}

        # only the focused field looks focused: the parameters box is drawn like the other fields
        form.query_one("#pipeline", Input).focus()
        await pilot.pause()
        blurred = area.styles.background
        assert (
            area.styles.border_left[0] in ("", "none") and blurred == form.query_one("#tag").styles.background
        )

        # Tab: pipeline, parameters, parameters file, tag, config, Start; never Pick…
        order = []
        for _ in range(6):
            order.append(form.focused.id if form.focused else None)
            await pilot.press("tab")
        assert order == ["pipeline", "parameters", "parameters-file", "tag", "config", "start"]
