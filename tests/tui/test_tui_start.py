"""Starting a run from the workbench: the form, the worker, the run screen following it, re-run plan."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from textual.widgets import Input, Static, TabbedContent, TextArea
from tui_helpers import RUN_WAIT, column, plain, wait_for

from magnus_core.stores.file_system import load_run_log
from magnus_tui.app import MagnusApp
from magnus_tui.dialogs.secret import SecretBroker, SecretPrompt
from magnus_tui.screens.run import RunScreen
from magnus_tui.screens.start import StartScreen, parse_parameters
from magnus_tui.source import Project

FUNCTIONS = """
from magnus import track_this


def double(x: int = 1):
    track_this(doubled=x * 2)
    return {"y": x * 2}


def boom(y: int = 0):
    print(f"boom got y={y}")
    raise ValueError(f"y was {y}")
"""

PIPELINE = """
dag:
  start_at: double
  steps:
    double: {type: task, command: funcs.double, next: wait}
    wait: {type: task, command_type: shell, command: "%s", next: success}
    success: {type: success}
    fail: {type: fail}
"""

FAILING = """
dag:
  start_at: double
  steps:
    double: {type: task, command: funcs.double, next: boom}
    boom: {type: task, command: funcs.boom, next: success}
    success: {type: success}
    fail: {type: fail}
"""


WAIT_FOR_GO = "while [ ! -f go ]; do sleep 0.02; done"  # the step computes until the test says go


def project(repo: Path, wait: bool = False) -> Project:
    (repo / "funcs.py").write_text(FUNCTIONS)
    (repo / "pipe.yaml").write_text(PIPELINE % (WAIT_FOR_GO if wait else "true"))
    (repo / "failing.yaml").write_text(FAILING)
    return Project.open(None, repo)


async def test_start_a_run_from_the_form_and_follow_it(git_repo: Path) -> None:
    app = MagnusApp(project(git_repo, wait=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        assert isinstance(app.screen, StartScreen)
        form = app.screen
        form.query_one("#pipeline", Input).value = "pipe.yaml"
        form.query_one("#tag", Input).value = "from-tui"
        form.query_one("#parameters", TextArea).text = "x: 21\n"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: "wait" in tree.nodes_by_key)
        launched = app.launched[screen.run_id]
        try:
            # a process of its own, in a session of its own, that knows nothing of the workbench's terminal
            assert launched.running and launched.process.pid != os.getpid()
            assert os.getsid(launched.process.pid) == launched.process.pid
            assert "--run-id" in launched.command and "--x=21" in launched.command
            await pilot.press("p")
            assert screen.query_one(TabbedContent).active == "run"
            assert launched.running
            (git_repo / "go").write_text("")
            await wait_for(pilot, lambda: not launched.running and not screen.following, RUN_WAIT)
            # (the last read of its log is drawn after the process ended: waited for, not slept for)
            await wait_for(pilot, lambda: "SUCCESS" in plain(screen.query_one("#run-header", Static)))
            assert "✓" in tree.label("wait").plain
            assert "SUCCESS" in plain(screen.query_one("#run-header", Static))
            params = screen.query_one("#run-params")
            assert (
                dict(
                    zip(
                        column(params, params.ordered_columns[0].key),
                        column(params, params.ordered_columns[1].key),
                        strict=False,
                    )
                )["y"]
                == "42"
            )
            log = load_run_log(git_repo / ".run_log_store" / f"{screen.run_id}.json")
            assert log.tag == "from-tui" and log.parameters["x"] == 21
        finally:  # it is in a session of its own: nothing else stops it if an assertion fails
            if launched.process.poll() is None:
                launched.process.kill()
                launched.process.wait(10)


async def test_bad_form_input_is_one_line_and_nothing_starts(git_repo: Path) -> None:
    app = MagnusApp(project(git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        form = app.screen
        form.query_one("#parameters", TextArea).text = "x: [1,\n"
        await pilot.press("ctrl+r")
        assert "malformed YAML" in plain(form.query_one("#start-error", Static))
        form.query_one("#parameters", TextArea).text = ""
        form.query_one("#pipeline", Input).value = "missing.yaml"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "not found" in plain(form.query_one("#start-error", Static)))
        assert isinstance(app.screen, StartScreen)
        assert not (git_repo / ".run_log_store").exists() or not list((git_repo / ".run_log_store").iterdir())


def test_parse_parameters() -> None:
    assert parse_parameters("X: 3\ny: [a]") == {"x": 3, "y": ["a"]}
    assert parse_parameters("  ") == {}


async def test_pick_pipeline_dialog_lists_project_pipelines(git_repo: Path) -> None:
    app = MagnusApp(project(git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "ctrl+o")
        await pilot.pause()
        options = app.screen.query_one("#pipelines")
        files = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert files == ["failing.yaml", "pipe.yaml"]
        await pilot.press("down", "enter")
        assert app.screen.query_one("#pipeline", Input).value == "pipe.yaml"


async def test_failed_run_shows_the_message_and_offers_rerun_with_a_plan(git_repo: Path) -> None:
    app = MagnusApp(project(git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "failing.yaml"
        app.screen.query_one("#parameters", TextArea).text = "x: 1\n"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        await wait_for(
            pilot, lambda: not app.launched[screen.run_id].running and not screen.following, RUN_WAIT
        )
        await wait_for(pilot, lambda: "FAIL" in plain(screen.query_one("#run-header", Static)))
        assert "FAIL" in plain(screen.query_one("#run-header", Static))
        await pilot.press("f")
        await pilot.pause()
        assert screen.selected == "boom"
        assert "ValueError: y was 2" in plain(screen.query_one("#step-message", Static))
        # R: the re-run form with the plan the CLI prints (rerun.plan_rerun), and parameters to change
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        form = app.screen
        plan = form.query_one("#plan", Static)
        await wait_for(pilot, lambda: "step(s) reused" in plain(plan))
        assert "reuse  double" in plain(plan) and "run    boom    failed before" in plain(plan)
        assert "Nothing changed since the original" in plain(plan)
        # a parameter `double` received with another value: named, as --use-cached RUN --x 5 would
        form.query_one("#parameters", TextArea).text = "x: 5\n"
        await wait_for(pilot, lambda: "received other parameter values" in plain(plan))
        assert "x 1 -> 5" in plain(plan)
        form.query_one("#parameters", TextArea).text = ""
        await wait_for(pilot, lambda: "received other parameter values" not in plain(plan))
        await pilot.press("escape")
        assert app.screen is screen
        # started: a new run reuses `double` from the failed run and runs `boom` again
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, RunScreen)
                and app.screen is not screen
                and bool(app.screen.query("#dag"))
            ),
            RUN_WAIT,
        )
        rerun = app.screen
        await wait_for(
            pilot, lambda: not app.launched[rerun.run_id].running and not rerun.following, RUN_WAIT
        )
        await pilot.pause(0.1)
        tree = rerun.query_one("#dag")
        assert "cached" in tree.label("double").plain
        assert "cached" not in tree.label("boom").plain
        assert f"re-run of {screen.run_id}" in plain(rerun.query_one("#run-header", Static))


async def test_a_workbench_run_keeps_each_steps_output_in_the_catalog_and_no_temporary_file(
    git_repo: Path,
) -> None:
    import tempfile

    temporary = Path(tempfile.gettempdir())
    before = set(temporary.glob("magnus-workbench-*"))
    app = MagnusApp(project(git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "failing.yaml"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        await wait_for(pilot, lambda: not app.launched[screen.run_id].running, RUN_WAIT)
    log = load_run_log(git_repo / ".run_log_store" / f"{screen.run_id}.json")
    boom = log.steps["boom"]
    record = boom.attempts[0].output
    assert record is not None and record.sha256
    text = (git_repo / record.catalog_handler_location / record.catalog_relative_path).read_text()
    assert text.startswith("boom got y=2\nTraceback (most recent call last):"), text
    assert "ValueError: y was 2" in text
    assert set(temporary.glob("magnus-workbench-*")) == before  # the workbench writes no file of its own


async def test_secret_prompt_is_masked_and_reaches_the_waiting_thread(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        answers: list[str | None] = []
        broker = SecretBroker(app, "run1")
        thread = threading.Thread(target=lambda: answers.append(broker("api_key")))
        thread.start()
        await wait_for(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press(*"hunter22")
        box = app.screen.query_one("#secret-value", Input)
        assert box.password
        assert "hunter22" not in app.export_screenshot()
        await pilot.press("enter")
        thread.join(5)
        assert answers == ["hunter22"]
        thread = threading.Thread(target=lambda: answers.append(broker("other")))
        thread.start()
        await wait_for(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press("escape")
        thread.join(5)
        assert answers == ["hunter22", None]


SECRET_FUNCS = """
from pathlib import Path

from magnus import get_secret


def use_secrets():
    Path("reached.txt").write_text(get_secret("api_key") + "|" + get_secret("token"))
"""

SECRET_PIPELINE = """
dag:
  secrets: [api_key]
  start_at: use
  steps:
    use: {type: task, command: secret_funcs.use_secrets, next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_secrets_typed_in_the_modal_reach_the_step_and_nothing_else(git_repo: Path) -> None:
    (git_repo / "secret_funcs.py").write_text(SECRET_FUNCS)
    (git_repo / "secret.yaml").write_text(SECRET_PIPELINE)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "secret.yaml"
        await pilot.press("ctrl+r")
        # declared in the dag and unknown to the provider: asked before the run starts
        await wait_for(pilot, lambda: isinstance(app.screen, SecretPrompt))
        assert app.screen.secret_name == "api_key"
        await pilot.press(*"k3y-Alpha-991", "enter")
        # asked for by the step while it runs (not declared): the run waits on the same modal
        await wait_for(pilot, lambda: isinstance(app.screen, SecretPrompt))
        assert app.screen.secret_name == "token"
        await pilot.press(*"t0k-Beta-772")
        assert "t0k-Beta-772" not in app.export_screenshot()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        await wait_for(
            pilot, lambda: not app.launched[screen.run_id].running and not screen.following, RUN_WAIT
        )
        await wait_for(pilot, lambda: "SUCCESS" in plain(screen.query_one("#run-header", Static)))
        assert "SUCCESS" in plain(screen.query_one("#run-header", Static))
        assert (git_repo / "reached.txt").read_text() == "k3y-Alpha-991|t0k-Beta-772"
        launched = app.launched[screen.run_id]
        for secret in ("k3y-Alpha-991", "t0k-Beta-772"):  # never on the command line, nor in its console
            assert secret not in " ".join(launched.command)
            assert secret.encode() not in launched.console.read_bytes()
        shown = app.export_screenshot()
        await pilot.press("p")
        await pilot.pause()
        shown += app.export_screenshot()
    for secret in ("k3y-Alpha-991", "t0k-Beta-772"):
        assert secret not in shown
        for path in git_repo.rglob("*"):
            if path.is_file() and path.name != "reached.txt" and ".git" not in path.parts:
                assert secret.encode() not in path.read_bytes(), path


async def test_cancelling_the_secret_prompt_starts_nothing(git_repo: Path) -> None:
    (git_repo / "secret_funcs.py").write_text(SECRET_FUNCS)
    (git_repo / "secret.yaml").write_text(SECRET_PIPELINE)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "secret.yaml"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretPrompt))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "not given" in plain(app.screen.query_one("#start-error", Static)))
        assert isinstance(app.screen, StartScreen)
    store = git_repo / ".run_log_store"
    assert not store.exists() or not list(store.glob("*.json"))
    assert not (git_repo / "reached.txt").exists()


async def test_a_buffered_store_says_why_runs_cannot_start_here(git_repo: Path) -> None:
    """A run started here is a process of its own: a store in memory could never show it."""
    (git_repo / "magnus-config.yaml").write_text("run_log_store: {type: buffered}\n")
    app = MagnusApp(project(git_repo), poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "buffered" in plain(app.screen.query_one("#empty", Static))
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "pipe.yaml"
        await pilot.press("ctrl+r")
        message = plain(app.screen.query_one("#start-error", Static))
        assert "buffered (in memory)" in message and "file-system" in message
        assert isinstance(app.screen, StartScreen) and not app.launched


async def test_a_secret_value_in_the_forms_parameters_is_recorded_masked(git_repo: Path) -> None:
    """The workbench's start is a `magnus execute` process (issue 17): a parameter holding a
    secret's value (.env) is recorded masked and listed in masked_parameters, on screen masked too."""
    marker = "Zq7tuiMARKER52"
    (git_repo / ".env").write_text(f"db_token={marker}\n")
    app = MagnusApp(project(git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        form = app.screen
        form.query_one("#pipeline", Input).value = "pipe.yaml"
        form.query_one("#parameters", TextArea).text = f"x: 21\nconn: user-{marker}-x\n"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), 60
        )
        screen = app.screen
        launched = app.launched[screen.run_id]
        await wait_for(pilot, lambda: not launched.running and not screen.following, 60)
        await wait_for(pilot, lambda: "SUCCESS" in plain(screen.query_one("#run-header", Static)))
        assert "SUCCESS" in plain(screen.query_one("#run-header", Static))
        assert marker not in app.export_screenshot()
    log = load_run_log(git_repo / ".run_log_store" / f"{screen.run_id}.json")
    assert log.parameters["conn"] == "user-*****-x" and log.masked_parameters == ["conn"]
    # the form remembers its values for pipe.yaml ($XDG_STATE_HOME), never the one holding a secret
    from magnus_tui.form_state import FormMemory, state_file

    assert FormMemory().recall(git_repo, "pipe.yaml").parameters == {"x": 21}
    assert marker not in state_file().read_text() and "conn" not in state_file().read_text()
    for path in (git_repo / ".run_log_store").rglob("*"):
        assert marker not in path.name
        assert not path.is_file() or marker.encode() not in path.read_bytes(), path
