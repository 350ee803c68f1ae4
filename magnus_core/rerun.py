"""Re-runs (`--use-cached`): steps that succeeded in the original run are copied, not executed.

Placeholder: the behaviour is built with the data catalog and secrets (issue 4).
"""

from __future__ import annotations

from typing import Any

from magnus_core.models.run_log import StepLog


def reuse_step(node: Any, name: str, internal_name: str, ctx: Any, branch: str | None) -> StepLog | None:
    """The original run's step log copied with mock=true when the step may be reused, else None."""
    return None
