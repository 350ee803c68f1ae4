"""Re-runs tell the truth: the plan names reused steps that received other parameters than given now
(--strict refuses them), an in-memory run is never offered a resume command that cannot work, and a diff
credits a re-run with the code that actually ran in it (issue 18, items 9, 10 and 11)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from magnus_core.loading import load_pipeline
from magnus_core.models.run_log import RunLog
from magnus_core.rerun import REUSE, RUN, plan_rerun
from tests.conftest import ORIGINAL, git, run_magnus

FUNCTIONS = """
import os

def scale(factor):
    return {"scaled": 10 * factor}

def shift(offset=0):
    return {"shifted": offset}

def check(scaled, factor):
    if os.path.exists("fail-now"):
        raise RuntimeError("asked to fail")
    with open("seen.txt", "a") as f:
        f.write(f"{scaled} {factor}\\n")
"""

PIPELINE = """
dag:
  start_at: scale
  steps:
    scale: {type: task, command: fns.scale, next: shift}
    shift: {type: task, command: fns.shift, next: check}
    check: {type: task, command: fns.check, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "fns.py").write_text(FUNCTIONS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "pipeline")
    (git_repo / "fail-now").write_text("")
    first = run_magnus("execute", "--file", "p.yaml", "--factor", "1", "--run-id", "old", cwd=git_repo)
    assert first.returncode == 1, first.stderr
    (git_repo / "fail-now").unlink()
    return git_repo


def test_the_plan_names_a_reused_step_whose_parameters_differ(project: Path) -> None:
    done = run_magnus("execute", "--file", "p.yaml", "--use-cached", "old", "--factor", "5", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "Re-run of old: 2 step(s) reused, 1 to run" in lines
    assert any(line.split()[:2] == ["reuse", "scale"] and "factor 1 -> 5" in line for line in lines), (
        done.stderr
    )
    assert any(
        line.split()[:2] == ["reuse", "shift"] and "!" not in line for line in lines
    )  # no factor there
    assert any(line.split()[:2] == ["run", "check"] and "failed before" in line for line in lines)
    assert "Warning: step 'scale' is reused from run 'old'" in done.stderr
    # what the warning is about: check saw a scaled value made with factor 1 beside factor 5
    assert (project / "seen.txt").read_text().split() == ["10", "5"]


def test_strict_refuses_such_a_plan_and_runs_nothing(project: Path) -> None:
    before = set((project / ".run_log_store").iterdir())
    done = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", "old", "--factor", "5", "--strict", cwd=project
    )
    assert done.returncode == 2
    assert "refusing to re-run (--strict): step 'scale' is reused from run 'old'" in done.stderr
    assert "factor 1 -> 5" in done.stderr
    assert set((project / ".run_log_store").iterdir()) == before
    same = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", "old", "--factor", "1", "--strict", cwd=project
    )
    assert same.returncode == 0, same.stderr  # the same value: nothing to refuse


def test_the_plan_is_data_for_every_front_end(project: Path) -> None:
    original = RunLog.model_validate_json((project / ".run_log_store" / "old.json").read_text())
    pipeline = load_pipeline(project / "p.yaml")
    plan = plan_rerun(pipeline, original, {"factor": 5, "offset": 0})
    assert [(s.name, s.action) for s in plan.steps] == [("scale", REUSE), ("shift", REUSE), ("check", RUN)]
    assert plan.steps[0].changed == {"factor": (1, 5)} and plan.steps[0].recorded
    assert plan.steps[1].changed == {}  # shift received offset 0 (its default is not recorded as given)
    assert plan.steps[2].reason == "failed before" and plan.steps[2].old_status == "FAIL"
    assert [s.name for s in plan.stale] == ["scale"]
    assert json.loads(json.dumps(plan.to_json()))["steps"][0]["changed"] == {
        "factor": {"received": 1, "now": 5}
    }
    # a changed definition stops the reuse there
    (project / "p.yaml").write_text(PIPELINE.replace("fns.shift, next", "fns.shift, retry: 2, next"))
    plan = plan_rerun(load_pipeline(project / "p.yaml"), original, {})
    assert [(s.name, s.action, s.reason) for s in plan.steps] == [
        ("scale", REUSE, ""),
        ("shift", RUN, "dag changed"),
        ("check", RUN, "failed before"),  # as the run itself says it (rerun.reuse_step's order of reasons)
    ]


def test_a_log_without_recorded_step_parameters_is_compared_with_the_run_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original tool's logs record no per-step parameters: a reused step is then compared with the run's
    parameters, and the plan says so (recorded False)."""
    log = RunLog.model_validate_json((ORIGINAL / "run_logs" / "gs_run.json").read_text())
    for f in (ORIGINAL / "pipelines").iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    monkeypatch.chdir(tmp_path)
    log.steps["shell"].status = "FAIL"  # pretend the run failed at its shell step
    name, value = next(iter(log.parameters.items()))
    plan = plan_rerun(load_pipeline(tmp_path / "getting-started.yaml"), log, {name: ["something", "else"]})
    assert plan.reused and all(not s.recorded for s in plan.reused)
    assert all(s.changed == {name: (value, ["something", "else"])} for s in plan.reused)
    assert plan.steps[len(plan.reused)].name == "shell"


# -- item 10: an in-memory run ---------------------------------------------------------------------------------
def test_a_failed_in_memory_run_says_it_cannot_be_resumed(project: Path) -> None:
    (project / "buffered.yaml").write_text("run_log_store: {type: buffered}\n")
    (project / "fail-now").write_text("")
    done = run_magnus("execute", "--file", "p.yaml", "-c", "buffered.yaml", "--factor", "1", cwd=project)
    assert done.returncode == 1
    assert "Resume with" not in done.stderr and "--use-cached" not in done.stderr
    assert "was kept in memory only (run_log_store type buffered): it cannot be resumed" in done.stderr
    assert "Run log: not kept" in done.stdout and "Run log: memory" not in done.stdout
    again = run_magnus("execute", "--file", "p.yaml", "-c", "buffered.yaml", "--use-cached", cwd=project)
    assert again.returncode == 2
    assert "keeps runs in memory only" in again.stderr and "no failed run" not in again.stderr


def test_the_resume_command_printed_for_a_kept_run_works(project: Path) -> None:
    (project / "fail-now").write_text("")
    (project / "my config.yaml").write_text(
        "run_log_store: {type: file-system, config: {log_folder: kept runs}}\n"
    )
    failed = run_magnus("execute", "--file", "p.yaml", "-c", "my config.yaml", "--factor", "2", cwd=project)
    assert failed.returncode == 1
    (project / "fail-now").unlink()
    line = next(line for line in failed.stderr.splitlines() if line.startswith("Resume with: "))
    command = shlex.split(line[len("Resume with: ") :])
    assert command[:2] == ["magnus", "execute"]
    resumed = run_magnus(*command[1:], "--json", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"]["scale"]["mock"] is True


# -- item 9: the diff credits the code that ran ---------------------------------------------------------------
def test_diff_of_a_dirty_failed_run_and_its_clean_rerun_blames_no_one_wrongly(project: Path) -> None:
    (project / "fns.py").write_text(FUNCTIONS + "\n# an uncommitted experiment\n")
    (project / "fail-now").write_text("")
    dirty = run_magnus("execute", "--file", "p.yaml", "--factor", "1", "--run-id", "dirty", cwd=project)
    assert dirty.returncode == 1
    (project / "fail-now").unlink()
    git(project, "add", "fns.py")
    git(project, "commit", "-qm", "the fix")
    fixed = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", "dirty", "--run-id", "fixed", cwd=project
    )
    assert fixed.returncode == 0, fixed.stderr
    head = git(project, "rev-parse", "HEAD").strip()
    result = json.loads(run_magnus("diff", "dirty", "fixed", "--json", "--all", cwd=project).stdout)
    code = {c["key"]: c for c in result["groups"]["code"]["changes"]}
    assert code["commit"]["after"] == head  # only the steps that ran in the re-run: the fix's commit
    assert code["commit"]["kind"] == "changed"
    assert code["uncommitted changes"]["before"] is True and code["uncommitted changes"]["after"] is False
    log = json.loads((project / ".run_log_store" / "fixed.json").read_text())
    assert log["steps"]["scale"]["message"] == "reused from run 'dirty'"


# -- trial8 finding 1: a re-run stays in its experiment, and its resume command repeats the run's options ----
def test_a_rerun_keeps_the_originals_tag_unless_given_one(project: Path) -> None:
    (project / "fail-now").write_text("")
    failed = run_magnus("execute", "--file", "p.yaml", "--factor", "2", "--tag", "mine", cwd=project)
    assert failed.returncode == 1
    (project / "fail-now").unlink()
    line = next(line for line in failed.stderr.splitlines() if line.startswith("Resume with: "))
    command = shlex.split(line[len("Resume with: ") :])
    assert command[command.index("--tag") + 1] == "mine" and command[-2:] == ["--factor", "2"]
    resumed = run_magnus(*command[1:], "--json", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    fixed = json.loads(resumed.stdout)
    assert fixed["tag"] == "mine" and fixed["use_cached"] is True
    listed = json.loads(run_magnus("runs", "--tag", "mine", "--json", cwd=project).stdout)
    assert fixed["run_id"] in {run["run_id"] for run in listed["runs"]}  # the fixed run is in the experiment
    # without --tag in the command (typed by hand): the original's all the same; --tag given: that one
    bare = run_magnus("execute", "--file", "p.yaml", "--use-cached", failed_id(failed), "--json", cwd=project)
    assert json.loads(bare.stdout)["tag"] == "mine"
    other = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", failed_id(failed), "--tag", "v2", "--json", cwd=project
    )
    assert json.loads(other.stdout)["tag"] == "v2"


def failed_id(done) -> str:  # type: ignore[no-untyped-def]
    line = next(line for line in done.stderr.splitlines() if line.startswith("Resume with: "))
    words = shlex.split(line[len("Resume with: ") :])
    return words[words.index("--use-cached") + 1]


def test_show_and_stop_print_the_resume_command_execute_printed(project: Path) -> None:
    (project / "fail-now").write_text("")
    (project / "params.yaml").write_text("offset: 3\n")
    (project / "vars.yaml").write_text("unused: 1\n")
    (project / "c.yaml").write_text("catalog: {type: file-system}\n")
    failed = run_magnus(
        "execute", "--file", "p.yaml", "-c", "c.yaml", "-p", "params.yaml", "-v", "vars.yaml",
        "--tag", "exp one", "--factor", "2", "--note", "02142", "--run-id", "two", cwd=project,
    )  # fmt: skip
    assert failed.returncode == 1
    printed = next(line for line in failed.stderr.splitlines() if line.startswith("Resume with: "))
    shown = run_magnus("show", "two", cwd=project)
    assert printed in shown.stdout.splitlines()  # one command, from the run log or from the command line
    for option in ("--config-file c.yaml", "--parameters-file params.yaml", "--var-file vars.yaml"):
        assert option in printed
    assert "--tag 'exp one'" in printed and "--factor 2 --note 02142" in printed  # as typed (trial 10)
    (project / "fail-now").unlink()
    resumed = run_magnus(*shlex.split(printed[len("Resume with: ") :])[1:], "--json", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    log = json.loads(resumed.stdout)
    assert log["tag"] == "exp one" and log["parameters"]["note"] == "02142"  # text, as first given


def test_a_rerun_with_another_config_file_is_warned(project: Path) -> None:
    (project / "c.yaml").write_text("catalog: {type: file-system}\n")
    (project / "fail-now").write_text("")
    run_magnus("execute", "--file", "p.yaml", "-c", "c.yaml", "--run-id", "withc", cwd=project)
    (project / "fail-now").unlink()
    done = run_magnus("execute", "--file", "p.yaml", "--use-cached", "withc", cwd=project)
    assert "run 'withc' ran with --config-file c.yaml; this re-run has no --config-file" in done.stderr
    same = run_magnus("execute", "--file", "p.yaml", "-c", "./c.yaml", "--use-cached", "withc", cwd=project)
    assert "ran with --config-file" not in same.stderr


def test_the_resume_commands_options_are_executes() -> None:
    from magnus_core.cli import cli
    from magnus_core.cli.execute import execute
    from magnus_core.rerun import EXECUTE_OPTIONS

    assert cli is not None
    longs = {o[2:] for p in execute.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    assert longs <= set(EXECUTE_OPTIONS)
