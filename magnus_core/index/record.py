"""What a run index keeps of one run: its summary row and its final parameters and metrics.

Extracted from the run log's JSON form (a dict), so an index can be built from raw JSON without validating
every log through the models (the cold build of 20,000 runs costs about one `json.load` of each). Anything
that is not shaped like a run log raises ValueError; the caller then reads the log the slow, exact way to
get the precise error, and lists it as broken.

Metric names (documented in docs/experiments.md):
- `name`: the run's metric, the value recorded by the last step (in execution order: the order of the run
  log's steps, nested branch steps depth first) that tracked `name`;
- `<internal_name>.<name>`: one step's value, by the step's internal name (`train.auc`,
  `parallel.branch_a.fit.loss`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from magnus_core.models.run_log import PROCESSING, SUCCESS, seconds_between, time_key

RUNNING_STATUSES = (PROCESSING, "CREATED")


@dataclass
class RunRecord:
    """One run as an index keeps it. Times are the run log's strings (local time); duration in seconds."""

    run_id: str
    status: str
    tag: str = ""
    pipeline: str = ""
    dag_hash: str = ""
    start: str = ""
    end: str = ""
    duration: float | None = None
    steps: int = 0
    steps_done: int = 0
    original_run_id: str = ""
    commit: str = ""
    dirty: bool | None = None
    use_cached: bool = False
    pid: int | None = None
    host: str = ""
    error: str = ""  # why a broken log could not be read (status BROKEN)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def broken(run_id: str, error: str) -> RunRecord:
    return RunRecord(run_id=run_id, status="BROKEN", error=error)


def _walk(steps: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(steps, dict):
        raise ValueError("'steps' is not a mapping")
    for step in steps.values():
        if not isinstance(step, dict):
            raise ValueError("a step log is not a mapping")
        for key in ("name", "internal_name"):  # what the model requires of every step log
            if not isinstance(step.get(key), str):
                raise ValueError(f"a step log's '{key}' is not a string")
        if not isinstance(step.get("status", ""), str):
            raise ValueError("a step log's 'status' is not a string")
        for key in ("attempts", "code_identities", "data_catalog"):
            if not isinstance(step.get(key, []), list):
                raise ValueError(f"a step log's '{key}' is not a list")
        yield step
        branches = step.get("branches") or {}
        if not isinstance(branches, dict):
            raise ValueError("'branches' is not a mapping")
        for branch in branches.values():
            if not isinstance(branch, dict):
                raise ValueError("a branch log is not a mapping")
            yield from _walk(branch.get("steps") or {})


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' is not a string")
    return value


def record_from_json(data: Any) -> RunRecord:
    """The record of a run log given as its JSON dict; ValueError if it is not shaped like one."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    run_id = data.get("run_id")
    if not isinstance(run_id, str):
        raise ValueError("'run_id' is not a string")
    config = data.get("run_config") or {}
    if not isinstance(config, dict):
        raise ValueError("'run_config' is not a mapping")
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise ValueError("'parameters' is not a mapping")
    first = last = ""
    first_key = last_key = float("-inf")
    steps = done = 0
    commit = ""
    dirty: bool | None = None
    metrics: dict[str, Any] = {}
    for step in _walk(data.get("steps") or {}):
        steps += 1
        if step.get("status") == SUCCESS:
            done += 1
        for attempt in step.get("attempts") or ():
            if not isinstance(attempt, dict):
                raise ValueError("an attempt is not a mapping")
            start, end = attempt.get("start_time") or "", attempt.get("end_time") or ""
            if start:  # by true time: times carry their UTC offset (or none, read as local time)
                key = time_key(start)
                if not first or key < first_key:
                    first, first_key = start, key
            if end:
                key = time_key(end)
                if not last or key > last_key:
                    last, last_key = end, key
        if not commit:
            for identity in step.get("code_identities") or ():
                if isinstance(identity, dict) and identity.get("code_identifier"):
                    commit = str(identity["code_identifier"])
                    dependable = identity.get("code_identifier_dependable")
                    dirty = None if dependable is None else not bool(dependable)
                    break
        tracked = step.get("user_defined_metrics") or {}
        if not isinstance(tracked, dict):
            raise ValueError("'user_defined_metrics' is not a mapping")
        internal = str(step.get("internal_name") or step.get("name") or "")
        for name, value in tracked.items():
            metrics.pop(name, None)  # the last step to track it wins, and its place is now
            metrics[name] = value
            metrics[f"{internal}.{name}"] = value
    process = config.get("process") if isinstance(config.get("process"), dict) else {}
    started = str(process.get("started_at") or "") if process else ""
    start = started or first
    duration = seconds_between(start, last) if start and last else None
    pid = process.get("pid") if process else None
    return RunRecord(
        run_id=run_id,
        status=_text(data.get("status"), "status") or "FAIL",
        tag=_text(data.get("tag"), "tag"),
        pipeline=str(config.get("dag_file") or ""),
        dag_hash=_text(data.get("dag_hash"), "dag_hash"),
        start=start,
        end=last,
        duration=duration,
        steps=steps,
        steps_done=done,
        original_run_id=_text(data.get("original_run_id"), "original_run_id"),
        commit=commit,
        dirty=dirty,
        use_cached=bool(data.get("use_cached")),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        host=str(process.get("host") or "") if process else "",
        params=dict(params),
        metrics=metrics,
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_columns(value: Any) -> tuple[float | None, str, str]:
    """(number or None, text, json) of a recorded value: numbers compare as numbers; strings as they are;
    anything else (booleans, lists, mappings, null) as its JSON text."""
    if is_number(value):
        text = repr(value) if isinstance(value, float) else str(value)
        return float(value), text, json.dumps(value)
    encoded = json.dumps(value, default=str, ensure_ascii=False, allow_nan=True)
    if isinstance(value, str):
        return None, value, encoded
    return None, encoded, encoded
