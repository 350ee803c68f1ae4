"""The run view-model (no Textual): rows from a run log, events folded in, keys of what changed."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from tui_helpers import RUN_LOGS

from magnus_core.events import BRANCH_UPDATED, RUN_UPDATED, STEP_UPDATED, RunEvent
from magnus_core.models.run_log import StepAttempt, StepLog
from magnus_core.stores.file_system import load_run_log
from magnus_tui.source import Project
from magnus_tui.view import RunView, fmt_duration


def fixture(name: str):
    return load_run_log(RUN_LOGS / f"{name}.json")


def test_rows_nest_branches_and_map_items_by_internal_name() -> None:
    view = RunView.from_runlog(fixture("composite_run"))
    order = [(row.key, depth) for row, depth in view.walk()]
    assert order[:4] == [
        ("prepare", 0),
        ("parallel step", 0),
        ("parallel step.branch a", 1),
        ("parallel step.branch a.a1", 2),
    ]
    assert ("map step.b.m1", 2) in order and ("nested.dag.inner step", 2) in order
    assert view.rows["map step.a"].name == "a" and view.rows["map step.a"].kind == "branch"
    # a composite step without attempts spans what it holds
    assert (
        view.rows["map step"].duration
        == max(view.rows["map step.a"].end, view.rows["map step.b"].end)
        .__sub__(min(view.rows["map step.a"].start, view.rows["map step.b"].start))
        .total_seconds()
    )
    assert view.metrics()["prepare"] == {"variance": 0.6, "alpha": 0.1, "beta": 0.2}


def test_failure_and_attempts() -> None:
    view = RunView.from_runlog(fixture("failure_run"))
    assert view.first_failure() == "boom"
    assert view.rows["flaky"].attempts == 2 and view.rows["flaky"].status == "SUCCESS"
    assert view.rows["boom"].message == "this step always fails"


def test_apply_returns_changed_keys_and_ancestors() -> None:
    view = RunView(run_id="r")
    assert view.apply(
        RunEvent(
            kind=STEP_UPDATED,
            run_id="r",
            internal_name="p",
            step_log=StepLog(name="p", internal_name="p", status="PROCESSING", step_type="parallel"),
        )
    ) == ["p"]
    assert view.apply(
        RunEvent(kind=BRANCH_UPDATED, run_id="r", internal_name="p.b", status="PROCESSING", parent="p")
    ) == ["p.b"]
    step = StepLog(
        name="x",
        internal_name="p.b.x",
        status="SUCCESS",
        attempts=[
            StepAttempt(start_time="2026-01-01 10:00:00", end_time="2026-01-01 10:00:02", status="SUCCESS")
        ],
    )
    changed = view.apply(
        RunEvent(kind=STEP_UPDATED, run_id="r", internal_name="p.b.x", step_log=step, parent="p.b")
    )
    assert changed == ["p.b.x", "p.b", "p"]  # the branch and the step now span two seconds
    assert view.rows["p"].duration == 2.0
    # the same step again changes nothing (a run started here replays its latest notices to a new screen)
    assert (
        view.apply(
            RunEvent(kind=STEP_UPDATED, run_id="r", internal_name="p.b.x", step_log=step, parent="p.b")
        )
        == []
    )
    again = step.model_copy(update={"status": "FAIL"})
    assert view.apply(
        RunEvent(kind=STEP_UPDATED, run_id="r", internal_name="p.b.x", step_log=again, parent="p.b")
    ) == ["p.b.x"]  # a change of the step alone: its span is the same, nothing above it is redrawn
    view.apply(RunEvent(kind=STEP_UPDATED, run_id="r", internal_name="p.b.x", step_log=step, parent="p.b"))
    assert [r.key for r, _ in view.walk()] == ["p", "p.b", "p.b.x"]
    view.apply(RunEvent(kind=RUN_UPDATED, run_id="r", status="SUCCESS"))
    assert view.status == "SUCCESS"
    # the steps that do the work: the parallel step's own step, not the parallel step holding it
    assert view.counts() == {"SUCCESS": 1} and view.progress() == (1, 1)


def test_an_event_for_an_unknown_parent_is_shown_at_the_top() -> None:
    view = RunView(run_id="r")
    view.apply(
        RunEvent(
            kind=STEP_UPDATED,
            run_id="r",
            internal_name="m.a.t",
            parent="m.a",
            step_log=StepLog(name="t", internal_name="m.a.t", status="SUCCESS"),
        )
    )
    assert [(r.key, d) for r, d in view.walk()] == [("m.a.t", 0)]


def test_fmt_duration() -> None:
    """One way to show a duration, the CLI summary's (magnus_core.table.fmt_duration); unknown is blank."""
    values = (None, 0.0042, 8.9e-05, 0.9999, 12.34, 59.7, 245, 7380)
    assert [fmt_duration(x) for x in values] == [
        "",
        "4.2ms",
        "<1ms",
        "1s",
        "12.3s",
        "1m 0s",
        "4m 5s",
        "2h 3m",
    ]


def test_project_reads_the_config_files_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text("run_log_store: {type: file-system, config: {log_folder: logs}}\n")
    project = Project.open("cfg.yaml", tmp_path)
    assert project.error == "" and str(project.store.folder) == "logs"
    assert "logs" in project.hint()
    (tmp_path / "p.yaml").write_text("dag:\n  start_at: a\n")
    (tmp_path / "other.yaml").write_text("x: 1\n")
    assert project.pipelines() == ["p.yaml"]


def test_the_entry_point_is_there() -> None:
    from magnus_tui.app import run_app

    assert callable(run_app)


def test_a_reached_fail_node_reads_as_the_failure() -> None:
    """The fail node's log says SUCCESS (it did its job); the dag shows it red with ✗, not green ✓."""
    view = RunView.from_runlog(fixture("failure_run"))
    node = view.rows["fail"]
    assert node.status == "SUCCESS" and node.step_type == "fail"
    assert (node.glyph, node.style) == ("✗", "red")
    assert (view.rows["flaky"].glyph, view.rows["flaky"].style) == ("✓", "green")


def test_a_run_marked_interrupted_leaves_no_step_running() -> None:
    """The run's own INTERRUPTED notice can come before its running step's: the step is settled with it,
    so the dag never reads `▶ running` under an INTERRUPTED header (trial 2, finding 12)."""
    from datetime import datetime

    view = RunView(run_id="r")
    started = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    step = StepLog(
        name="slow", internal_name="slow", status="PROCESSING", step_type="task", start_time=started
    )
    view.apply(RunEvent(kind=STEP_UPDATED, run_id="r", internal_name="slow", step_log=step))
    assert view.running_keys() == ["slow"] and view.live
    changed = view.apply(RunEvent(kind=RUN_UPDATED, run_id="r", status="INTERRUPTED"))
    assert "slow" in changed and not view.live
    row = view.rows["slow"]
    assert row.status == "INTERRUPTED" and row.running_since is None and view.running_keys() == []


def test_the_header_says_how_far_a_running_map_and_loop_have_got() -> None:
    """A map's items ended of those fanned out, a loop's iteration (from 1), while the run is live."""
    from datetime import UTC, datetime

    from magnus_core.models.run_log import BranchLog, RunLog
    from magnus_tui.widgets.run_header import header_text

    def branch(name: str, status: str) -> BranchLog:
        return BranchLog(internal_name=name, status=status)

    fan = StepLog(name="fan", internal_name="fan", status="PROCESSING", step_type="map")
    fan.branches = {
        f"fan.{i}": branch(f"fan.{i}", s) for i, s in enumerate(["SUCCESS", "SUCCESS", "PROCESSING"])
    }
    again = StepLog(name="again", internal_name="again", status="PROCESSING", step_type="loop")
    again.branches = {f"again.{i}": branch(f"again.{i}", s) for i, s in enumerate(["SUCCESS", "PROCESSING"])}
    done = StepLog(name="done", internal_name="done", status="SUCCESS", step_type="map")
    done.branches = {"done.0": branch("done.0", "SUCCESS")}
    log = RunLog(run_id="r", status="PROCESSING", steps={"done": done, "fan": fan, "again": again})
    view = RunView.from_runlog(log, "RUNNING")
    assert [(row.key, ended, total) for row, ended, total in view.fanned_out()] == [
        ("fan", 2, 3),
        ("again", 1, 2),
    ]
    line = header_text(view, datetime.now(UTC)).plain.splitlines()[1]
    assert "fan 2/3 items" in line and "again iteration 2" in line and "done" not in line
    view.settle("INTERRUPTED")  # over: nothing is going on any more
    assert "items" not in header_text(view, datetime.now(UTC)).plain
