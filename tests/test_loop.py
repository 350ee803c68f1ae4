"""loop steps: iterations `<step>.<i>`, parameters flowing from one iteration into the next and out, the
index as a parameter, when the loop ends; a failing iteration; a re-run resuming at the failed iteration;
the per-step entry point handing out one iteration per fan-in; every bad input the issue lists."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.single import PLACEHOLDER, execute_single_node, fan_in_result, fan_out_result, job_from_files
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from tests.conftest import ROOT, git, run_magnus

FUNCTIONS = '''
from pathlib import Path

def step(i: int, x: int = 0, stop_at: int = 3, break_value=True, fail_at: int = -1):
    """Adds the iteration's number to x; sets done (to break_value) from iteration stop_at on; fails at
    iteration fail_at while the file 'broken' exists."""
    if i == fail_at and Path("broken").exists():
        raise RuntimeError(f"iteration {i} is broken")
    with open("calls.txt", "a") as handle:
        handle.write(f"{i}\\n")
    out = {"x": x + i, "last": i}
    if i >= stop_at:
        out["done"] = break_value
    return out
'''


def body(*steps: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in steps]
    graph: dict[str, Any] = {}
    for (name, node), following in zip(steps, [*names[1:], "success"], strict=True):
        graph[name] = {**node, "next": following}
    return {
        "start_at": names[0],
        "steps": {**graph, "success": {"type": "success"}, "fail": {"type": "fail"}},
    }


def pipeline(**loop: Any) -> str:
    node = {
        "type": "loop",
        "max_iterations": 10,
        "break_on": "done",
        "index_as": "i",
        "next": "after",
        "branch": body(
            ("work", {"type": "task", "command": "loop_fns.step"}),
            (
                "show",
                {
                    "type": "task",
                    "command_type": "shell",
                    "command": 'echo "i=$MAGNUS_PRM_i x=$MAGNUS_PRM_x"',
                },
            ),
        ),
        **loop,
    }
    steps = {
        "loop": node,
        "after": {
            "type": "task",
            "command_type": "shell",
            "command": 'echo "after x=$MAGNUS_PRM_x"',
            "next": "success",
        },
        "success": {"type": "success"},
        "fail": {"type": "fail"},
    }
    return yaml.safe_dump({"dag": {"start_at": "loop", "steps": steps}}, sort_keys=False)


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "loop_fns.py").write_text(FUNCTIONS)
    (git_repo / "p.yaml").write_text(pipeline())
    (git_repo / ".gitignore").write_text(
        ".run_log_store/\n.catalog/\n__pycache__/\nruns/\ncalls.txt\nbroken\n"
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "loop")
    return git_repo


def run(project: Path, file: str = "p.yaml", **parameters: Any):
    prepared = prepare(RunRequest(file=file, parameters=parameters))
    log = execute(prepared)
    return prepared.store.get_run(log.run_id)


def calls(project: Path) -> list[int]:
    path = project / "calls.txt"
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def test_iterations_run_until_break_on_is_true_and_parameters_flow_through(project: Path) -> None:
    log = run(project)
    loop = log.steps["loop"]
    assert log.status == loop.status == "SUCCESS"
    assert list(loop.branches) == ["loop.0", "loop.1", "loop.2", "loop.3"]  # done set by iteration 3
    assert calls(project) == [0, 1, 2, 3]
    # each iteration starts where the one before ended: x = 0 + 1 + 2 + 3; the last one's values go on
    assert loop.returned_parameters == {"x": 6, "last": 3, "done": True}
    assert log.parameters["x"] == 6 and "i" not in log.parameters  # the index is not a run parameter
    shown = [loop.branches[f"loop.{i}"].steps[f"loop.{i}.show"] for i in range(4)]
    assert [s.attempts[-1].parameters["i"] for s in shown] == [0, 1, 2, 3]  # a shell step sees MAGNUS_PRM_i
    work = loop.branches["loop.2"].steps["loop.2.work"]
    assert work.attempts[-1].parameters["x"] == 1  # iteration 2 received what iteration 1 returned


def test_max_iterations_ends_the_loop_successfully(project: Path) -> None:
    log = run(project, stop_at=99)
    assert log.status == "SUCCESS" and len(log.steps["loop"].branches) == 10
    (project / "q.yaml").write_text(pipeline(max_iterations=1))
    log = run(project, "q.yaml", stop_at=99)
    assert list(log.steps["loop"].branches) == ["loop.0"]


def test_at_least_one_iteration_runs_even_if_break_on_is_already_true(project: Path) -> None:
    log = run(project, done=True)
    assert list(log.steps["loop"].branches) == ["loop.0"] and log.status == "SUCCESS"


def test_break_on_false_goes_on(project: Path) -> None:
    log = run(project, stop_at=1, break_value=False)
    assert len(log.steps["loop"].branches) == 10


def test_a_failing_iteration_ends_the_loop_and_fails_the_step(project: Path) -> None:
    (project / "broken").write_text("")
    log = run(project, fail_at=2)
    loop = log.steps["loop"]
    assert log.status == "FAIL" and loop.status == "FAIL"
    assert list(loop.branches) == ["loop.0", "loop.1", "loop.2"]
    assert loop.branches["loop.2"].status == "FAIL"
    assert loop.message == "1 of 3 branches failed: loop.2"
    assert "after" not in log.steps and loop.returned_parameters == {}


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_break_on_set_to_a_non_boolean_fails_the_step_naming_it(project: Path, value: Any) -> None:
    log = run(project, stop_at=1, break_value=value)
    loop = log.steps["loop"]
    assert loop.status == "FAIL" and list(loop.branches) == ["loop.0", "loop.1"]
    assert loop.message == (
        f"field 'break_on': parameter 'done' must be true or false, and iteration 1 left it {value!r} "
        f"(a {type(value).__name__})"
    )
    assert loop.branches["loop.1"].status == "FAIL"  # where it was set: a re-run runs it again


def test_a_rerun_resumes_at_the_failed_iteration(project: Path, magnus) -> None:
    (project / "broken").write_text("")
    failed = magnus("execute", "--file", "p.yaml", "--fail_at", "2", "--run-id", "first")
    assert failed.returncode == 1 and calls(project) == [0, 1]
    (project / "broken").unlink()
    again = magnus("execute", "--file", "p.yaml", "--use-cached", "first", "--run-id", "second", "--json")
    assert again.returncode == 0, again.stderr
    assert calls(project) == [0, 1, 2, 3]  # iterations 0 and 1 were not run again
    log = json.loads(again.stdout)
    loop = log["steps"]["loop"]
    assert loop["message"] == "failed before" and not loop["mock"]
    steps = {name: s for b in loop["branches"].values() for name, s in b["steps"].items()}
    assert steps["loop.0.work"]["mock"] and steps["loop.1.show"]["mock"]
    assert steps["loop.1.work"]["message"] == "reused from run 'first'"
    assert not steps["loop.2.work"]["mock"] and steps["loop.2.work"]["attempts"]
    assert loop["returned_parameters"] == {"x": 6, "last": 3, "done": True}  # as a clean run computes
    assert log["parameters"]["x"] == 6


def test_a_rerun_after_a_bad_break_value_runs_that_iteration_again(project: Path) -> None:
    first = run(project, stop_at=1, break_value="yes")
    assert first.status == "FAIL"
    prepared = prepare(RunRequest(file="p.yaml", use_cached=first.run_id, parameters={"break_value": True}))
    second = prepared.store.get_run(execute(prepared).run_id)
    assert second.status == "SUCCESS" and list(second.steps["loop"].branches) == ["loop.0", "loop.1"]
    assert second.steps["loop"].branches["loop.0"].steps["loop.0.work"].mock
    assert not second.steps["loop"].branches["loop.1"].steps["loop.1.work"].mock


def test_per_step_fan_in_hands_out_the_next_iteration_and_repeats_safely(project: Path) -> None:
    (project / "shared.yaml").write_text("run_log_store: {type: chunked-fs, config: {log_folder: runs}}\n")

    def job(step: str, **kw: Any):
        return job_from_files("r", step, file="p.yaml", config_file="shared.yaml", **kw)

    out = fan_out_result(job("loop"))
    assert out.code == 0 and [b.internal_name for b in out.branches] == ["loop.0"]
    ended: list[Any] = []
    for number in range(10):
        [iteration] = out.branches
        variable = json.dumps(iteration.map_variable)
        assert iteration.map_variable == {"i": number}
        for step in ("work", "show", "success"):
            assert execute_single_node(job(f"loop.{PLACEHOLDER}.{step}", map_variable=variable)) == 0
        out = fan_in_result(job("loop", map_variable=variable))
        if number == 1:  # the engine retried the fan-in pod: the same next iteration, nothing failed
            again = fan_in_result(job("loop", map_variable=variable))
            assert [b.internal_name for b in again.branches] == [b.internal_name for b in out.branches]
        ended.append(out.outputs)
        if not out.branches:
            break
    assert out.code == 0
    assert ended[0] == {"break": False, "iterations": 1} and ended[-1] == {"break": True, "iterations": 4}
    log = ChunkedFileSystemRunLogStore({"log_folder": "runs"}).get_run("r")
    assert log.steps["loop"].status == "SUCCESS"
    assert {b.status for b in log.steps["loop"].branches.values()} == {"SUCCESS"}
    assert log.steps["loop"].returned_parameters == {"x": 6, "last": 3, "done": True}


@pytest.mark.parametrize(
    ("loop", "message"),
    [
        (
            {"max_iterations": 0},
            "step 'loop': field 'max_iterations': expected a number of at least 1, got 0",
        ),
        (
            {"max_iterations": "many"},
            "step 'loop': field 'max_iterations': expected a whole number, got 'many'",
        ),
        ({"break_on": "is done"}, "step 'loop': field 'break_on': 'is done' must be a parameter name"),
        ({"break_on": "Done"}, "step 'loop': field 'break_on': parameter names are lower-cased"),
        ({"index_as": "done"}, "step 'loop': field 'index_as': 'done' is also break_on"),
        ({"index_as": "1st"}, "step 'loop': field 'index_as': '1st' must be a parameter name"),
        ({"max_iteration": 3}, "step 'loop': unknown field 'max_iteration' (did you mean 'max_iterations'?)"),
        (
            {"branch": {"start_at": "x", "steps": {"success": {"type": "success"}}}},
            "step 'loop' branch: field",
        ),
    ],
)
def test_bad_loops_are_refused_before_anything_runs(project: Path, loop: dict, message: str) -> None:
    (project / "bad.yaml").write_text(pipeline(**loop))
    done = run_magnus("execute", "--file", "bad.yaml", cwd=project)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (project / ".run_log_store").exists()


@pytest.mark.parametrize("field", ["max_iterations", "break_on", "index_as", "branch"])
def test_a_missing_required_field_is_named(project: Path, field: str) -> None:
    data = yaml.safe_load(pipeline())
    del data["dag"]["steps"]["loop"][field]
    (project / "bad.yaml").write_text(yaml.safe_dump(data))
    done = run_magnus("execute", "--file", "bad.yaml", cwd=project)
    assert done.returncode == 2 and f"step 'loop': missing required field '{field}'" in done.stderr


def test_a_nested_loop_reusing_an_enclosing_item_name_is_refused(project: Path) -> None:
    inner = yaml.safe_load(pipeline())["dag"]["steps"]["loop"]
    inner["next"] = "success"
    outer = yaml.safe_load(
        pipeline(
            branch={
                "start_at": "loop",
                "steps": {"loop": inner, "success": {"type": "success"}, "fail": {"type": "fail"}},
            }
        )
    )
    (project / "bad.yaml").write_text(yaml.safe_dump(outer))
    done = run_magnus("execute", "--file", "bad.yaml", cwd=project)
    assert done.returncode == 2
    assert "step 'loop': its item name 'i' is already the item name of a branch holding it" in done.stderr


def test_the_example_converges_and_tracks_the_error_per_iteration(git_repo: Path, magnus) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    done = magnus("execute", "--file", "examples/loop.yaml", "--target", "10", "--json")
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    refine = log["steps"]["refine"]
    assert 2 <= len(refine["branches"]) <= 10
    assert abs(log["parameters"]["estimate"] ** 2 - 10) < 1e-6 and log["parameters"]["converged"] is True
    errors = [
        b["steps"][f"{name}.improve"]["metric_history"]["error"][0] for name, b in refine["branches"].items()
    ]
    assert [p["step"] for p in errors] == list(range(1, len(errors) + 1))
    assert all(a["value"] > b["value"] for a, b in itertools.pairwise(errors))  # it converges
    assert "iteration 0, estimate 5.5" in done.stderr  # the shell step reads MAGNUS_PRM_iteration

    # listed, compared and shown like any run: the default target converges in fewer iterations
    fewer = magnus("execute", "--file", "examples/loop.yaml", "--json")
    assert fewer.returncode == 0, fewer.stderr
    short = json.loads(fewer.stdout)
    assert len(short["steps"]["refine"]["branches"]) < len(refine["branches"])
    runs = magnus("runs", "--json")
    assert runs.returncode == 0 and len(json.loads(runs.stdout)["runs"]) == 2
    diff = magnus("diff", short["run_id"], log["run_id"], "--json", "--all")
    assert diff.returncode in (0, 1), diff.stderr
    last = f"refine.{len(refine['branches']) - 1}"
    assert f"{last}.improve" in diff.stdout  # an iteration only the longer run has

    from magnus_core.models.run_log import RunLog
    from magnus_tui.view import RunView
    from magnus_tui.widgets.dag_tree import row_label

    view = RunView.from_runlog(RunLog.model_validate(log))
    tree = {row.key: depth for row, depth in view.walk()}
    assert row_label(view.rows["refine"]).plain.startswith("✓ refine [⟳ loop]")
    assert tree["refine"] == 0 and tree["refine.0"] == 1 and tree["refine.0.improve"] == 2
    assert [k for k, d in tree.items() if d == 1] == list(refine["branches"])  # iterations in order


def test_argo_renders_a_recursive_template_whose_next_iteration_runs_when_it_should(project: Path) -> None:
    from magnus_core.executors.argo import ArgoOptions, render_yaml
    from magnus_core.loading import load_config, load_pipeline

    (project / "argo.yaml").write_text(
        "executor: {type: argo, config: {image: i:1, volumes: [{claim_name: c, mount_path: /m}], "
        "working_dir: /m}}\nrun_log_store: {type: file-system}\ncatalog: {type: do-nothing}\n"
    )
    pipeline = load_pipeline("p.yaml")  # a loop may use the file-system store: its iterations never overlap
    config = load_config("argo.yaml", pipeline, project)
    options = ArgoOptions.model_validate(config["executor"]["config"])
    doc = yaml.safe_load(render_yaml(pipeline, config, options, file="p.yaml"))
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    loop = templates["loop"]["dag"]["tasks"]
    assert [(t["name"], t.get("depends")) for t in loop] == [
        ("fan-out", None),
        ("iterations", "fan-out.Succeeded"),
    ]
    assert loop[1]["withParam"] == "{{tasks.fan-out.outputs.parameters.branches}}"
    iteration = templates[loop[1]["template"]]
    branch, fan_in, again = iteration["dag"]["tasks"]
    assert again["template"] == iteration["name"]  # recursive
    assert again["depends"] == "fan-in.Succeeded"
    assert again["when"] == (
        "{{tasks.fan-in.outputs.parameters.break}} == false && "
        "{{tasks.fan-in.outputs.parameters.iterations}} < 10"
    )
    assert again["withParam"] == "{{tasks.fan-in.outputs.parameters.branches}}"
    command = templates[fan_in["template"]]["container"]["command"]
    assert command[:6] == ["magnus", "fan", "{{workflow.parameters.run_id}}", "loop", "--mode", "in"]
    assert "--outputs-dir" in command and "{{inputs.parameters.map_variable}}" in command
    outputs = {p["name"]: p["valueFrom"] for p in templates[fan_in["template"]]["outputs"]["parameters"]}
    assert outputs["break"] == {"path": "/tmp/magnus-outputs/break", "default": "true"}
    body = templates[branch["template"]]["dag"]["tasks"]
    assert [t["name"] for t in body] == ["work", "show", "success", "fail"]
