"""What every node type shares: making its step log and timing an attempt."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from magnus_core.models.run_log import (
    PROCESSING,
    CodeIdentity,
    StepAttempt,
    StepLog,
    assembled,
    fields_as_listed,
)

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.models.pipeline import Node

# A step log and an attempt record are made from values magnus itself made (names from the loaded pipeline,
# aware times from the run's clock, its statuses): when every value is of the type the model holds, the
# object is made as pydantic's validation would make it (the same fields, the same set of fields given),
# without validating again (models.run_log.assembled): two per step run (issue 19). Anything else goes
# through the models.
_UNSET: Any = object()  # attempt()'s keywords not given


def _aware(value: Any) -> bool:
    return value.__class__ is datetime and value.tzinfo is not None


def new_step_log(node: Node, name: str, internal_name: str, ctx: RunContext) -> StepLog:
    step_type = "as-is" if node.type == "stub" else node.type
    # one identity object shared by every step of the run: nothing changes one in place (masking and
    # the store copy what they change), and a copy per step cost as much as the rest of this function
    identity = ctx.code_identity
    start = ctx.clock()  # the first attempt's start, while it runs (running_attempt)
    if (
        name.__class__ is str
        and internal_name.__class__ is str
        and step_type.__class__ is str
        and identity.__class__ is CodeIdentity
        and _aware(start)
        and fields_as_listed()
    ):
        fields = {
            "name": name,
            "internal_name": internal_name,
            "status": PROCESSING,
            "step_type": step_type,
            "message": "",
            "mock": False,
            "code_identities": [identity],
            "attempts": [],
            "user_defined_metrics": {},
            "branches": {},
            "data_catalog": [],
            "metric_history": {},
            "returned_parameters": {},
            "masked_parameters": [],
            "start_time": start,
            "process": None,
        }
        given = {"name", "internal_name", "status", "step_type", "code_identities", "start_time"}
        made: StepLog = assembled(StepLog, fields, given)
        return made
    return StepLog(
        name=name,
        internal_name=internal_name,
        status=PROCESSING,
        step_type=step_type,
        code_identities=[identity],
        start_time=start,
    )


def attempt(
    number: int,
    start: datetime,
    end: datetime,
    status: str,
    message: str = "",
    *,
    parameters: Any = _UNSET,
    error: Any = _UNSET,
    output: Any = _UNSET,
) -> StepAttempt:
    """An attempt record; `start` and `end` are datetimes from the run's clock (aware: models.run_log.now),
    so `duration` is true elapsed time even across a daylight-saving change. `parameters` (what the
    attempt's command received), `error` and `output` are set as assigning them after would set them."""
    extra = {
        key: value
        for key, value in (("parameters", parameters), ("error", error), ("output", output))
        if value is not _UNSET
    }
    if (
        number.__class__ is int
        and _aware(start)
        and _aware(end)
        and status.__class__ is str
        and message.__class__ is str
        and fields_as_listed()
    ):
        fields = {
            "attempt_number": number,
            "start_time": start,
            "end_time": end,
            "duration": str(end - start),
            "status": status,
            "message": message,
            "parameters": None,
            "error": None,
            "output": None,
        }
        given = {"attempt_number", "start_time", "end_time", "duration", "status", "message"}
        if extra:  # (an assignment keeps any value as it is, and counts the field as given)
            fields.update(extra)
            given.update(extra)
        made: StepAttempt = assembled(StepAttempt, fields, given)
        return made
    record = StepAttempt(
        attempt_number=number,
        start_time=start,
        end_time=end,
        duration=str(end - start),
        status=status,
        message=message,
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record
