"""The runs in a store, summarised: what `magnus runs` and the workbench's runs screen list."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from typing import Any

from magnus_core.models.run_log import PROCESSING, RunLog
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
    steps_done: int = 0  # step logs whose status is SUCCESS
    pipeline: str = ""  # the pipeline file (run_config.dag_file; "" in the original tool's logs)
    dag_hash: str = ""
    commit: str = ""  # the git commit of the code (the first step's code identity)
    dirty: bool | None = None  # uncommitted changes in the working tree (None: not known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def process_alive(log: RunLog) -> bool | None:
    """Whether the process writing this run is still alive (None: unknown, e.g. another host)."""
    proc = log.run_config.get("process") if isinstance(log.run_config, dict) else None
    if not isinstance(proc, dict) or "pid" not in proc:
        return None
    return process_alive_at(proc.get("pid"), proc.get("host"))


def process_alive_at(pid: Any, host: Any) -> bool | None:
    """Whether process `pid` on `host` is alive: None when it cannot be known (another host, no pid)."""
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
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
    """The summary of one run log (what the run index keeps of it, index/record.py)."""
    from magnus_core.index.record import record_from_json

    record = record_from_json(log.model_dump(mode="json"))
    return RunSummary(
        run_id=record.run_id,
        status=record.status,
        state=run_state(log),
        tag=record.tag,
        start=record.start,
        end=record.end,
        duration=record.duration,
        steps=record.steps,
        original_run_id=record.original_run_id,
        steps_done=record.steps_done,
        pipeline=record.pipeline,
        dag_hash=record.dag_hash,
        commit=record.commit,
        dirty=record.dirty,
    )


def list_runs(
    store: RunLogStore, *, tag: str | None = None, status: str | None = None, limit: int | None = None
) -> list[RunSummary]:
    """Every run in the store, newest first; a log that cannot be read is listed as BROKEN with the reason.

    Answered by the run index (magnus_core/index), which reads only logs it has not seen or that changed.
    """
    from magnus_core.index import RunQuery, open_index

    index = open_index(store)
    try:
        result = index.query(RunQuery(tag=tag, status=status, limit=limit))
    finally:
        index.close()
    return [run.summary for run in result.runs]


def store_from_config(config_file: str | None = None) -> RunLogStore:
    """The run-log store the configuration names (defaults < magnus-config.yaml < --config-file)."""
    from magnus_core.loading import load_config
    from magnus_core.stores import make_store

    return make_store(load_config(config_file, None)["run_log_store"])
