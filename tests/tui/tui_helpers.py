"""Helpers for the workbench tests: what a widget shows, as plain text."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
RUN_LOGS = FIXTURES / "magnus-0.3.12" / "run_logs"


def plain(widget) -> str:
    """The text a Static shows (str, Text or any rich renderable), without styles."""
    import io

    from rich.console import Console
    from rich.text import Text

    content = widget.content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    console.print(content)
    return console.export_text()


def screen_lines(app) -> list[str]:
    """The screen as the terminal would show it now, line by line: each widget's lines as last drawn (a
    line a widget failed to mark for drawing again shows its old text here, as on a terminal)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def column(table, key: str) -> list[str]:
    """One column of a DataTable, top to bottom, as plain text."""
    return [str(getattr(table.get_cell(row, key), "plain", table.get_cell(row, key))) for row in table.rows]


WORKBENCH = ROOT / "tests" / "data" / "workbench"
LIVE = ROOT / "tests" / "data" / "tui" / "live"


def live_project(folder: Path) -> Path:
    """Copy the live run of tests/data/tui/live into `folder` (its store, catalog and pipeline), with this
    process as the run's process, so that `live_run` reads as RUNNING (its step `train` running since
    08:58:00 on 2026-11-25, UTC). Returns `folder`."""
    import json
    import shutil

    from magnus_core.runs import process_record

    shutil.copytree(LIVE / "runs", folder / ".run_log_store")
    shutil.copytree(LIVE / "catalog", folder / ".catalog")
    shutil.copy(LIVE / "watch.yaml", folder / "watch.yaml")
    path = folder / ".run_log_store" / "live_run.json"
    data = json.loads(path.read_text())
    started = data["run_config"]["process"]["started_at"]
    data["run_config"]["process"] = {**process_record(), "started_at": started}
    path.write_text(json.dumps(data))
    return folder


HASH_A, HASH_B = "a" * 64, "b" * 64
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"


def write_diff_pair(store: Path) -> tuple[str, str]:
    """Two runs of the getting-started example in `store` that differ in every group of a diff: `before`
    (as run) and `after` (an hour later: status, an added dag step and its log, another commit with
    uncommitted changes, a catalog hash, parameters, metrics, a slower step). Returns their ids."""
    import copy
    import json
    from datetime import datetime, timedelta

    before = json.loads((WORKBENCH / "getting-started.json").read_text())
    before["run_id"] = "before"
    entry = {
        "name": "data/model.pkl",
        "data_hash": HASH_A,
        "catalog_relative_path": "before/data/model.pkl",
        "catalog_handler_location": ".catalog",
        "stage": "put",
    }
    before["steps"]["prepare"]["data_catalog"] = [entry]
    after = copy.deepcopy(before)
    after["run_id"] = "after"
    after["status"] = "FAIL"
    after["parameters"]["z"] = 5
    after["parameters"]["lr"] = 0.01
    after["steps"]["prepare"]["user_defined_metrics"]["variance"] = 0.7
    after["steps"]["prepare"]["data_catalog"] = [
        {**entry, "data_hash": HASH_B, "catalog_relative_path": "after/data/model.pkl"}
    ]
    del after["steps"]["consume"]["user_defined_metrics"]["total"]
    dag = after["run_config"]["dag"]["steps"]
    dag["shell"]["next"] = "extra"
    dag["extra"] = {
        "type": "task",
        "command_type": "shell",
        "command": "python train.py --epochs 3",
        "next": "success",
    }
    extra = copy.deepcopy(after["steps"]["shell"])
    extra.update(
        name="extra",
        internal_name="extra",
        status="FAIL",
        message="shell command exited with code 3",
        user_defined_metrics={},
    )
    extra["attempts"][0].update(status="FAIL", message="shell command exited with code 3")
    after["steps"] = {k: v for k, v in after["steps"].items() if k != "success"}
    after["steps"]["extra"] = extra
    after["steps"]["fail"] = {
        **copy.deepcopy(before["steps"]["success"]),
        "name": "fail",
        "internal_name": "fail",
        "step_type": "fail",
    }

    def shift(text: str, seconds: float) -> str:
        return str(datetime.fromisoformat(text) + timedelta(seconds=seconds))

    for step in after["steps"].values():
        for ident in step["code_identities"]:
            ident.update(
                code_identifier=COMMIT_B,
                code_identifier_dependable=False,
                code_identifier_message="changes found in train.py",
            )
        for attempt in step["attempts"]:
            slow = 4.0 if step["name"] == "greet" else 0.0
            attempt["start_time"] = shift(attempt["start_time"], 3600)
            attempt["end_time"] = shift(attempt["end_time"], 3600 + slow)
    after["run_config"]["process"]["started_at"] = shift(before["run_config"]["process"]["started_at"], 3600)
    for log in (before, after):
        (store / f"{log['run_id']}.json").write_text(json.dumps(log, indent=1))
    return "before", "after"


def write_many_runs(store: Path, count: int = 40) -> list[str]:
    """`count` runs of the getting-started example an hour apart, of two pipelines and three tags, every
    seventh failed, every eleventh interrupted (a dead process), one broken log; returns their ids."""
    import json
    import os
    from datetime import datetime, timedelta

    base = json.loads((WORKBENCH / "getting-started.json").read_text())
    started = datetime.fromisoformat(base["run_config"]["process"]["started_at"])
    ids = []
    for i in range(count):
        log = json.loads(json.dumps(base))
        run_id = f"2026112{i % 5}-{i:03d}"
        shift = timedelta(hours=i)
        log["run_id"], log["tag"] = run_id, ("baseline", "sweep", "")[i % 3]
        log["run_config"]["dag_file"] = "train.yaml" if i % 2 else "examples/getting-started.yaml"
        log["run_config"]["process"]["started_at"] = str(started + shift)
        if i % 7 == 3:
            log["status"] = "FAIL"
            log["steps"]["shell"]["status"] = "FAIL"
            log["steps"]["shell"]["message"] = "ValueError: score below threshold"
        if i % 11 == 5:
            log["status"] = "PROCESSING"
            log["run_config"]["process"].update(pid=2**22 + 7, host="elsewhere.invalid")
        for step in log["steps"].values():
            for attempt in step["attempts"]:
                attempt["start_time"] = str(datetime.fromisoformat(attempt["start_time"]) + shift)
                attempt["end_time"] = str(
                    datetime.fromisoformat(attempt["end_time"]) + shift + i * timedelta(seconds=0.5)
                )
        (store / f"{run_id}.json").write_text(json.dumps(log))
        ids.append(run_id)
    broken = store / "zz-broken.json"
    broken.write_text('{"run_id": "zz-broken", "steps": {')
    # a broken log has no start: it is listed by its file's time, kept at the time the pictures were drawn
    # (a day after the first run) so that the list's order is the same on any day: written now, it came
    # first in every list once the runs' days had passed (CI, session 12)
    drawn = (started + timedelta(hours=16.5)).timestamp()
    os.utime(broken, (drawn, drawn))
    return ids


def stop_magnus_clock(monkeypatch, at: float) -> None:
    """magnus's clock (models.times: the current time, a running run's time so far) stopped at `at`
    (seconds since the epoch) for the rest of the test: a picture of a list holding a running run is the
    same on any day. (write_many_runs' running runs began a day after its first run; with the clock at
    that first run they read `<10s` so far. The clock running, the picture changed once the day they
    began had passed: CI, session 12.)"""
    import time

    from magnus_core.models import times

    class _Stopped:
        def __getattr__(self, name: str):
            return getattr(time, name)

        def time(self) -> float:
            return at

    monkeypatch.setattr(times, "_time", _Stopped())
    monkeypatch.setattr(times, "_clock", lambda: at)  # (the clock magnus binds at import)


def many_runs_began() -> float:
    """When write_many_runs' first run began (seconds since the epoch)."""
    import json
    from datetime import datetime

    base = json.loads((WORKBENCH / "getting-started.json").read_text())
    return datetime.fromisoformat(base["run_config"]["process"]["started_at"]).timestamp()


WAIT = 30.0  # seconds: the longest a test waits for the workbench (a loaded CI machine; quiet: tenths)
RUN_WAIT = 90.0  # for a `magnus execute` the workbench launched: its start-up alone took tens of s at load 13


async def wait_for(pilot, condition, timeout: float = WAIT, what: str = "the screen", why=None) -> None:
    """Pause (20 ms at a time) until `condition()` holds. After `timeout` seconds fail, naming `what` was
    awaited and, when given, `why()`: what the app says it still lacks (RunScreen.tabs_missing)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            lacking = f": {why()}" if why is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{lacking}")
        await pilot.pause(0.02)


async def run_screen_ready(pilot, timeout: float = WAIT):
    """The run screen on top, once it is ready (its tabs mounted, showing their first tab and the selected
    step) with its dag drawn; a timeout says what it lacked. Returns the screen."""
    from magnus_tui.screens.run import RunScreen

    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout, "a run screen")
    screen = app.screen
    await wait_for(
        pilot,
        lambda: screen.ready and bool(screen.query_one("#dag").lines),
        timeout,
        f"run screen {screen.run_id} to be ready",
        why=lambda: screen.tabs_missing() or "its dag has no lines",
    )
    return screen


async def open_run_screen(pilot, run_id: str, timeout: float = WAIT):
    """Open run `run_id` (as a click on the runs list does) and return its screen once it is ready."""
    pilot.app.open_run(run_id)
    return await run_screen_ready(pilot, timeout)


async def leave_screen(pilot, key: str = "escape") -> None:
    """Press `key` on the screen on top and wait until that screen is off the stack. A pilot's press returns
    once the widgets have handled what was queued when it looked, which on a loaded machine can be before the
    key has bubbled up to the screen's binding: a screen the test opened next would be the one closed."""
    app = pilot.app
    screen = app.screen
    await pilot.press(key)
    await wait_for(
        pilot, lambda: screen not in app.screen_stack, what=f"{type(screen).__name__} to close on {key}"
    )


def tables_settled(app) -> str:
    """ "" once every DataTable on the screen has measured what it holds and the screen has drawn it, else
    what is pending. A DataTable widens its columns to new rows when its queue is idle (Textual's
    DataTable._on_idle) and the screen draws that at its next refresh: a picture taken in between shows the
    attempts' header at its labels' width over rows sized for their times (a loaded machine, s6-deflake)."""
    from textual.widgets import DataTable

    screen = app.screen
    for table in screen.query(DataTable):
        if table._updated_cells or table._new_rows or table._require_update_dimensions:
            return f"#{table.id} has not measured its new rows yet"
    if screen._layout_required or screen._repaint_required or screen._dirty_widgets:
        return "the screen has not drawn its last changes yet"
    return ""


async def keys_handled(pilot, timeout: float = WAIT) -> None:
    """Wait until no key event is queued anywhere in the app (a key travels from the app to the focused
    widget and bubbles up its parents, one message queue after another, to the binding that acts on it)."""
    from textual import events

    await events_handled(pilot, (events.Key,), timeout)


async def clicks_handled(pilot, timeout: float = WAIT) -> None:
    """Wait until no mouse event is queued anywhere in the app: a click goes to the widget under the
    pointer and bubbles up its parents (a row's click to its list, then to the screen), one queue after
    another, as a key does (keys_handled)."""
    from textual import events

    await events_handled(pilot, (events.MouseEvent,), timeout)


async def events_handled(pilot, kinds: tuple[type, ...], timeout: float = WAIT) -> None:
    """Wait until no event of `kinds` is queued anywhere in the app (each node's queue, and a message one
    has peeked at), letting the screen handle what is queued between looks."""
    import time

    app = pilot.app
    deadline = time.monotonic() + timeout

    def queued() -> list[str]:
        waiting = []
        for node in [app, *app._registry]:
            messages = [*node._message_queue.values, node._pending_message]  # (a message peeked at: pending)
            waiting += [
                f"{getattr(message, 'key', type(message).__name__)} at {node!r}"
                for message in messages
                if isinstance(message, kinds)
            ]
        return waiting

    while waiting := queued():
        if time.monotonic() > deadline:
            raise AssertionError(f"events not handled after {timeout:g} s: {', '.join(waiting)}")
        await pilot._wait_for_screen()
