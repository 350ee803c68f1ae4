"""What changed between two runs: two run logs in, a typed, grouped RunDiff out (no Textual, no printing).

API (used by `magnus diff`, the workbench's diff screen and the tests)::

    compare(a, b, *, repo: str | Path | None = ".") -> RunDiff
                  a, b: RunLogs, or plain run logs (models.plain: what `magnus diff` reads, checked
                  like the models without making them)
    open_run(ref: str, store: RunLogStore | None) -> tuple[RunLog, str]
    open_plain(ref: str, store: RunLogStore | None) -> tuple[dict, str]
                  a run id or a run-log JSON file (as a RunLog, or as a plain run log), and where it
                  was read from (raises RunLogError / RunNotFoundError)

    RunDiff       a: RunRef, b: RunRef, groups: dict[str, GroupDiff] (always all of GROUPS, in that order),
                  skipped: list[Skipped], differs: bool, count: int, output: OutputDiff (the steps
                  whose output's SHA256 differs; informational, never in count),
                  to_json(include_equal=False) -> dict ("schema": "magnus-diff/2", documented in docs/diff.md)
    GroupDiff     name, changes: list[Change] (every compared item, equal ones included, in a stable order),
                  count: int (changes that are not "equal" and not informational), differs: bool,
                  changed: list[Change] (the non-equal ones)
    Change        kind: "added" | "removed" | "changed" | "equal" | "not_run"
                  key: str          human key, e.g. "prepare", "prepare › variance", "prepare › out.csv"
                  path: list[str]   the key's parts (key.split(" › ")): what scripts match on, no "›"
                  step: str         the step's internal_name when the change belongs to a step, else ""
                  field: str        what is compared: "command", "status", "attempts", "duration", ...
                  before, after     plain JSON values (None when absent on that side)
                  delta             after - before when both are numbers (durations: seconds)
                  ratio             after / before for durations (None otherwise)
                  detail            one short human sentence ("files changed between commits: a.py, b.py")
                  informational     True for timings: shown, never counted in `count` / `differs`
    Skipped       group, reason     what could not be compared ("dag: run A has no run_config['dag'] ...")

GROUPS = ("run", "dag", "code", "data", "parameters", "metrics", "steps"). Steps are matched by internal_name
(nested branch steps included), never by position, so an inserted step is one "added" change. A step that
ran in one run and is in the other run's dag but did not run there (that run failed or stopped before it) is
"not_run", never "removed" (removed means gone from the dag); all the not-run steps of a side count as one
difference, as they read as one line ("1766 steps not run in B (s1235 … s3000)"). deepdiff
compares values (parameters, metrics, step definitions) but only where a plain `==` already found a
difference, and its paths are turned into keys like "config › lr"; nothing else of deepdiff leaks out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.models.plain import FIELDS
from magnus_core.models.times import since_epoch

if TYPE_CHECKING:
    from magnus_core.models.run_log import RunLog
    from magnus_core.stores.base import RunLogStore

# A plain run log and one of its step logs (models.plain): JSON objects with the models' fields.
PlainLog = dict[str, Any]
PlainStep = dict[str, Any]
# A compare reads each time twice (its step's duration, the run's): the instants of the times read so far.
_Memo = dict[str, timedelta | None]

SCHEMA = "magnus-diff/2"
GROUPS = ("run", "dag", "code", "data", "parameters", "metrics", "steps")
ADDED, REMOVED, CHANGED, EQUAL = "added", "removed", "changed", "equal"
NOT_RUN = "not_run"  # in both dags, ran in one run only (before or after is None on the side it did not)


@dataclass(kw_only=True, slots=True)
class Change:
    """One compared item: added, removed, changed, equal or not_run. (Not frozen: a 10,000-step diff makes
    tens of thousands of them, and a frozen dataclass costs three times as much to make; nothing changes
    one.)"""

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
        return {
            "kind": self.kind,
            "key": self.key,
            "path": self.key.split(SEP),
            "step": self.step,
            "field": self.field,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "ratio": self.ratio,
            "detail": self.detail,
            "informational": self.informational,
        }


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """A part of the comparison that could not be made, and why."""

    group: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RunRef:
    """Which run a side of the diff is: its id, where it was read from, its status as recorded and what it
    is now (`state`, runs.plain_state, as `magnus runs` says it: INTERRUPTED for a run recorded PROCESSING
    whose process is gone, runs.process_gone; RUNNING while it lives, PER-STEP for one driven one step per
    process; else its status)."""

    run_id: str
    source: str = ""
    status: str = ""
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class GroupDiff:
    """One group (run, dag, code, data, parameters, metrics, steps): every compared item, in order."""

    name: str
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.kind != EQUAL]

    @property
    def count(self) -> int:
        """The differences: every non-equal, non-informational change, but the steps not run on one side
        count as one (one line: "1766 steps not run in B"; a run that stopped early is one difference)."""
        counted = sum(1 for c in self.changes if c.kind not in (EQUAL, NOT_RUN) and not c.informational)
        sides = {c.before is None for c in self.changes if c.kind == NOT_RUN}
        return counted + len(sides)

    @property
    def differs(self) -> bool:
        return self.count > 0

    def to_json(self, *, include_equal: bool = False) -> dict[str, Any]:
        """{"count", "equal", "changes"}: the non-equal changes, or all of them with include_equal."""
        shown = self.changes if include_equal else self.changed
        return {
            "count": self.count,
            "equal": len(self.changes) - len(self.changed),
            "changes": [c.to_json() for c in shown],
        }


@dataclass(frozen=True, kw_only=True)
class OutputDiff:
    """The steps whose output differs: `steps`, the internal names (in the order they ran) of the steps
    whose last attempt kept output with another SHA256 in A than in B (one printing nothing: no SHA256),
    among the `compared` steps that recorded output in both runs. Read from the run logs' output records
    (attempt.output.sha256): no output file is read. Informational: output is not data, so it never counts
    in `count` or `differs` (trial 7: two runs that printed differently read `steps  no differences`)."""

    steps: list[str] = field(default_factory=list)
    compared: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"differs": len(self.steps), "compared": self.compared, "steps": self.steps}


@dataclass(frozen=True, kw_only=True)
class RunDiff:
    """Run A (before) against run B (after): the groups, what could not be compared, and which steps'
    output differs (informational)."""

    a: RunRef
    b: RunRef
    groups: dict[str, GroupDiff]
    skipped: list[Skipped] = field(default_factory=list)
    output: OutputDiff = field(default_factory=OutputDiff)

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups.values())

    @property
    def differs(self) -> bool:
        return self.count > 0

    def to_json(self, *, include_equal: bool = False) -> dict[str, Any]:
        """The stable structure documented in docs/diff.md; equal items only when include_equal."""
        groups = {name: group.to_json(include_equal=include_equal) for name, group in self.groups.items()}
        return {
            "schema": SCHEMA,
            "a": _ref_json(self.a),
            "b": _ref_json(self.b),
            "differs": self.differs,
            "count": self.count,
            "groups": groups,
            "skipped": [{"group": s.group, "reason": s.reason} for s in self.skipped],
            "output": self.output.to_json(),
        }


def _ref_json(ref: RunRef) -> dict[str, Any]:
    return {
        "run_id": ref.run_id,
        "source": ref.source,
        "status": ref.status,
        "state": ref.state or ref.status,
    }


# -- loading the two sides ---------------------------------------------------------------------------------
def looks_like_path(ref: str) -> bool:
    """A diff argument is a file when it names one, has a slash, or ends in .json; otherwise a run id."""
    return ref.endswith(".json") or "/" in ref or "\\" in ref or Path(ref).is_file()


def _open(ref: str, store: RunLogStore | None, *, plain: bool) -> tuple[Any, str]:
    """The run a diff argument names (a file, or a run id in `store`) and where it was read from: plain
    JSON (models.plain) when `plain`, else a RunLog. RunLogError for a folder or a bad log, UsageError for a
    run id with no store, RunNotFoundError for an unknown run id."""
    from magnus_core.errors import RunLogError, UsageError

    if looks_like_path(ref):
        if Path(ref).is_dir():
            raise RunLogError("is a folder, expected a run-log JSON file", file=ref)
        if plain:
            from magnus_core.models.plain import read_plain_run_log

            return read_plain_run_log(ref), ref
        from magnus_core.models.reading import load_run_log

        return load_run_log(ref), ref
    if store is None:
        raise UsageError(f"'{ref}' is not a file and no run-log store is configured")
    from magnus_core.errors import RunNotFoundError
    from magnus_core.runs import resolve_run_id, settled

    try:
        found = store.get_plain_run(ref) if plain else settled(store, store.get_run(ref))
        return found, store.location(ref)
    except RunNotFoundError:  # a unique prefix or suffix of an id, or `last` (runs.resolve_run_id)
        ref = resolve_run_id(store, ref)
    # (settled: a run that ended as it was read reads as it ended, in every line shown)
    return (store.get_plain_run(ref) if plain else settled(store, store.get_run(ref))), store.location(ref)


def open_run(ref: str, store: RunLogStore | None) -> tuple[RunLog, str]:
    """The run a diff argument names, and where it was read from (RunLogError / RunNotFoundError if none)."""
    return _open(ref, store, plain=False)


def open_plain(ref: str, store: RunLogStore | None) -> tuple[PlainLog, str]:
    """open_run's run as a plain run log (models.plain: checked as the models check it, none made)."""
    return _open(ref, store, plain=True)


# -- comparing values ----------------------------------------------------------------------------------------
SEP = " › "
_MISSING = object()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# An integer delta is shown and written as JSON: keep it well inside the 4300 digits Python prints.
_MAX_DELTA_BITS = 3000


def _num_delta(before: Any, after: Any) -> float | None:
    if isinstance(before, int) and isinstance(after, int) and _is_number(before) and _is_number(after):
        delta = after - before
        return delta if delta.bit_length() <= _MAX_DELTA_BITS else None
    if _is_number(before) and _is_number(after):
        try:
            return float(f"{after - before:.12g}")  # 0.7 - 0.6 is +0.1, not +0.09999999999999998
        except (OverflowError, ValueError):  # a huge integer against a float
            return None
    return None


def _get(value: Any, path: list[Any]) -> Any:
    for part in path:
        if (isinstance(value, dict) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        ):
            value = value[part]
        else:
            return _MISSING
    return value


def _deep_paths(before: dict[str, Any], after: dict[str, Any]) -> list[list[Any]]:
    """Paths (lists of keys) where two nested mappings differ; a list is one value, not items."""
    try:
        from deepdiff import DeepDiff

        tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    except RecursionError:
        return [[]]
    paths: dict[tuple[Any, ...], list[Any]] = {}
    for levels in tree.values():
        for level in levels:
            path = level.path(output_format="list")
            for i, part in enumerate(path):
                if isinstance(part, int) or not isinstance(part, str):
                    path = path[:i]  # lists (and odd keys) are compared whole
                    break
            paths.setdefault(tuple(path), list(path))
    return list(paths.values())


def _value_changes(
    before: dict[str, Any], after: dict[str, Any], *, prefix: str = "", step: str = "", field_name: str = ""
) -> list[Change]:
    """Added/removed/changed/equal per key of two mappings; nested mappings go down to the changed leaves."""
    out: list[Change] = []
    for key in _keys(before, after):
        label, fld = f"{prefix}{key}", f"{field_name}{SEP}{key}" if field_name else str(key)
        va, vb = before.get(key, _MISSING), after.get(key, _MISSING)
        if va is _MISSING:
            out.append(Change(kind=ADDED, key=label, step=step, field=fld, after=vb))
        elif vb is _MISSING:
            out.append(Change(kind=REMOVED, key=label, step=step, field=fld, before=va))
        elif (va == vb and type(va) is type(vb)) or (_is_number(va) and _is_number(vb) and va == vb):
            out.append(Change(kind=EQUAL, key=label, step=step, field=fld, before=va, after=vb))
        elif isinstance(va, dict) and isinstance(vb, dict):
            for path in _deep_paths(va, vb):
                sub_a, sub_b = _get(va, path), _get(vb, path)
                sub_label = SEP.join([label, *map(str, path)])
                sub_field = SEP.join([fld, *map(str, path)])
                kind = ADDED if sub_a is _MISSING else REMOVED if sub_b is _MISSING else CHANGED
                out.append(
                    Change(
                        kind=kind,
                        key=sub_label,
                        step=step,
                        field=sub_field,
                        before=None if sub_a is _MISSING else sub_a,
                        after=None if sub_b is _MISSING else sub_b,
                        delta=_num_delta(sub_a, sub_b),
                    )
                )
        else:
            out.append(
                Change(
                    kind=CHANGED,
                    key=label,
                    step=step,
                    field=fld,
                    before=va,
                    after=vb,
                    delta=_num_delta(va, vb),
                )
            )
    return out


def _keys(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """The keys of both, in A's order with B's new keys after."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return list(a)
    seen = dict.fromkeys(a)
    for k in b:
        seen.setdefault(k, None)
    return list(seen)


def _merged_order(a: list[str], b: list[str]) -> list[str]:
    """B's order, with names only in A placed after their predecessor in A (a removed step stays in place)."""
    b_set = set(b)
    result = list(b)
    missing = [i for i, k in enumerate(a) if k not in b_set]
    if not missing:
        return result
    inserts: dict[str, list[str]] = {}
    head: list[str] = []
    for i in missing:
        anchor = next((a[j] for j in range(i - 1, -1, -1) if a[j] in b_set), None)
        (inserts.setdefault(anchor, []) if anchor is not None else head).append(a[i])
    out = list(head)
    for k in result:
        out.append(k)
        out.extend(inserts.get(k, ()))
    return out


# -- the groups -------------------------------------------------------------------------------------------
def _run_group(
    a: PlainLog,
    b: PlainLog,
    sa: dict[str, PlainStep],
    sb: dict[str, PlainStep],
    memo: _Memo,
    gone: tuple[bool, bool] = (False, False),
    live: tuple[bool, bool] = (False, False),
    states: tuple[str, str] = ("", ""),
) -> GroupDiff:
    """The run's own fields; `gone`: whether each side's process died without ending it (runs.process_gone):
    its status reads `INTERRUPTED (PROCESSING)` and it has no duration, as in `magnus show` and `magnus runs`
    (trial 13 fault 3: `status PROCESSING → INTERRUPTED`, `duration 80.7ms → 5.12s` for a run killed after
    10 s). `live`: whether each side still runs (`states`: RUNNING or PER-STEP, runs.plain_state): its
    status reads `RUNNING (PROCESSING)` as `magnus show` says it, and it has no duration yet (its log's last
    time is its last write; session 11: `status SUCCESS → PROCESSING`, `duration 10.1s → 109ms`)."""
    from magnus_core.runs import CUT_SHORT

    fields = {k: a[k] for k in ("status", "tag", "use_cached", "original_run_id")}
    after = {k: b[k] for k in fields}
    for i, values in enumerate((fields, after)):
        if gone[i]:
            values["status"] = CUT_SHORT
        elif live[i]:
            values["status"] = f"{states[i]} ({values['status']})"
    changes = _value_changes(fields, after)
    services = ("executor", "run_log_store", "catalog", "secrets")
    config_a, config_b = a["run_config"], b["run_config"]
    ca = {k: config_a[k] for k in services if k in config_a and k in config_b}
    cb = {k: config_b[k] for k in ca}
    changes += _value_changes(ca, cb, prefix=f"config{SEP}")
    ua, ub = _user_of(config_a), _user_of(config_b)
    if ua or ub:  # who ran each (process.user): a team's first question (trial 9); no difference
        changes.append(_information("user", "run_config.process.user", ua, ub))
    va, vb = config_a.get("magnus_version"), config_b.get("magnus_version")
    changes.append(_information("magnus version", "magnus_version", va, vb))
    da = None if gone[0] or live[0] else _run_seconds(a, sa.values())
    db = None if gone[1] or live[1] else _run_seconds(b, sb.values())
    changes.append(_duration_change("duration", "", da, db))
    return GroupDiff(name="run", changes=changes)


def _information(key: str, field: str, before: Any, after: Any) -> Change:
    """A change shown as information, never counted as a difference of the runs (who ran them, the
    magnus version): equal or changed."""
    return Change(
        kind=EQUAL if before == after else CHANGED,
        key=key,
        field=field,
        before=before,
        after=after,
        informational=True,
    )


def _user_of(run_config: dict[str, Any]) -> str | None:
    """The login name a run's process recorded (runs.process_record), None when it recorded none."""
    process = run_config.get("process")
    user = process.get("user") if isinstance(process, dict) else None
    return user if isinstance(user, str) and user else None


def _flatten_dag(block: Any, prefix: str, out: dict[str, dict[str, Any]]) -> None:
    """Every step of a stored dag block (branches included) by internal name, without its branches."""
    if not isinstance(block, dict):
        return
    head = {k: v for k, v in block.items() if k != "steps"}
    out[prefix[:-1] if prefix else "(pipeline)"] = head
    steps = block.get("steps")
    if not isinstance(steps, dict):
        return
    for name, node in steps.items():
        internal = f"{prefix}{name}"
        if not isinstance(node, dict):
            out[internal] = {"definition": node}
            continue
        out[internal] = {k: v for k, v in node.items() if k not in ("branches", "branch")}
        branches = node.get("branches")
        if isinstance(branches, dict):
            for bname, branch in branches.items():
                _flatten_dag(branch, f"{internal}.{bname}.", out)
        if isinstance(node.get("branch"), dict):
            _flatten_dag(node["branch"], f"{internal}.<item>.", out)


def _dag_group(a: PlainLog, b: PlainLog, skipped: list[Skipped]) -> GroupDiff:
    changes: list[Change] = []
    if a["dag_hash"] and b["dag_hash"]:
        changes.append(
            Change(
                kind=EQUAL if a["dag_hash"] == b["dag_hash"] else CHANGED,
                key="dag_hash",
                field="dag_hash",
                before=a["dag_hash"],
                after=b["dag_hash"],
            )
        )
    dag_a, dag_b = a["run_config"].get("dag"), b["run_config"].get("dag")
    has = (isinstance(dag_a, dict), isinstance(dag_b, dict))
    if not all(has):
        what = (
            "dag_hash and run_config['dag']" if not (a["dag_hash"] and b["dag_hash"]) else "run_config['dag']"
        )
        skipped.append(
            Skipped(
                group="dag", reason="steps of the dag not compared: " + _missing_in(a, b, what, present=has)
            )
        )
        return GroupDiff(name="dag", changes=changes)
    fa: dict[str, dict[str, Any]] = {}
    fb: dict[str, dict[str, Any]] = {}
    _flatten_dag(dag_a, "", fa)
    _flatten_dag(dag_b, "", fb)
    for name in _merged_order(list(fa), list(fb)):
        sa, sb = fa.get(name), fb.get(name)
        if sa is None:
            changes.append(
                Change(
                    kind=ADDED,
                    key=name,
                    step=name,
                    after=sb,
                    detail=f"new {sb.get('type', 'step')}" if sb else "",
                )
            )
        elif sb is None:
            changes.append(
                Change(
                    kind=REMOVED, key=name, step=name, before=sa, detail=f"{sa.get('type', 'step')} removed"
                )
            )
        elif sa == sb:
            changes.append(Change(kind=EQUAL, key=name, step=name))
        else:
            changes += [
                c for c in _value_changes(sa, sb, prefix=f"{name}{SEP}", step=name) if c.kind != EQUAL
            ]
    return GroupDiff(name="dag", changes=changes)


def _missing_in(a: PlainLog, b: PlainLog, what: str, present: tuple[bool, bool] | None = None) -> str:
    has_a, has_b = present if present is not None else (bool(a.get(what)), bool(b.get(what)))
    sides = [s for s, has, log in (("A", has_a, a), ("B", has_b, b)) if not has]
    logs = [a if side == "A" else b for side in sides]
    why = " (written by the original tool)" if logs and all(_original(log) for log in logs) else ""
    return f"run {' and '.join(sides)} {'have' if len(sides) > 1 else 'has'} no {what}{why}"


def _original(log: PlainLog) -> bool:
    """Logs written by the original tool record no schema_version in run_config."""
    return "schema_version" not in log["run_config"]


def _code_of(steps: Iterable[PlainStep]) -> tuple[list[str], bool, list[str]]:
    """The commits (in first-seen order), whether any tree was dirty, and the modified files named."""
    commits: dict[str, None] = {}
    dirty = False
    files: set[str] = set()
    for step in steps:
        for ident in step["code_identities"]:
            if ident["code_identifier"]:
                commits.setdefault(ident["code_identifier"], None)
                dirty = dirty or not ident["code_identifier_dependable"]
            message = ident["code_identifier_message"] or ""
            if message.startswith("changes found in "):
                files.update(f.strip() for f in message[len("changes found in ") :].split(",") if f.strip())
    return list(commits), dirty, sorted(files)


def _one(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else (values or None)


def _files_between(before: str, after: str, repo: str | Path) -> list[str] | None:
    """Files changed between two commits of the local repository; None when either is not there."""
    from magnus_core.identity import files_between

    return files_between(before, after, repo)


def _no_commit(steps: list[PlainStep]) -> str:
    """Why a run recorded no git commit for its code: the code identity's own message (`not a git
    repository`, `git repository has no commits yet`), or that no step ran that records one."""
    for step in steps:
        for ident in step["code_identities"]:
            if not ident["code_identifier"] and ident["code_identifier_message"]:
                return ident["code_identifier_message"]
    return "no step ran in it that records its code"


def _code_group(
    sa: dict[str, PlainStep], sb: dict[str, PlainStep], repo: str | Path | None, skipped: list[Skipped]
) -> GroupDiff:
    """The commits, uncommitted changes and modified files of the steps that ran in each run. When either
    run recorded no git commit (run outside a git repository), the code cannot be compared: the group is
    empty and `skipped` says why, never "no differences"."""
    # A run's code is that of the steps that ran in it: a step a re-run reused (mock) ran in the original
    # run, with the original's code (a fix committed since must not look like the uncommitted change).
    ran_a, ran_b = [s for s in sa.values() if not s["mock"]], [s for s in sb.values() if not s["mock"]]
    ca, dirty_a, files_a = _code_of(ran_a)
    cb, dirty_b, files_b = _code_of(ran_b)
    if not ca or not cb:
        sides = [
            f"run {side} ({_no_commit(ran)})"
            for side, c, ran in (("A", ca, ran_a), ("B", cb, ran_b))
            if not c
        ]
        skipped.append(Skipped(group="code", reason=f"no git commit recorded for {' and '.join(sides)}"))
        return GroupDiff(name="code")
    changes = [
        Change(
            kind=EQUAL if ca == cb else CHANGED, key="commit", field="commit", before=_one(ca), after=_one(cb)
        )
    ]
    if ca != cb and len(ca) == 1 and len(cb) == 1 and repo is not None:
        between = _files_between(ca[0], cb[0], repo)
        if between is None:
            detail = "not both commits are in the local git repository"
            changes[0] = Change(
                kind=CHANGED, key="commit", field="commit", before=ca[0], after=cb[0], detail=detail
            )
        else:
            shown = ", ".join(between[:20]) + (f" and {len(between) - 20} more" if len(between) > 20 else "")
            changes.append(
                Change(
                    kind=CHANGED,
                    key="files changed between commits",
                    field="files_between",
                    after=between,
                    informational=True,
                    detail=f"{len(between)} file(s): {shown}" if between else "no file changed",
                )
            )
    changes.append(
        Change(
            kind=EQUAL if dirty_a == dirty_b else CHANGED,
            key="uncommitted changes",
            field="dirty",
            before=dirty_a,
            after=dirty_b,
        )
    )
    added, removed = sorted(set(files_b) - set(files_a)), sorted(set(files_a) - set(files_b))
    detail = "; ".join(
        p
        for p in (f"+ {', '.join(added)}" if added else "", f"- {', '.join(removed)}" if removed else "")
        if p
    )
    changes.append(
        Change(
            kind=EQUAL if files_a == files_b else CHANGED,
            key="modified files",
            field="modified_files",
            before=files_a,
            after=files_b,
            detail=detail,
        )
    )
    return GroupDiff(name="code", changes=changes)


def _data_of(steps: Iterable[PlainStep]) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for step in steps:
        for entry in step["data_catalog"]:
            key = (step["internal_name"], entry["name"])
            if key in out:  # the same file got and put by one step: tell them apart by stage
                key = (step["internal_name"], f"{entry['name']} ({entry['stage']})")
            out[key] = entry
    return out


def _data_group(sa: dict[str, PlainStep], sb: dict[str, PlainStep]) -> GroupDiff:
    da, db = _data_of(sa.values()), _data_of(sb.values())
    changes: list[Change] = []
    for step, name in _keys(da, db):
        ea, eb = da.get((step, name)), db.get((step, name))
        key = f"{step}{SEP}{name}"
        if ea is None:
            assert eb is not None  # the key came from one of the two sides
            changes.append(
                Change(
                    kind=ADDED,
                    key=key,
                    step=step,
                    field="data_hash",
                    after=eb["data_hash"],
                    detail=eb["stage"],
                )
            )
        elif eb is None:
            changes.append(
                Change(
                    kind=REMOVED,
                    key=key,
                    step=step,
                    field="data_hash",
                    before=ea["data_hash"],
                    detail=ea["stage"],
                )
            )
        else:
            kind = EQUAL if ea["data_hash"] == eb["data_hash"] else CHANGED
            changes.append(
                Change(
                    kind=kind,
                    key=key,
                    step=step,
                    field="data_hash",
                    before=ea["data_hash"],
                    after=eb["data_hash"],
                    detail="hash changed" if kind == CHANGED else "",
                )
            )
    return GroupDiff(name="data", changes=changes)


def _metrics_group(sa: dict[str, PlainStep], sb: dict[str, PlainStep]) -> GroupDiff:
    changes: list[Change] = []
    for name in _merged_order(list(sa), list(sb)):
        ma = sa[name]["user_defined_metrics"] if name in sa else {}
        mb = sb[name]["user_defined_metrics"] if name in sb else {}
        if ma or mb:
            changes += _value_changes(ma, mb, prefix=f"{name}{SEP}", step=name)
        ha = _series_summary(sa[name]) if name in sa and sa[name].get("metric_history") else {}
        hb = _series_summary(sb[name]) if name in sb and sb[name].get("metric_history") else {}
        if ha or hb:
            changes += _value_changes(ha, hb, prefix=f"{name}{SEP}", step=name, field_name="metric_history")
    return GroupDiff(name="metrics", changes=changes)


def _series_summary(step: PlainStep) -> dict[str, Any]:
    """Each metric series by its last value and length: {"loss history": {"last": 0.2, "length": 5}}."""
    return {
        f"{name} history": {"last": points[-1]["value"] if points else None, "length": len(points)}
        for name, points in step["metric_history"].items()
    }


def _at(value: Any, memo: _Memo) -> timedelta | None:
    """The instant of a run-log time (models.times.since_epoch), remembered by its text."""
    if value.__class__ is not str:
        return since_epoch(value)
    found = memo.get(value, _MISSING)
    if found is _MISSING:
        found = memo[value] = since_epoch(value)
    return found  # type: ignore[return-value]


def _span(attempts: Iterable[dict[str, Any]], memo: _Memo, *, complete: bool = False) -> float | None:
    """Seconds from the earliest start to the latest end among attempts, by true time; None without both.
    `complete`: only attempts that have both times."""
    first = last = None
    for attempt in attempts:
        start, end = _at(attempt["start_time"], memo), _at(attempt["end_time"], memo)
        if complete and (start is None or end is None):
            continue
        if start is not None and (first is None or start < first):
            first = start
        if end is not None and (last is None or end > last):
            last = end
    return (last - first).total_seconds() if first is not None and last is not None else None


def _walk(steps: dict[str, PlainStep]) -> Iterator[PlainStep]:
    """Every step log of a plain run log's `steps` (or a branch's), nested ones included, depth first in
    execution order (RunLog.walk)."""
    for step in steps.values():
        yield step
        for branch in step["branches"].values():
            yield from _walk(branch["steps"])


def _step_seconds(step: PlainStep, memo: _Memo) -> float | None:
    """First attempt's start to last attempt's end (a composite without attempts: its nested steps)."""
    attempts = step["attempts"]
    if len(attempts) == 1:  # most steps: one attempt
        start, end = _at(attempts[0]["start_time"], memo), _at(attempts[0]["end_time"], memo)
        return (end - start).total_seconds() if start is not None and end is not None else None
    if attempts:
        return _span(attempts, memo, complete=True)
    return _span((a for s in _walk({"": step}) for a in s["attempts"]), memo, complete=True)


def _run_seconds(log: PlainLog, steps: Iterable[PlainStep]) -> float | None:
    """The run's duration as `magnus runs`, `magnus show` and the workbench give it (models.times.run_span:
    from the process's start to the last attempt's end, steps a re-run reused left out)."""
    from magnus_core.models.times import run_span

    starts: list[str] = []
    ends: list[str] = []
    for step in steps:
        if step.get("mock"):
            continue
        for attempt in step["attempts"]:
            if attempt.get("start_time"):
                starts.append(str(attempt["start_time"]))
            if attempt.get("end_time"):
                ends.append(str(attempt["end_time"]))
    process = log["run_config"].get("process")
    started_at = str(process.get("started_at") or "") if isinstance(process, dict) else ""
    return run_span(started_at, starts, ends)[2]


# A timing is worth showing only when it moved by at least a second and by half again or halved.
MIN_SECONDS, MIN_RATIO = 1.0, 1.5


def _duration_change(key: str, step: str, before: float | None, after: float | None) -> Change:
    delta = ratio = None
    kind = EQUAL
    if before is not None and after is not None and before == after:  # most steps of two similar runs
        delta, ratio = 0.0, 1.0 if before > 0 else None
    elif before is not None and after is not None:
        delta = float(f"{after - before:.6g}")
        ratio = float(f"{after / before:.4g}") if before > 0 else None
        if abs(delta) >= MIN_SECONDS and (ratio is None or ratio >= MIN_RATIO or ratio <= 1 / MIN_RATIO):
            kind = CHANGED
    return Change(
        kind=kind,
        key=key,
        step=step,
        field="duration",
        before=before,
        after=after,
        delta=delta,
        ratio=ratio,
        informational=True,
    )


_STEP_FIELDS = (("step_type", "type"), ("status", "status"), ("mock", "re-used (mock)"))
_COMPOSITES = frozenset(
    {"parallel", "map", "dag", "conditional", "loop"}
)  # (models.pipeline.COMPOSITE_TYPES)
_END_NODES = frozenset({"success", "fail"})  # where a run or a branch ends: not a step (docs/runs.md)
_LIVE = frozenset({"RUNNING", "PER-STEP"})  # what runs.plain_state calls a run that has not ended


def _shown_step(step: PlainStep, gone: bool) -> tuple[str, int, bool]:
    """(status, attempts, running) of a step as `magnus show` gives them (summary._row, _attempts): the
    fail node reached reads FAIL (summary.shown_status); a step
    still PROCESSING in a run whose process is gone reads `INTERRUPTED (PROCESSING)`, with the attempt it had
    begun counted (models.run_log.running_attempt: a leaf whose log says when the attempt began; in a live
    run too, the attempt running now); `running`:
    it has no end, so no duration (neither a dead run's step, nor a live run's: its log's last time is a
    write, trial 13 fault 3: `fan › duration 10.2ms → 4.02s` for a parallel that ran 1 s)."""
    from magnus_core.runs import CUT_SHORT
    from magnus_core.summary import shown_status

    # the dag's fail node, reached, reads FAIL as in every view (its log says SUCCESS; trial 14 F2: the
    # diff said `fail  not run in A (ran in B: SUCCESS)` where show and the summary say FAIL)
    status, attempts = shown_status(step["step_type"], step["status"]), len(step["attempts"])
    if status != "PROCESSING":
        return status, attempts, False
    begun = not step["branches"] and step["step_type"] not in _COMPOSITES
    if begun and (step["attempts"][-1]["end_time"] if step["attempts"] else step.get("start_time")):
        attempts += 1  # running now, or cut short: counted either way, as `magnus show` counts it
    return CUT_SHORT if gone else status, attempts, True


def _failure_of(step: PlainStep) -> str:
    """Why a step's last attempt failed, as one line ("KeyError: 'z'  at train.py:12"), or "" when it did
    not fail (a success, a step never run, a re-used step's record: its error belongs to the old run). A
    chained cause follows as `magnus show` says it (`; caused by JSONDecodeError: ..., at chain.py:5 in
    _read`, record.caused_by_json; session 11: two runs whose step raised the same RuntimeError from other
    causes read no error change, and the row named the outer exception only)."""
    attempts = step["attempts"]
    if not attempts or attempts[-1]["status"] != "FAIL" or step["mock"]:
        return ""
    last = attempts[-1]
    error = last.get("error")
    text = last["message"] or (f"{error['type']}: {error['message']}" if error else "failed")
    from magnus_core.paths import in_project

    frames = (error or {}).get("frames") or []
    where = next((f for f in reversed(frames) if in_project(f["file"])), frames[-1] if frames else None)
    from magnus_core.index.record import caused_by_json

    cause = caused_by_json(error)
    text = f"{text}  at {where['file']}:{where['line']}" if where else text
    return f"{text}; {cause}" if cause else text


def _crash(log: PlainLog, steps: dict[str, PlainStep], gone: bool) -> tuple[str, str] | None:
    """The step a fatal signal hit in a run whose process is gone, and the crash on one line as `magnus
    show` says it (logs.cut_short on a plain log): (`fan.crashy.s`, `crashed (Segmentation fault) at
    steps.py:23 in crashy`), from its catalog's fatal file (fatal.crash_in); the step is the one whose thread
    crashed, or the only step begun. None when no crash is located (none, a SIGKILL, a remote catalog)."""
    if not gone:
        return None
    from magnus_core.fatal import crash_in

    crash = crash_in(log["run_config"], log["run_id"])
    if crash is None:
        return None
    step = crash.step
    if not step:
        begun = [
            name
            for name, s in steps.items()
            if s["status"] == "PROCESSING" and not s["branches"] and s["step_type"] not in _COMPOSITES
        ]
        if len(begun) != 1:
            return None
        step = begun[0]
    from magnus_core.controls import harmless

    return step, " ".join(harmless(crash.said()).split())


def _dag_names(log: PlainLog) -> set[str] | None:
    """The internal names of the steps of a run's dag (run_config['dag']); None when it recorded none."""
    dag = log["run_config"].get("dag")
    if not isinstance(dag, dict):
        return None
    flat: dict[str, dict[str, Any]] = {}
    _flatten_dag(dag, "", flat)
    return set(flat)


def _steps_group(
    sa: dict[str, PlainStep],
    sb: dict[str, PlainStep],
    memo: _Memo,
    dags: tuple[set[str] | None, set[str] | None] = (None, None),
    gone: tuple[bool, bool] = (False, False),
    crashes: tuple[tuple[str, str] | None, tuple[str, str] | None] = (None, None),
    live: tuple[bool, bool] = (False, False),
) -> GroupDiff:
    """Each step's status, attempts, error and duration. A step that ran on one side only is "not_run" when
    the other side's dag has it (that run stopped before it; its detail `to run in B` when B is still
    running, `live`, as `magnus show` counts such steps `to run`, else `not run in B`), else added/removed.
    The dag's success and fail nodes are never listed not run: they are where a run or a branch ended, not
    steps (docs/runs.md; the run's and the step's status say how it ended; before session 11 `report …
    success  2 steps not run in B` and `fan.b.fail … fail  2 steps not run in B`). A step inside a branch
    (`fan.a.m1`, the dag's `fan.<item>.m1`) is not_run also when its top step (`fan`) is in the other dag
    and did not run there. With no dag recorded on the other side (the original tool's logs), it is
    added/removed as before: nothing tells the two apart. `gone`: whether each side's process died without
    ending it (runs.process_gone): its running steps read as `magnus show` reads them (_shown_step);
    `crashes`: the step a fatal signal hit on each side and the crash (_crash), its error there (trial 15
    N3: `fan.crashy.s › status INTERRUPTED (PROCESSING) → SUCCESS` said nothing of why)."""
    changes: list[Change] = []
    for name in _merged_order(list(sa), list(sb)):
        a, b = sa.get(name), sb.get(name)
        if a is None or b is None:
            one = a if b is None else b
            assert one is not None  # the name came from one of the two sides
            other_dag, other_ran, side = (dags[1], sb, "B") if b is None else (dags[0], sa, "A")
            top = name.split(".", 1)[0]
            not_run = other_dag is not None and (
                name in other_dag or (top != name and top in other_dag and top not in other_ran)
            )
            if not_run and one["step_type"] in _END_NODES:
                continue  # where a run or a branch ended, not a step (its status says how it ended)
            changes.append(
                Change(
                    kind=NOT_RUN if not_run else ADDED if a is None else REMOVED,
                    key=name,
                    step=name,
                    field="step",
                    before=None if a is None else _shown_step(a, gone[0])[0],
                    after=None if b is None else _shown_step(b, gone[1])[0],
                    detail=f"{'to run' if live[side == 'B'] else 'not run'} in {side}"
                    if not_run
                    else one["step_type"],
                )
            )
            continue
        found = False
        (status_a, attempts_a, running_a), (status_b, attempts_b, running_b) = (
            _shown_step(a, gone[0]),
            _shown_step(b, gone[1]),
        )
        if a["step_type"] != b["step_type"] or status_a != status_b or a["mock"] != b["mock"]:
            for attr, label in _STEP_FIELDS:
                va, vb = (status_a, status_b) if attr == "status" else (a[attr], b[attr])
                if va != vb:
                    found = True
                    key = f"{name}{SEP}{label}"
                    changes.append(Change(kind=CHANGED, key=key, step=name, field=attr, before=va, after=vb))
        ea, eb = _failure_of(a), _failure_of(b)
        ca, cb = crashes
        ea = ca[1] if ca is not None and ca[0] == name and not ea else ea
        eb = cb[1] if cb is not None and cb[0] == name and not eb else eb
        if ea != eb:  # "did the failure change?": a failed run against its re-run, or two failed runs
            found = True
            changes.append(
                Change(kind=CHANGED, key=f"{name}{SEP}error", step=name, field="error", before=ea, after=eb)
            )
        if attempts_a != attempts_b:
            found = True
            changes.append(
                Change(
                    kind=CHANGED,
                    key=f"{name}{SEP}attempts",
                    step=name,
                    field="attempts",
                    before=attempts_a,
                    after=attempts_b,
                    delta=attempts_b - attempts_a,
                )
            )
        if not found:
            changes.append(
                Change(kind=EQUAL, key=name, step=name, field="step", before=status_a, after=status_b)
            )
        seconds_a = None if running_a else _step_seconds(a, memo)
        seconds_b = None if running_b else _step_seconds(b, memo)
        changes.append(_duration_change(f"{name}{SEP}duration", name, seconds_a, seconds_b))
    return GroupDiff(name="steps", changes=changes)


def _schema_skips(
    a: PlainLog, b: PlainLog, sa: dict[str, PlainStep], sb: dict[str, PlainStep]
) -> list[Skipped]:
    out: list[Skipped] = []
    va, vb = a["run_config"].get("schema_version"), b["run_config"].get("schema_version")
    if va != vb:

        def show(v: Any) -> str:
            return "none (written by the original tool)" if v is None else str(v)

        out.append(
            Skipped(
                group="run",
                reason=f"schema versions differ (A: {show(va)}, B: {show(vb)}): "
                "only the fields both runs have are compared",
            )
        )
    run_fields, step_fields = FIELDS["RunLog"], FIELDS["StepLog"]
    ea, eb = a.keys() - run_fields, b.keys() - run_fields
    step_a = {k for s in sa.values() for k in s.keys() - step_fields}
    step_b = {k for s in sb.values() for k in s.keys() - step_fields}
    for what, xa, xb in (("run", ea, eb), ("steps", step_a, step_b)):
        for side, only in (("A", xa - xb), ("B", xb - xa)):
            if only:
                out.append(
                    Skipped(
                        group=what,
                        reason=f"fields only in run {side} not compared: " + ", ".join(sorted(only)),
                    )
                )
        if xa & xb:
            out.append(
                Skipped(
                    group=what,
                    reason="fields unknown to this version not compared: " + ", ".join(sorted(xa & xb)),
                )
            )
    return out


def started(log: RunLog) -> str:
    """When a run started, as written (progress.run_times, the one rule: the process's record, else its
    first own attempt's start); "" when the log says neither."""
    from magnus_core.progress import run_times

    return run_times(log)[0]


def oldest_first(a: RunLog, b: RunLog) -> bool:
    """True when run `a` started no later than run `b` (by true time; a run with no time counts as oldest):
    the order in which a comparison reads forwards (A before, B after)."""
    from magnus_core.models.run_log import time_key

    return time_key(started(a)) <= time_key(started(b))


def _output_sha(step: PlainStep) -> str | None:
    """The SHA256 of what the step's last attempt kept ("" when it printed nothing); None when no output
    was recorded (no attempt, capture off, the original tool's logs)."""
    attempts = step.get("attempts") or ()
    output = attempts[-1].get("output") if attempts and isinstance(attempts[-1], dict) else None
    return str(output.get("sha256") or "") if isinstance(output, dict) else None


# what a step cut short by its run's process ending (PROCESSING in a run whose process is gone) kept: its
# output is in the run's held file, with no record (no SHA256) in the run log; never equal to another's
_CUT_SHORT = "cut short"


def _kept_sha(step: PlainStep, gone: bool) -> str | None:
    """_output_sha, or _CUT_SHORT for a step of a run whose process is gone (`gone`) that was running then:
    `magnus diff --output STEP` shows what it printed (trial 24: the overview said nothing of it)."""
    if (
        gone
        and step["status"] == "PROCESSING"
        and not step["branches"]
        and step["step_type"] not in _COMPOSITES
    ):
        return _CUT_SHORT
    return _output_sha(step)


def _output_diff(sa: dict[str, PlainStep], sb: dict[str, PlainStep], gone: tuple[bool, bool]) -> OutputDiff:
    steps: list[str] = []
    compared = 0
    for name, a in sa.items():
        b = sb.get(name)
        before = _kept_sha(a, gone[0])
        after = _kept_sha(b, gone[1]) if b is not None else None
        if before is None or after is None:
            continue
        compared += 1
        if before != after or before == _CUT_SHORT:
            steps.append(name)
    return OutputDiff(steps=steps, compared=compared)


def _index(log: PlainLog) -> dict[str, PlainStep]:
    return {step["internal_name"]: step for step in _walk(log["steps"])}


def compare(
    a: RunLog | PlainLog,
    b: RunLog | PlainLog,
    *,
    repo: str | Path | None = ".",
    a_source: str = "",
    b_source: str = "",
) -> RunDiff:
    """Compare run A (before) with run B (after), group by group; `repo` is where to look for both commits.
    A and B are RunLogs or plain run logs (models.plain; `magnus diff` reads those: no models made)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        from magnus_core.models.plain import plain_from_model

        a = a if isinstance(a, dict) else plain_from_model(a)
        b = b if isinstance(b, dict) else plain_from_model(b)
    sa, sb = _index(a), _index(b)
    memo: _Memo = {}
    skipped = _schema_skips(a, b, sa, sb)
    from magnus_core.runs import plain_state

    # what each run is now, as `magnus runs` and `magnus show` say it: a run recorded PROCESSING is RUNNING
    # (or PER-STEP) while its process lives, INTERRUPTED once it is gone (runs.process_gone)
    states = (plain_state(a["status"], a["run_config"]), plain_state(b["status"], b["run_config"]))
    gone = (
        states[0] != a["status"] and states[0] == "INTERRUPTED",
        states[1] != b["status"] and states[1] == "INTERRUPTED",
    )
    live = (states[0] in _LIVE, states[1] in _LIVE)
    groups = {
        "run": _run_group(a, b, sa, sb, memo, gone, live, states),
        "dag": _dag_group(a, b, skipped),
        "code": _code_group(sa, sb, repo, skipped),
        "data": _data_group(sa, sb),
        "parameters": GroupDiff(name="parameters", changes=_value_changes(a["parameters"], b["parameters"])),
        "metrics": _metrics_group(sa, sb),
        "steps": _steps_group(
            sa,
            sb,
            memo,
            (_dag_names(a), _dag_names(b)),
            gone,
            (_crash(a, sa, gone[0]), _crash(b, sb, gone[1])),
            live,
        ),
    }
    return RunDiff(
        a=RunRef(
            run_id=a["run_id"],
            source=a_source,
            status=a["status"],
            state=states[0],
        ),
        b=RunRef(
            run_id=b["run_id"],
            source=b_source,
            status=b["status"],
            state=states[1],
        ),
        groups=groups,
        skipped=skipped,
        output=_output_diff(sa, sb, gone),
    )
