"""The runs in a store, summarised: what `magnus runs` and the workbench's runs screen list."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from typing import Any

from magnus_core.errors import MagnusError
from magnus_core.models.run_log import PROCESSING, RunLog, seconds_between, time_key, time_span
from magnus_core.stores.base import RunLogStore


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    run_id: str
    status: str  # as recorded, or BROKEN when the log cannot be read
    state: str  # what it means now: SUCCESS, FAIL, RUNNING, INTERRUPTED (killed), BROKEN
    tag: str = ""
    start: str = ""
    end: str = ""
    duration: float | None = None
    steps: int = 0
    original_run_id: str = ""
    error: str = ""  # why a broken log could not be read

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _times(log: RunLog) -> tuple[str, str]:
    first, last = time_span(attempt for step in log.walk() for attempt in step.attempts)
    started = (
        str(log.run_config.get("process", {}).get("started_at", ""))
        if isinstance(log.run_config.get("process"), dict)
        else ""
    )
    return started or first, last


def process_alive(log: RunLog) -> bool | None:
    """Whether the process writing this run is still alive (None: unknown, e.g. another host)."""
    proc = log.run_config.get("process") if isinstance(log.run_config, dict) else None
    if not isinstance(proc, dict) or "pid" not in proc:
        return None
    if proc.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(proc["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return None
    return True


def run_state(log: RunLog) -> str:
    """SUCCESS/FAIL/INTERRUPTED as recorded; PROCESSING is RUNNING if its process lives, else INTERRUPTED."""
    if log.status in (PROCESSING, "CREATED"):
        alive = process_alive(log)
        return "INTERRUPTED" if alive is False else "RUNNING"
    return log.status


def summarise(log: RunLog) -> RunSummary:
    start, end = _times(log)
    duration = seconds_between(start, end)
    return RunSummary(
        run_id=log.run_id,
        status=log.status,
        state=run_state(log),
        tag=log.tag or "",
        start=start,
        end=end,
        duration=duration,
        steps=sum(1 for _ in log.walk()),
        original_run_id=log.original_run_id or "",
    )


def list_runs(
    store: RunLogStore, *, tag: str | None = None, status: str | None = None, limit: int | None = None
) -> list[RunSummary]:
    """Every run in the store, newest first; a log that cannot be read is listed as BROKEN with the reason."""
    out: list[RunSummary] = []
    for run_id in store.list_run_ids():
        try:
            summary = summarise(store.get_run(run_id))
        except MagnusError as exc:
            summary = RunSummary(run_id=run_id, status="BROKEN", state="BROKEN", error=str(exc))
        if tag is not None and summary.tag != tag:
            continue
        if status is not None and status.upper() not in (summary.status, summary.state):
            continue
        out.append(summary)
    out.sort(key=lambda s: (time_key(s.start), s.run_id), reverse=True)  # true time: zones differ
    return out[:limit] if limit else out


def store_from_config(config_file: str | None = None) -> RunLogStore:
    """The run-log store the configuration names (defaults < magnus-config.yaml < --config-file)."""
    from magnus_core.loading import load_config
    from magnus_core.stores import make_store

    return make_store(load_config(config_file, None)["run_log_store"])
