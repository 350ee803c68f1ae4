"""What user code may import: `from magnus import track_this, get_parameter, ...`.

Inside a step run by magnus in this process, the functions talk to the step's scope (a context variable,
so concurrent branches in threads do not see each other's values). Anywhere else (a shell step's child
process, a notebook kernel) they fall back to the MAGNUS_* environment variables, which magnus sets.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from magnus_core.errors import NotBuiltError, UsageError
from magnus_core.models.times import fmt_time, now
from magnus_core.parameters import (
    PRM_PREFIX,
    TRACK_PREFIX,
    decode,
    encode,
    fold_names,
    from_environment,
    json_value,
)

if TYPE_CHECKING:
    from magnus_core.context import RunContext

_STEP_FORM = re.compile(r"^([0-9]+)_(.+)$")
# The longest metric name (MLflow's own limit for a metric's key, so a run that sends its metrics there
# keeps every one): a longer name made `magnus runs --metrics` and `magnus compare` columns of its width.
MAX_METRIC_NAME = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
    "\0": "a NUL",
    "\x1b": "an escape",
}
METRIC_NAME_RULE = (
    f"a metric's name is 1 to {MAX_METRIC_NAME} characters, not only spaces, without control characters "
    "(newline, tab, NUL, escape)"
)


def metric_name_problem(name: Any) -> str | None:
    """What makes `name` unusable as a metric's name (`"holds a newline"`), or None when it is usable:
    text of 1 to MAX_METRIC_NAME characters, not only spaces, no control characters, no lone surrogates.
    Such a name was kept before issue 16 and broke every table that shows it (a NUL or an escape written
    raw to the terminal, a newline splitting a row, a column 100,000 characters wide)."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty" if not name else "is only spaces"
    if len(name) > MAX_METRIC_NAME:
        return f"is {len(name):,} characters long"
    control = _CONTROL.search(name)
    if control:
        char = control.group()
        return f"holds {_CONTROL_NAMES.get(char, f'the control character {char!r}')}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "holds invalid text (a lone surrogate)"
    return None


def _check_metric_name(name: Any, where: str) -> None:
    """UsageError naming the metric (cut to 60 characters, escaped) and what a name must be."""
    problem = metric_name_problem(name)
    if problem:
        shown = repr(name[:60] + "..." if isinstance(name, str) and len(name) > 60 else name)
        shown = shown.encode("ascii", "backslashreplace").decode("ascii")
        raise UsageError(f"{where}: the metric name {shown} {problem}; {METRIC_NAME_RULE}")


def parse_track_variable(variable: str) -> tuple[int | None, str]:
    """`MAGNUS_TRACK_loss` -> (None, "loss"); `MAGNUS_TRACK_3_loss` -> (3, "loss") (magnus 0.4's form of
    track_this(step=3, loss=...)); `MAGNUS_TRACK_0_loss` -> (0, "loss"), a point at step 0. Names are
    lower-cased; (None, "") for the bare prefix."""
    rest = variable[len(TRACK_PREFIX) :] if variable.startswith(TRACK_PREFIX) else variable
    match = _STEP_FORM.match(rest)
    if match:
        return int(match.group(1)), match.group(2).lower()
    return None, rest.lower()


@dataclass
class StepScope:
    """What one executing step sees and produces."""

    run_id: str
    tag: str
    parameters: dict[str, Any]
    internal_name: str = ""
    map_variable: dict[str, Any] = field(default_factory=dict)
    params_out: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    services: RunContext | None = None  # the run: its catalog and secrets (set by the task node)
    branch: str | None = None  # the internal name of the branch the step runs in (None: the top level)
    catalog_records: list[Any] = field(default_factory=list)
    # mapping keys that were not text in what the step returned or tracked, made text on their way to the
    # run log (parameters.json_value): {("returned parameter", "m"): [1, (2, 3)]}, warned about once the step
    # succeeded (stepguard._warn_non_finite)
    text_keys: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = (
        None  # the parameters the command actually received (recorded per attempt)
    )
    # metric series: {name: [{"step": N, "value": v, "time": "2026-01-01 10:00:00.000001"}]}
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # where each metric's point of each step sits in its series ({name: {step: index}}): a point at a step
    # already recorded replaces it without a look through the series (trial 17 F6: 8,000 points of one
    # metric took 6.6 s, each looking through those before it; now linear)
    _at: dict[str, dict[Any, int]] = field(default_factory=dict, repr=False, compare=False)

    def track(self, name: str, value: Any, step: int | None = None, when: str | None = None) -> None:
        """Record metric `name` (lower-cased): its value now, and with a `step` (0 included) a point of
        its series.

        `when` is the time of the point (models.times.fmt_time, as the run log writes times); now if
        not given. A later point at a step already recorded replaces it (a retried epoch).
        """
        key = name.lower()
        keys: list[Any] = []
        value = json_value(value, keys)  # numpy's float64 is its float, a date its text: as the log holds it
        if keys:
            self.text_keys.setdefault(("metric", key), []).extend(keys)
        self.metrics[key] = value
        if step is not None:
            series = self.history.setdefault(key, [])
            point = {"step": step, "value": value, "time": when or fmt_time(now())}
            at = self._at.setdefault(key, {})
            try:
                i = at.get(step)
            except TypeError:  # a step that cannot be a key (not a number): looked for along the series
                i = next((n for n, old in enumerate(series) if old["step"] == step), None)
            if i is not None and i < len(series) and series[i]["step"] == step:
                series[i] = point
            else:
                with contextlib.suppress(TypeError):
                    at[step] = len(series)
                series.append(point)

    def track_env(self, variables: dict[str, str], *, keep_existing: bool = False) -> None:
        """Collect MAGNUS_TRACK_ variables: `MAGNUS_TRACK_<name>` is a value, `MAGNUS_TRACK_<N>_<name>` the
        value at step N (magnus 0.4's form). Values are JSON-decoded where they parse. Points are applied
        in step order, so the metric keeps the value of its highest step unless a plain variable names it.
        With keep_existing, a metric this scope already tracked (track_this) wins over a plain variable.
        """
        if not variables:
            return
        plain: dict[str, Any] = {}
        points: list[tuple[int, str, Any]] = []
        for variable, text in variables.items():
            step, name = parse_track_variable(variable)
            if not name:
                continue
            _check_metric_name(name, f"a {TRACK_PREFIX} variable")
            if step is not None:
                points.append((step, name, decode(text)))
            else:
                plain[name] = decode(text)
        explicit = set(self.metrics) if keep_existing else set()
        for step, name, value in sorted(points, key=lambda p: p[0]):
            before = self.metrics.get(name)
            self.track(name, value, step)
            if name in explicit:
                self.metrics[name] = before
        for name, value in plain.items():
            if name not in explicit:
                self.metrics[name] = value


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar("magnus_step_scope", default=None)


def current_scope() -> StepScope | None:
    return _scope.get()


def enter_scope(scope: StepScope) -> contextvars.Token[StepScope | None]:
    return _scope.set(scope)


def exit_scope(token: contextvars.Token[StepScope | None]) -> None:
    _scope.reset(token)


def track_this(step: int | None = None, **kwargs: Any) -> None:
    """Record metrics for the current step (names lower-cased), as magnus 0.4's `track_this(step=0, **kw)`.

    `track_this(auc=0.93)` sets the step's metric `auc` (its `user_defined_metrics`).
    `track_this(step=3, loss=0.31)` also records 0.31 as the point at step 3 of the series `loss`
    (the step log's `metric_history`: `{"loss": [{"step": 3, "value": 0.31, "time": "..."}]}`), so a
    per-epoch loss is a series; the metric itself keeps the last value tracked. `step` is an int >= 0;
    anything else raises UsageError. Unlike 0.4, whose default `step=0` could not be told from an
    explicit 0, `step=0` given explicitly is a point (so `for epoch in range(n)` keeps epoch 0); with no
    `step` there is no point. A metric's name is 1 to 250 characters of text without control characters
    (metric_name_problem); another raises UsageError naming it, so the step fails, and none of the call's
    metrics is kept. Outside a step run in this process (a child process of a step), the values go to
    `MAGNUS_TRACK_<name>` / `MAGNUS_TRACK_<step>_<name>` variables for the step to collect.
    """
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise UsageError(f"track_this: step must be a whole number >= 0, got {step!r}", field="step")
    for key in kwargs:
        _check_metric_name(key, "track_this")
    scope = _scope.get()
    for key, value in kwargs.items():
        if scope is not None:
            scope.track(key, value, step)
        else:
            name = f"{TRACK_PREFIX}{step}_{key}" if step is not None else f"{TRACK_PREFIX}{key}"
            os.environ[name] = encode(value)


def store_parameter(**kwargs: Any) -> None:
    """Add or update parameters for the steps that follow (names lower-cased; `LR=` and `lr=` with different
    values in one call raise UsageError)."""
    scope = _scope.get()
    values = fold_names(kwargs.items(), "store_parameter")
    keys: list[Any] = []
    for key, value in values.items():
        value = json_value(value, keys)
        if scope is not None:
            if keys:
                scope.text_keys.setdefault(("parameter", key), []).extend(keys)
                keys = []
            scope.params_out[key] = value
        else:
            os.environ[f"{PRM_PREFIX}{key}"] = encode(value)


def get_parameter(key: str | None = None) -> Any:
    """One parameter by name, or all of them as a dict when no name is given."""
    scope = _scope.get()
    params = {**scope.parameters, **scope.params_out} if scope is not None else from_environment()
    if key is None:
        return params
    if key in params:
        return params[key]
    if key.lower() in params:
        return params[key.lower()]
    raise UsageError(f"parameter '{key}' is not set (known: {', '.join(sorted(params)) or 'none'})")


def get_run_id() -> str:
    """The id of the run this step belongs to."""
    scope = _scope.get()
    return scope.run_id if scope is not None else os.environ.get("MAGNUS_RUN_ID", "")


def get_tag() -> str:
    """The run's tag (`--tag`), or "" when none was given."""
    scope = _scope.get()
    return scope.tag if scope is not None else os.environ.get("MAGNUS_RUN_TAG", "")


def _services() -> RunContext | None:
    scope = _scope.get()
    if scope is None or scope.services is None:
        return None
    return scope.services


def get_secret(name: str | None = None) -> Any:
    """One secret by name (SecretNotFoundError naming the provider and the name when unknown; "" only
    with `type: do-nothing`), or all the provider will list (a dict) when no name is given.

    Outside a step run in this process (a shell step's command, a notebook's kernel, a script) the
    provider comes from MAGNUS_SECRETS_CONFIG (the default, env-and-dotenv, when unset); the name asked for
    is told to the run that started the process, which masks its value from then on."""
    services = _services()
    if services is None:
        from magnus_core.secrets import secrets_from_environment, tell_run

        provider = secrets_from_environment()
        if name is None:
            return provider.get_all()
        value = provider.get(name)
        tell_run(name)
        return value
    provider = services.secrets
    return provider.get(name) if name is not None else provider.get_all()


def get_from_catalog(name: str, destination_folder: str | None = None) -> list[Any]:
    """Copy files matching `name` from this run's catalog into the data folder (or `destination_folder`)."""
    services = _services()
    if services is None or services.catalog is None:
        raise NotBuiltError("get_from_catalog works inside a step run by magnus (the data catalog)")
    return services.catalog_get(name, destination_folder)


def put_in_catalog(filepath: str) -> list[Any]:
    """Copy the file(s) at `filepath` into this run's catalog."""
    services = _services()
    if services is None or services.catalog is None:
        raise NotBuiltError("put_in_catalog works inside a step run by magnus (the data catalog)")
    return services.catalog_put(filepath)
