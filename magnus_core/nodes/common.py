"""What every node type shares: making its step log and timing an attempt."""

from __future__ import annotations

from typing import Any

from magnus_core.models.run_log import PROCESSING, StepAttempt, StepLog


def new_step_log(node: Any, name: str, internal_name: str, ctx: Any) -> StepLog:
    return StepLog(
        name=name,
        internal_name=internal_name,
        status=PROCESSING,
        step_type="as-is" if node.type == "stub" else node.type,
        code_identities=[ctx.code_identity.model_copy()],
    )


def attempt(number: int, start: Any, end: Any, status: str, message: str = "") -> StepAttempt:
    return StepAttempt(
        attempt_number=number,
        start_time=str(start),
        end_time=str(end),
        duration=str(end - start),
        status=status,
        message=message,
    )
