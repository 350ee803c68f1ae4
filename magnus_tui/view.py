"""The run screen's view-model: a run log as keyed rows, updated by RunEvents. No Textual here.

    view = RunView.from_runlog(log)       # rows for every step and branch, keyed by internal name
    changed = view.apply(event)           # keys whose rows changed (added ones included), ancestors too

The screen renders rows and updates only the widgets of the keys `apply` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from magnus_core.events import BRANCH_UPDATED, RUN_CREATED, RUN_UPDATED, STEP_UPDATED, RunEvent
from magnus_core.follow import step_signature
from magnus_core.logs import harmless
from magnus_core.models import run_log as run_log_times
from magnus_core.models.pipeline import Dag
from magnus_core.models.run_log import FINISHED, RunLog, StepLog, running_attempt, was_interrupted
from magnus_core.progress import Progress, planned_nodes, step_progress, stored_dag

if TYPE_CHECKING:
    from magnus_core.fatal import Crash

STEP = "step"
BRANCH = "branch"
PENDING = "PENDING"  # a planned step without a log yet (the view's, never a run log's status)
TERMINAL_TYPES = ("success", "fail")  # the dag's end nodes: not work, not counted in progress

# One glyph per status, readable without colour (NO_COLOR).
GLYPHS = {
    "SUCCESS": "✓",
    "FAIL": "✗",
    "PROCESSING": "▶",
    "RUNNING": "▶",
    "PER-STEP": "⋯",  # a run driven one step per process: waiting for its next step (runs.list_state)
    "CREATED": "·",
    "TRIGGERED": "↗",
    "INTERRUPTED": "■",
    "BROKEN": "!",
    "MOCK": "↺",
    "PENDING": "·",
}
STYLES = {
    "SUCCESS": "green",
    "FAIL": "red",
    "PROCESSING": "yellow",
    "RUNNING": "yellow",
    "PER-STEP": "cyan",
    "CREATED": "dim",
    "TRIGGERED": "cyan",
    "INTERRUPTED": "dark_orange",  # each end state its own colour (and glyph: they read without colour too)
    "BROKEN": "bold magenta",
    "MOCK": "blue",
    "PENDING": "dim",
}


# A node type's own mark beside its name in the dag tree, for types whose shape a bracketed word does not
# show at a glance; a type without one shows its name only.
NODE_GLYPHS: dict[str, str] = {
    "conditional": "◇",  # a decision: one branch of several runs
    "loop": "⟳",  # its branch again and again
}


def type_label(step_type: str) -> str:
    """A step type as the dag tree shows it: its glyph (NODE_GLYPHS) and its name, e.g. '◇ conditional'."""
    mark = NODE_GLYPHS.get(step_type)
    return f"{mark} {step_type}" if mark else step_type


def glyph(status: str, mock: bool = False) -> str:
    return GLYPHS["MOCK"] if mock and status == "SUCCESS" else GLYPHS.get(status, "?")


def style(status: str, mock: bool = False) -> str:
    return STYLES["MOCK"] if mock and status == "SUCCESS" else STYLES.get(status, "")


def parse_time(text: str | datetime | None) -> datetime | None:
    """A run-log time as an aware datetime (the core's reading: times without an offset are local)."""
    return run_log_times.parse_time(text)


def fmt_duration(seconds: float | None) -> str:
    """A duration as the command line's summary shows one (magnus_core.table.fmt_duration: 4.2ms, 1.23s,
    2m 5s, 1h 3m, under a millisecond `<1ms`: a success or fail node's 0.003ms read as a measurement to
    the microsecond, which it is not; issue 16); "" when unknown."""
    from magnus_core.table import fmt_duration as shown

    return "" if seconds is None else shown(seconds)


def failure_edges(dag: Dag, branch: str | None = None) -> dict[str, str]:
    """Every `on_failure` of `dag` and of its named branches: {step: the step it goes on to when it fails},
    by internal name. Branches run per item (a map's) are named at run time: theirs are left out."""
    from magnus_core.graph import branches, internal_name

    edges: dict[str, str] = {}
    for name, node in dag.steps.items():
        here = internal_name(branch, name)
        target = getattr(node, "on_failure", None)
        if target:
            edges[here] = internal_name(branch, target)
        for spec in branches(node):
            if spec.name is not None:
                edges.update(failure_edges(spec.dag, f"{here}.{spec.name}"))
    return edges


@dataclass
class Row:
    """One line of the dag tree: a step or a branch."""

    key: str
    kind: str
    name: str
    parent: str | None
    status: str = "CREATED"
    step_type: str = ""
    mock: bool = False
    attempts: int = 0
    message: str = ""
    start: datetime | None = None
    end: datetime | None = None
    planned: bool = False  # from the dag only: no log of it yet (status PENDING)
    on_path: bool = True  # a run in which every step succeeds passes through it (progress.PlannedNode)
    running_attempt: int | None = None  # the attempt in progress (running_attempt), while PROCESSING
    running_since: datetime | None = None  # and when it began
    # an attempt begun and never recorded, in a run that ended (its process died: kill -9): (number, began)
    cut_attempt: tuple[int, datetime | None] | None = None
    # why that attempt was cut short when a fatal signal ended the process (logs.cut_short's words):
    # `crashed (Segmentation fault) at mlproj/crashy.py:10 in train`, or for a branch the crash hit from
    # another, `was cut short: the run's process crashed in fan.crashy.s`; "" for a plain kill (-9)
    crash: str = ""
    # the fatal signal's reason (`Segmentation fault`) on the step it hit and on the branches holding that
    # step, which the dag marks `■ crashy  crashed`: the branches it took down read ■ alone (trial 16 F2:
    # `■ stubborn`, `■ crashy`, `■ gpu`, `■ slow` alike); "" for every other row
    crashed: str = ""
    on_failure: str = ""  # the step its dag goes on to when it fails (its `on_failure`), by name
    failure_of: list[str] = field(default_factory=list)  # the steps whose on_failure it is, by name

    @property
    def edge_note(self) -> str:
        """The dag's failure edges at this step, as the dag tree writes them after its time: `→ on failure:
        sh` (where the run goes if it fails) and `← on failure of quits` (why it ran). "" for none."""
        notes = []
        if self.on_failure:
            notes.append(f"→ on failure: {self.on_failure}")
        if self.failure_of:
            notes.append(f"← on failure of {', '.join(self.failure_of)}")
        return "  ".join(notes)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, (self.end - self.start).total_seconds())

    @property
    def reached_fail(self) -> bool:
        """The dag's fail node, reached: its log says SUCCESS (the node did its job), the run failed there."""
        return self.step_type == "fail" and self.status == "SUCCESS"

    @property
    def glyph(self) -> str:
        return glyph("FAIL") if self.reached_fail else glyph(self.status, self.mock)

    @property
    def style(self) -> str:
        return style("FAIL") if self.reached_fail else style(self.status, self.mock)


@dataclass
class RunView:
    """Everything the run screen shows, keyed for in-place updates."""

    run_id: str
    status: str = "CREATED"
    tag: str = ""
    original_run_id: str = ""
    dag_hash: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)
    children: dict[str | None, list[str]] = field(default_factory=dict)
    steps: dict[str, StepLog] = field(default_factory=dict)
    run_config: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    state: str = ""  # what the run is now (runs.run_state): RUNNING, INTERRUPTED, ... ("" not known yet)
    crash_step: str = ""  # the step a fatal signal ended the run's process in (settle), "" for none
    started: datetime | None = None  # when the run began (its process record), else its first step's start
    planned: bool = False  # the rows of the dag recorded in the log were added (plan)
    dag: Dag | None = None  # the dag recorded in the log (progress.stored_dag), once plan has read it
    failure_edges: dict[str, str] = field(
        default_factory=dict
    )  # step -> its on_failure step (internal names)
    _failure_of: dict[str, list[str]] = field(default_factory=dict, repr=False)  # failure_edges reversed
    _failure_of_for: int = field(default=-1, repr=False)  # the number of edges _failure_of was made from
    _item_templates: dict[str, tuple[set[str], dict[str, str]]] = field(default_factory=dict, repr=False)

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def from_runlog(cls, log: RunLog, state: str = "") -> RunView:
        """Rows for every step of the dag the log records (planned ones PENDING) and every step and branch
        it holds; `state` (runs.run_state) settles steps of an interrupted run (settle)."""
        view = cls(run_id=log.run_id)
        view._set_run(log)
        view.plan(log)

        def add_steps(container: dict[str, StepLog], parent: str | None) -> None:
            for step in container.values():
                view._put_step(step, parent, propagate=False)
                for branch in step.branches.values():
                    view._put_branch(branch.internal_name, branch.status, step.internal_name, propagate=False)
                    add_steps(branch.steps, branch.internal_name)
                    view._span_from_children(branch.internal_name)
                if step.branches and not step.attempts:
                    view._span_from_children(step.internal_name)

        add_steps(log.steps, None)
        if state:
            view.settle(state)
        return view

    def plan(self, log: RunLog) -> list[str]:
        """Add a PENDING row for every step of the dag recorded in `log` that has none yet (map items come
        once the run fans out; an end node off the success path, the fail node, only if it runs). Returns
        the keys added."""
        if self.planned:
            return []
        dag = stored_dag(log)
        if dag is None:
            return []
        self.planned = True
        self.dag = dag
        added: list[str] = []
        for node in planned_nodes(dag):
            if node.internal_name in self.rows or (not node.on_path and node.step_type in TERMINAL_TYPES):
                continue
            if node.parent is not None and node.parent not in self.rows:
                continue  # under a step left out above
            row = Row(
                key=node.internal_name,
                kind=node.kind,
                name=node.name,
                parent=node.parent,
                status=PENDING,
                step_type=node.step_type,
                planned=True,
                on_path=node.on_path,
            )
            self.rows[row.key] = row
            self._link(row.key, node.parent)
            added.append(row.key)
        self.failure_edges = failure_edges(dag)
        for key, row in list(self.rows.items()):  # map items' branches logged before the log came
            if row.kind == BRANCH:
                self._item_edges(key)
        for source, target in self.failure_edges.items():  # rows made from events before the log came
            for key in (source, target):
                if key in self.rows:
                    self._edges_of(self.rows[key])
                    added.append(key)
        return list(dict.fromkeys(added))

    def branch_dag(self, key: str) -> Dag | None:
        """The graph the branch row `key` runs, found in the recorded dag by the names of the rows above it
        (a step's row by its node's name, a branch's by its branch's name, or a map's item by the map's one
        branch run per item: an item's name may hold dots, the rows' names say where it ends). None when
        the dag is not known or does not hold it."""
        from magnus_core.graph import branches

        path: list[Row] = []
        at: str | None = key
        while at is not None:
            row = self.rows.get(at)
            if row is None or len(path) > 80:
                return None
            path.append(row)
            at = row.parent
        graph: Dag | None = self.dag
        node: Any = None
        for row in reversed(path):
            if row.kind == STEP:
                node = graph.steps.get(row.name) if graph is not None else None
                if node is None:
                    return None
                graph = None
            else:
                specs = branches(node) if node is not None else []
                spec = next((s for s in specs if s.name == row.name), None)
                spec = spec or next((s for s in specs if s.name is None), None)
                if spec is None:
                    return None
                graph, node = spec.dag, None
        return graph

    def _item_edges(self, key: str) -> list[str]:
        """The `on_failure` edges of the branch row `key` when it is one its composite runs per item (a
        map's item, a loop's iteration): named at run time, so failure_edges of the recorded dag cannot hold
        them; they are added once the branch is known, the same as the named branches' (trials 8 and 9: a
        map's items showed none). Returns the keys of rows whose edges changed."""
        row = self.rows.get(key)
        if row is None or row.parent is None or self.dag is None:
            return []
        template = self._item_templates.get(row.parent)
        if template is None:  # (once per composite: its items share one graph)
            template = self._item_templates[row.parent] = self._item_template(row.parent)
        named, relative = template
        if not relative or row.name in named:  # a named branch: failure_edges has it already
            return []
        edges = {f"{key}.{source}": f"{key}.{target}" for source, target in relative.items()}
        self.failure_edges.update(edges)
        changed = []
        for source, target in edges.items():
            for end in (source, target):
                if end in self.rows:
                    self._edges_of(self.rows[end])
                    changed.append(end)
        return changed

    def _item_template(self, composite: str) -> tuple[set[str], dict[str, str]]:
        """(the names of the composite step's named branches, the on_failure edges of the graph it runs per
        item relative to an item's branch); ({}, {}) when the dag does not say."""
        from magnus_core.graph import branches

        row = self.rows.get(composite)
        if row is None or row.kind != STEP:
            return set(), {}
        holder = self.branch_dag(row.parent) if row.parent is not None else self.dag
        node = holder.steps.get(row.name) if holder is not None else None
        if node is None:
            return set(), {}
        specs = branches(node)
        per_item = next((spec for spec in specs if spec.name is None), None)
        named = {spec.name for spec in specs if spec.name is not None}
        return named, failure_edges(per_item.dag) if per_item is not None else {}

    def _edges_of(self, row: Row) -> None:
        """The row's failure edges (failure_edges) by the steps' names."""
        if self._failure_of_for != len(self.failure_edges):  # (edges added since: the reverse made again)
            self._failure_of, self._failure_of_for = {}, len(self.failure_edges)
            for source, end in self.failure_edges.items():
                self._failure_of.setdefault(end, []).append(source)
        target = self.failure_edges.get(row.key)
        row.on_failure = target.rsplit(".", 1)[-1] if target else ""
        row.failure_of = [s.rsplit(".", 1)[-1] for s in self._failure_of.get(row.key, ())]

    def _ended_branch(self, key: str) -> str:
        """SUCCESS when branch `key`'s success node is recorded reached, FAIL for its fail node (whose log
        says SUCCESS), else ""."""
        prefix = f"{key}."
        for name, step in self.steps.items():
            if name.startswith(prefix) and "." not in name[len(prefix) :] and step.status == "SUCCESS":
                if step.step_type == "success":
                    return "SUCCESS"
                if step.step_type == "fail":
                    return "FAIL"
        return ""

    def settle(self, state: str) -> list[str]:
        """The run is now `state` (runs.run_state). Interrupted (stopped, or its process is gone): a step
        or branch still PROCESSING will never finish, and is shown INTERRUPTED. Returns the keys changed."""
        self.state = state
        from magnus_core.runs import driven_per_step

        if state == "RUNNING" and driven_per_step(self.run_config):  # (trial 15 N8)
            return self._per_step_gone()
        if state != "INTERRUPTED":
            return []
        changed: list[str] = []
        cut: list[Row] = []  # rows with an attempt cut short that say nothing yet (_say_cut)
        for row in self.rows.values():
            step = self.steps.get(row.key)
            if step is not None and row.status == "FAIL" and was_interrupted(step):  # cut short, not failed
                row.status = "INTERRUPTED"
                changed.append(row.key)
            elif (
                row.kind == BRANCH and row.status in ("PROCESSING", "RUNNING") and self._ended_branch(row.key)
            ):
                # it reached its success (fail) node before the run died: its work was done, as a stopped
                # run records it (runner._branch_end; trial 15 N5: ■ like the branch that crashed)
                row.status = self._ended_branch(row.key)
                changed.append(row.key)
            elif row.status in ("PROCESSING", "RUNNING", "CREATED") and not row.planned:
                row.status = "INTERRUPTED"
                # no end: its last recorded time (a composite's ended branch, a retried step's failed attempt)
                # is not when it stopped; no duration, as `magnus show` and `magnus diff` (trial 13 fault 3)
                row.end = None
                if row.running_attempt is not None:  # begun, never recorded: shown as such (trial 11)
                    row.cut_attempt = (row.running_attempt, row.running_since)
                row.running_attempt = row.running_since = None
                if not row.message and row.cut_attempt is not None:
                    cut.append(row)
                elif not row.message and row.kind == STEP:
                    row.message = "interrupted: the run stopped while this step ran"
                changed.append(row.key)
        self._say_cut(cut)
        marked = [row.key for row in self.rows.values() if row.crashed and row.key not in changed]
        return changed + marked  # (a branch already ■ is drawn again, marked crashed: _mark_crashed)

    def _per_step_gone(self) -> list[str]:
        """A run driven one step per process: each step whose attempt's process is known to be gone
        (StepLog.process on this host: runs.step_process_gone) reads cut short, as `magnus show` says it
        (logs.per_step_cut_short; trial 15 N8: it read `▶ running` for ever): a fatal signal located in
        that process's own fatal file as `attempt 0 crashed (Segmentation fault) at ...`, and what it held
        in memory (its own held file) counted as output reached, as `magnus show` and the Output tab read
        them (session 12: the tab said `none of its output reached its file` of a line `magnus logs`
        showed). Returns the keys changed."""
        from magnus_core.logs import NOTHING_REACHED
        from magnus_core.runs import step_process_gone

        changed = []
        for row in self.rows.values():
            step = self.steps.get(row.key)
            if step is None or row.running_attempt is None or not isinstance(step.process, dict):
                continue
            pid = step_process_gone(step)
            if pid is None:
                continue
            number = row.running_attempt
            row.cut_attempt = (number, row.running_since)
            row.running_attempt = row.running_since = None
            crash = self._step_crash(row.key, pid)
            if crash is not None:
                row.crash = crash.said()
                self.crash_step = self.crash_step or row.key
                self._mark_crashed(row.key, crash.reason)
                said = f"attempt {number} {row.crash}"
            else:
                said = f"attempt {number} was cut short: its process (pid {pid}) is gone"
            reached = "what it wrote until then: Output (o)"
            row.message = (
                f"{said}; {reached if self._reached_file(row.key, number, pid) else NOTHING_REACHED}"
            )
            changed.append(row.key)
        return changed

    def _step_crash(self, key: str, pid: int) -> Crash | None:
        """The fatal signal that ended per-step process `pid` running step `key` (fatal.step_crash)."""
        from magnus_core.fatal import step_crash
        from magnus_core.logs import catalog_in

        return step_crash(catalog_in(self.run_config), self.run_id, key, pid)

    def _say_cut(self, cut: list[Row]) -> None:
        """The Step tab's line of each attempt cut short, with the fatal signal that ended the process when
        faulthandler wrote one (fatal.crash_in; the step it crashed in, as logs.cut_short says it for
        `magnus show`): trial 15 N2, the run screen said of a segfault what it says of a kill -9, and opened
        on a branch the crash took down with it. `crash_step` is where the run screen opens."""
        from magnus_core.fatal import crash_in
        from magnus_core.logs import NOTHING_REACHED

        crash = crash_in(self.run_config, self.run_id) if cut else None
        # what the watcher stopped of each step's processes as the process died (trial 15 N4), under it
        from magnus_core.stopped import record_in, said_of

        record = record_in(self.run_config, self.run_id) if cut else None
        stopped = said_of(
            record,
            [(row.key, row.cut_attempt[0], _epoch(row.cut_attempt[1])) for row in cut if row.cut_attempt],
        )
        for row in cut:
            assert row.cut_attempt is not None
            number = row.cut_attempt[0]
            if crash is not None and (len(cut) == 1 or crash.step == row.key):
                row.crash = crash.said()
                self.crash_step = row.key
                self._mark_crashed(row.key, crash.reason)
            elif crash is not None and crash.step:
                row.crash = f"was cut short: the run's process crashed in {crash.step}"
            if crash is not None and row.crash and row.key == self.crash_step:
                said = f"interrupted: attempt {number} {row.crash}; "
            elif crash is not None and crash.step:
                said = f"interrupted: the run's process crashed in {crash.step} while attempt {number} ran; "
            else:
                said = f"interrupted: the run's process ended while attempt {number} ran; "
            row.message = said + (
                "what it wrote until then: Output (o)"
                if self._reached_file(row.key, number)
                else NOTHING_REACHED  # (trial 13 fault 5: the tab it pointed to had nothing)
            )
            if (row.key, number) in stopped.of_attempt:
                row.message += "\n" + stopped.of_attempt[(row.key, number)]

    def _mark_crashed(self, key: str, reason: str) -> None:
        """Row `key`, the step a fatal signal hit, and each branch row above it (`fan.crashy`, a map's
        item), marked crashed with `reason` (Row.crashed) for the dag to draw; a composite step's row (the
        parallel `fan`) is not: its other branches did not crash."""
        row: Row | None = self.rows.get(key)
        while row is not None:
            if row.key == key or row.kind == BRANCH:
                row.crashed = reason
            row = self.rows.get(row.parent) if row.parent is not None else None

    def _reached_file(self, key: str, number: int, pid: int | None = None) -> bool:
        """Whether some of attempt `number` of step `key`, cut short, reached its `.live` file in the run's
        catalog, or its pieces in a bucket, or the held file its process wrote through (fatal.hold: the
        run's, or per-step process `pid`'s own), as magnus_core.logs.cut_short finds it for `magnus show`:
        a look at each, once as the run is settled. True when the catalog cannot be made here (the Output
        tab says what it finds)."""
        from magnus_core.catalog import make_catalog, output_name
        from magnus_core.fatal import fatal_file, held_output, step_fatal_file

        block = self.run_config.get("catalog")
        if not isinstance(block, dict):
            return True
        try:
            catalog, name = make_catalog(block), output_name(key, number)
            if catalog.live_file(self.run_id, name) is not None:
                return True
            if catalog.live_output(self.run_id, name) is not None:
                return True
            fatal = (
                step_fatal_file(catalog, self.run_id, key, pid)
                if pid is not None
                else fatal_file(catalog, self.run_id)
            )
            return fatal is not None and bool(held_output(catalog, self.run_id, fatal).get(name))
        except Exception:  # a catalog of another version, a name a run log gave: not known, as before
            return True

    @classmethod
    def broken(cls, run_id: str, reason: str) -> RunView:
        return cls(run_id=run_id, status="BROKEN", error=reason)

    def _set_run(self, log: RunLog) -> None:
        self.status = log.status
        self.tag = log.tag or ""
        self.original_run_id = log.original_run_id or ""
        self.dag_hash = log.dag_hash or ""
        self.parameters = dict(log.parameters)
        self.run_config = log.run_config if isinstance(log.run_config, dict) else {}
        process = self.run_config.get("process")
        if isinstance(process, dict) and process.get("started_at"):
            self.started = parse_time(str(process["started_at"]))

    # -- updating ----------------------------------------------------------------------------------
    def apply(self, event: RunEvent, run_log: RunLog | None = None) -> list[str]:
        """Fold one event in; return the keys of rows added or changed (ancestors included)."""
        if event.kind == STEP_UPDATED and event.step_log is not None:
            old = self.steps.get(event.internal_name)
            if old is not None and step_signature(old) == step_signature(event.step_log):
                return []  # seen already (a run started here replays its latest notices to a new screen)
            return self._put_step(event.step_log, event.parent)
        if event.kind == BRANCH_UPDATED:
            row = self.rows.get(event.internal_name)
            if row is not None and not row.planned and row.status == (event.status or row.status):
                return []
            return self._put_branch(event.internal_name, event.status, event.parent)
        if event.kind in (RUN_UPDATED, RUN_CREATED):
            if event.status:
                self.status = event.status
            if run_log is not None:
                self._set_run(run_log)
            elif isinstance(event.extra.get("parameters"), dict):  # a notice of the run's own process
                self.parameters = dict(event.extra["parameters"])
            if self.status == "INTERRUPTED":  # no step of it runs on: none may go on reading "running"
                return self.settle("INTERRUPTED")
        return []

    def _link(self, key: str, parent: str | None) -> None:
        if parent is not None and parent not in self.rows:
            parent = None  # an event for a part we have not seen: show it at the top rather than lose it
        self.children.setdefault(parent, []).append(key)
        self.children.setdefault(key, [])

    def _put_step(self, step: StepLog, parent: str | None, propagate: bool = True) -> list[str]:
        key = step.internal_name
        row = self.rows.get(key)
        if row is None:
            row = Row(key=key, kind=STEP, name=step.name, parent=parent if parent in self.rows else None)
            self._link(key, parent)
            self.rows[key] = row
            if self.failure_edges:
                self._edges_of(row)
        self.steps[key] = step
        row.planned = False
        row.status, row.step_type, row.mock = step.status, step.step_type, step.mock
        row.attempts, row.message = len(step.attempts), harmless(step.message)  # (trial 14, F13)
        if step.attempts:
            row.start = step.attempts[0].start_time
            row.end = step.attempts[-1].end_time
            if not row.message and step.attempts[-1].status == "FAIL":
                row.message = harmless(step.attempts[-1].message)
        elif step.start_time and not step.branches and not step.mock:  # a reused step began in its original
            row.start = parse_time(step.start_time)
        current = running_attempt(step)
        row.running_attempt = current[0] if current else None
        row.running_since = parse_time(current[1]) if current else None
        if self.state == "INTERRUPTED" and (row.status == "PROCESSING" or was_interrupted(step)):
            self.settle(self.state)
        return self._propagate(key) if propagate else [key]

    def _put_branch(self, key: str, status: str, parent: str | None, propagate: bool = True) -> list[str]:
        row = self.rows.get(key)
        if row is None:
            name = (
                key[len(parent) + 1 :] if parent and key.startswith(parent + ".") else key.rsplit(".", 1)[-1]
            )
            row = Row(key=key, kind=BRANCH, name=name, parent=parent if parent in self.rows else None)
            self._link(key, parent)
            self.rows[key] = row
            edged = self._item_edges(key) if self.planned else []
        else:
            edged = []
        row.planned = False
        row.status = status or row.status
        changed = self._propagate(key) if propagate else [key]
        return changed + [k for k in edged if k not in changed]

    def _span_from_children(self, key: str) -> bool:
        """A branch's (or attempt-less composite's) time span is that of what it holds."""
        row = self.rows[key]
        kids = [self.rows[c] for c in self.children.get(key, ())]
        starts = [k.start for k in kids if k.start is not None]
        ends = [k.end for k in kids if k.end is not None]
        start, end = (min(starts) if starts else None), (max(ends) if ends else None)
        if (start, end) == (row.start, row.end):
            return False
        row.start, row.end = start, end
        return True

    def _propagate(self, key: str) -> list[str]:
        changed = [key]
        parent = self.rows[key].parent
        while parent is not None:
            prow = self.rows[parent]
            step = self.steps.get(parent)
            spans_children = prow.kind == BRANCH or step is None or not step.attempts
            if spans_children and not self._span_from_children(parent):
                break
            changed.append(parent)
            parent = prow.parent
        return changed

    # -- reading -----------------------------------------------------------------------------------
    def walk(self, parent: str | None = None, depth: int = 0) -> Iterator[tuple[Row, int]]:
        """Rows in display order with their depth."""
        for key in self.children.get(parent, ()):
            yield self.rows[key], depth
            yield from self.walk(key, depth + 1)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """The run's metrics: per step internal name, only steps that tracked something."""
        return {k: s.user_defined_metrics for k, s in self.steps.items() if s.user_defined_metrics}

    def _work(self) -> Iterator[Row]:
        """The steps that do the work: steps without rows under them (a composite counts once until its
        branches are known, then its steps count instead), end nodes left out, and planned steps a run in
        which every step succeeds would not reach."""
        for row in self.rows.values():
            if row.kind != STEP or row.step_type in TERMINAL_TYPES or self.children.get(row.key):
                continue
            if row.planned and not row.on_path:
                continue
            yield row

    def counts(self) -> dict[str, int]:
        """The steps that do the work (the ones `progress` counts) by status (PENDING: planned, not begun)."""
        out: dict[str, int] = {}
        for row in self._work():
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def step_progress(self) -> Progress:
        """How far the run has got along its path, by the rule the run index and `magnus runs` use
        (magnus_core.progress.step_progress), from the rows (statuses as settled: a stopped step is
        INTERRUPTED)."""
        steps = {
            key: (row.status, row.mock)
            for key, row in self.rows.items()
            if row.kind == STEP and not row.planned and row.step_type not in TERMINAL_TYPES
        }
        branches = {key for key, row in self.rows.items() if row.kind == BRANCH and not row.planned}
        return step_progress(self.dag, steps, branches)

    def progress(self) -> tuple[int, int]:
        """(done, total) of step_progress."""
        counted = self.step_progress()
        return counted.done, counted.total

    def fanned_out(self) -> list[tuple[Row, int, int]]:
        """Composite steps running now whose branches are known, with (branches ended, branches): a map's
        items, a loop's iterations (the last one is running), a parallel's branches. Outermost first."""
        out = []
        for row, _ in self.walk():
            if row.kind != STEP or row.planned or row.status not in ("PROCESSING", "RUNNING"):
                continue
            branches = [
                self.rows[key] for key in self.children.get(row.key, ()) if self.rows[key].kind == BRANCH
            ]
            if branches:
                out.append((row, sum(1 for b in branches if b.status in FINISHED), len(branches)))
        return out

    def running_keys(self) -> list[str]:
        """Steps running now (their elapsed time moves)."""
        return [key for key, row in self.rows.items() if row.running_since is not None]

    @property
    def live(self) -> bool:
        """Still going: not finished as recorded, and not known to be interrupted."""
        return self.status not in FINISHED and self.state not in ("INTERRUPTED", "BROKEN") and not self.error

    def span(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) of the run by the rule every view of a run uses (magnus_core.index.record.run_span):
        its process's recorded start, else its first own step's start; its last own step's end. Steps a
        re-run reused (mock) are left out: their times are their original's."""
        own = [r for r in self.rows.values() if not r.mock]
        start = self.started or min((r.start for r in own if r.start is not None), default=None)
        if self.state == "INTERRUPTED" and self.status in ("PROCESSING", "CREATED"):
            # its process died without ending it: its last step's end is its last write, not its end (trial
            # 12: a run killed after 4 s read 87.3ms); no end, as magnus runs and magnus show give none
            return start, None
        end = max((r.end for r in own if r.end is not None), default=None)
        return start, end

    def elapsed(self, now: datetime) -> float | None:
        """Seconds since the run began (to its last step's end once it has ended)."""
        start, end = self.span()
        if start is None:
            return None
        if self.live:
            return max(0.0, (now - start).total_seconds())
        return max(0.0, (end - start).total_seconds()) if end is not None else None

    @property
    def duration(self) -> float | None:
        """Seconds from the run's start to its end (span); None until both are known."""
        start, end = self.span()
        if start is None or end is None:
            return None
        return max(0.0, (end - start).total_seconds())

    def output_log(self, key: str | None) -> RunLog | None:
        """A run log holding what the output of step `key` (None: the whole run) is read from, built from
        the view (no read of the store): the run's id, config (its catalog) and original, and the step, or
        every step in display order without their branches. None when the view cannot say (a composite
        step, whose nested steps' output is shown; an attempt cut short as the run's process died, which
        logs.cut_short tells from the other steps begun, a crashed step from its victims: trial 16 F2, the
        step alone read as the only one begun, so the one the crash hit: read the run log)."""
        if key is not None:
            step = self.steps.get(key)
            row = self.rows.get(key)
            if step is None or self.children.get(key) or (row is not None and row.cut_attempt is not None):
                return None
            chosen = {key: step}
        else:
            chosen = {}
            for row, _ in self.walk():
                found = self.steps.get(row.key)
                if found is not None:
                    chosen[row.key] = found.model_copy(update={"branches": {}}) if found.branches else found
        return RunLog(
            run_id=self.run_id,
            status=self.status,
            original_run_id=self.original_run_id,
            run_config=self.run_config,
            steps=chosen,
        )

    def first_failure(self) -> str | None:
        for row, _ in self.walk():
            if row.kind == STEP and row.status == "FAIL" and not self.children.get(row.key):
                return row.key
        return None

    def first_interrupted(self) -> str | None:
        """The first step (not a composite holding it) an interrupted run stopped in: Ctrl-C, `magnus
        stop`, a kill -9 that cut its attempt short. None while live or for none."""
        if self.live:
            return None
        if self.crash_step in self.rows:  # a fatal signal's step, not a branch it took down (trial 15 N2)
            return self.crash_step
        for row, _ in self.walk():
            if row.kind == STEP and row.status == "INTERRUPTED" and not self.children.get(row.key):
                return row.key
        return None


def _epoch(when: datetime | None) -> float | None:
    """`when` in seconds since the epoch, None when not known."""
    try:
        return when.timestamp() if when is not None else None
    except (ValueError, OverflowError, OSError):
        return None
