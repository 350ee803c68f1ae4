"""Re-runs: only the failed part runs again, reused steps are mock copies, and every form of the flag works."""

from __future__ import annotations

import json
import shlex
import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.errors import RunNotFoundError, UsageError
from magnus_core.models.run_log import FAIL, SUCCESS, RunLog
from magnus_core.runner import RunRequest, execute, prepare
from tests.conftest import git

FUNCTIONS = """
from pathlib import Path

def count(name):
    with open("count.txt", "a") as handle:
        handle.write(name + "\\n")

def a():
    count("a")
    Path("data/sub").mkdir(parents=True, exist_ok=True)
    Path("data/sub/a.txt").write_text("A")
    return {"from_a": 1}

def b(from_a: int = 0):
    count("b")
    if Path("fail_b").exists():
        raise RuntimeError("b is broken")
    assert Path("data/sub/a.txt").read_text() == "A"
    assert from_a == 1, from_a

def c():
    count("c")

def p():
    count("p")

def gate():
    count("b")
    if Path("fail_b").exists():
        raise RuntimeError("gate is closed")
"""

LINEAR = """
dag:
  start_at: a
  steps:
    a: {type: task, command: MOD.a, next: b, catalog: {put: ["sub/*"]}}
    b: {type: task, command: MOD.b, next: c, catalog: {get: ["sub/a.txt"]}}
    c: {type: task, command: MOD.c, next: success}
    success: {type: success}
    fail: {type: fail}
"""

COMPOSITE = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: b
      branches:
        one:
          start_at: p
          steps: {p: {type: task, command: MOD.p, next: success}, success: {type: success}, fail: {type: fail}}
        two:
          start_at: p
          steps: {p: {type: task, command: MOD.p, next: success}, success: {type: success}, fail: {type: fail}}
    b: {type: task, command: MOD.gate, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def setup(repo: Path, dag: str = LINEAR, commit: bool = True) -> str:
    mod = f"rr_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    (repo / "pipeline.yaml").write_text(textwrap.dedent(dag).replace("MOD", mod))
    if commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "pipeline")
    return mod


def counts(repo: Path) -> list[str]:
    path = repo / "count.txt"
    return path.read_text().split() if path.exists() else []


def run(**request: object) -> RunLog:
    return execute(prepare(RunRequest(file="pipeline.yaml", **request)))  # type: ignore[arg-type]


def failed_once(repo: Path, dag: str = LINEAR) -> RunLog:
    setup(repo, dag)
    (repo / "fail_b").write_text("")
    log = run(run_id="old")
    assert log.status == FAIL
    (repo / "fail_b").unlink()
    (repo / "count.txt").unlink()
    return log


def test_resume_with_the_printed_command_runs_only_the_failed_part(git_repo: Path, magnus) -> None:
    setup(git_repo)
    (git_repo / "fail_b").write_text("")
    first = magnus("execute", "--file", "pipeline.yaml", "--tag", "t1")
    assert first.returncode == 1 and "IsADirectoryError" not in first.stderr
    assert counts(git_repo) == ["a", "b"]
    line = next(line for line in first.stderr.splitlines() if line.startswith("Resume with: "))
    command = shlex.split(line[len("Resume with: ") :])
    assert command[:2] == ["magnus", "execute"]
    old_id = command[-1]
    (git_repo / "fail_b").unlink()
    second = magnus(*command[1:], "--json")
    assert second.returncode == 0, second.stderr
    assert counts(git_repo) == ["a", "b", "b", "c"]  # a was not executed again
    log = json.loads(second.stdout)
    assert log["status"] == SUCCESS and log["use_cached"] is True and log["original_run_id"] == old_id
    assert log["run_id"] != old_id
    steps = log["steps"]
    assert (
        steps["a"]["mock"] is True
        and steps["a"]["message"].startswith("reused from run ")
        and steps["a"]["attempts"] == []
    )
    assert steps["b"]["mock"] is False and steps["b"]["message"] == "failed before"
    assert steps["c"]["message"] == "not reached before"
    # b's get came from the original's catalog, copied into the new run's
    assert steps["b"]["data_catalog"][0]["catalog_relative_path"] == f"{log['run_id']}/sub/a.txt"
    assert (git_repo / ".catalog" / log["run_id"] / "sub" / "a.txt").read_text() == "A"
    assert steps["b"]["data_catalog"][0]["data_hash"] == steps["a"]["data_catalog"][0]["data_hash"]
    assert log["parameters"]["from_a"] == 1  # what reused steps returned comes from the original


def test_the_seed_form_and_the_latest_failed_run(git_repo: Path, magnus) -> None:
    failed_once(git_repo)
    seed = magnus("execute", "--file", "pipeline.yaml", "--run-id", "old", "--use-cached", "--json")
    assert seed.returncode == 0, seed.stderr
    log = json.loads(seed.stdout)
    assert log["original_run_id"] == "old" and log["run_id"] != "old"
    (git_repo / "fail_b").write_text("")
    failing = magnus("execute", "--file", "pipeline.yaml", "--use-cached", "old", "--run-id", "named")
    assert failing.returncode == 1
    (git_repo / "fail_b").unlink()
    latest = magnus("execute", "--file", "pipeline.yaml", "--use-cached", "--json")
    assert latest.returncode == 0, latest.stderr
    assert json.loads(latest.stdout)["original_run_id"] == "named"  # the newest failed run
    # named has been re-run to SUCCESS now, and old before it (by the seed run): nothing is left to take up
    # (trial 24: named was re-run again, its steps run once more)
    again = magnus("execute", "--file", "pipeline.yaml", "--use-cached")
    assert again.returncode == 2, again.stdout
    assert "no failed run of pipeline.yaml to re-run" in again.stderr
    assert "the newest, named, was re-run to SUCCESS" in again.stderr


def test_rerun_works_without_any_catalog_files(git_repo: Path) -> None:
    """The original crashed with IsADirectoryError (file-system) or KeyError (do-nothing) in every case."""
    setup(
        git_repo,
        LINEAR.replace(', catalog: {put: ["sub/*"]}', "").replace(', catalog: {get: ["sub/a.txt"]}', ""),
    )
    (git_repo / "fail_b").write_text("")
    assert run(run_id="old").status == FAIL
    (git_repo / "fail_b").unlink()
    log = run(use_cached="old")
    assert log.status == SUCCESS
    # no data file was cataloged: the run's catalog folder holds at most the steps' kept output (issue 16)
    kept = [p for p in (git_repo / ".catalog" / "old").rglob("*") if p.is_file()]
    assert all(p.suffix == ".log" for p in kept), kept


def test_rerun_with_the_do_nothing_catalog(git_repo: Path) -> None:
    mod = setup(git_repo)
    (git_repo / "pipeline.yaml").write_text(
        textwrap.dedent(LINEAR).replace("MOD", mod) + "catalog: {type: do-nothing}\n"
    )
    (git_repo / "fail_b").write_text("")
    assert run(run_id="old").status == FAIL
    (git_repo / "fail_b").unlink()
    (git_repo / "count.txt").unlink()
    log = run(use_cached="old")
    assert log.status == SUCCESS and counts(git_repo) == ["b", "c"]


def test_a_rerun_of_a_successful_run_reuses_everything(git_repo: Path) -> None:
    setup(git_repo)
    run(run_id="good")
    (git_repo / "count.txt").unlink()
    log = run(use_cached="good")
    assert log.status == SUCCESS and counts(git_repo) == []
    assert [s.mock for s in log.steps.values()] == [True, True, True, False]


def test_a_succeeded_composite_is_reused_whole(git_repo: Path) -> None:
    failed_once(git_repo, COMPOSITE)
    log = run(use_cached="old")
    assert log.status == SUCCESS and counts(git_repo) == ["b"]
    par = log.steps["par"]
    assert par.mock and set(par.branches) == {"par.one", "par.two"}
    nested = [s for s in par.walk() if s is not par]
    assert nested and all(s.mock and s.message.startswith("reused from run ") for s in nested)
    assert log.find_step("par.one.p") is not None


def test_deleted_catalog_files_are_named_and_strict_refuses(git_repo: Path) -> None:
    failed_once(git_repo)
    (git_repo / ".catalog" / "old" / "sub" / "a.txt").unlink()
    prepared = prepare(RunRequest(file="pipeline.yaml", use_cached="old"))
    assert any("missing" in w and "sub/a.txt" in w for w in prepared.warnings)
    log = execute(prepared)
    assert log.status == FAIL and "'sub/a.txt'" in log.steps["b"].message  # the get names the pattern
    with pytest.raises(UsageError, match=r"strict.*sub/a.txt"):
        prepare(RunRequest(file="pipeline.yaml", use_cached="old", strict=True))


def test_a_changed_dag_is_a_warning_and_changed_steps_run(git_repo: Path) -> None:
    failed_once(git_repo)
    text = (git_repo / "pipeline.yaml").read_text().replace("next: b, catalog", "next: b, retry: 2, catalog")
    (git_repo / "pipeline.yaml").write_text(text)
    prepared = prepare(RunRequest(file="pipeline.yaml", use_cached="old"))
    assert any("dag changed" in w for w in prepared.warnings)
    log = execute(prepared)
    assert log.status == SUCCESS and counts(git_repo) == ["a", "b", "c"]
    assert log.steps["a"].message == "dag changed" and log.steps["b"].message == "failed before"
    with pytest.raises(UsageError, match="strict"):
        prepare(RunRequest(file="pipeline.yaml", use_cached="old", strict=True))


def test_changed_code_is_a_warning(git_repo: Path) -> None:
    failed_once(git_repo)
    (git_repo / "other.txt").write_text("x")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "more")
    prepared = prepare(RunRequest(file="pipeline.yaml", use_cached="old"))
    assert any("code changed" in w and "git commit" in w for w in prepared.warnings)


def test_an_unknown_run_lists_the_nearest(git_repo: Path, magnus) -> None:
    failed_once(git_repo)
    with pytest.raises(RunNotFoundError, match="nearest: old"):
        prepare(RunRequest(file="pipeline.yaml", use_cached="olf"))
    result = magnus("execute", "--file", "pipeline.yaml", "--use-cached", "olf")
    assert result.returncode == 2 and "nearest: old" in result.stderr and "Traceback" not in result.stderr


def test_no_failed_run_to_rerun(git_repo: Path, magnus) -> None:
    setup(git_repo)
    result = magnus("execute", "--file", "pipeline.yaml", "--use-cached")
    assert result.returncode == 2 and "no failed run" in result.stderr


def test_a_failed_composite_runs_again_with_reasons(git_repo: Path) -> None:
    dag = COMPOSITE.replace(
        "steps: {p: {type: task, command: MOD.p, next: success}, success: {type: success}, "
        "fail: {type: fail}}\n    b:",
        "steps: {p: {type: task, command: MOD.gate, next: success}, success: {type: success}, "
        "fail: {type: fail}}\n    b:",
    )
    dag = dag.replace(
        "command: MOD.gate, next: success}\n    success", "command: MOD.c, next: success}\n    success"
    )
    assert dag.count("MOD.gate") == 1
    failed_once(git_repo, dag)
    log = run(use_cached="old")
    assert log.status == SUCCESS and counts(git_repo) == ["p", "b", "c"]
    assert log.steps["par"].message == "failed before" and not log.steps["par"].mock
    assert log.find_step("par.two.p").message == "failed before"
    assert log.find_step("par.one.p").message == "an earlier step ran (par)"
    assert log.steps["b"].message == "not reached before"


def test_a_killed_run_keeps_what_its_finished_steps_returned(git_repo: Path) -> None:
    """A run killed outright never reaches its final write: the parameters are kept after each step."""
    setup(git_repo)
    (git_repo / "fail_b").write_text("")
    seen: list[dict] = []
    prepared = prepare(RunRequest(file="pipeline.yaml", run_id="killed"))
    prepared.store.events.subscribe(
        lambda e: (
            seen.append(dict(prepared.store.get_run("killed").parameters)) if e.internal_name == "b" else None
        )
    )
    execute(prepared)
    assert seen and seen[0] == {"from_a": 1}  # already there when b started


def test_a_step_that_runs_again_may_replace_what_it_put_in_the_original(git_repo: Path) -> None:
    """The failed step put a broken file in the original's catalog (puts happen after failures too); run
    again, it puts the good one. The original's own copy is untouched."""
    mod = setup(
        git_repo,
        LINEAR.replace(
            "command: MOD.b, next: c",
            'command: MOD.b, next: c, catalog: {get: ["sub/a.txt"], put: ["b.txt"]}',
        ).replace(', catalog: {get: ["sub/a.txt"]}}', "}"),
    )
    (git_repo / f"{mod}.py").write_text(
        FUNCTIONS.replace(
            '    count("b")\n',
            '    count("b")\n    Path("data/b.txt").write_text('
            '"broken" if Path("fail_b").exists() else "good")\n',
        )
    )
    (git_repo / "fail_b").write_text("")
    assert run(run_id="old").status == FAIL
    (git_repo / "fail_b").unlink()
    log = run(use_cached="old")
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    assert (git_repo / ".catalog" / log.run_id / "b.txt").read_text() == "good"
    assert (git_repo / ".catalog" / "old" / "b.txt").read_text() == "broken"


def test_a_run_still_running_is_not_rerun(git_repo: Path) -> None:
    failed_once(git_repo)
    path = git_repo / ".run_log_store" / "old.json"
    data = json.loads(path.read_text())
    data["status"] = "PROCESSING"  # as if this very process were still writing it
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="still running"):
        prepare(RunRequest(file="pipeline.yaml", use_cached="old"))


def test_a_rerun_starts_where_the_original_started_and_replays_what_reused_steps_returned(
    git_repo: Path,
) -> None:
    """from_a is a's output: the re-run does not start with it, it gets it from a's reuse, once."""
    failed_once(git_repo)
    original = json.loads((git_repo / ".run_log_store" / "old.json").read_text())
    assert original["run_config"]["parameters"] == {}
    assert original["steps"]["a"]["returned_parameters"] == {"from_a": 1}
    prepared = prepare(RunRequest(file="pipeline.yaml", use_cached="old"))
    assert prepared.parameters == {} and prepared.warnings == []
    log = execute(prepared)
    assert log.status == SUCCESS and log.parameters == {"from_a": 1}
    assert log.steps["a"].mock and log.steps["a"].returned_parameters == {"from_a": 1}


def test_a_rerun_in_the_process_that_made_the_run_does_not_wait_for_its_watcher(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The watcher of a process lives as long as it does: a re-run made in the process that made the run
    (a script or notebook calling magnus twice) waited the whole grace and two seconds more, 7 s, for a
    watcher that was stopping nothing (session 12: a tenth of the suite's time)."""
    from magnus_core.processes import watch
    from magnus_core.runs import watcher_alive

    watch()  # (as a shell step starts it: once per process)
    failed = failed_once(git_repo)
    assert watcher_alive(failed) is not None  # this process's watcher, alive: nothing to wait for
    capsys.readouterr()
    assert run(use_cached="old").status == SUCCESS
    assert "are still being stopped" not in capsys.readouterr().err


def test_the_latest_failed_run_is_of_the_pipeline_given(git_repo: Path, magnus) -> None:
    """trial 26: in a project with two pipelines, `--use-cached` alone took the other pipeline's failed run
    (the newest), and ran every step again as `dag changed`."""
    failed_once(git_repo)  # run "old" of pipeline.yaml failed
    (git_repo / "other.yaml").write_text(
        "dag:\n  start_at: x\n  steps:\n    x: {type: task, command_type: shell, command: 'exit ${CODE:-3}', "
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    assert magnus("execute", "--file", "other.yaml", "--run-id", "other").returncode == 1  # newer, failed
    again = magnus("execute", "--file", "pipeline.yaml", "--use-cached", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["original_run_id"] == "old"
    nothing = magnus("execute", "--file", "pipeline.yaml", "--use-cached")  # old is done: none of this file
    assert nothing.returncode == 2
    assert "no failed run of pipeline.yaml to re-run" in nothing.stderr
    assert "the newest failed run of another pipeline: other (other.yaml)" in nothing.stderr
    # another pipeline's run re-run to SUCCESS is not named as this pipeline's (trial 27)
    fixed = magnus("execute", "--file", "other.yaml", "--use-cached", "other", env={"CODE": "0"})
    assert fixed.returncode == 0, fixed.stderr
    still = magnus("execute", "--file", "pipeline.yaml", "--use-cached")
    assert still.returncode == 2 and "the newest, other" not in still.stderr, still.stderr
