"""Starting a run from the workbench: prepare, ask for missing secrets, execute in a worker thread.

The UI thread never waits on the run: events reach the run screen through a LiveRun, a secret the run
needs is asked for with a modal whose answer resolves a future the worker waits on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from magnus_core.errors import MagnusError
from magnus_core.events import RUN_UPDATED, RunEvent
from magnus_tui.dialogs.secret import SecretBroker
from magnus_tui.live import LiveRun

if TYPE_CHECKING:
    from magnus_core.runner import PreparedRun, RunRequest
    from magnus_tui.app import MagnusApp


def missing_secrets(prepared: PreparedRun) -> list[str]:
    """Secrets the pipeline declares that the provider does not have."""
    from magnus_core.secrets import missing_secrets as missing

    return missing(prepared.pipeline.dag, prepared.secrets)


def run_in_worker(app: MagnusApp, request: RunRequest) -> None:
    """Body of the thread worker that owns one run from prepare to its last event."""
    from magnus_core.runner import execute, prepare

    try:
        prepared = prepare(request, cwd=app.project.root)
    except MagnusError as exc:
        app.call_from_thread(app.start_failed, str(exc))
        return
    broker = SecretBroker(app, prepared.run_id)
    try:
        names = missing_secrets(prepared)
    except MagnusError as exc:
        app.call_from_thread(app.start_failed, str(exc))
        return
    for name in names:
        value = broker(name)
        if value is None:
            app.call_from_thread(app.start_failed, f"run not started: secret '{name}' was not given")
            return
        prepared.secrets.overrides[name] = value
    # a step asking for a secret the provider lacks gets the same prompt, while the run waits
    prepared.secrets.prompt = broker
    live = LiveRun(prepared.run_id, prepared.store)
    app.live[prepared.run_id] = live
    app.call_from_thread(app.show_started, prepared.run_id)
    status = "FAIL"
    try:
        # Steps' output is kept per attempt in the run's catalog (magnus_core.logs reads it); the terminal
        # is Textual's, so the copy that streams to a terminal in `magnus execute` goes nowhere here.
        with open(os.devnull, "w", encoding="utf-8") as output:
            final = execute(prepared, output=output, on_event=live.emit)
        status = final.status
        live.result = final
    except MagnusError as exc:
        live.error = str(exc)
    except Exception as exc:
        live.error = f"{exc.__class__.__name__}: {exc}"
    finally:
        live.done = True
        live.emit(RunEvent(kind=RUN_UPDATED, run_id=prepared.run_id, status=status))
        app.call_from_thread(app.run_finished, prepared.run_id, status, live.error)
