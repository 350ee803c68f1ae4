"""The run log: one JSON document per run, field names and nesting as the original tool wrote them."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import to_json as _to_json

# statuses (models/__init__.py) and times (models/times.py) live where the runs listing and the plain reading
# of a log use them without pydantic; re-exported here, where the models use them
from magnus_core.models import (  # noqa: F401
    CREATED,
    FAIL,
    FINISHED,
    INTERRUPTED,
    PROCESSING,
    SUCCESS,
    TRIGGERED,
)
from magnus_core.models.times import (  # noqa: F401
    fmt_time,
    local_text,
    now,
    parse_time,
    seconds_between,
    time_key,
)
from magnus_core.paths import in_project

SCHEMA_VERSION = 1
_M = TypeVar("_M", bound=BaseModel)


def time_range(attempts: Iterable[StepAttempt]) -> tuple[datetime | None, datetime | None]:
    """The earliest start and the latest end among attempts, by true time (None when there is none)."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    for attempt in attempts:
        start, end = attempt.start_time, attempt.end_time
        # a model's times are aware datetimes already (RunTime); parse_time for anything else (10,000 steps)
        if not (isinstance(start, datetime) and start.tzinfo is not None):
            start = parse_time(start)
        if not (isinstance(end, datetime) and end.tzinfo is not None):
            end = parse_time(end)
        if start is not None:
            starts.append(start)
        if end is not None:
            ends.append(end)
    return (min(starts) if starts else None, max(ends) if ends else None)


def time_span(attempts: Iterable[StepAttempt]) -> tuple[str, str]:
    """time_range as the run log writes times ('' when none)."""
    first, last = time_range(attempts)
    return _time_text(first), _time_text(last)


def span_seconds(attempts: Iterable[StepAttempt]) -> float | None:
    """Seconds from the earliest start to the latest end among attempts; None without both."""
    first, last = time_range(attempts)
    return (last - first).total_seconds() if first is not None and last is not None else None


class WrittenLocal(datetime):
    """A time a run log wrote without a UTC offset (the original's logs, magnus before 0.5): held as this
    machine's local time, aware like every other, and written back as it was read, without an offset."""

    __slots__ = ()  # no __dict__: made twice as fast (20,000 of them in a 10,000-step log of the original)


_WRITTEN_ZONES: dict[str, Any] = {}  # a naive time's minute, as written -> this machine's zone then


def _time_or_none(value: Any) -> datetime | None:
    """A run-log time as the model holds it: an aware datetime, or None when absent ("") or unreadable.
    Text without an offset becomes a WrittenLocal, so a log read and written again keeps its text. Its
    zone is asked once per minute written (`value[:16]`, as the original writes times): offsets change only
    at whole minutes, and a log of 10,000 steps holds a few minutes, not 20,000 distinct ones."""
    if not isinstance(value, str):
        return parse_time(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return parse_time(value)  # with spaces around it, or not a time at all
    if moment.tzinfo is not None:
        return moment
    zone = _WRITTEN_ZONES.get(value[:16])
    if zone is None:
        try:
            zone = moment.astimezone().tzinfo
        except (OverflowError, OSError, ValueError):
            return None
        if len(_WRITTEN_ZONES) > 4096:
            _WRITTEN_ZONES.clear()
        _WRITTEN_ZONES[value[:16]] = zone
    return WrittenLocal.combine(moment, moment.timetz(), zone)  # the fold too; a third of .replace's cost


def _time_text(value: datetime | str | None) -> str:
    """How a run-log time is written: fmt_time (str(datetime) with its UTC offset), a WrittenLocal without
    it, '' when there is none."""
    if value.__class__ is datetime and value.tzinfo is not None:  # (a time of this run: now(), the usual)
        return value.isoformat(" ")  # (what str() gives, without its look-up of the method: 3 a step)
    if isinstance(value, WrittenLocal):
        return str(value.replace(tzinfo=None))
    if isinstance(value, datetime):
        return fmt_time(value)
    return value or ""


_START_TEXT: tuple[Any, str] = (None, "")  # the last step start written, and its text (start_text)


def start_text(value: datetime | str | None) -> str:
    """_time_text of a step's start time, kept for the step that began last: the file-system store's
    journal writes it in the step's start line and its commit writes it again (step_plain), ~12K
    instructions each (datetime.isoformat). Kept by identity (a time is immutable; the kept tuple holds
    it, so its id is not reused); a step begun meanwhile elsewhere (another branch) makes it again."""
    kept = _START_TEXT
    if kept[0] is value and value is not None:
        return kept[1]
    text = _time_text(value)
    globals()["_START_TEXT"] = (value, text)  # (one tuple replaced at once: safe between threads)
    return text


# A time in the run log: an aware datetime in the model (offset-less text reads as local time, unreadable
# text as None); in the JSON the text it was read from, or fmt_time's for a new one ("" for None).
RunTime = Annotated[
    datetime | None,
    PlainValidator(_time_or_none),
    PlainSerializer(_time_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "str(datetime) with the UTC offset, e.g. '2026-03-29 01:59:59.500000+01:00' "
            "(without an offset in the original's logs: local time); '' when absent",
        }
    ),
]


_WRITTEN_EMPTY: dict[str, Any] = {"default": ""}  # the schema's default for a RunTime: as it is written


class _Model(BaseModel):
    # extra="allow": a run log from another version keeps fields we do not know when loaded and dumped.
    # defer_build: the validators are built when a run log is first read or made, not at import: `magnus
    # runs` and `compare` (answered by the run index) and `--help` never pay for them.
    model_config = ConfigDict(extra="allow", validate_assignment=False, defer_build=True)


class Frame(_Model):
    """One frame of a failure's traceback: `file` (relative to the project folder when inside it), `line`
    (1-based), `function`, and `text`, the source line (stripped, secret values masked)."""

    file: str
    line: int = 0
    function: str = ""
    text: str = ""

    @property
    def in_project(self) -> bool:
        """A file of the project (relative path, not an installed package in a virtual environment)."""
        return in_project(self.file)

    def where(self) -> str:
        """`steps.py:29 in train`: how a summary names the place."""
        return f"{self.file}:{self.line} in {self.function}" if self.function else f"{self.file}:{self.line}"


class AttemptError(_Model):
    """Ours: what made an attempt fail, located (magnus_core/failure.py builds it).

    `type` is the exception's class name (`KeyError`; `SystemExit` for sys.exit and os._exit; for a
    notebook, the error its cell raised), or `ExitCode` for a shell command; `message` its text (masked);
    `frames` the traceback, outermost first, innermost last: the user's code and the libraries it called,
    never magnus's own frames;
    `exit_code` a shell command's or sys.exit's code; `cell` a notebook's failing cell (its place in the
    user's notebook, from 1; before trial 7, the executed copy's execution count);
    `stderr` the last lines (up to 5, masked) the attempt wrote to stderr, kept apart from its output
    (capture.StderrTail: the order of stdout and stderr across two pipes is not kept, docs/logs.md)."""

    type: str
    message: str = ""
    frames: list[Frame] = Field(default_factory=list)
    exit_code: int | None = Field(default=None, exclude_if=lambda value: value is None)
    cell: int | None = Field(default=None, exclude_if=lambda value: value is None)
    stderr: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)
    # the exception this one was raised from (`raise X from e`: python's __cause__) or while handling
    # (python's __context__, `implicit`): its type, message and frames, and its own cause, so the root
    # cause is kept when the output is cut or not kept (trial 12 fault 16); absent for an exception alone
    cause: AttemptError | None = Field(default=None, exclude_if=lambda value: value is None)
    implicit: bool = Field(default=False, exclude_if=lambda value: not value)

    def location(self) -> Frame | None:
        """The frame a person looks at first: the innermost one in the project folder (the user's line that
        called a library which raised), else the innermost of all; None without frames."""
        for frame in reversed(self.frames):
            if frame.in_project:
                return frame
        return self.frames[-1] if self.frames else None

    def root_cause(self) -> AttemptError | None:
        """The innermost exception of the chain of causes (the one first raised), or None without a cause."""
        found = self.cause
        while found is not None and found.cause is not None:
            found = found.cause
        return found

    def caused_by(self) -> str:
        """`caused by KeyError: 'b', at features.py:5 in load` (the root cause, its place when it has one;
        `raised while handling ...` when python chained it implicitly), or "" without a cause: one line that
        every view of a failure (the summary, `magnus show`, `magnus logs`) shows under the error."""
        cause = self.root_cause()
        if cause is None:
            return ""
        lines = (cause.message or "").split("\n")
        said = f"{cause.type}: {lines[0]}" if lines[0] else cause.type
        place = cause.location()
        at = f", at {place.where()}" if place is not None else ""
        words = "raised while handling" if self._implicit_to(cause) else "caused by"
        return f"{words} {said}{at}"

    def _implicit_to(self, cause: AttemptError) -> bool:
        """Every link from this error down to `cause` is python's implicit chaining (no `from`)."""
        found = self.cause
        while found is not None:
            if not found.implicit:
                return False
            if found is cause:
                return True
            found = found.cause
        return False


def _empty(value: object) -> bool:
    return not value


class AttemptOutput(_Model):
    """Ours: where an attempt's captured output (stdout and stderr, masked) is kept: a file of the run's
    catalog under the reserved name `name` (never an entry of `data_catalog`, never matched by a catalog
    glob), `catalog_relative_path` and `catalog_handler_location` as in a data catalog record; `size` bytes
    kept with their `sha256`; `written` bytes the step wrote (more than `size` when cut at the cap). A step
    that wrote nothing has `size` 0 and no file (`name` ""). `error` says why output could not be kept.
    Frozen: a record is made once, when its attempt ends, and never changed (a copy with other values is
    `model_copy(update=...)`, as masking makes one), so the records capture makes share their set of fields
    given (capture._GIVEN: one set of 472 bytes, and one object for the garbage collector to walk, less per
    attempt in a run's log).

    Empty fields (`""`, 0) are left out of the JSON: a step that printed nothing is `"output": {}` (capture
    was on, nothing kept; no `output` at all means capture was off). Every attempt carries the record and
    the file-system store rewrites the whole log as a run goes, so its size is part of each step's cost.
    Logs that write every field (magnus before this) read the same."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(default="", exclude_if=_empty)
    catalog_relative_path: str = Field(default="", exclude_if=_empty)
    catalog_handler_location: str = Field(default="", exclude_if=_empty)
    size: int = Field(default=0, exclude_if=_empty)
    sha256: str = Field(default="", exclude_if=_empty)
    written: int = Field(default=0, exclude_if=_empty)
    error: str = Field(default="", exclude_if=_empty)

    @property
    def cut(self) -> bool:
        """True when the step wrote more than the cap and the rest was not kept."""
        return self.written > self.size

    def shown(self) -> dict[str, Any]:
        """Every field, empty ones too (`error` only when set), for `magnus logs --json`: one shape whatever
        the run log left out."""
        return {
            "name": self.name,
            "catalog_relative_path": self.catalog_relative_path,
            "catalog_handler_location": self.catalog_handler_location,
            "size": self.size,
            "sha256": self.sha256,
            "written": self.written,
            **({"error": self.error} if self.error else {}),
        }


class StepAttempt(_Model):
    attempt_number: int = 0
    start_time: RunTime = Field(default=None, json_schema_extra=_WRITTEN_EMPTY)
    end_time: RunTime = Field(default=None, json_schema_extra=_WRITTEN_EMPTY)
    duration: str = ""  # as the original wrote it: str(end - start), e.g. "0:00:01.250000"
    status: str = FAIL
    message: str = ""
    # What the attempt's command received (magnus 0.4 records it; 0.3 logs have none): masked values.
    # Absent from the JSON when not recorded, so logs keep the original's shape.
    parameters: dict[str, Any] | None = Field(default=None, exclude_if=lambda value: value is None)
    # Ours: the failure located (type, message, frames), and where the attempt's output is kept. Absent when
    # not recorded (a success has no error; a run with the do-nothing catalog keeps no output).
    error: AttemptError | None = Field(default=None, exclude_if=lambda value: value is None)
    output: AttemptOutput | None = Field(default=None, exclude_if=lambda value: value is None)

    @property
    def seconds(self) -> float | None:
        """How long the attempt took, from its times (true elapsed time); None if either is missing."""
        return seconds_between(self.start_time, self.end_time)


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
    """One point of a metric's series: the value tracked at `step` (an int >= 1), at `time` (fmt_time, like
    every time in the run log)."""

    step: int
    value: Any = None
    time: str = ""


class BranchLog(_Model):
    internal_name: str
    status: str = FAIL
    steps: dict[str, StepLog] = Field(default_factory=dict)

    def walk(self) -> Iterator[StepLog]:
        for step in self.steps.values():
            if step.branches:
                yield from step.walk()
            else:  # a leaf (most steps): no generator of its own
                yield step


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
    # Ours: what the step changed in its scope's parameters, {name: value} (masked), written in the same
    # store write as its SUCCESS (the step's commit point, docs/crash-safety.md): a task's returned and
    # stored parameters, a composite's changes merged from its branches. A re-run that reuses the step
    # applies them, so the steps after it get exactly what they got in the original. Absent when empty.
    returned_parameters: dict[str, Any] = Field(default_factory=dict, exclude_if=lambda value: not value)
    # Ours: parameters this step returned whose recorded value is masked (they held a secret value), so
    # the log does not hold what the step returned. Absent when empty (the original's shape).
    masked_parameters: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)
    # Ours: when the step began (its log first written PROCESSING; a run-log time). While it runs, the attempt
    # in progress is attempt number len(attempts), begun at the last attempt's end_time, or at this time
    # for the first (running_attempt). Absent from the JSON when not recorded (the original's logs).
    start_time: RunTime = Field(
        default=None, exclude_if=lambda value: value is None, json_schema_extra=_WRITTEN_EMPTY
    )
    # Ours: the process running the step's attempt now, {pid, host, start_time} (runs.process_record's
    # fields: start_time is the OS's, seconds since the epoch), written by the per-step entry point only
    # (`magnus execute_single_node`, one step per process): a reader on that host whose process is gone
    # says the attempt was cut short (logs.cut_short; trial 15 N8: it read PROCESSING for ever). A local
    # run's steps run in the run's own process (run_config.process): absent, as from the original's logs.
    process: dict[str, Any] | None = Field(default=None, exclude_if=lambda value: value is None)

    def walk(self) -> Iterator[StepLog]:
        """This step and every step nested in its branches, depth first."""
        yield self
        for branch in self.branches.values():
            yield from branch.walk()


INTERRUPTED_PREFIX = "interrupted ("  # an attempt cut short by Ctrl-C or SIGTERM: "interrupted (Terminated)"


def was_interrupted(step: StepLog) -> bool:
    """A step that did not fail but was cut short: Ctrl-C, SIGTERM or `magnus stop`. nodes/task.py and a
    stopped run (runner._stop) record it INTERRUPTED; logs written before that say FAIL with the message
    "interrupted (KeyboardInterrupt|Terminated)", as the original did."""
    if step.status == INTERRUPTED:
        return True
    if step.status != FAIL or not step.attempts:
        return False
    return (step.message or step.attempts[-1].message).startswith(INTERRUPTED_PREFIX)


def running_attempt(step: StepLog) -> tuple[int, datetime] | None:
    """The attempt a step is running now, as (attempt_number, start_time), from its log alone: attempts are
    recorded when they end, and the next one starts as the last ends (nodes/task.py), the first when the step
    began (`start_time`). None when the step is not PROCESSING, or composite (no attempts of its own), or
    when its log does not say when it began."""
    from magnus_core.models.pipeline import COMPOSITE_TYPES

    if step.status != PROCESSING or step.branches or step.step_type in COMPOSITE_TYPES:
        return None
    start = step.attempts[-1].end_time if step.attempts else step.start_time
    if step.attempts and step.start_time is not None and start is not None and step.start_time > start:
        start = step.start_time  # run again later, its earlier attempts kept (RunContext.attempts_before)
    return (len(step.attempts), start) if start else None


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
    # Ours: run parameters whose recorded value is masked (they held a secret value); a re-run refuses to
    # feed them (rerun.refuse_masked). Absent when empty (the original's shape).
    masked_parameters: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)

    def walk(self) -> Iterator[StepLog]:
        """Every step log of the run, nested ones included, depth first in execution order."""
        for step in self.steps.values():
            if step.branches:
                yield from step.walk()
            else:  # a leaf (most steps): no generator of its own (10,000 of them in a summary)
                yield step

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


# BranchLog and StepLog refer to each other: pydantic resolves the names when it builds them, at first use.


# -- a step log's JSON without the models' serialiser (issue 19) ---------------------------------------------
# The file-system and chunked-fs stores write each step log once: its JSON is most of their own cost per step.
# pydantic's serialiser makes it in 13 us alone (20-30 in a run), much of it Python callbacks (the exclude_if
# lambdas, the time serialiser: the three times' text alone is 4 us). `step_plain` builds the same JSON-ready
# dict in one pass over the fields, which pydantic-core's `to_json` (the same code for every value) writes in
# 3 us: a little less in all, and fewer calls into Python in a run.
# The field lists below are the models' own, in order: a model that gains, loses or reorders a field (or
# any extra field on any object, or an object that is not exactly the model's class) takes the models'
# serialiser instead, so the text is always the one `model_dump_json` gives (tests/test_step_json.py).
STEP_FIELDS = (
    "name", "internal_name", "status", "step_type", "message", "mock", "code_identities", "attempts",
    "user_defined_metrics", "branches", "data_catalog", "metric_history", "returned_parameters",
    "masked_parameters", "start_time", "process",
)  # fmt: skip
ATTEMPT_FIELDS = (
    "attempt_number", "start_time", "end_time", "duration", "status", "message", "parameters", "error",
    "output",
)  # fmt: skip
_OUTPUT_FIELDS = (
    "name", "catalog_relative_path", "catalog_handler_location", "size", "sha256", "written", "error",
)  # fmt: skip
_ERROR_FIELDS = ("type", "message", "frames", "exit_code", "cell", "stderr", "cause", "implicit")
_FRAME_FIELDS = ("file", "line", "function", "text")
_IDENTITY_FIELDS = (
    "code_identifier", "code_identifier_type", "code_identifier_dependable", "code_identifier_url",
    "code_identifier_message",
)  # fmt: skip
_CATALOG_FIELDS = ("name", "data_hash", "catalog_relative_path", "catalog_handler_location", "stage")
_POINT_FIELDS = ("step", "value", "time")
_FAST: list[bool] = []  # [True] once the lists above were found to be the models' fields (first use)


def fields_as_listed() -> bool:
    """True when STEP_FIELDS, ATTEMPT_FIELDS and the other lists here are the models' own fields, in order
    (asked once): code that makes or writes these objects without the models relies on them."""
    if not _FAST:
        _FAST.append(
            all(
                tuple(model.model_fields) == fields
                for model, fields in (
                    (StepLog, STEP_FIELDS),
                    (StepAttempt, ATTEMPT_FIELDS),
                    (AttemptOutput, _OUTPUT_FIELDS),
                    (AttemptError, _ERROR_FIELDS),
                    (Frame, _FRAME_FIELDS),
                    (CodeIdentity, _IDENTITY_FIELDS),
                    (DataCatalog, _CATALOG_FIELDS),
                    (MetricPoint, _POINT_FIELDS),
                )
            )
        )
    return _FAST[0]


class _Unusual(Exception):
    """An object the one-pass form does not cover: the models' serialiser writes the step."""


def _fields(obj: Any, model: type[BaseModel], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the fields of a model object without extra fields, in field order (_Unusual otherwise)."""
    fields = obj.__dict__
    if obj.__class__ is not model or obj.__pydantic_extra__ or tuple(fields) != names:
        raise _Unusual
    return fields.copy()


def _attempt_plain(attempt: Any) -> dict[str, Any]:
    out = _fields(attempt, StepAttempt, ATTEMPT_FIELDS)
    out["start_time"] = _time_text(out["start_time"])
    out["end_time"] = _time_text(out["end_time"])
    if out["parameters"] is None:
        del out["parameters"]
    error = out.pop("error")
    if error is not None:
        shown = _fields(error, AttemptError, _ERROR_FIELDS)
        shown["frames"] = [_fields(frame, Frame, _FRAME_FIELDS) for frame in shown["frames"]]
        if shown["exit_code"] is None:
            del shown["exit_code"]
        if shown["cell"] is None:
            del shown["cell"]
        if not shown["stderr"]:
            del shown["stderr"]
        if shown.pop("cause") is not None or shown.pop("implicit"):  # a chain: the models write it
            raise _Unusual
        out["error"] = shown
    output = out.pop("output")
    if output is not None:
        kept = output.__dict__  # (_fields without its copy: one record per attempt)
        if output.__class__ is not AttemptOutput or output.__pydantic_extra__:
            raise _Unusual
        if tuple(kept) != _OUTPUT_FIELDS:
            raise _Unusual
        out["output"] = dict(filter(_GIVEN_VALUE, kept.items()))  # the fields with a value (not 0, not "")
    return out


_GIVEN_VALUE = operator.itemgetter(1)


def step_plain(step: StepLog, *, branches: bool = True) -> dict[str, Any] | None:
    """The step log as a dict that pydantic-core's `to_json` writes as the models write the step (fields in
    order, left out where the models leave them out, times as their text, values as they are), without
    `branches` unless `branches`; built in one pass for the usual step log. None when it holds anything
    unusual (an extra field, a subclass, a branch log while `branches`): only the models say how it is
    written then."""
    if not fields_as_listed():
        return None
    try:
        out = _fields(step, StepLog, STEP_FIELDS)
        out["code_identities"] = [
            _fields(identity, CodeIdentity, _IDENTITY_FIELDS) for identity in out["code_identities"]
        ]
        out["attempts"] = [_attempt_plain(attempt) for attempt in out["attempts"]]
        if branches:
            if out["branches"]:
                return None
        else:
            del out["branches"]
        out["data_catalog"] = [_fields(item, DataCatalog, _CATALOG_FIELDS) for item in out["data_catalog"]]
        history = out["metric_history"]
        if history:
            out["metric_history"] = {
                name: [_fields(point, MetricPoint, _POINT_FIELDS) for point in points]
                for name, points in history.items()
            }
        else:
            del out["metric_history"]
        if not out["returned_parameters"]:
            del out["returned_parameters"]
        if not out["masked_parameters"]:
            del out["masked_parameters"]
        if out["start_time"] is None:
            del out["start_time"]
        else:
            out["start_time"] = start_text(out["start_time"])
        if out["process"] is None:
            del out["process"]
    except (_Unusual, AttributeError, TypeError):  # (a list holding something that is not a model)
        return None
    return out


def step_json(step: StepLog, *, indent: int | None = 4, branches: bool = True) -> str:
    """`step.model_dump_json(indent=indent)` (with `exclude={"branches"}` unless `branches`), the same text,
    for a third of its cost on the usual step log (step_plain); the models' serialiser for anything else."""
    plain = step_plain(step, branches=branches)
    if plain is not None:
        try:
            return _to_json(plain, indent=indent, inf_nan_mode="null").decode("utf-8")
        except (ValueError, TypeError):  # a value no serialiser can write: the models' error
            pass
    if branches:
        return step.model_dump_json(indent=indent)
    return step.model_dump_json(indent=indent, exclude={"branches"})


# -- a run-log part read without the models' validators (issue 19) ------------------------------------------
# A process that runs one step (`magnus execute_single_node`) reads a few parts of its run (its metadata,
# its composite steps and branch, its siblings): validating them first builds the run-log models' validators,
# ~10 ms of the process, and pydantic's first schema build with them (its lazy imports and plugin loader).
# `made_from_json` makes the same objects as `model_validate` for the JSON a store wrote: each field checked
# against models/plain.py's table (the same table the plain reader checks logs by, tested against the models),
# with its type exactly (no conversion), times read by the models' own `_time_or_none`, every object with the
# fields given as its fields set. Anything else (an unknown field, a value of another type, a missing one) is
# refused (None), and the caller validates the part with the model: its object, or its error.
_TIMES = frozenset({("StepAttempt", "start_time"), ("StepAttempt", "end_time"), ("StepLog", "start_time")})
_EXACT: dict[str, type] = {"str": str, "int": int, "bool": bool}
_TABLES: dict[str, tuple[type[BaseModel], list[tuple[str, str, Any]]]] = {}  # model name -> class, fields


class _Refused(Exception):
    """A value `made_from_json` does not make: the model validates the part."""


def _tables() -> dict[str, tuple[type[BaseModel], list[tuple[str, str, Any]]]]:
    """Each model's fields as (name, kind, default maker) in the model's order, when plain.py's table lists
    exactly the model's fields in that order ({} otherwise: every part is validated)."""
    if not _TABLES:
        from magnus_core.models.plain import _MODELS

        classes: dict[str, type[BaseModel]] = {
            "Frame": Frame, "AttemptError": AttemptError, "AttemptOutput": AttemptOutput,
            "StepAttempt": StepAttempt, "CodeIdentity": CodeIdentity, "DataCatalog": DataCatalog,
            "MetricPoint": MetricPoint, "BranchLog": BranchLog, "StepLog": StepLog, "RunLog": RunLog,
        }  # fmt: skip
        tables = {}
        for name, model in classes.items():
            listed = _MODELS.get(name, ())
            fields = model.model_fields
            if tuple(f[0] for f in listed) != tuple(fields):
                _TABLES["?"] = (model, [])  # (looked at once: never usable)
                return {}
            tables[name] = (model, [(f, kind, fields[f]) for f, kind, _ in listed])
        _TABLES.update(tables)
    return {} if "?" in _TABLES else _TABLES


def _plain_value(model: str, field: str, kind: str, value: Any) -> Any:
    if (model, field) in _TIMES:
        return _time_or_none(value)
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    exact = _EXACT.get(kind)
    if exact is not None:
        if value.__class__ is not exact:
            raise _Refused
        return value
    if kind == "any":
        return value
    if kind == "dict":
        if value.__class__ is not dict or not all(k.__class__ is str for k in value):
            raise _Refused
        return dict(value)
    if kind == "strs":
        if value.__class__ is not list or not all(v.__class__ is str for v in value):
            raise _Refused
        return list(value)
    if kind[0] == "[":
        if value.__class__ is not list:
            raise _Refused
        return [_plain_value(model, field, kind[1:-1], v) for v in value]
    if kind[0] == "{":
        if value.__class__ is not dict or not all(k.__class__ is str for k in value):
            raise _Refused
        return {k: _plain_value(model, field, kind[1:-1], v) for k, v in value.items()}
    return _plain_model(kind, value)


def _plain_model(name: str, data: Any) -> Any:
    cls, fields = _TABLES[name]
    if data.__class__ is cls:  # an object already made is kept (the models' revalidate_instances="never")
        return data
    if data.__class__ is not dict or len(data) > len(fields):
        raise _Refused
    made: dict[str, Any] = {}
    given = 0
    for field, kind, info in fields:
        if field in data:
            made[field] = _plain_value(name, field, kind, data[field])
            given += 1
        elif info.is_required():
            raise _Refused
        else:
            made[field] = _default(info)
    if given != len(data):  # a field this table does not know: the model keeps it as an extra
        raise _Refused
    return assembled(cls, made, set(data))


_new = object.__new__
_set = object.__setattr__


def _slot_setter(name: str) -> Any:
    """The setter of BaseModel's slot `name` (its member descriptor's __set__: a third quicker than
    object.__setattr__, which looks the name up first); object.__setattr__ if pydantic holds it otherwise."""
    setter = getattr(BaseModel.__dict__.get(name), "__set__", None)
    return setter if setter is not None else (lambda obj, value: _set(obj, name, value))


_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")


def assembled(model: type[_M], fields: dict[str, Any], given: set[str]) -> _M:
    """The `model` object validating the fields in `given` makes, put together without its validator:
    `fields` is its `__dict__` (every field of the model, in its order, each a value of its type: the
    caller's check, fields_as_listed and the values' types; nothing is checked here), `given` its fields
    set, no extra or private fields. The one way the run-log models' objects are made so (made_from_json,
    nodes.common's step logs and attempts, capture's output records: one per attempt, ~2 us)."""
    obj: Any = _new(model)
    _set(obj, "__dict__", fields)
    _set_fields_set(obj, given)
    _set_extra(obj, {})
    _set_private(obj, None)
    return obj


def _default(info: Any) -> Any:
    """A field's default as validation fills it in: its factory called (the run-log models' are dict and
    list; asking pydantic whether a factory takes the validated data parses a builtin's signature with
    tokenize, ~10 ms once per process), or a copy of its default."""
    factory = info.default_factory
    if factory is dict or factory is list:
        return factory()
    return info.get_default(call_default_factory=True, validated_data={})


def made_from_json(model: type[_M], data: Any) -> _M | None:
    """`model.model_validate(data)` for run-log JSON `data` (a dict as json.loads gives it; model objects
    where a field holds them, kept as they are), made without the model's validator; None when `data` holds
    anything the models would convert, refuse or keep as an extra field: then only they can say."""
    if not _tables():
        return None
    try:
        made: _M = _plain_model(model.__name__, data)
    except (_Refused, KeyError, RecursionError):
        return None
    return made


# How many objects of a model are made without its validator before it is built after all: a process that
# runs one step makes a handful (its code identity, its attempts' output records, the few parts it reads) and
# never builds one; a process that makes many (a whole run, a workbench reading a run of 10,000 steps) builds
# it once and validates, which pydantic-core does several times faster than the walk above (2-6 us against
# 10-30 us an object).
PLAIN_BUDGET = 32
_spent: dict[type, int] = {}


def made_few(model: type[_M], data: Any) -> _M | None:
    """made_from_json while `model`'s validator is not built and fewer than PLAIN_BUDGET of its objects were
    made so; None otherwise (the caller validates, building the validator once)."""
    if model.__pydantic_complete__:
        return None
    spent = _spent.get(model, 0)
    if spent >= PLAIN_BUDGET:
        return None
    _spent[model] = spent + 1
    return made_from_json(model, data)


def made(model: type[_M], **fields: Any) -> _M:
    """`model(**fields)`, the same object, made without the model's validator when every value has its
    field's type exactly and few were made so (made_few): a process that runs one step builds none for the
    records it makes (its code identity, its attempts' output records). Anything else is validated (the
    model's conversion, or its error)."""
    found = made_few(model, fields)
    return found if found is not None else model(**fields)
