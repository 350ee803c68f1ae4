"""command_type notebook: an .ipynb executed with papermill (optional extra `magnus[notebook]`)."""

from __future__ import annotations

from typing import Any

from magnus_core.errors import NotBuiltError
from magnus_core.interaction import StepScope


def run(command: str, command_config: dict[str, Any], scope: StepScope, ctx: Any) -> None:
    raise NotBuiltError("notebook tasks are not built yet (issue: data catalog, secrets, re-runs and notebooks)")
