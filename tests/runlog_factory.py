"""Small run logs written straight into a file-system store folder, for index, query and compare tests.

Each log is what `magnus execute` writes (validated by the RunLog model), with the steps, parameters and
metrics a test names; writing JSON directly keeps stores of dozens of runs fast to make.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from magnus_core.models.run_log import RunLog

BASE = datetime(2026, 1, 1, 10, 0, 0)


def make_log(
    run_id: str,
    *,
    minute: int = 0,
    tag: str = "",
    status: str = "SUCCESS",
    params: dict[str, Any] | None = None,
    metrics: dict[str, dict[str, Any]] | None = None,
    history: dict[str, dict[str, list[float]]] | None = None,
    pipeline: str = "train.yaml",
    commit: str = "c0ffee",
    dirty: bool = False,
) -> dict[str, Any]:
    """A run log: one task step per entry of `metrics` ({step: {name: value}}), in that order, then
    success; `history` gives a step's series ({step: {name: [v1, v2, ...]}}, steps numbered from 1)."""
    start = BASE + timedelta(minutes=minute)
    steps: dict[str, Any] = {}
    metrics = metrics if metrics is not None else {"train": {}}
    history = history or {}
    t = start
    for name in [*metrics, *(h for h in history if h not in metrics)]:
        end = t + timedelta(seconds=2)
        step: dict[str, Any] = {
            "name": name,
            "internal_name": name,
            "status": "SUCCESS" if status == "SUCCESS" else status,
            "step_type": "task",
            "message": "",
            "mock": False,
            "code_identities": [
                {
                    "code_identifier": commit,
                    "code_identifier_type": "git",
                    "code_identifier_dependable": not dirty,
                    "code_identifier_url": "",
                    "code_identifier_message": "",
                }
            ],
            "attempts": [
                {
                    "attempt_number": 0,
                    "start_time": str(t),
                    "end_time": str(end),
                    "duration": str(end - t),
                    "status": "SUCCESS",
                    "message": "",
                }
            ],
            "user_defined_metrics": dict(metrics.get(name, {})),
            "branches": {},
            "data_catalog": [],
        }
        if name in history:
            step["metric_history"] = {
                metric: [{"step": i + 1, "value": v, "time": str(t)} for i, v in enumerate(values)]
                for metric, values in history[name].items()
            }
            for metric, values in history[name].items():
                step["user_defined_metrics"].setdefault(metric, values[-1])
        steps[name] = step
        t = end
    data = {
        "run_id": run_id,
        "dag_hash": "d" * 40,
        "use_cached": False,
        "tag": tag,
        "original_run_id": "",
        "status": status,
        "steps": steps,
        "parameters": dict(params or {}),
        "run_config": {
            "dag_file": pipeline,
            "process": {"started_at": str(start), "pid": 1, "host": "elsewhere"},
        },
    }
    RunLog.model_validate(data)  # a real run log
    return data


def write_log(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['run_id']}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def store_config(tmp_path: Path, folder: Path) -> Path:
    """A config file naming `folder` as a file-system store."""
    cfg = tmp_path / "store.yaml"
    cfg.write_text(f"run_log_store:\n  type: file-system\n  config:\n    log_folder: {folder}\n")
    return cfg
