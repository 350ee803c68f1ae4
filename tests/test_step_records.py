"""The step log and attempt records the engine makes without validating again (nodes.common, issue 19)
are the objects pydantic's validation makes from the same values: fields, the set of fields given, extra
fields, JSON; values of other types still go through the models."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from magnus_core.models.run_log import (
    FAIL,
    PROCESSING,
    SUCCESS,
    AttemptError,
    AttemptOutput,
    CodeIdentity,
    StepAttempt,
    StepLog,
    now,
)
from magnus_core.nodes import common


def _same(made: Any, validated: Any) -> None:
    assert made.__class__ is validated.__class__
    assert made.__dict__ == validated.__dict__ and list(made.__dict__) == list(validated.__dict__)
    assert made.model_fields_set == validated.model_fields_set
    assert made.__pydantic_extra__ == validated.__pydantic_extra__ == {}
    assert made.model_dump_json(indent=4) == validated.model_dump_json(indent=4)


def test_a_new_step_log_is_what_validation_makes() -> None:
    start = now()
    identity = CodeIdentity(code_identifier="abc")
    ctx = SimpleNamespace(code_identity=identity, clock=lambda: start)
    for kind, recorded in (("task", "task"), ("stub", "as-is"), ("map", "map")):
        made = common.new_step_log(SimpleNamespace(type=kind), "s", "b.s", ctx)  # type: ignore[arg-type]
        validated = StepLog(
            name="s",
            internal_name="b.s",
            status=PROCESSING,
            step_type=recorded,
            code_identities=[identity],
            start_time=start,
        )
        _same(made, validated)
        made.attempts.append(StepAttempt())  # containers of its own, not shared between steps
        assert common.new_step_log(SimpleNamespace(type=kind), "s", "b.s", ctx).attempts == []  # type: ignore[arg-type]


def test_an_attempt_is_what_validation_and_assignment_make() -> None:
    start = now()
    end = start + timedelta(seconds=2)
    error = AttemptError(type="KeyError", message="'z'")
    output = AttemptOutput(name="o", size=1)
    for keywords in (
        {},
        {"error": None, "output": output},
        {"parameters": {"x": 1}, "error": error, "output": None},
    ):
        made = common.attempt(1, start, end, FAIL, "bad", **keywords)
        validated = StepAttempt(
            attempt_number=1,
            start_time=start,
            end_time=end,
            duration=str(end - start),
            status=FAIL,
            message="bad",
        )
        for key, value in keywords.items():
            setattr(validated, key, value)
        _same(made, validated)


def test_values_of_other_types_go_through_the_models() -> None:
    naive = datetime(2026, 3, 29, 1, 59, 59)  # a clock giving naive times: validation makes them aware
    made = common.attempt(0, naive, naive, SUCCESS)
    assert made.start_time is not None and made.start_time.tzinfo is not None
    ctx = SimpleNamespace(code_identity=CodeIdentity(), clock=lambda: naive)
    step = common.new_step_log(SimpleNamespace(type="task"), "s", "s", ctx)  # type: ignore[arg-type]
    assert step.start_time is not None and step.start_time.tzinfo is not None
    numbered = common.attempt(True, now(), now(), SUCCESS)  # (a bool is validated into the int it is)
    assert numbered.attempt_number == 1 and numbered.attempt_number.__class__ is int
