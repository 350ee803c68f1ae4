"""Done / total of a run (progress.step_progress): one count for the run index, `magnus runs` and the
workbench, the same total whatever the run's status, and never 100% for a run that did not succeed."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from magnus_core.models.run_log import RunLog
from magnus_core.progress import Progress, step_progress, stored_dag
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.runs import summarise
from magnus_tui.view import RunView

STEPS = """
from pathlib import Path

def ok():
    pass

def b():
    if Path("broken").exists():
        raise RuntimeError("b is broken")
"""

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command: prog_steps.ok, next: b}
    b: {type: task, command: prog_steps.b, next: c HANDLER}
    c: {type: task, command: prog_steps.ok, next: success}
    h: {type: task, command: prog_steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def run(repo: Path, run_id: str, *, broken: bool, handled: bool) -> RunLog:
    (repo / "prog_steps.py").write_text(STEPS)
    handler = ", on_failure: h" if handled else ""
    (repo / "pipeline.yaml").write_text(PIPELINE.replace(" HANDLER", handler))
    marker = repo / "broken"
    if broken:
        marker.write_text("")
    elif marker.exists():
        marker.unlink()
    return execute(prepare(RunRequest(file="pipeline.yaml", run_id=run_id)))


def counted(log: RunLog) -> Progress:
    """What the run screen shows, and check the run index's summary says the same."""
    view = RunView.from_runlog(log)
    shown = view.step_progress()
    summary = summarise(log)
    assert (summary.steps_done, summary.steps) == (shown.ran, shown.total)  # N/M: the steps that ran
    return shown


def test_every_status_counts_the_same_path(git_repo: Path) -> None:
    good = counted(run(git_repo, "good", broken=False, handled=False))
    failed = counted(run(git_repo, "failed", broken=True, handled=False))
    handled = counted(run(git_repo, "handled", broken=True, handled=True))
    assert (good.done, good.total, good.percent) == (3, 3, 100)
    # b failed and stopped the run: c was never reached, and the run is not 100% (it was 2/2 before)
    assert (failed.done, failed.total, failed.failed, failed.not_run) == (1, 3, 1, 1)
    assert failed.percent == 33
    # b failed and its handler h ran: the run took a, b, h and succeeded, yet b is a failed step (✗ 1): a
    # handled failure is not done (trial 7 read `1999/2000 ✓ 1999 ✗ 1` for a run with 4 failed steps)
    assert (handled.done, handled.total, handled.failed, handled.percent) == (2, 3, 1, 67)


def test_a_run_that_handles_every_failure_and_ends_at_its_fail_node_is_not_all_done(git_repo: Path) -> None:
    """b fails, its on_failure h succeeds, and h goes `next: fail`: the run failed. The fail node is not a
    step (trial 10, fault 4: it counted as a second failed step, `2 FAIL` for one failure, and not when a
    failure sent the run there), and the run is not 100% in any view (it showed 3/3, 100%, in `magnus runs`
    and the workbench's header: trial 3, finding 6)."""
    (git_repo / "prog_steps.py").write_text(STEPS)
    (git_repo / "pipeline.yaml").write_text(
        PIPELINE.replace(" HANDLER", ", on_failure: h").replace(
            "h: {type: task, command: prog_steps.ok, next: success}",
            "h: {type: task, command: prog_steps.ok, next: fail}",
        )
    )
    (git_repo / "broken").write_text("")
    log = execute(prepare(RunRequest(file="pipeline.yaml", run_id="to-fail")))
    assert log.status == "FAIL"
    shown = counted(log)
    # a, h done; b failed (handled, still a failed step): ✗ 1; the fail node reached, not a step
    assert (shown.done, shown.total, shown.failed, shown.not_run) == (2, 3, 1, 0)
    assert shown.fail_reached and shown.percent == 67


def test_an_interrupted_run_counts_its_planned_steps(git_repo: Path) -> None:
    """A run stopped in b (its log as `magnus stop` leaves it): the steps it never reached still count."""
    log = run(git_repo, "good", broken=False, handled=False)
    data = json.loads(log.model_dump_json())
    data.update(run_id="stopped", status="INTERRUPTED")
    data["steps"]["b"]["status"] = "INTERRUPTED"
    del data["steps"]["c"], data["steps"]["success"]
    stopped = counted(RunLog.model_validate(data))
    assert (stopped.done, stopped.total, stopped.interrupted, stopped.not_run) == (1, 3, 1, 1)
    assert stopped.percent < 100


@pytest.mark.parametrize(("done", "total"), [(199, 200), (999, 1000)])
def test_a_run_with_a_step_left_never_rounds_to_100(done: int, total: int) -> None:
    assert Progress(done=done, total=total, failed=total - done).percent == 99


def test_a_parallels_branches_count_before_they_run(git_repo: Path) -> None:
    (git_repo / "prog_steps.py").write_text(STEPS)
    (git_repo / "pipeline.yaml").write_text(
        """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        one: {start_at: x, steps: {x: {type: task, command: prog_steps.ok, next: success}, success: {type: success}, fail: {type: fail}}}
        two: {start_at: x, steps: {x: {type: task, command: prog_steps.ok, next: y}, y: {type: task, command: prog_steps.ok, next: success}, success: {type: success}, fail: {type: fail}}}
    success: {type: success}
    fail: {type: fail}
"""
    )
    log = execute(prepare(RunRequest(file="pipeline.yaml", run_id="par")))
    assert (counted(log).done, counted(log).total) == (3, 3)
    assert step_progress(stored_dag(log), {}, set()).total == 3  # before anything ran: the whole plan


def test_magnus_runs_prints_done_of_total(git_repo: Path, magnus) -> None:
    run(git_repo, "failed", broken=True, handled=False)
    listed = magnus("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["runs"]
    assert (row["steps_done"], row["steps"]) == (2, 3)  # a ran, b ran and failed; c never ran
    table = magnus("runs")
    assert table.stdout.splitlines()[1].split()[-1] == "2/3"


def test_the_estimate_prefers_a_run_with_the_same_parameters(git_repo: Path) -> None:
    """estimate_from: same pipeline, same dag hash, succeeded; a run with this run's parameters first, else
    the newest, said to have had other parameters."""
    from magnus_core.index import open_index
    from magnus_core.progress import estimate_from

    (git_repo / "prog_steps.py").write_text(STEPS + "\ndef p(lr: float = 0.0):\n    pass\n")
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: prog_steps.p, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    for run_id, lr in (("lr1", 1), ("lr2", 2)):
        execute(prepare(RunRequest(file="pipeline.yaml", run_id=run_id, parameters={"lr": lr})))
    now = execute(prepare(RunRequest(file="pipeline.yaml", run_id="now", parameters={"lr": 1})))
    other = execute(prepare(RunRequest(file="pipeline.yaml", run_id="other", parameters={"lr": 9})))
    store = prepare(RunRequest(file="pipeline.yaml")).store
    index = open_index(store)
    try:
        found = estimate_from(index, now)
        assert found is not None and (found[0].run_id, found[1]) == ("lr1", True)  # not lr2, newer
        found = estimate_from(index, other)
        assert found is not None and found[1] is False  # only other parameters: said so
    finally:
        index.close()


def test_the_estimate_leaves_out_reruns(git_repo: Path) -> None:
    """Trial 8: `usually 80.7ms with other parameters` came from a re-run that reused 3 of 4 steps: its
    time leaves out the steps it reused, so it is never the estimate."""
    from magnus_core.index import open_index
    from magnus_core.progress import estimate_from

    run(git_repo, "failed", broken=True, handled=False)
    (git_repo / "broken").unlink()
    execute(prepare(RunRequest(file="pipeline.yaml", run_id="fixed", use_cached="failed")))
    now = execute(prepare(RunRequest(file="pipeline.yaml", run_id="now")))
    index = open_index(prepare(RunRequest(file="pipeline.yaml")).store)
    try:
        assert estimate_from(index, now) is None  # only the re-run succeeded before it
        execute(prepare(RunRequest(file="pipeline.yaml", run_id="whole")))
        found = estimate_from(index, now)
        assert found is not None and found[0].run_id == "whole"
    finally:
        index.close()


def test_a_run_whose_steps_all_ran_and_failed_reads_all_ran(git_repo: Path, magnus) -> None:
    """Trial 8, finding 7: three steps chained by on_failure, each failing, the last handled by the fail
    node, read `0/3` in the runs list, and the summary listed the fail node as SUCCESS beside the workbench's
    ✗. N/M is the steps that ran (progress.Progress.ran), and the fail node reads FAIL everywhere."""
    (git_repo / "fns.py").write_text("def bad():\n    raise ValueError('no')\n")
    (git_repo / "fails.yaml").write_text(
        "dag:\n  start_at: one\n  steps:\n"
        "    one: {type: task, command: fns.bad, next: success, on_failure: two}\n"
        "    two: {type: task, command: fns.bad, next: success, on_failure: three}\n"
        "    three: {type: task, command: fns.bad, next: success, on_failure: fail}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "fails.yaml", "--run-id", "fails", cwd=git_repo)
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert "3/3 steps ran: 3 FAIL" in out
    (row,) = [line.split() for line in out if line.startswith("fail ")]
    assert row[:3] == ["fail", "fail", "FAIL"]  # the fail node reached, as the workbench's ✗
    listed = magnus("runs", "--json", cwd=git_repo)
    (summary,) = json.loads(listed.stdout)["runs"]
    assert (summary["steps_done"], summary["steps"]) == (3, 3)
    assert magnus("runs", cwd=git_repo).stdout.splitlines()[1].split()[-1] == "3/3"
    log = RunLog.model_validate_json((git_repo / ".run_log_store" / "fails.json").read_text())
    assert log.steps["fail"].status == "SUCCESS"  # the run log keeps the original's format
    view = RunView.from_runlog(log)
    assert view.rows["fail"].reached_fail and counted(log).ran == 3


def test_the_header_never_says_usually_0_00() -> None:
    from datetime import datetime

    from magnus_tui.view import Row
    from magnus_tui.widgets.run_header import Estimate, header_text

    view = RunView(run_id="r", status="SUCCESS")
    at = datetime(2026, 11, 30, tzinfo=UTC)
    view.started = at
    view.rows["a"] = Row(key="a", kind="step", name="a", parent=None, status="SUCCESS", start=at, end=at)
    view.children.setdefault(None, []).append("a")
    shown = header_text(view, at, Estimate("old", 0.208)).plain
    assert "(usually 208ms)" in shown and "0:00" not in shown
    shown = header_text(view, at, Estimate("old", 125.0, same_parameters=False)).plain
    assert "(usually 2m 5s with other parameters)" in shown


def test_the_header_gives_a_percentage_only_while_the_run_goes() -> None:
    """Trial 10: a failed run's header read `2/2 steps ━━━━╳╳╳╳ 50%`, a share of successes read as progress.
    An ended run's bar and counts say what became of it; a running run's percentage says how far it is."""
    from datetime import datetime

    from magnus_tui.view import Row
    from magnus_tui.widgets.run_header import header_text

    at = datetime(2026, 11, 30, tzinfo=UTC)
    for status, live in (("FAIL", False), ("SUCCESS", False), ("RUNNING", True)):
        view = RunView(run_id="r", status=status)
        view.started = at
        for key, step_status in (("a", "SUCCESS"), ("b", "FAIL" if status == "FAIL" else "SUCCESS")):
            view.rows[key] = Row(
                key=key, kind="step", name=key, parent=None, status=step_status, start=at, end=at
            )
            view.children.setdefault(None, []).append(key)
        shown = header_text(view, at).plain
        assert "2/2 steps" in shown, shown
        assert ("%" in shown) == live, (status, shown)


def test_a_dag_edited_under_a_known_hash_is_counted_with_its_own_steps() -> None:
    """dag_of_config caches parsed dags by dag hash; a log that holds another dag under a hash seen before
    (edited by hand, or a fixture) is counted with its own dag, not the first one's. Before the cache also
    keyed on the dag's outline, the workbench's many-runs list showed 5/6 for 5-step runs whenever a test
    with a 6-step dag under the same hash had run earlier in the same process."""
    from magnus_core.progress import dag_of_config

    base = json.loads((Path(__file__).parent / "data" / "workbench" / "getting-started.json").read_text())
    config = base["run_config"]
    edited = json.loads(json.dumps(config))
    steps = edited["dag"]["steps"]
    last = next(name for name, step in steps.items() if step.get("next") == "success")
    steps[last]["next"] = "extra"
    steps["extra"] = {"type": "task", "command_type": "shell", "command": "true", "next": "success"}
    dag_hash = base["dag_hash"]  # one hash for both, as in a log edited by hand

    first, second = dag_of_config(config, dag_hash), dag_of_config(edited, dag_hash)
    assert first is not None and second is not None
    assert set(second.steps) - set(first.steps) == {"extra"}
    assert dag_of_config(config, dag_hash) is first  # still parsed once per dag


def test_the_counts_line_parses_a_runs_dag_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """summary.counts_line (through progress.run_progress) takes the dag from dag_of_config's cache: the
    workbench and `magnus show` count the same run again and again, and a 10,000-step dag is tens of ms of
    pydantic. Before, run_progress parsed the stored dag (stored_dag) at every call."""
    import magnus_core.progress as progress
    from magnus_core.summary import counts_line

    parsed: list[object] = []
    real = progress.stored_dag

    def counting(log: RunLog) -> object:
        parsed.append(log)
        return real(log)

    monkeypatch.setattr(progress, "_DAGS", {})
    monkeypatch.setattr(progress, "stored_dag", counting)
    base = json.loads((Path(__file__).parent / "data" / "workbench" / "getting-started.json").read_text())
    log = RunLog.model_validate(base)
    lines = {counts_line(log) for _ in range(3)}
    assert len(lines) == 1 and next(iter(lines)).startswith(
        f"{len(base['run_config']['dag']['steps']) - 2}/{len(base['run_config']['dag']['steps']) - 2} steps ran"
    )
    assert len(parsed) == 1


BRANCH_TO_FAIL = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: successHANDLER
      branches:
        one: {start_at: x, steps: {x: {type: task, command: prog_steps.ok, next: success}, success: {type: success}, fail: {type: fail}}}
        two:
          start_at: x
          steps:
            x: {type: task, command: prog_steps.b, next: success, on_failure: h}
            h: {type: task, command: prog_steps.ok, next: fail}
            success: {type: success}
            fail: {type: fail}
    after: {type: task, command: prog_steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("handled", [False, True])
def test_a_branch_that_ends_at_its_fail_node_is_not_all_done(git_repo: Path, handled: bool) -> None:
    """Branch two's x fails, its on_failure h runs and goes `next: fail`: the branch fails at its fail node,
    and so does the parallel. Unhandled, the run failed and is not all done (it showed 3/3, 100%); with the
    parallel's on_failure taken, the run succeeded, and its failed step still reads as failed (✗ 1: two.x;
    two's fail node is not a step, trial 10 fault 4), as the run summary counts it."""
    (git_repo / "prog_steps.py").write_text(STEPS)
    (git_repo / "pipeline.yaml").write_text(
        BRANCH_TO_FAIL.replace("HANDLER", "\n      on_failure: after" if handled else "")
    )
    (git_repo / "broken").write_text("")
    log = execute(prepare(RunRequest(file="pipeline.yaml", run_id=f"branch-fail-{handled}")))
    shown = counted(log)
    if handled:
        assert log.status == "SUCCESS"
        # one.x, two.h, after done; two.x failed (the parallel's on_failure taken)
        assert (shown.done, shown.total, shown.failed, shown.percent) == (3, 4, 1, 75)
    else:
        assert log.status == "FAIL"
        assert (shown.done, shown.total, shown.failed, shown.not_run) == (2, 3, 1, 0)
        assert shown.percent == 67


def test_handled_failures_count_as_failed_in_every_view(tmp_path: Path, magnus) -> None:
    """Trial 7, finding 2: a 2,000-step run with 4 failed steps, 3 of them handled by on_failure, read
    `1999/2000 steps ✓ 1999 ✗ 1` in the workbench and `1999/2000` in `magnus runs`, while the run summary
    said `2,001 steps: 1,997 SUCCESS, 4 FAIL`. One count now (progress.Progress): 55 tasks here, 3 failing
    with their failure handled and the last one failing the run."""
    from magnus_tui.widgets.run_header import header_text

    (tmp_path / "fns.py").write_text("def ok():\n    pass\n\ndef bad():\n    raise ValueError('no good')\n")
    lines = ["dag:", "  start_at: s0", "  steps:"]
    broken = {10, 20, 30, 54}
    for i in range(55):
        command = "fns.bad" if i in broken else "fns.ok"
        nxt = f"s{i + 1}" if i < 54 else "success"
        handler = f", on_failure: s{i + 1}" if i in broken and i < 54 else ""
        lines.append(f"    s{i}: {{type: task, command: {command}, next: {nxt}{handler}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    done = magnus("execute", "-f", "big.yaml", "--run-id", "big", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    # N/M: the steps that ran of the steps on the path (trial 8 read 0/3 for three steps that all ran and
    # failed as "none ran"), the ✓ and ✗ beside it
    assert "55/55 steps ran: 51 SUCCESS, 4 FAIL" in done.stdout.splitlines()
    listed = magnus("runs", "--json", cwd=tmp_path)
    (row,) = json.loads(listed.stdout)["runs"]
    assert (row["steps_done"], row["steps"]) == (55, 55)
    assert magnus("runs", cwd=tmp_path).stdout.splitlines()[1].split()[-1] == "55/55"
    log = RunLog.model_validate_json((tmp_path / ".run_log_store" / "big.json").read_text())
    shown = counted(log)
    assert (shown.done, shown.failed, shown.total) == (51, 4, 55)
    from datetime import datetime

    header = header_text(RunView.from_runlog(log), datetime.now(UTC), None).plain
    assert "✓ 51" in header and "✗ 4" in header  # (its N/M: the workbench's, s7-live reads Progress.ran)


FAIL_NODE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: fns.ok, next: train}
    train: {type: task, command: fns.bad, next: successHANDLER}
    cleanup: {type: task, command: fns.ok, next: fail}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("handled", [True, False])
def test_the_counts_say_the_steps_that_failed_however_the_fail_node_was_reached(
    git_repo: Path, magnus, handled: bool
) -> None:
    """Trial 10, fault 4: train fails and its on_failure cleanup goes `next: fail` (fail_raise.yaml): the
    summary said `4/4 steps ran: 2 SUCCESS, 2 FAIL` for one failed step; when train failed straight into the
    fail node it said `1 FAIL`. One failed step reads `1 FAIL` both ways, in the summary, `magnus show`,
    `magnus runs --json` and the workbench (one count: progress.Progress)."""
    (git_repo / "fns.py").write_text("def ok():\n    pass\n\ndef bad():\n    raise ValueError('no')\n")
    handler = ", on_failure: cleanup" if handled else ""
    (git_repo / "p.yaml").write_text(FAIL_NODE.replace("HANDLER", handler))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 1
    line = "3/3 steps ran: 2 SUCCESS, 1 FAIL" if handled else "2/2 steps ran: 1 SUCCESS, 1 FAIL"
    assert line in done.stdout.splitlines()
    assert line in magnus("show", "r", cwd=git_repo).stdout.splitlines()
    (listed,) = json.loads(magnus("runs", "--json", cwd=git_repo).stdout)["runs"]
    ran = total = 3 if handled else 2  # load, train (and cleanup): each ran to an end
    assert (listed["steps_done"], listed["steps"]) == (ran, total)
    log = RunLog.model_validate_json((git_repo / ".run_log_store" / "r.json").read_text())
    shown = counted(log)  # the workbench's run screen, checked against the run index's summary
    assert (shown.done, shown.failed, shown.ran, shown.total) == (ran - 1, 1, ran, total)
    assert shown.percent < 100


def test_a_run_whose_steps_all_succeeded_into_its_fail_node_is_not_100(git_repo: Path, magnus) -> None:
    """Every step succeeded and the last goes `next: fail`: no step failed (the counts say so), yet the run
    failed there, so no view shows it 100% done."""
    (git_repo / "fns.py").write_text("def ok():\n    pass\n")
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: fns.ok, next: fail}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 1
    assert "1/1 steps ran: 1 SUCCESS" in done.stdout.splitlines()
    shown = counted(RunLog.model_validate_json((git_repo / ".run_log_store" / "r.json").read_text()))
    assert (shown.done, shown.total, shown.fail_reached, shown.percent) == (1, 1, True, 99)


GROWING = """
dag:
  start_at: first
  steps:
    first: {type: stub, next: each}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: again
      branch:
        start_at: t
        steps:
          t: {type: stub, next: success}
          success: {type: success}
          fail: {type: fail}
    again:
      type: loop
      branch:
        start_at: u
        steps:
          u: {type: stub, next: success}
          success: {type: success}
          fail: {type: fail}
      max_iterations: 3
      break_on: done
      index_as: i
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def test_a_total_that_may_still_grow_says_so() -> None:
    """Trials 8 and 9: a running map's N/M total grew as it fanned out, nothing saying it would. growing:
    while a composite that chooses its branches as it runs has not handed them all out (not reached; a map
    whose item logs are still being written, no step in them yet; a loop until it ends)."""
    import yaml

    from magnus_core.models.pipeline import Dag

    dag = Dag.model_validate(yaml.safe_load(GROWING)["dag"])
    run = "PROCESSING"
    items = {"each.1", "each.2", "each.3"}
    cases = [
        ({"first": ("PROCESSING", False)}, set(), True),  # the map not reached: it counts once
        ({"first": ("SUCCESS", False), "each": (run, False)}, {"each.1"}, True),  # fanning out
        ({"first": ("SUCCESS", False), "each": (run, False), "each.2.t": (run, False)}, items, True),  # loop
    ]
    for steps, branches, growing in cases:
        assert step_progress(dag, steps, branches).growing is growing, (steps, branches)
    handed_out = {"first": ("SUCCESS", False), "each": ("SUCCESS", False), "again": (run, False)}
    assert step_progress(dag, handed_out, items | {"again.0"}).growing  # the loop goes on
    ended = {**handed_out, "again": ("SUCCESS", False), "again.0.u": ("SUCCESS", False)}
    ended |= {f"each.{i}.t": ("SUCCESS", False) for i in (1, 2, 3)}
    assert not step_progress(dag, ended, items | {"again.0"}).growing
    no_loop = Dag.model_validate(yaml.safe_load(GROWING.replace("next: again", "next: success"))["dag"])
    fanned = {"first": ("SUCCESS", False), "each": (run, False), "each.2.t": (run, False)}
    counted = step_progress(no_loop, fanned, items)
    assert not counted.growing and counted.total == 4  # every item logged at fan-out: the total is known
