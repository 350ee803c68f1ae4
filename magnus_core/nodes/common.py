"""What every node type shares: making its step log and timing an attempt."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from magnus_core.models.run_log import PROCESSING, StepAttempt, StepLog

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.models.pipeline import Node


def new_step_log(node: Node, name: str, internal_name: str, ctx: RunContext) -> StepLog:
    return StepLog(
        name=name,
        internal_name=internal_name,
        status=PROCESSING,
        step_type="as-is" if node.type == "stub" else node.type,
        # one identity object shared by every step of the run: nothing changes one in place (masking and
        # the store copy what they change), and a copy per step cost as much as the rest of this function
        code_identities=[ctx.code_identity],
        start_time=ctx.clock(),  # the first attempt's start, while it runs (running_attempt)
    )


def attempt(number: int, start: datetime, end: datetime, status: str, message: str = "") -> StepAttempt:
    """An attempt record; `start` and `end` are datetimes from the run's clock (aware: models.run_log.now),
    so `duration` is true elapsed time even across a daylight-saving change."""
    return StepAttempt(
        attempt_number=number,
        start_time=start,
        end_time=end,
        duration=str(end - start),
        status=status,
        message=message,
    )
