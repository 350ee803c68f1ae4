"""Executors: how a dag's nodes get run. Chosen by the config's `executor.type` (or `mode.type`) among the
entry points of the group `magnus.executor` (pyproject.toml lists the built-in ones)."""

from __future__ import annotations

from typing import Any

from magnus_core.executors.base import Executor
from magnus_core.registry import load_provider

__all__ = ["Executor", "make_executor"]


def make_executor(block: dict[str, Any]) -> Executor:
    """The executor a config block names; ConfigError for an unknown type or a bad option."""
    executor: Executor = load_provider("executor", block)
    return executor
