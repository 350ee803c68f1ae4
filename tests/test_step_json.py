"""A step log's JSON made in one pass (models.run_log.step_json, issue 19) must be, byte for byte, what the
models' serialiser gives: indented as the file-system store writes it, and compact without branches as the
chunked-fs store writes a step's part; for step logs of every shape (hypothesis), and for the unusual ones
the one pass leaves to the models (extra fields anywhere, a subclass, branch logs, values assigned after
validation, a value no serialiser can write)."""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticSerializationError

from magnus_core.models.run_log import (
    SUCCESS,
    AttemptError,
    AttemptOutput,
    BranchLog,
    CodeIdentity,
    DataCatalog,
    Frame,
    MetricPoint,
    StepAttempt,
    StepLog,
    fields_as_listed,
    now,
    step_json,
    step_plain,
)
from tests.test_run_log_text import NAMES, TEXT, VALUES, steps

EXAMPLES = int(os.environ.get("MAGNUS_RUN_LOG_EXAMPLES", "25"))


def same(step: StepLog) -> None:
    assert step_json(step) == step.model_dump_json(indent=4)
    assert step_json(step, indent=None, branches=False) == step.model_dump_json(exclude={"branches"})


@settings(max_examples=EXAMPLES * 4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step=steps("a.b"), identities=st.lists(st.builds(CodeIdentity, code_identifier=TEXT), max_size=2))
def test_any_step_log_is_written_as_the_models_write_it(
    step: StepLog, identities: list[CodeIdentity]
) -> None:
    step.code_identities = identities
    same(step)


def _usual() -> StepLog:
    start = now()
    return StepLog(
        name="train",
        internal_name="train",
        status=SUCCESS,
        code_identities=[CodeIdentity(code_identifier="abc", code_identifier_message="clean")],
        attempts=[
            StepAttempt(
                attempt_number=0,
                start_time=start,
                end_time=start + timedelta(seconds=1.5),
                duration="0:00:01.500000",
                status=SUCCESS,
                parameters={"x": 1, "é\n": [math.nan, math.inf, None, True, 1.5e300]},
                error=AttemptError(
                    type="KeyError",
                    message="'z'",
                    frames=[Frame(file="s.py", line=3)],
                    exit_code=None,
                    cell=2,
                    stderr=["Traceback (most recent call last):", "KeyError: 'z'"],
                ),
                output=AttemptOutput(name="o", size=3, sha256="ab", written=3),
            )
        ],
        user_defined_metrics={"auc": 0.5, "nan": math.nan},
        data_catalog=[DataCatalog(name="d.csv", data_hash="h", stage="put")],
        metric_history={"loss": [MetricPoint(step=1, value=0.25, time="t")]},
        returned_parameters={"n": 2},
        masked_parameters=["token"],
        start_time=start,
    )


def test_the_one_pass_knows_every_field_of_the_models() -> None:
    """A field added to a run-log model must be added to models.run_log's lists (and to step_plain, with the
    model's exclusion rule): until then every step log is written by the models, and made by validation
    (nodes.common), at twice the cost: this test says so."""
    assert fields_as_listed(), "a run-log model's fields differ from models.run_log's lists (STEP_FIELDS...)"


def test_the_usual_step_log_takes_the_one_pass_and_reads_the_same() -> None:
    step = _usual()
    assert step_plain(step) is not None
    same(step)
    bare = StepLog(name="s", internal_name="s")  # every optional field left out
    assert step_plain(bare) is not None
    same(bare)


@pytest.mark.parametrize(
    "change",
    [
        "extra on the step",
        "extra on an attempt",
        "extra on the output",
        "extra on a frame",
        "extra on an identity",
        "a subclass",
        "a branch",
        "a dict in place of an attempt",
    ],
)
def test_what_the_one_pass_does_not_cover_is_left_to_the_models(change: str) -> None:
    step = _usual()
    attempt = step.attempts[0]
    assert attempt.output is not None and attempt.error is not None
    if change == "extra on the step":
        step = StepLog(**step.__dict__, future="x")
    elif change == "extra on an attempt":
        step.attempts = [StepAttempt(**attempt.__dict__, future=1)]
    elif change == "extra on the output":
        attempt.output = AttemptOutput(**attempt.output.__dict__, future=[1])
    elif change == "extra on a frame":
        attempt.error.frames = [Frame(file="f", future=None)]
    elif change == "extra on an identity":
        step.code_identities = [CodeIdentity(future={})]
    elif change == "a subclass":

        class Later(StepLog):
            pass

        step = Later(**step.__dict__)
    elif change == "a branch":
        step.branches = {
            "train.b": BranchLog(internal_name="train.b", steps={"x": StepLog(name="x", internal_name="x")})
        }
    else:
        step.attempts = [attempt.model_dump()]  # type: ignore[list-item]
    if change != "a dict in place of an attempt":
        assert step_plain(step) is None
        same(step)
    else:  # the models warn and write what they infer; the one pass gives way to them
        assert step_plain(step) is None
        with pytest.warns(UserWarning):
            assert step_json(step) == step.model_dump_json(indent=4)


def test_values_assigned_after_validation_and_unwritable_values() -> None:
    step = _usual()
    step.attempts[0].start_time = "2026-01-01 10:00:00"  # type: ignore[assignment]  # text kept as written
    step.attempts[0].end_time = None
    step.start_time = datetime(2026, 3, 29, 1, 59, 59, 500000, tzinfo=timezone(timedelta(hours=1)))
    step.user_defined_metrics = {1: "int key", "t": (1, 2)}  # type: ignore[dict-item]
    with pytest.warns(UserWarning):  # (the models warn about the int key; the text is the same)
        expected = step.model_dump_json(indent=4)
    assert step_json(step) == expected
    step.returned_parameters = {"x": object()}
    with pytest.raises(PydanticSerializationError):  # the models' own error, not another
        step_json(step)
    with pytest.raises(PydanticSerializationError):
        step.model_dump_json(indent=4)


@given(key=NAMES, value=VALUES)
@settings(max_examples=EXAMPLES, deadline=None)
def test_keys_and_values_json_escapes(key: str, value: object) -> None:
    step = _usual()
    step.user_defined_metrics = {key: value}
    step.returned_parameters = {key: value}
    step.attempts[0].message = key
    same(step)
