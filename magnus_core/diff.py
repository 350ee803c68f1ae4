"""What changed between two runs: two RunLogs in, a typed, grouped RunDiff out (no Textual, no printing).

API (used by `magnus diff`, the workbench's diff screen and the tests)::

    compare(a: RunLog, b: RunLog, *, repo: str | Path | None = ".") -> RunDiff
    open_run(ref: str, store: RunLogStore | None) -> RunLog   # a run id in the store, or a run-log JSON file

    RunDiff       a: RunRef, b: RunRef, groups: dict[str, GroupDiff] (always all of GROUPS, in that order),
                  skipped: list[Skipped], differs: bool, count: int, to_json() -> dict ("schema": "magnus-diff/1")
    GroupDiff     name, changes: list[Change] (every compared item, equal ones included, in a stable order),
                  count: int (changes that are not "equal" and not informational), differs: bool,
                  changed: list[Change] (the non-equal ones)
    Change        kind: "added" | "removed" | "changed" | "equal"
                  key: str          human key, e.g. "prepare", "prepare › variance", "prepare › out.csv"
                  step: str         the step's internal_name when the change belongs to a step, else ""
                  field: str        what is compared: "command", "status", "attempts", "duration", "data_hash" ...
                  before, after     plain JSON values (None when absent on that side)
                  delta             after - before when both are numbers (durations: seconds)
                  ratio             after / before for durations (None otherwise)
                  detail            one short human sentence ("files changed between commits: a.py, b.py")
                  informational     True for timings: shown, never counted in `count` / `differs`
    Skipped       group, reason     what could not be compared ("dag: run A has no run_config['dag'] ...")

GROUPS = ("run", "dag", "code", "data", "parameters", "metrics", "steps"). Steps are matched by internal_name
(nested branch steps included), never by position, so an inserted step is one "added" change. deepdiff
compares values (parameters, metrics, step definitions) but only where a plain `==` already found a
difference, and its paths are turned into keys like "config › lr"; nothing else of deepdiff leaks out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "magnus-diff/1"
GROUPS = ("run", "dag", "code", "data", "parameters", "metrics", "steps")
ADDED, REMOVED, CHANGED, EQUAL = "added", "removed", "changed", "equal"


@dataclass(frozen=True, kw_only=True)
class Change:
    """One compared item: added, removed, changed or equal."""

    kind: str
    key: str
    step: str = ""
    field: str = ""
    before: Any = None
    after: Any = None
    delta: float | None = None
    ratio: float | None = None
    detail: str = ""
    informational: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "step": self.step, "field": self.field,
                "before": self.before, "after": self.after, "delta": self.delta, "ratio": self.ratio,
                "detail": self.detail, "informational": self.informational}


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """A part of the comparison that could not be made, and why."""

    group: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RunRef:
    """Which run a side of the diff is: its id and where it was read from."""

    run_id: str
    source: str = ""
    status: str = ""


@dataclass(frozen=True, kw_only=True)
class GroupDiff:
    name: str
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.kind != EQUAL]

    @property
    def count(self) -> int:
        return sum(1 for c in self.changes if c.kind != EQUAL and not c.informational)

    @property
    def differs(self) -> bool:
        return self.count > 0

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "changes": [c.to_json() for c in self.changes]}


@dataclass(frozen=True, kw_only=True)
class RunDiff:
    a: RunRef
    b: RunRef
    groups: dict[str, GroupDiff]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups.values())

    @property
    def differs(self) -> bool:
        return self.count > 0

    def to_json(self, *, include_equal: bool = True) -> dict[str, Any]:
        """The stable structure documented in docs/diff.md."""
        raise NotImplementedError
