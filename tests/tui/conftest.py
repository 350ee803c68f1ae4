"""Workbench fixtures: a project folder with a file-system store holding the original tool's run logs."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import RUN_LOGS


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The start form remembers values in $XDG_STATE_HOME/magnus: a folder of the test's, never the user's."""
    folder = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_run_outlives_its_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every `magnus execute` a test starts from the workbench (launcher.launch) is killed when the test
    ends, however it ends: a launched run is in a session of its own by design, so nothing else would stop
    one a failed test left waiting for its file."""
    import os
    import signal

    from magnus_tui import launcher

    started: list[Any] = []
    launch = launcher.launch

    def recorded(*args: Any, **kwargs: Any) -> Any:
        launched = launch(*args, **kwargs)
        started.append(launched)
        return launched

    monkeypatch.setattr(launcher, "launch", recorded)
    yield started
    for launched in started:
        process = launched.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # its steps' processes too (its own session)
            process.wait(10)


@pytest.fixture(autouse=True)
def presses_are_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pilot.press` returns once every key it pressed has been handled. Textual's press waits until the
    widgets have processed what was queued when it looked; a key still bubbling from the focused widget up
    to the screen's binding is not among that on a loaded machine, so the key's action came after the test's
    next step (CI: an escape meant to close one run screen closed the next one the test had opened)."""
    from textual.pilot import Pilot
    from tui_helpers import keys_handled

    press = Pilot.press

    async def handled(self: Pilot, *keys: str) -> None:
        await press(self, *keys)
        await keys_handled(self)

    monkeypatch.setattr(Pilot, "press", handled)


@pytest.fixture(autouse=True)
def clicks_are_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pilot.click` returns once its click has been handled, as `press` does for keys
    (presses_are_handled): Textual's click waits for what was queued when it looked, then for the process
    to look idle; a click still bubbling from the row it hit up to its list or screen, queued behind a
    slow message there, was not among that, and the test's next step came first."""
    from textual.pilot import Pilot
    from tui_helpers import clicks_handled

    click = Pilot.click

    async def handled(self: Pilot, *args: Any, **kwargs: Any) -> bool:
        hit: bool = await click(self, *args, **kwargs)
        await clicks_handled(self)
        return hit

    monkeypatch.setattr(Pilot, "click", handled)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose `.run_log_store/` holds the four run logs made by magnus 0.3.12; it is the cwd."""
    store = tmp_path / ".run_log_store"
    store.mkdir()
    for log in RUN_LOGS.glob("*.json"):
        shutil.copy(log, store / log.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@pytest.fixture
def make_app(project_dir: Path):
    """Build the real app over the project folder (config read from it like `magnus tui` does)."""
    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    def make(**kwargs):
        return MagnusApp(Project.open(None, project_dir), **kwargs)

    return make


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests here with asyncio.run (no pytest-asyncio needed for Pilot tests)."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True
