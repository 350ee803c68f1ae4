"""The comparison of two runs (magnus_core.diff) and its rendering, in-process: one change of each kind."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnus_core.diff import SCHEMA, compare, open_run
from magnus_core.diff_render import render
from magnus_core.errors import RunLogError, RunNotFoundError
from magnus_core.models.run_log import (
    AttemptError,
    BranchLog,
    CodeIdentity,
    DataCatalog,
    Frame,
    RunLog,
    StepAttempt,
    StepLog,
)
from magnus_core.stores.file_system import FileSystemRunLogStore, load_run_log
from tests.conftest import ORIGINAL, git

COMMIT = "a" * 40


def _dag() -> dict[str, Any]:
    return {
        "start_at": "prepare",
        "steps": {
            "prepare": {
                "type": "task",
                "command": "functions.prepare",
                "next": "fan",
                "catalog": {"put": ["data/*.csv"]},
            },
            "fan": {
                "type": "map",
                "iterate_on": "items",
                "iterate_as": "chunk",
                "next": "success",
                "branch": {
                    "start_at": "m1",
                    "steps": {
                        "m1": {"type": "task", "command": "functions.per_item", "next": "success"},
                        "success": {"type": "success"},
                        "fail": {"type": "fail"},
                    },
                },
            },
            "success": {"type": "success"},
            "fail": {"type": "fail"},
        },
    }


def _step(
    name: str,
    *,
    internal: str | None = None,
    seconds: float = 0.5,
    status: str = "SUCCESS",
    step_type: str = "task",
    **kw: Any,
) -> StepLog:
    end = f"2026-01-01 10:00:{seconds:09.6f}"
    return StepLog(
        name=name,
        internal_name=internal or name,
        status=status,
        step_type=step_type,
        code_identities=[CodeIdentity(code_identifier=COMMIT, code_identifier_dependable=True)],
        attempts=[
            StepAttempt(attempt_number=0, start_time="2026-01-01 10:00:00", end_time=end, status=status)
        ],
        **kw,
    )


def make_run(run_id: str = "run_a") -> RunLog:
    """A run with a map step (two nested branches), metrics, a data file and parameters."""
    branches = {}
    for item in ("a", "b"):
        bname = f"fan.{item}"
        branches[bname] = BranchLog(
            internal_name=bname,
            status="SUCCESS",
            steps={
                f"{bname}.m1": _step("m1", internal=f"{bname}.m1", user_defined_metrics={"chunk_len": 1}),
                f"{bname}.success": _step("success", internal=f"{bname}.success", step_type="success"),
            },
        )
    steps = {
        "prepare": _step(
            "prepare",
            user_defined_metrics={"variance": 0.6, "alpha": 0.1},
            data_catalog=[DataCatalog(name="data/out.csv", data_hash="1" * 64, stage="put")],
        ),
        "fan": _step("fan", step_type="map", branches=branches),
        "success": _step("success", step_type="success"),
    }
    return RunLog(
        run_id=run_id,
        dag_hash="d" * 40,
        status="SUCCESS",
        steps=steps,
        parameters={"x": 3, "lr": 0.6, "config": {"depth": 2, "layers": [1, 2]}},
        run_config={
            "dag": _dag(),
            "schema_version": 1,
            "magnus_version": "0.5.0",
            "executor": {"type": "local", "config": {}},
        },
    )


def changed(diff: Any, group: str) -> list[tuple[str, str, Any, Any]]:
    return [(c.kind, c.key, c.before, c.after) for c in diff.groups[group].changed if not c.informational]


def text_of(diff: Any, **kw: Any) -> str:
    from rich.console import Console

    out = io.StringIO()
    render(diff, Console(file=out, width=200, no_color=True), **kw)
    return out.getvalue()


def test_identical_runs_have_no_differences() -> None:
    a, b = make_run("run_a"), make_run("run_b")
    diff = compare(a, b, repo=None)
    assert not diff.differs and diff.count == 0
    assert all(g.count == 0 for g in diff.groups.values())
    assert diff.skipped == []
    assert "No differences." in text_of(diff)
    assert len(diff.groups["steps"].changes) > 0  # equal items are kept for --all


def test_run_level_fields() -> None:
    b = make_run("run_b")
    b.status, b.tag, b.use_cached, b.original_run_id = "FAIL", "nightly", True, "run_a"
    diff = compare(make_run(), b, repo=None)
    assert changed(diff, "run") == [
        ("changed", "status", "SUCCESS", "FAIL"),
        ("changed", "tag", "", "nightly"),
        ("changed", "use_cached", False, True),
        ("changed", "original_run_id", "", "run_a"),
    ]


def test_who_ran_each_run_is_said_when_they_differ_and_is_not_a_difference() -> None:
    """Trial 9, finding 7: the diff of alice's run and bob's named neither (run_config.process.user)."""
    a, b = make_run("run_a"), make_run("run_b")
    a.run_config["process"] = {"user": "alice", "host": "h"}
    b.run_config["process"] = {"user": "bob", "host": "h"}
    diff = compare(a, b, repo=None)
    user = [c for c in diff.groups["run"].changes if c.key == "user"]
    assert [(c.kind, c.before, c.after, c.informational) for c in user] == [("changed", "alice", "bob", True)]
    assert not diff.differs  # who ran it is context, not a difference of the runs
    assert "user" in text_of(diff) and "alice" in text_of(diff) and "bob" in text_of(diff)
    b.run_config["process"]["user"] = "alice"
    same = compare(a, b, repo=None)
    assert [c.kind for c in same.groups["run"].changes if c.key == "user"] == ["equal"]
    assert "alice" not in text_of(same)  # the same user: nothing to say
    del a.run_config["process"], b.run_config["process"]  # runs that recorded none (the original's)
    assert not [c for c in compare(a, b, repo=None).groups["run"].changes if c.key == "user"]


def test_dag_step_changed_added_removed_and_nested() -> None:
    b = make_run("run_b")
    dag = b.run_config["dag"]
    b.dag_hash = "e" * 40
    dag["steps"]["prepare"]["command"] = "functions.prepare_v2"
    dag["steps"]["prepare"]["retry"] = 3
    dag["steps"]["prepare"]["catalog"]["put"] = ["data/*.parquet"]
    dag["steps"]["fan"]["branch"]["steps"]["m1"]["command_type"] = "shell"
    dag["steps"]["extra"] = {"type": "task", "command": "functions.extra", "next": "success"}
    del dag["steps"]["fail"]
    diff = compare(make_run(), b, repo=None)
    keys = {(k, key) for k, key, _, _ in changed(diff, "dag")}
    assert keys == {
        ("changed", "dag_hash"),
        ("changed", "prepare › command"),
        ("changed", "prepare › catalog › put"),
        ("added", "prepare › retry"),
        ("added", "fan.<item>.m1 › command_type"),
        ("removed", "fail"),
        ("added", "extra"),
    }
    assert diff.groups["dag"].count == 7
    assert "root[" not in json.dumps(diff.to_json()) and "root[" not in text_of(diff)


def test_inserted_step_is_one_addition() -> None:
    """Matching by internal_name: a step inserted in the middle is one addition, not a cascade."""
    a = make_run()
    b = make_run("run_b")
    steps = list(b.steps.items())
    b.steps = dict([steps[0], ("inserted", _step("inserted")), *steps[1:]])
    dag_steps = b.run_config["dag"]["steps"]
    dag_steps["prepare"]["next"] = "inserted"
    dag_steps["inserted"] = {"type": "task", "command": "functions.new", "next": "fan"}
    diff = compare(a, b, repo=None)
    assert changed(diff, "steps") == [("added", "inserted", None, "SUCCESS")]
    assert {c.key for c in diff.groups["dag"].changed} == {"prepare › next", "inserted"}
    assert [c.key for c in diff.groups["steps"].changes if c.field == "step"][:3] == [
        "prepare",
        "inserted",
        "fan",
    ]


def test_code_commits_dirty_and_modified_files(git_repo: Path) -> None:
    (git_repo / "functions.py").write_text("x = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "one")
    first = git(git_repo, "rev-parse", "HEAD").strip()
    (git_repo / "functions.py").write_text("x = 2\n")
    (git_repo / "new.py").write_text("y = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "two")
    second = git(git_repo, "rev-parse", "HEAD").strip()
    a, b = make_run(), make_run("run_b")
    for log, sha in ((a, first), (b, second)):
        for step in log.walk():
            step.code_identities = [CodeIdentity(code_identifier=sha, code_identifier_dependable=True)]
    b.steps["prepare"].code_identities = [
        CodeIdentity(
            code_identifier=second,
            code_identifier_dependable=False,
            code_identifier_message="changes found in notes.txt",
        )
    ]
    diff = compare(a, b, repo=git_repo)
    code = {c.field: c for c in diff.groups["code"].changes}
    assert (code["commit"].before, code["commit"].after) == (first, second)
    assert code["files_between"].after == ["functions.py", "new.py"] and code["files_between"].informational
    assert (code["dirty"].before, code["dirty"].after) == (False, True)
    assert code["modified_files"].after == ["notes.txt"]
    assert diff.groups["code"].count == 3
    # a commit that is not in the local repository: said, not failed
    b2 = make_run("run_c")
    diff2 = compare(a, b2, repo=git_repo)
    assert "not both commits" in diff2.groups["code"].changed[0].detail


def test_code_of_a_run_with_no_git_commit_is_not_compared_and_says_why() -> None:
    """Outside a git repository the run log records no commit: the code group must not say "no
    differences" (false reassurance after editing steps.py), in the text and --json forms."""
    a, b = make_run(), make_run("run_b")
    for step in b.walk():
        step.code_identities = [
            CodeIdentity(code_identifier=None, code_identifier_message="not a git repository")
        ]
    for first, second, side in ((a, b, "run B"), (b, a, "run A")):
        diff = compare(first, second, repo=None)
        reason = f"no git commit recorded for {side} (not a git repository)"
        assert diff.groups["code"].changes == []
        assert {"group": "code", "reason": reason} in diff.to_json()["skipped"]
        text = text_of(diff)
        assert "code       not compared" in text and "code       no differences" not in text
        assert f"skipped (code): {reason}" in text
        assert "No differences in what was compared" in text
    both = compare(b, b, repo=None)
    assert both.skipped[0].reason == (
        "no git commit recorded for run A (not a git repository) and run B (not a git repository)"
    )


def test_data_hash_added_removed() -> None:
    b = make_run("run_b")
    b.steps["prepare"].data_catalog = [
        DataCatalog(name="data/out.csv", data_hash="2" * 64, stage="put"),
        DataCatalog(name="data/more.csv", data_hash="3" * 64, stage="put"),
    ]
    b.steps["fan"].data_catalog = []
    a = make_run()
    a.steps["fan"].data_catalog = [DataCatalog(name="in.csv", data_hash="4" * 64, stage="get")]
    diff = compare(a, b, repo=None)
    assert changed(diff, "data") == [
        ("changed", "prepare › data/out.csv", "1" * 64, "2" * 64),
        ("removed", "fan › in.csv", "4" * 64, None),
        ("added", "prepare › data/more.csv", None, "3" * 64),
    ]


def test_parameters_with_numeric_deltas_and_nested_keys() -> None:
    b = make_run("run_b")
    b.parameters = {"x": 4, "lr": 0.7, "config": {"depth": 3, "layers": [1, 2, 3]}, "new": "yes"}
    diff = compare(make_run(), b, repo=None)
    changes = {c.key: c for c in diff.groups["parameters"].changed}
    assert changes["x"].delta == 1 and changes["lr"].delta == pytest.approx(0.1)
    assert changes["config › depth"].delta == 1
    assert changes["config › layers"].after == [1, 2, 3]  # a list is one value
    assert changes["new"].kind == "added"
    assert diff.groups["parameters"].count == 5
    text = text_of(diff)
    assert "0.6 → 0.7  (+0.1)" in text and "parameters 5 differences" in text


def test_metrics_per_step_including_nested() -> None:
    b = make_run("run_b")
    b.steps["prepare"].user_defined_metrics = {"variance": 0.7, "beta": 0.2}
    b.find_step("fan.b.m1").user_defined_metrics = {"chunk_len": 2}
    diff = compare(make_run(), b, repo=None)
    assert changed(diff, "metrics") == [
        ("changed", "prepare › variance", 0.6, 0.7),
        ("removed", "prepare › alpha", 0.1, None),
        ("added", "prepare › beta", None, 0.2),
        ("changed", "fan.b.m1 › chunk_len", 1, 2),
    ]


def test_steps_status_attempts_mock_and_duration_ratio() -> None:
    b = make_run("run_b")
    step = b.steps["prepare"]
    step.status = "FAIL"
    step.attempts = [
        StepAttempt(
            attempt_number=0, start_time="2026-01-01 10:00:00", end_time="2026-01-01 10:00:01", status="FAIL"
        ),
        StepAttempt(
            attempt_number=1, start_time="2026-01-01 10:00:01", end_time="2026-01-01 10:00:03", status="FAIL"
        ),
    ]
    b.find_step("fan.a.m1").mock = True
    diff = compare(make_run(), b, repo=None)
    assert changed(diff, "steps") == [
        ("changed", "prepare › status", "SUCCESS", "FAIL"),
        ("changed", "prepare › error", "", "failed"),  # an attempt that failed and recorded no reason
        ("changed", "prepare › attempts", 1, 2),
        ("changed", "fan.a.m1 › re-used (mock)", False, True),
    ]
    duration = next(c for c in diff.groups["steps"].changed if c.field == "duration")
    assert (duration.before, duration.after, duration.ratio) == (0.5, 3.0, 6.0) and duration.informational
    assert diff.groups["steps"].count == 4  # timings are shown, never counted
    assert "500ms → 3s  (×6)" in text_of(diff)


def test_a_failure_that_changed_is_a_difference_located_and_a_reused_step_is_not_a_failure() -> None:
    # trial 4: a failed run against its re-run failing otherwise showed no word of either error
    a, b = make_run(), make_run("run_b")
    for run, error in (
        (
            a,
            AttemptError(
                type="KeyError",
                message="'z'",
                frames=[
                    Frame(file="/venv/lib/python3.11/site-packages/lib.py", line=3),
                    Frame(file="steps.py", line=7, function="train"),
                    Frame(file="/usr/lib/python3.11/json/decoder.py", line=9),
                ],
            ),
        ),
        (b, AttemptError(type="ValueError", message="bad")),
    ):
        step = run.steps["prepare"]
        step.status = "FAIL"
        step.attempts[-1].status = "FAIL"
        step.attempts[-1].message = f"{error.type}: {error.message}"
        step.attempts[-1].error = error
    diff = compare(a, b, repo=None)
    assert ("changed", "prepare › error", "KeyError: 'z'  at steps.py:7", "ValueError: bad") in changed(
        diff, "steps"
    )
    assert "KeyError: 'z'  at steps.py:7 → ValueError: bad" in text_of(diff)
    b.steps["prepare"].mock = True  # a re-run reused the failed step's record: not its failure
    assert ("changed", "prepare › error", "KeyError: 'z'  at steps.py:7", "") in changed(
        compare(a, b, repo=None), "steps"
    )
    same = compare(a, a.model_copy(deep=True), repo=None)
    assert not [c for c in same.groups["steps"].changed if c.field == "error"]


def test_run_duration_is_the_one_magnus_runs_shows() -> None:
    """The run group's duration is index.record.run_span's: from the process's recorded start (not the first
    attempt's) to the last attempt's end, a reused (mock) step's old times left out; `magnus runs`, `magnus
    show` and the workbench give the same figure."""
    from magnus_core.index.record import record_from_json

    a, b = make_run("run_a"), make_run("run_b")
    b.run_config["process"] = {"started_at": "2026-01-01 09:59:58"}  # 2 s before the first attempt
    b.steps["prepare"].attempts[0].end_time = "2026-01-01 10:00:04"
    b.find_step("fan.a.m1").mock = True
    b.find_step("fan.a.m1").attempts[0].end_time = "2026-01-01 10:00:09"  # the original's: not this run's
    duration = next(c for c in compare(a, b, repo=None).groups["run"].changes if c.field == "duration")
    indexed = record_from_json(b.model_dump(mode="json")).duration
    assert (duration.before, duration.after) == (0.5, 6.0) and duration.after == pytest.approx(indexed)


def test_timings_alone_do_not_make_runs_differ() -> None:
    b = make_run("run_b")
    for step in b.walk():
        step.attempts[0].end_time = "2026-01-01 10:00:00.700000"
    assert not compare(make_run(), b, repo=None).differs


def test_original_logs_are_compared_and_skips_are_reported() -> None:
    ours = make_run()
    original = load_run_log(ORIGINAL / "run_logs" / "gs_run.json")
    diff = compare(ours, original, repo=None)
    reasons = " | ".join(s.reason for s in diff.skipped)
    assert "schema versions differ (A: 1, B: none (written by the original tool))" in reasons
    assert "run B has no dag_hash and run_config['dag'] (written by the original tool)" in reasons
    same = compare(original, original, repo=None)
    assert not same.differs and [s.group for s in same.skipped] == ["dag"]


def test_fields_of_another_version_are_skipped_not_failed() -> None:
    b = RunLog.model_validate({**make_run("run_b").model_dump(), "future_field": 1})
    b.run_config["schema_version"] = 2
    diff = compare(make_run(), b, repo=None)
    reasons = [s.reason for s in diff.skipped]
    assert any("schema versions differ (A: 1, B: 2)" in r for r in reasons)
    assert "fields only in run B not compared: future_field" in reasons


def test_json_structure_and_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGNUS_SECRET_api_key", "s3cr3t-value")
    monkeypatch.setenv("api_key", "s3cr3t-value")
    b = make_run("run_b")
    b.parameters["x"] = 5
    diff = compare(make_run(), b, repo=None, a_source="a.json", b_source="b.json")
    data = diff.to_json()
    assert data["schema"] == SCHEMA and data["differs"] is True and data["count"] == 1
    assert list(data["groups"]) == ["run", "dag", "code", "data", "parameters", "metrics", "steps"]
    assert data["a"] == {"run_id": "run_a", "source": "a.json", "status": "SUCCESS", "state": "SUCCESS"}
    assert data["groups"]["parameters"]["changes"] == [
        {
            "kind": "changed",
            "key": "x",
            "path": ["x"],
            "step": "",
            "field": "x",
            "before": 3,
            "after": 5,
            "delta": 2,
            "ratio": None,
            "detail": "",
            "informational": False,
        }
    ]
    full = diff.to_json(include_equal=True)
    assert full["groups"]["parameters"]["equal"] == 2 and len(full["groups"]["parameters"]["changes"]) == 3
    dumped = json.dumps(full) + text_of(diff, show_all=True)
    assert "s3cr3t" not in dumped


def test_show_all_lists_equal_items() -> None:
    diff = compare(make_run(), make_run("run_b"), repo=None)
    short, full = text_of(diff), text_of(diff, show_all=True)
    assert "= prepare" not in short and "= prepare" in full and "(7 equal)" in full


def test_open_run_bad_inputs(tmp_path: Path) -> None:
    store = FileSystemRunLogStore({"log_folder": str(tmp_path / "store")})
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "20260101_first.json").write_text(make_run("20260101_first").model_dump_json())
    log, source = open_run("20260101_first", store)
    assert log.run_id == "20260101_first" and source.endswith("20260101_first.json")
    with pytest.raises(RunNotFoundError, match="nearest: 20260101_first"):
        open_run("20260101_frist", store)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RunLogError, match=r"bad.json: line 1: not valid JSON: expecting property name"):
        open_run(str(tmp_path / "bad.json"), store)
    (tmp_path / "other.json").write_text(json.dumps({"steps": {}}))
    with pytest.raises(RunLogError, match="field 'run_id'"):
        open_run(str(tmp_path / "other.json"), None)
    with pytest.raises(RunLogError, match="is a folder"):
        open_run(str(tmp_path) + "/", None)


def test_heavy_modules_load_only_when_comparing() -> None:
    import subprocess
    import sys

    code = (
        "import sys, magnus_core.diff, magnus_core.diff_render, magnus_core.cli.diff, magnus_core.cli.runs; "
        "print(sorted(m for m in ('deepdiff', 'git', 'rich', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


json_values = st.recursive(
    st.none() | st.integers(-5, 5) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=8,
)
params = st.dictionaries(st.text(min_size=1, max_size=3), json_values, max_size=5)


@settings(max_examples=60, deadline=None)
@given(params, params)
def test_parameters_property(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Any two parameter sets: no crash; differs exactly when they are unequal; swapping sides swaps added and
    removed."""
    a, b = make_run(), make_run("run_b")
    a.parameters, b.parameters = before, after
    forward = compare(a, b, repo=None).groups["parameters"]
    backward = compare(b, a, repo=None).groups["parameters"]
    assert not compare(a, a, repo=None).differs
    assert forward.differs == (before != after)  # 1 and 1.0 are equal, as in Python
    kinds = {"added": "removed", "removed": "added", "changed": "changed"}
    assert sorted((kinds[c.kind], c.key) for c in forward.changed) == sorted(
        (c.kind, c.key) for c in backward.changed
    )
    for change in forward.changed:
        assert "root[" not in change.key


def test_a_long_text_changed_late_shows_where_it_changed() -> None:
    # trial 5: both sides of a long command were cut at the same place, so they read the same
    from magnus_core.diff import CHANGED, Change
    from magnus_core.diff_render import describe

    before = 'for i in 1 2 3 4 5 6 7 8; do echo "epoch $i loss 0.$((9-i)) MARKER_EARLY_$i"; sleep 1; done'
    after = before.replace("sleep 1", "sleep 0.2")
    text = describe(Change(kind=CHANGED, key="train › command", field="command", before=before, after=after))
    old, new = text.split(" → ")
    assert old != new and "sleep 1;" in old and "sleep 0.2;" in new
    assert old.startswith("…") and len(old) <= 81
    short = describe(Change(kind=CHANGED, key="k", field="command", before="echo a", after="echo b"))
    assert short == "echo a → echo b"


def _chain(run_id: str, n: int, *, fail_at: int | None = None) -> RunLog:
    """A chain s1 -> ... -> sn -> success; with fail_at, the run failed there and nothing after it ran."""
    dag: dict[str, Any] = {"start_at": "s1", "steps": {}}
    for i in range(1, n + 1):
        dag["steps"][f"s{i}"] = {"type": "stub", "next": f"s{i + 1}" if i < n else "success"}
    dag["steps"]["success"] = {"type": "success"}
    dag["steps"]["fail"] = {"type": "fail"}
    last = n if fail_at is None else fail_at
    steps = {f"s{i}": _step(f"s{i}", step_type="stub") for i in range(1, last + 1)}
    if fail_at is not None:
        steps[f"s{fail_at}"] = _step(f"s{fail_at}", step_type="stub", status="FAIL")
        steps["fail"] = _step("fail", step_type="fail")
    else:
        steps["success"] = _step("success", step_type="success")
    return RunLog(
        run_id=run_id,
        dag_hash="d" * 40,
        status="FAIL" if fail_at else "SUCCESS",
        steps=steps,
        run_config={"dag": dag, "schema_version": 1},
    )


def test_steps_that_did_not_run_are_not_run_not_removed() -> None:
    """Trial 6: a 3,000-step run against one that failed at s1234 listed 1,766 `- s1235 removed` lines.
    Steps in B's dag that did not run in B are not_run (every one in --json), one line in the text, and
    one difference; removed stays for a step gone from the dag."""
    from magnus_core.diff import NOT_RUN
    from magnus_core.diff_render import diff_rows

    a, b = _chain("run_a", 40), _chain("run_b", 40, fail_at=12)
    diff = compare(a, b, repo=None)
    steps = diff.groups["steps"]
    not_run = [c for c in steps.changed if c.kind == NOT_RUN]
    # the dag's success and fail nodes are not steps (docs/runs.md): never listed not run (session 11: the
    # row read `s13 … success  29 steps not run in B` and `fail  not run in A (ran in B: FAIL)`)
    assert [c.step for c in not_run] == [f"s{i}" for i in range(13, 41)]
    assert all(c.before == "SUCCESS" and c.after is None for c in not_run)
    assert not [c for c in steps.changed if c.kind == "removed"]
    # s12's status and error, 28 not run in B
    assert steps.count == 3
    text = text_of(diff)
    assert "removed" not in text
    assert any(
        line.split() == ["·", "s13", "…", "s40", "28", "steps", "not", "run", "in", "B"]
        for line in text.splitlines()
    ), text
    assert "not run in A" not in text
    assert len(text.splitlines()) < 20
    kinds = [c["kind"] for c in diff.to_json()["groups"]["steps"]["changes"] if c["field"] == "step"]
    assert kinds.count("not_run") == 28 and "removed" not in kinds
    rows = diff_rows(steps)
    assert sum(r.change.kind == NOT_RUN for r in rows) == 1  # one row for the side that stopped early

    # a step gone from B's dag is removed, and a stretch with a hole lists its first names
    del b.run_config["dag"]["steps"]["s20"]
    b.steps["s30"] = _step("s30", step_type="stub")
    diff = compare(a, b, repo=None)
    kinds = {c.step: c.kind for c in diff.groups["steps"].changed if c.field == "step"}
    assert kinds["s20"] == "removed" and kinds["s21"] == NOT_RUN and "s30" not in kinds
    assert "s13, s14, s15, …  26 steps not run in B" in text_of(diff)

    # a log with no dag recorded (the original tool's): nothing tells not run from removed
    del b.run_config["dag"]
    assert {c.kind for c in compare(a, b, repo=None).groups["steps"].changed if c.field == "step"} >= {
        "removed"
    }


def test_diff_json_keys_have_an_ascii_path() -> None:
    """Trial 6: `--json` keys read `train › error`; scripts get `path`, the key's parts."""
    b = make_run("run_b")
    b.steps["prepare"].user_defined_metrics["variance"] = 0.7
    doc = compare(make_run(), b, repo=None).to_json()
    (change,) = doc["groups"]["metrics"]["changes"]
    assert change["path"] == ["prepare", "variance"] and change["key"] == "prepare › variance"
    assert (change["step"], change["field"]) == ("prepare", "variance")


def test_steps_of_a_map_that_did_not_run_are_not_run() -> None:
    """A map step that never ran in B: its per-item steps (`fan.a.m1`, the dag's `fan.<item>.m1`) are not
    run in B, like the map itself; the same per-item step of a map that ran in both but over other items is
    removed (its item is gone)."""
    a, b = make_run(), make_run("run_b")
    del b.steps["fan"], b.steps["success"]
    kinds = {c.step: c.kind for c in compare(a, b, repo=None).groups["steps"].changed if c.field == "step"}
    assert kinds == {name: "not_run" for name in kinds} and {"fan", "fan.a.m1", "fan.b.m1"} <= set(kinds)
    assert not {"fan.a.success", "fan.b.success", "success"} & set(kinds)  # where branches end: not steps
    b = make_run("run_b")
    del b.steps["fan"].branches["fan.b"]
    kinds = {c.step: c.kind for c in compare(a, b, repo=None).groups["steps"].changed if c.field == "step"}
    assert kinds == {"fan.b.m1": "removed", "fan.b.success": "removed"}
