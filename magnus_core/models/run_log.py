"""The run log: one JSON document per run, field names and nesting as the original tool wrote them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

# Statuses. INTERRUPTED is ours: a run stopped by a signal (SIGINT/SIGTERM) says so explicitly;
# a run killed outright stays PROCESSING and is recognised by its dead process (see runs.run_state).
CREATED = "CREATED"
PROCESSING = "PROCESSING"
SUCCESS = "SUCCESS"
FAIL = "FAIL"
TRIGGERED = "TRIGGERED"
INTERRUPTED = "INTERRUPTED"
FINISHED = frozenset({SUCCESS, FAIL, INTERRUPTED})


def now() -> datetime:
    return datetime.now()


def fmt_time(t: datetime) -> str:
    """Times as the original wrote them: str(datetime), local time, no timezone."""
    return str(t)


class _Model(BaseModel):
    # extra="allow": a run log from another version keeps fields we do not know when loaded and dumped.
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class StepAttempt(_Model):
    attempt_number: int = 0
    start_time: str = ""
    end_time: str = ""
    duration: str = ""
    status: str = FAIL
    message: str = ""
    # What the attempt's command received (magnus 0.4 records it; 0.3 logs have none): masked values.
    # Absent from the JSON when not recorded, so logs keep the original's shape.
    parameters: dict[str, Any] | None = Field(default=None, exclude_if=lambda value: value is None)


class CodeIdentity(_Model):
    code_identifier: str | None = None
    code_identifier_type: str | None = "git"
    code_identifier_dependable: bool = False
    code_identifier_url: str | None = None
    code_identifier_message: str | None = ""


class DataCatalog(_Model):
    name: str
    data_hash: str = ""
    catalog_relative_path: str = ""
    catalog_handler_location: str = ""
    stage: str = ""


class MetricPoint(_Model):
    """One point of a metric's series: the value tracked at `step` (an int >= 1), at `time` (local time,
    str(datetime) like every time in the run log)."""

    step: int
    value: Any = None
    time: str = ""


class BranchLog(_Model):
    internal_name: str
    status: str = FAIL
    steps: dict[str, StepLog] = Field(default_factory=dict)

    def walk(self) -> Iterator[StepLog]:
        for step in self.steps.values():
            yield from step.walk()


class StepLog(_Model):
    name: str
    internal_name: str
    status: str = FAIL
    step_type: str = "task"
    message: str = ""
    mock: bool = False
    code_identities: list[CodeIdentity] = Field(default_factory=list)
    attempts: list[StepAttempt] = Field(default_factory=list)
    user_defined_metrics: dict[str, Any] = Field(default_factory=dict)
    branches: dict[str, BranchLog] = Field(default_factory=dict)
    data_catalog: list[DataCatalog] = Field(default_factory=list)
    # Ours, last (0.4's track_this(step=N)): each metric's series, {name: [{step, value, time}]}, in step
    # order; user_defined_metrics keeps the last value. Absent from the JSON when empty (original's shape).
    metric_history: dict[str, list[MetricPoint]] = Field(
        default_factory=dict, exclude_if=lambda value: not value
    )

    def walk(self) -> Iterator[StepLog]:
        """This step and every step nested in its branches, depth first."""
        yield self
        for branch in self.branches.values():
            yield from branch.walk()


class RunLog(_Model):
    run_id: str
    dag_hash: str | None = None
    use_cached: bool = False
    tag: str | None = ""
    original_run_id: str | None = ""
    status: str = FAIL
    steps: dict[str, StepLog] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    run_config: dict[str, Any] = Field(default_factory=dict)

    def walk(self) -> Iterator[StepLog]:
        """Every step log of the run, nested ones included, depth first in execution order."""
        for step in self.steps.values():
            yield from step.walk()

    def find_step(self, internal_name: str) -> StepLog | None:
        for step in self.walk():
            if step.internal_name == internal_name:
                return step
        return None

    def find_branch(self, internal_name: str) -> BranchLog | None:
        for step in self.walk():
            if internal_name in step.branches:
                return step.branches[internal_name]
        return None


BranchLog.model_rebuild()
StepLog.model_rebuild()
