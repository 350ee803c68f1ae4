"""Executors: how a dag's nodes get run. Chosen by the config's `executor.type` (or `mode.type`)."""

from __future__ import annotations

from typing import Any

from magnus_core.registry import load_provider

BUILTIN = {
    "local": "magnus_core.executors.local:LocalExecutor",
    "argo": "magnus_core.executors.argo:ArgoExecutor",
    "dask": "magnus_core.executors.dask:DaskExecutor",
}


def make_executor(block: dict[str, Any]) -> Any:
    return load_provider("executor", BUILTIN, block)
