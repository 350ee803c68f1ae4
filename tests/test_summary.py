"""The end-of-run summary (magnus_core/summary.py): every step up to 50, above that the counts and the steps
that matter, and `magnus show RUN [--steps]` for any run later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.diff_render import fmt_value
from magnus_core.models.run_log import AttemptError, BranchLog, RunLog, StepAttempt, StepLog
from magnus_core.summary import FULL_TABLE, SLOWEST, counts_line, summary_lines


def _step(i: int, *, seconds: float = 0.001, status: str = "SUCCESS", attempts: int = 1) -> StepLog:
    records = [
        StepAttempt(
            attempt_number=n,
            start_time="2026-01-01 10:00:00+00:00",
            end_time=f"2026-01-01 10:00:{seconds:09.6f}+00:00",
            status="FAIL" if n + 1 < attempts else status,
            message="boom" if status == "FAIL" else "",
        )
        for n in range(attempts)
    ]
    return StepLog(name=f"s{i}", internal_name=f"s{i}", status=status, attempts=records)


def _run(steps: list[StepLog], status: str = "SUCCESS") -> RunLog:
    return RunLog(run_id="r1", status=status, steps={s.internal_name: s for s in steps})


def test_up_to_the_limit_every_step_is_listed() -> None:
    lines = summary_lines(_run([_step(i) for i in range(FULL_TABLE)]), "logs/r1.json")
    assert lines[0] == "Run r1: SUCCESS"
    assert lines[-2].startswith("Started ") and ", took " in lines[-2]  # progress.run_times
    listed = [line.split()[0] for line in lines[2:-3]]
    assert listed == [f"s{i}" for i in range(FULL_TABLE)]
    assert lines[-3] == f"{FULL_TABLE}/{FULL_TABLE} steps ran: {FULL_TABLE} SUCCESS"  # as `magnus runs`
    assert lines[-1] == "Run log: logs/r1.json"


def test_above_the_limit_the_counts_and_the_steps_that_matter() -> None:
    steps = [_step(i) for i in range(300)]
    steps[10] = _step(10, seconds=9.0)  # slow
    steps[20] = _step(20, attempts=3)  # retried, then succeeded
    steps[250] = _step(250, seconds=7.5)
    for i, seconds in ((100, 3.0), (101, 4.0), (102, 5.0)):
        steps[i] = _step(i, seconds=seconds)
    steps[299] = _step(299, status="FAIL")
    lines = summary_lines(_run(steps, "FAIL"), "logs/r1.json")
    assert lines[1] == "300/300 steps ran: 299 SUCCESS, 1 FAIL; 1 retried"
    table = lines[2 : lines.index(next(line for line in lines if line.startswith("... ")))]
    shown = {line.split()[0]: line for line in table[1:]}
    # the retried and the failed one in the order they ran, then the five slowest, slowest first (trial 7)
    assert list(shown) == ["s20", "s299", "s10", "s250", "s102", "s101", "s100"]
    assert shown["s20"].endswith("retried (3 attempts)") and "slowest" in shown["s10"]
    assert "failed" in shown["s299"]
    more = next(line for line in lines if line.startswith("... "))
    assert more == "... 293 more steps; every step: magnus show r1 --steps"
    assert "s299: boom" in lines  # the failure's message, as for a short run


def test_above_the_limit_the_steps_not_listed_leave_out_the_end_node() -> None:
    """Trial 9: `1,000/1,000 steps ran`, 5 listed, then `... 996 more steps`: the success node counted."""
    end = StepLog(name="success", internal_name="success", status="SUCCESS", step_type="success")
    lines = summary_lines(_run([*(_step(i) for i in range(100)), end]), "logs/r1.json")
    assert lines[1] == "100/100 steps ran: 100 SUCCESS"
    listed = lines[3 : lines.index(next(line for line in lines if line.startswith("... ")))]
    more = next(line for line in lines if line.startswith("... "))
    assert more == f"... {100 - len(listed)} more steps; every step: magnus show r1 --steps"
    assert lines[-1] == "Run log: logs/r1.json"


def test_above_the_limit_failures_are_cut_with_the_command_that_lists_them_all() -> None:
    """Trial 7: the failures cut were the root causes inside branches; the rest is one command away, and
    that command (`--steps`, every=True) lists every failure; a composite's row names the step inside it."""
    steps = [_step(i) for i in range(60)]
    for i in range(50, 58):
        steps[i] = _step(i, status="FAIL")
    leaf = _step(99, status="FAIL")
    leaf.internal_name = leaf.name = "par.b2.p2"
    par = StepLog(name="par", internal_name="par", status="FAIL", step_type="parallel")
    par.branches = {
        "par.b2": BranchLog(internal_name="par.b2", status="FAIL", steps={leaf.internal_name: leaf})
    }
    steps[2] = par
    lines = summary_lines(_run(steps, "FAIL"), "x")
    located = [line.split(":")[0] for line in lines if ": boom" in line]
    assert located == ["par.b2.p2", "s50", "s51", "s52", "s53"]  # the composite takes no slot of its own
    assert "... and 4 more failed steps; every failure: magnus show r1 --steps" in lines
    assert any(line.startswith("par ") and line.endswith("failed in par.b2.p2") for line in lines)
    every = summary_lines(_run(steps, "FAIL"), "x", every=True)
    assert [line.split(":")[0] for line in every if ": boom" in line] == [
        "par.b2.p2",
        *(f"s{i}" for i in range(50, 58)),
    ]
    assert not any(line.startswith("... and") for line in every)


def test_the_summary_does_not_grow_with_the_number_of_steps() -> None:
    """The cost a person reads (and the rendering) is bounded: the same lines at 60 and 6,000 steps."""
    small = summary_lines(_run([_step(i) for i in range(60)]), "x")
    large = summary_lines(_run([_step(i) for i in range(6000)]), "x")
    assert len(small) == len(large) <= 4 + SLOWEST + 3
    every = summary_lines(_run([_step(i) for i in range(6000)]), "x", every=True)
    assert len(every) == 6000 + 5  # run, heading, steps, counts (N/M, as `magnus runs`), timing, log


def test_counts_include_steps_inside_branches() -> None:
    inner = {f"m.{k}.w": _step(k) for k in range(4)}
    inner["m.3.w"] = _step(3, status="FAIL")
    branches = {
        f"m.{k}": BranchLog(internal_name=f"m.{k}", status="SUCCESS", steps={f"m.{k}.w": inner[f"m.{k}.w"]})
        for k in range(4)
    }
    composite = StepLog(name="m", internal_name="m", step_type="map", status="FAIL", branches=branches)
    # the four steps inside the map, not the map itself (it counts once only while its branches are unknown)
    assert counts_line(_run([composite], "FAIL")) == "4/4 steps ran: 3 SUCCESS, 1 FAIL"


def _composite(name: str, step_type: str, keys: list[str]) -> StepLog:
    branches = {
        f"{name}.{k}": BranchLog(internal_name=f"{name}.{k}", status="SUCCESS", steps={}) for k in keys
    }
    return StepLog(name=name, internal_name=name, step_type=step_type, status="SUCCESS", branches=branches)


def test_composite_rows_say_what_ran_and_have_no_attempt_count() -> None:
    steps = [
        _composite("decide", "conditional", ["false"]),
        _composite("refine", "loop", ["0", "1", "2"]),
        _composite("each", "map", ["a"]),
        _composite("fan", "parallel", ["x", "y"]),
        _composite("wide", "parallel", ["p", "q", "r", "s"]),
        _composite("inner", "dag", ["dag"]),
        _step(1),
    ]
    rows = {line.split()[0]: line for line in summary_lines(_run(steps), "x")[2:-2]}
    assert "conditional (false)" in rows["decide"]
    assert "loop (3 iterations)" in rows["refine"]
    assert "map (1 item) " in rows["each"]
    assert "parallel (x, y)" in rows["fan"]
    assert "parallel (4 branches)" in rows["wide"]
    assert "dag " in rows["inner"] and "(" not in rows["inner"]
    for name in ("decide", "refine", "each", "fan", "wide", "inner"):
        assert rows[name].split()[-2] == "-", rows[name]  # no attempts of its own: not a count of 0
    assert rows["s1"].split()[-2] == "1"


def test_colour_only_when_asked() -> None:
    run = _run([_step(0)])
    assert not any("\x1b[" in line for line in summary_lines(run, "x"))
    assert "\x1b[32mSUCCESS\x1b[0m" in "\n".join(summary_lines(run, "x", colour=True))


PIPELINE_HEAD = "dag:\n  start_at: s0\n  steps:\n"


@pytest.fixture
def long_project(tmp_path: Path) -> Path:
    (tmp_path / "fns.py").write_text(
        "import pathlib\n\n"
        "def ok():\n    return {'n': 1}\n\n"
        "def flaky():\n"
        "    marker = pathlib.Path('.tried')\n"
        "    if not marker.exists():\n"
        "        marker.write_text('')\n"
        "        raise RuntimeError('first attempt fails')\n\n"
        "def bad():\n    print('about to fail')\n    raise ValueError('no good')\n"
    )
    lines = [PIPELINE_HEAD.rstrip("\n")]
    for i in range(60):
        command = "fns.flaky" if i == 7 else "fns.bad" if i == 59 else "fns.ok"
        nxt = f"s{i + 1}" if i < 59 else "success"
        lines += [f"    s{i}:", "      type: task", f"      command: {command}", f"      next: {nxt}"]
        if i == 7:
            lines.append("      retry: 2")
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    (tmp_path / "long.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_a_long_failed_run_prints_the_steps_that_matter_and_show_prints_every_one(
    long_project: Path, magnus
) -> None:
    done = magnus("execute", "-f", "long.yaml", "--run-id", "long", cwd=long_project)
    assert done.returncode == 1
    out = done.stdout.splitlines()
    # the 60 tasks, as progress.run_progress counts them for `magnus runs` and the workbench (not the fail node)
    assert "60/60 steps ran: 59 SUCCESS, 1 FAIL; 1 retried" in out
    rows = {line.split()[0]: line for line in out if line.startswith("s") and "  task  " in line}
    assert "retried (2 attempts)" in rows["s7"]
    assert "failed" in rows["s59"]
    assert len(rows) <= 2 + SLOWEST
    assert "s59: ValueError: no good" in out
    assert any(line.startswith("... ") and "magnus show long --steps" in line for line in out)
    assert out[-1] == "Run log: .run_log_store/long.json"

    again = magnus("show", "long", cwd=long_project)
    shown = again.stdout.splitlines()
    assert again.returncode == 0 and shown[:-1] == out[out.index("Run long: FAIL") :]
    assert shown[-1] == "Resume with: magnus execute --file long.yaml --use-cached long"  # as execute said
    assert "Resume with: magnus execute --file long.yaml --use-cached long" in done.stderr
    every = magnus("show", "long", "--steps", cwd=long_project)
    listed = [line.split()[0] for line in every.stdout.splitlines() if "  task  " in line]
    assert listed == [f"s{i}" for i in range(60)]
    as_json = magnus("show", "long", "--json", cwd=long_project)
    assert json.loads(as_json.stdout)["run_id"] == "long"
    by_path = magnus("show", ".run_log_store/long.json", cwd=long_project)
    assert by_path.stdout.splitlines()[-1] == "Run log: .run_log_store/long.json"


def test_show_names_a_missing_run(long_project: Path, magnus) -> None:
    result = magnus("show", "nope", cwd=long_project)
    assert result.returncode != 0 and "nope" in result.stderr


def test_a_shell_failure_is_not_located_twice_and_a_rerun_reason_is_not_part_of_the_error() -> None:
    step = _step(1, status="FAIL")
    step.step_type = "task"
    step.attempts[-1].message = "shell command exited with code 3"
    step.attempts[-1].error = AttemptError(type="", message="shell command exited with code 3", exit_code=3)
    step.message = "[dag changed] shell command exited with code 3"  # rerun.note_reason's form
    lines = summary_lines(_run([step], "FAIL"), "x")
    assert "s1: shell command exited with code 3" in lines
    assert not any("at exit code" in line or "dag changed" in line for line in lines), lines


def test_an_empty_value_in_a_diff_is_shown_as_an_empty_string() -> None:
    assert fmt_value("") == '""'
    assert fmt_value(None) == "none" and fmt_value("a") == "a"
