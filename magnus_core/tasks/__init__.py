"""Command types: how a task's `command` runs. One module each; chosen by `command_type`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magnus_core.interaction import StepScope

if TYPE_CHECKING:
    from magnus_core.context import RunContext

TaskRunner = Callable[[str, dict[str, Any], StepScope, "RunContext"], None]

BUILTIN = {
    "python": "magnus_core.tasks.python:run",
    "shell": "magnus_core.tasks.shell:run",
    "python-lambda": "magnus_core.tasks.lambda_:run",
    "notebook": "magnus_core.tasks.notebook:run",
}


_RUNNERS: dict[str, TaskRunner] = {}


def runner_for(command_type: str) -> TaskRunner:
    """The function that runs commands of this type: run(command, command_config, scope, ctx)."""
    found = _RUNNERS.get(command_type)
    if found is None:
        module, _, attr = BUILTIN[command_type].partition(":")
        found = _RUNNERS[command_type] = getattr(importlib.import_module(module), attr)
    return found
