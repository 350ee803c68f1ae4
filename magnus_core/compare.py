"""Compare many runs: one row per run, one column per parameter or metric that differs between them, the
best value of each metric marked; and the charts of `magnus compare --plot/--plot-history`.

    runs, hints = select_runs(index, run_ids=[...], tag="exp1", where=parse_filter("..."))
    table = compare_runs(runs, all_columns=False, best={"metrics.loss": "min"})

Runs come from the run index (no log is read); only metric histories are read from the logs (`histories`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from magnus_core.errors import UsageError
from magnus_core.index import IndexedRun, RunQuery
from magnus_core.index.record import is_number
from magnus_core.query import Expr, Key, OrderKey, keys_of

if TYPE_CHECKING:
    from magnus_core.index import RunIndex
    from magnus_core.models.run_log import RunLog

Direction = Literal["min", "max"]
# A metric is better lower when a word of its name is one of these (val_loss, test-error, rmse); else higher.
LOWER_IS_BETTER = frozenset(
    {"loss", "error", "err", "mse", "rmse", "mae", "mape", "smape", "logloss", "nll", "cost", "perplexity",
     "latency", "regret", "wer", "cer", "fpr", "fnr", "brier"}
)  # fmt: skip


def direction(metric: str) -> Direction:
    """'min' when lower is better (loss, error, mse, rmse, mae, ... as a word of the name, the step part
    ignored: `train.val_loss`), else 'max'."""
    name = metric.rsplit(".", 1)[-1].lower()
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w]
    if any(w in LOWER_IS_BETTER for w in words) or name.endswith(("loss", "error")):
        return "min"
    return "max"


def parse_best(items: tuple[str, ...] | list[str]) -> dict[str, Direction]:
    """`--best metrics.x=min` (repeatable) -> {"metrics.x": "min"}; UsageError for anything else."""
    out: dict[str, Direction] = {}
    for item in items:
        name, eq, way = item.partition("=")
        key = name.strip()
        way = way.strip().lower()
        if not eq or way not in ("min", "max") or not key:
            raise UsageError(f"--best {item!r}: expected metrics.<name>=min or metrics.<name>=max")
        if not key.startswith("metrics."):
            key = f"metrics.{key}"
        out[key] = way  # type: ignore[assignment]
    return out


@dataclass
class Column:
    key: Key
    label: str  # params.lr, metrics.auc
    best: Direction | None = None  # metrics only
    best_runs: list[str] = field(default_factory=list)
    best_value: Any = None
    not_numbers: list[str] = field(default_factory=list)  # runs whose value is not a number


@dataclass
class Comparison:
    runs: list[IndexedRun]
    columns: list[Column]
    hints: list[str] = field(default_factory=list)

    def value(self, run: IndexedRun, column: Column) -> Any:
        values = run.params if column.key.kind == "param" else run.metrics
        return values.get(column.key.name)

    def to_json(self, store: str) -> dict[str, Any]:
        """magnus-compare/1: runs (summary, params, metrics of the columns), columns, best per metric."""
        return {
            "schema": "magnus-compare/1",
            "store": store,
            "columns": [c.label for c in self.columns],
            "runs": [
                {
                    "run_id": r.summary.run_id,
                    "status": r.summary.status,
                    "state": r.summary.state,
                    "tag": r.summary.tag,
                    "start": r.summary.start,
                    "params": {c.key.name: self.value(r, c) for c in self.columns if c.key.kind == "param"},
                    "metrics": {c.key.name: self.value(r, c) for c in self.columns if c.key.kind == "metric"},
                }
                for r in self.runs
            ],
            "best": {
                c.label: {"direction": c.best, "value": c.best_value, "runs": c.best_runs}
                for c in self.columns
                if c.best is not None and c.best_runs
            },
            "hints": self.hints,
        }


def select_runs(
    index: RunIndex,
    *,
    run_ids: list[str] | None = None,
    tag: str | None = None,
    where: Expr | None = None,
    order_by: list[OrderKey] | None = None,
    store_where: str = "the run index",
    everything: bool = False,
) -> tuple[list[IndexedRun], list[str]]:
    """The runs to compare, with every parameter and metric: the ids given (in that order; an unknown id
    is a UsageError naming the nearest), else those of the tag and filter, oldest first (every run when
    nothing is named and `everything`: the workbench's experiments screen)."""
    if not run_ids and tag is None and where is None and not everything:
        raise UsageError("name the runs to compare: RUN... , --tag TAG or --where FILTER")
    query = RunQuery(
        where=where, tag=tag, run_ids=run_ids or None, order_by=order_by or [], params=["*"], metrics=["*"]
    )
    result = index.query(query)
    runs = result.runs
    if run_ids:
        found = {r.summary.run_id: r for r in runs}
        missing = [r for r in run_ids if r not in found]
        if missing and tag is None and where is None:
            from magnus_core.errors import RunNotFoundError

            every = [r.summary.run_id for r in index.query(RunQuery()).runs]
            raise RunNotFoundError(missing[0], every, store_where)
        if not order_by:
            runs = [found[r] for r in dict.fromkeys(run_ids) if r in found]
    elif not order_by:
        runs = list(reversed(runs))  # oldest first: an experiment reads in the order it was run
    return runs, result.hints + (_tag_hints(index, tag, where) if not runs else [])


def _tag_hints(index: RunIndex, tag: str | None, where: Expr | None) -> list[str]:
    """Nothing matched: for a tag (`--tag`, `tag = '...'` in the filter) that no run has, the nearest."""
    from magnus_core.index import tag_hints

    asks = tag is not None or "tag" in {c.key.name for c in keys_of(where)}
    return tag_hints(index.query(RunQuery()).runs, tag, where) if asks else []


def _differs(values: list[Any]) -> bool:
    first = values[0]
    return any(v != first or type(v) is not type(first) for v in values[1:])


def own_metric_names(metrics: dict[str, Any]) -> set[str]:
    """Which keys of a run's metrics (the index's: the run's own `name`, each step's `<step>.<name>`) are
    the run's own. Every step's metric is also the run's (its last value), so `k` is the run's own when
    another key ends with `.k`: `val.loss` beside `train.val.loss`. A dot alone does not tell: a metric
    named `val.loss` or `top.1` was taken for a step's and left out of what differs (trial 17 F22: two
    runs whose `val.loss` differed read 'the same parameters and metrics'). Linear in the keys' length."""
    ends = set()
    for key in metrics:
        at = key.find(".")
        while at >= 0:
            ends.add(key[at + 1 :])
            at = key.find(".", at + 1)
    return {key for key in metrics if key in ends} or {key for key in metrics if "." not in key}


def compare_runs(
    runs: list[IndexedRun], *, all_columns: bool = False, best: dict[str, Direction] | None = None
) -> Comparison:
    """Columns: parameters, then the runs' own metrics (`name`), then with all_columns every step's
    (`<step>.<name>`); without all_columns only those whose value differs between the runs (a value
    missing in some run counts as different). Each metric column knows its best value and runs."""
    best = best or {}
    params = sorted({name for r in runs for name in r.params})
    own: set[str] = set()
    for r in runs:
        own |= own_metric_names(r.metrics)
    metrics = sorted({name for r in runs for name in r.metrics}, key=lambda n: (n not in own, n))
    if not all_columns:
        metrics = [m for m in metrics if m in own or f"metrics.{m}" in best]
    columns: list[Column] = []
    for kind, names in (("param", params), ("metric", metrics)):
        for name in names:
            values = [(r.params if kind == "param" else r.metrics).get(name) for r in runs]
            label = f"{'params' if kind == 'param' else 'metrics'}.{name}"
            if not all_columns and len(runs) > 1 and not _differs(values) and label not in best:
                continue
            column = Column(Key(kind, name), label)  # type: ignore[arg-type]
            if kind == "metric":
                _mark_best(column, runs, values, best.get(label))
            columns.append(column)
    return Comparison(runs, columns)


def _mark_best(column: Column, runs: list[IndexedRun], values: list[Any], way: Direction | None) -> None:
    numbers = [(v, r.summary.run_id) for v, r in zip(values, runs, strict=True) if is_number(v)]
    column.not_numbers = [
        r.summary.run_id for v, r in zip(values, runs, strict=True) if v is not None and not is_number(v)
    ]
    column.best = way or direction(column.key.name)
    if len(numbers) < 2:
        return
    target = min(v for v, _ in numbers) if column.best == "min" else max(v for v, _ in numbers)
    column.best_value = target
    column.best_runs = [run_id for v, run_id in numbers if v == target]


# -- charts ------------------------------------------------------------------------------------------------
@dataclass
class Series:
    label: str
    xs: list[Any]  # numbers, or time texts ('2026-01-31 12:00:00') when the chart's x is time
    ys: list[float]


@dataclass
class Chart:
    """What a chart shows, drawn by plots.py (plotext) in the terminal and by the workbench's chart."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    x_is_time: bool = False
    x_labels: list[str] | None = None  # categories (a parameter that is not a number): xs are 1..n
    notices: list[str] = field(default_factory=list)
    x_log: bool = False  # xs drawn on a log scale (plots.draw), ticks at powers of ten
    names_series: bool = False  # each series is a run (a history): named in the key even when alone

    @property
    def empty(self) -> bool:
        return not any(s.ys for s in self.series)


def _not_number_notice(label: str, skipped: list[tuple[str, Any]]) -> str:
    """`metrics.loss: 1 value not a number, left out: RUN (nan)`: the run ids early, so a line of 80
    columns keeps one. NaN and infinities are kept as null in a run log (JSON has no such numbers) and
    shown as `nan`, as MLflow prints them; other values as written (`'diverged'`)."""
    shown = ", ".join(f"{run} ({'nan' if value is None else repr(value)})" for run, value in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    count = len(skipped)
    return f"{label}: {count} value{'s' if count != 1 else ''} not a number, left out: {shown}{more}"


XScale = Literal["auto", "linear", "log"]
LOG_DECADES = 2  # "auto": a log x axis when the values are positive and the largest is >= 10**2 x the least


def log_x_wanted(xs: list[Any], scale: XScale = "auto") -> bool:
    """Whether numbers `xs` go on a log axis: "log" always, "linear" never, "auto" when every value is
    positive and they span at least LOG_DECADES decades (a learning-rate sweep 1e-4 ... 1e-1)."""
    if scale != "auto":
        return scale == "log"
    numbers = [float(x) for x in xs]
    return bool(numbers) and min(numbers) > 0 and max(numbers) >= min(numbers) * 10**LOG_DECADES


def metric_chart(runs: list[IndexedRun], metric: Key, by: Key | None, *, x_scale: XScale = "auto") -> Chart:
    """A metric of each run against its start time (by None) or a parameter: one point per run. A
    numeric parameter goes on a log axis per `x_scale` (`log_x_wanted`); with "log", runs whose value is
    not positive are left out with a notice."""
    from magnus_core.models.run_log import local_text
    from magnus_core.table import fmt_value

    if metric.kind != "metric":
        raise UsageError(f"--plot {metric.label}: plot a metric (metrics.<name>)")
    label = metric.label
    skipped: list[tuple[str, Any]] = []
    points: list[tuple[Any, float, str]] = []
    no_x: list[str] = []
    for run in runs:
        value = run.metrics.get(metric.name)
        if metric.name not in run.metrics:
            continue
        if not is_number(value):  # None: NaN or an infinity, kept as null
            skipped.append((run.summary.run_id, value))
            continue
        if by is None:
            if not run.summary.start:
                no_x.append(run.summary.run_id)
                continue
            x: Any = local_text(run.summary.start)
        else:
            x = (run.params if by.kind == "param" else run.metrics).get(by.name)
            if by.kind == "attr":
                x = getattr(run.summary, by.name, None)
            if x is None:
                no_x.append(run.summary.run_id)
                continue
        points.append((x, float(value or 0), run.summary.run_id))  # (a number: is_number above)
    chart = Chart(
        title=f"{label} by {'time' if by is None else by.label}",
        xlabel="run start" if by is None else by.label,
        ylabel=label,
        series=[],
        x_is_time=by is None,
    )
    if skipped:
        chart.notices.append(_not_number_notice(label, skipped))
    if no_x:
        what = "no start time" if by is None else f"no {by.label}"
        chart.notices.append(f"{len(no_x)} run(s) with {what} left out: {', '.join(no_x[:5])}")
    if by is not None and points and not all(is_number(x) for x, _, _ in points):
        categories = sorted({str(x) for x, _, _ in points})
        chart.x_labels = categories
        points = [(categories.index(str(x)) + 1, y, r) for x, y, r in points]
    elif by is not None and points and log_x_wanted([x for x, _, _ in points], x_scale):
        chart.x_log = True
        chart.title += " (log scale)"
        not_positive = [(r, x) for x, _, r in points if float(x) <= 0]
        if not_positive:
            shown = ", ".join(f"{run} ({fmt_value(x)})" for run, x in not_positive[:3])
            more = f" and {len(not_positive) - 3} more" if len(not_positive) > 3 else ""
            chart.notices.append(
                f"{len(not_positive)} run(s) with {by.label} <= 0 left out of the log axis: {shown}{more}"
            )
            points = [p for p in points if float(p[0]) > 0]
    points.sort(key=lambda p: p[0])
    chart.series.append(Series(label, [p[0] for p in points], [p[1] for p in points]))
    if not points and not no_x:
        chart.notices.append(f"no run has a number for {label}")
    return chart


def history_of(log: RunLog, metric: str) -> list[tuple[int, Any]]:
    """The series of `metric` in a run: `name` from the last step (in execution order) that has one,
    `<step>.<name>` from that step. [] when the run has none."""
    found: list[tuple[int, Any]] = []
    for step in log.walk():
        for name, points in step.metric_history.items():
            if name == metric or f"{step.internal_name}.{name}" == metric:
                found = [(p.step, p.value) for p in points]
    return found


def run_labels(runs: list[IndexedRun], most: int = 3) -> dict[str, str]:
    """A short name for each run in a chart: the parameters whose values differ between these runs
    (`lr=0.01`, up to `most` of them, `lr=0.01 batch=32`), the run id when none differs or two runs would
    share a name."""
    from magnus_core.table import fmt_value

    names = sorted({n for r in runs for n in r.params})
    varying = [n for n in names if len(runs) > 1 and _differs([r.params.get(n) for r in runs])][:most]
    labels = {
        r.summary.run_id: " ".join(f"{n}={fmt_value(r.params.get(n))}" for n in varying) or r.summary.run_id
        for r in runs
    }
    if len(set(labels.values())) < len(labels):
        return {r.summary.run_id: r.summary.run_id for r in runs}
    return labels


# a history chart draws at most this many runs: one line each, told apart by plots.DISTINCT's ten markers
HISTORY_MOST = 10


def history_chart(
    logs: list[RunLog], metric: Key, labels: dict[str, str] | None = None, *, last: bool = False
) -> Chart:
    """A metric's series in each run, one line per run (x: the step number given to track_this), named
    by `labels` (run id -> name, `run_labels`), else by run id; the first HISTORY_MOST runs with a series
    in the order given, or the last ones with `last` (runs listed oldest first: the newest); a notice says
    how many were left out."""
    labels = labels or {}
    if metric.kind != "metric":
        raise UsageError(f"--plot-history {metric.label}: plot a metric (metrics.<name>)")
    chart = Chart(
        title=f"{metric.label} history", xlabel="step", ylabel=metric.label, series=[], names_series=True
    )
    without: list[str] = []
    skipped: list[tuple[str, Any]] = []
    for log in logs:
        points = history_of(log, metric.name)
        if not points:
            without.append(log.run_id)
            continue
        good = [(s, float(v)) for s, v in points if is_number(v)]
        skipped += [(log.run_id, v) for _, v in points if not is_number(v)]
        if good:
            label = labels.get(log.run_id, log.run_id)
            chart.series.append(Series(label, [s for s, _ in good], [v for _, v in good]))
    if len(chart.series) > HISTORY_MOST:
        which = f"the last {HISTORY_MOST} (the newest)" if last else f"the first {HISTORY_MOST} listed"
        chart.notices.append(
            f"{len(chart.series)} runs have a series for {metric.label}: {which} are drawn (one marker each; "
            "more would not read apart); choose runs with --where or --tag, or name them: "
            "magnus compare RUN... --plot-history"
        )
        chart.series = chart.series[-HISTORY_MOST:] if last else chart.series[:HISTORY_MOST]
    if skipped:
        chart.notices.append(_not_number_notice(metric.label, skipped))
    if without and len(without) == len(logs) and len(logs) > 1:  # none has: the ids would say nothing
        chart.notices.append(
            f"none of the {len(logs)} runs has a series for {metric.label} (track_this(step=N, ...))"
        )
    elif without:
        chart.notices.append(
            f"{len(without)} run(s) have no series for {metric.label} (track_this(step=N, ...)): "
            f"{', '.join(without[:5])}{' ...' if len(without) > 5 else ''}"
        )
    return chart
