"""The per-step entry point: one node per call against a shared store, composites split into fan-out,
branches and fan-in; safe to retry; bad input is a usage error naming the step."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from magnus_core.errors import UsageError
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.single import (
    PLACEHOLDER,
    NodeJob,
    execute_single_node,
    fan_in,
    fan_out,
    job_from_files,
    mark_failed,
)
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from tests.conftest import ROOT


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(git_repo: Path) -> Path:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    write(
        git_repo / "shared.yaml",
        """
        run_log_store: {type: chunked-fs, config: {log_folder: runs}}
        catalog: {type: do-nothing}
    """,
    )
    return git_repo


def job(step: str, file: str = "examples/composite.yaml", run_id: str = "r1", **kw) -> NodeJob:
    return job_from_files(run_id, step, file=file, config_file="shared.yaml", **kw)


def read(run_id: str = "r1"):
    return ChunkedFileSystemRunLogStore({"log_folder": "runs"}).get_run(run_id)


def drive(run_id: str, file: str = "examples/composite.yaml", **kw) -> None:
    """Run the composite example step by step, the way an orchestrator would (branches in any order)."""
    assert execute_single_node(job("prepare", file, run_id, **kw)) == 0
    assert fan_out(job("parallel%step", file, run_id)) == (0, [])
    for branch, first in (("branch%b", "b1"), ("branch%a", "a1")):  # not in dag order on purpose
        assert execute_single_node(job(f"parallel%step.{branch}.{first}", file, run_id)) == 0
        assert execute_single_node(job(f"parallel%step.{branch}.success", file, run_id)) == 0
    assert fan_in(job("parallel%step", file, run_id)) == 0
    code, items = fan_out(job("map%step", file, run_id))
    assert code == 0 and [json.loads(i) for i in items] == [{"chunk": "a"}, {"chunk": "b"}, {"chunk": "c"}]
    for item in reversed(items):
        for step in ("m1", "success"):
            name = f"map%step.{PLACEHOLDER}.{step}"
            assert execute_single_node(job(name, file, run_id, map_variable=item)) == 0
    assert fan_in(job("map%step", file, run_id)) == 0
    assert fan_out(job("nested", file, run_id))[0] == 0
    assert execute_single_node(job("nested.dag.inner%step", file, run_id)) == 0
    assert execute_single_node(job("nested.dag.success", file, run_id)) == 0
    assert fan_in(job("nested", file, run_id)) == 0
    assert execute_single_node(job("success", file, run_id)) == 0


def test_step_by_step_equals_a_local_run(project: Path) -> None:
    drive("r1")
    split = read("r1")
    prepared = prepare(RunRequest(file="examples/composite.yaml", config_file="shared.yaml", run_id="local"))
    local = execute(prepared)
    local = read("local")
    assert split.status == local.status == "SUCCESS"
    assert split.parameters == local.parameters
    assert split.parameters["seen_c"] is True and split.parameters["result"] == 3

    def shape(log):
        return [
            (
                s.internal_name,
                s.status,
                s.step_type,
                len(s.attempts),
                s.user_defined_metrics,
                s.message,
                sorted((b, bl.status) for b, bl in s.branches.items()),
            )
            for s in log.walk()
        ]

    assert sorted(shape(split)) == sorted(shape(local))


def test_first_step_creates_the_run_with_parameters_and_tag(project: Path) -> None:
    write(project / "params.yaml", "x: 5\n")
    assert execute_single_node(job("prepare", parameters_file="params.yaml", tag="nightly")) == 0
    run = read()
    assert run.status == "PROCESSING" and run.tag == "nightly"
    assert run.parameters == {"x": 5, "z": 10, "items": ["a", "b", "c"]}
    assert run.run_config["dag"]["start_at"] == "prepare" and run.dag_hash


def test_a_succeeded_step_is_not_run_twice(project: Path) -> None:
    write(
        project / "count.py",
        "import os\ndef bump():\n    n = int(open('n').read()) if os.path.exists('n') else 0\n"
        "    open('n', 'w').write(str(n + 1))\n",
    )
    write(
        project / "p.yaml",
        """
        dag:
          start_at: bump
          steps:
            bump: {type: task, command: count.bump, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    for _ in range(2):
        assert execute_single_node(job("bump", "p.yaml")) == 0
    assert (project / "n").read_text() == "1"
    assert len(read().steps["bump"].attempts) == 1
    for _ in range(2):  # the terminal node too: the run's status is set again, nothing else
        assert execute_single_node(job("success", "p.yaml")) == 0
    assert read().status == "SUCCESS"
    with pytest.raises(UsageError, match="already finished"):
        execute_single_node(job("fail", "p.yaml"))


def test_failed_step_exits_1_and_the_fail_node_fails_the_run(project: Path) -> None:
    write(
        project / "p.yaml",
        """
        dag:
          start_at: boom
          steps:
            boom: {type: task, command_type: shell, command: exit 4, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    assert execute_single_node(job("boom", "p.yaml")) == 1
    assert execute_single_node(job("fail", "p.yaml")) == 1
    run = read()
    assert run.status == "FAIL" and run.steps["boom"].status == "FAIL"
    assert "code 4" in run.steps["boom"].message


def test_a_dead_step_is_marked_failed_when_its_graph_moves_on(project: Path) -> None:
    """A process killed mid-step leaves it PROCESSING; the next node of the same graph marks it FAIL."""
    write(
        project / "p.yaml",
        """
        dag:
          start_at: slow
          steps:
            slow: {type: task, command_type: shell, command: "true", next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    assert execute_single_node(job("slow", "p.yaml")) == 0
    store = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    store.attach("r1")
    step = store.get_run("r1").steps["slow"].model_copy()
    step.status = "PROCESSING"
    store.put_step_log("r1", step)  # as if the pod died half way
    assert execute_single_node(job("fail", "p.yaml")) == 1
    run = read()
    assert run.steps["slow"].status == "FAIL" and "did not finish" in run.steps["slow"].message
    mark_failed(job("slow", "p.yaml", run_id="r2"), "worker died")
    assert read("r2").steps["slow"].message == "worker died"


def test_fan_in_fails_when_a_branch_failed_or_never_ended(project: Path) -> None:
    assert execute_single_node(job("prepare")) == 0
    fan_out(job("parallel%step"))
    assert execute_single_node(job("parallel%step.branch%a.a1")) == 0
    assert execute_single_node(job("parallel%step.branch%a.fail")) == 1
    # branch b never ran: its pods died
    assert fan_in(job("parallel%step")) == 1
    step = read().steps["parallel step"]
    assert step.status == "FAIL" and "2 of 2 branches failed" in step.message
    assert {b: bl.status for b, bl in step.branches.items()} == {
        "parallel step.branch a": "FAIL",
        "parallel step.branch b": "FAIL",
    }


def test_repeated_fan_out_keeps_branch_progress(project: Path) -> None:
    assert execute_single_node(job("prepare")) == 0
    _, items = fan_out(job("map%step"))
    assert execute_single_node(job(f"map%step.{PLACEHOLDER}.m1", map_variable=items[0])) == 0
    assert execute_single_node(job(f"map%step.{PLACEHOLDER}.success", map_variable=items[0])) == 0
    assert fan_out(job("map%step")) == (0, items)  # the engine retried the fan-out pod
    branches = read().steps["map step"].branches
    assert branches["map step.a"].status == "SUCCESS" and branches["map step.b"].status == "PROCESSING"
    # what branch a returned is committed with its step, and only there (the branch's start file is not
    # rewritten): the fan-in still merges it once branch b is done
    assert read().find_step("map step.a.m1").returned_parameters == {"seen_a": True}
    from magnus_core.stores.chunked import part_name

    start = json.loads((project / "runs/r1/branch-parameters" / part_name("map step.a")).read_text())
    assert "seen_a" not in start["parameters"] and start["masked_parameters"] == []
    for item in items[1:]:
        assert execute_single_node(job(f"map%step.{PLACEHOLDER}.m1", map_variable=item)) == 0
        assert execute_single_node(job(f"map%step.{PLACEHOLDER}.success", map_variable=item)) == 0
    assert fan_in(job("map%step")) == 0
    assert read().steps["map step"].returned_parameters["seen_a"] is True
    assert read().parameters["seen_a"] is True


def test_map_over_a_missing_parameter_fails_at_fan_out(project: Path) -> None:
    code, items = fan_out(job("map%step"))
    assert (code, items) == (1, [])
    assert "parameter 'items' is not set" in read().steps["map step"].message
    assert fan_in(job("map%step")) == 1


@pytest.mark.parametrize(
    "step, extra, message",
    [
        ("nope", [], "step 'nope' is not in the dag"),
        ("parallel%step.branch%z.a1", [], "has no branch 'branch z'"),
        ("map%step.map_variable_placeholder.m1", [], "--map-variable must give 'chunk'"),
        ("map%step.map_variable_placeholder.m1", ["--map-variable", "[1]"], "expected a JSON object"),
        ("map%step.map_variable_placeholder.m1", ["--map-variable", "{bad"], "not valid JSON"),
        ("prepare.x", [], "has no branches"),
    ],
)
def test_bad_step_names_exit_2_naming_them(project: Path, magnus, step, extra, message) -> None:
    result = magnus(
        "execute_single_node",
        "r1",
        step,
        "--file",
        "examples/composite.yaml",
        "--config-file",
        "shared.yaml",
        *extra,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (project / "runs").exists()  # nothing written


def test_a_wrong_step_name_suggests_the_nearest_or_says_how_many_names_there_are(
    project: Path, magnus
) -> None:
    """Trial 9, finding 6: `p1k.yaml: field 'step': ... (steps: s0, s1, ..., s19)`: no "did you mean", the
    first 20 of 1,004 names with no sign of the rest, and the command-line argument named as a file's field."""
    names = [f"s{i}" for i in range(30)]
    steps = "".join(
        f"    {a}: {{type: stub, next: {b}}}\n" for a, b in zip(names, [*names[1:], "success"], strict=True)
    )
    write(
        project / "many.yaml",
        f"dag:\n  start_at: s0\n  steps:\n{steps}    success: {{type: success}}\n    fail: {{type: fail}}\n",
    )
    for command in ("execute_single_node", "fan"):
        extra = ["--mode", "out"] if command == "fan" else []
        typo = magnus(command, "r", "S1O", *extra, "--file", "many.yaml", "--config-file", "shared.yaml")
        assert typo.returncode == 2, typo.stderr
        assert typo.stderr.startswith("Error: argument STEP: step 'S1O' is not in the dag of many.yaml")
        assert "; did you mean s10, " in typo.stderr and "field" not in typo.stderr
        far = magnus(command, "r", "nosuch", *extra, "--file", "many.yaml", "--config-file", "shared.yaml")
        assert far.returncode == 2 and "did you mean" not in far.stderr
        assert "(steps: s0, s1, s2," in far.stderr and "s19, ... (32 steps in all))" in far.stderr
    assert not (project / "runs").exists()  # nothing written


@pytest.mark.parametrize("plain", ["plain", "models"])
def test_a_run_created_past_its_first_step_or_a_step_before_its_predecessor_is_said(
    project: Path, magnus, plain: str
) -> None:
    """Trial 9, finding 3: `execute_single_node bobpd s1` (meant bobpod) made a new run at s1 in silence, and
    steps run out of order were accepted in silence. One line on stderr each; the exit code unchanged."""
    (project / "three.py").write_text("def one():\n    print('one')\n")
    write(
        project / "three.yaml",
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: three.one, next: b}
            b: {type: task, command: three.one, next: c}
            c: {type: task, command: three.one, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    env = {"MAGNUS_PLAIN_STEP_OFF": "1"} if plain == "models" else {}

    def step(run_id: str, name: str):
        return magnus(
            "execute_single_node", run_id, name, "--file", "three.yaml", "-c", "shared.yaml", env=env
        )

    typo = step("typo", "b")
    assert typo.returncode == 0 and typo.stderr == (
        "magnus: run 'typo' does not exist: created it at step 'b', not at the dag's first step 'a'\n"
    )
    first = step("ok", "a")
    assert first.returncode == 0 and first.stderr == ""
    skipped = step("ok", "c")
    assert skipped.returncode == 0
    assert (
        skipped.stderr
        == "magnus: step 'c' runs in run ok before its predecessor in the dag, 'b', has succeeded\n"
    )
    assert step("ok", "b").stderr == ""  # its predecessor a succeeded


def test_composite_and_leaf_entry_points_are_not_mixed_up(project: Path) -> None:
    with pytest.raises(UsageError, match="is a parallel node: fan it out with `magnus fan"):
        execute_single_node(job("parallel%step"))
    with pytest.raises(UsageError, match="is a task node, not parallel"):
        fan_out(job("prepare"))


def test_command_line_round_trip(project: Path, magnus) -> None:
    base = ["--file", "examples/composite.yaml", "--config-file", "shared.yaml"]
    first = magnus("execute_single_node", "cli", "prepare", *base)
    assert first.returncode == 0 and "already succeeded" not in first.stderr
    again = magnus("execute_single_node", "cli", "prepare", *base)  # by hand or a retried pod: exit 0, said
    assert again.returncode == 0
    assert again.stderr == "magnus: prepare already succeeded in run cli: not run again\n"
    out = magnus("fan", "cli", "map%step", "--mode", "out", "--items-file", "items.json", *base)
    assert out.returncode == 0, out.stderr
    items = json.loads((project / "items.json").read_text())
    assert json.loads(out.stdout) == items and len(items) == 3
    bad = magnus("fan", "cli", "map%step", "--mode", "sideways", *base)
    assert bad.returncode == 2
    buffered = write(project / "buffered.yaml", "run_log_store: {type: buffered}\n")
    result = magnus(
        "execute_single_node",
        "cli",
        "prepare",
        "--file",
        "examples/composite.yaml",
        "--config-file",
        str(buffered),
    )
    assert result.returncode == 2 and "buffered" in result.stderr


def test_file_system_store_for_sequential_dags(project: Path) -> None:
    """The one-file store works one step per process when nothing runs at once (a nested dag)."""
    write(
        project / "fs.yaml",
        "run_log_store: {type: file-system, config: {log_folder: fs}}\ncatalog: {type: do-nothing}\n",
    )
    write(
        project / "nest.yaml",
        """
        dag:
          start_at: nested
          steps:
            nested: {type: dag, dag_definition: examples/inner.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )

    def one(step: str) -> NodeJob:
        return job_from_files("fs1", step, file="nest.yaml", config_file="fs.yaml")

    assert fan_out(one("nested")) == (0, [])
    assert execute_single_node(one("nested.dag.inner%step")) == 0
    assert execute_single_node(one("nested.dag.success")) == 0
    assert fan_in(one("nested")) == 0
    assert execute_single_node(one("success")) == 0
    from magnus_core.stores.file_system import load_run_log

    run = load_run_log(project / "fs" / "fs1.json")
    assert run.status == "SUCCESS" and run.steps["nested"].status == "SUCCESS"
    assert run.steps["nested"].branches["nested.dag"].steps["nested.dag.inner step"].status == "SUCCESS"
    assert [p.name for p in (project / "fs").iterdir() if not p.name.startswith(".")] == ["fs1.json"]


def test_a_branch_step_before_its_fan_out_is_a_usage_error(project: Path, magnus) -> None:
    result = magnus(
        "execute_single_node",
        "early",
        "parallel%step.branch%a.a1",
        "--file",
        "examples/composite.yaml",
        "--config-file",
        "shared.yaml",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "fan early parallel%step --mode out --file examples/composite.yaml --config-file shared.yaml` first"
        in result.stderr
    )


@pytest.mark.parametrize("kind", ["chunked-fs", "file-system"])
@pytest.mark.parametrize(
    "command, message",
    [
        (["fan", "ghost", "map%step", "--mode", "in"], "no run 'ghost' in "),
        (["fan", "ghost", "prepare", "--mode", "in"], "is a task node, not parallel"),
        (["fan", "ghost", "prepare", "--mode", "out"], "is a task node, not parallel"),
        (["execute_single_node", "ghost", "map%step"], "is a map node: fan it out with `magnus fan"),
        (
            [
                "execute_single_node",
                "ghost",
                "map%step.map_variable_placeholder.m1",
                "--map-variable",
                '{"chunk": "a"}',
            ],
            "no run 'ghost', so branch 'map step.a' has no parameters: run `magnus fan ghost map%step --mode out "
            "--file examples/composite.yaml --config-file store.yaml` first",
        ),
    ],
)
def test_a_refused_per_step_command_writes_no_run(project: Path, magnus, kind, command, message) -> None:
    """Trial 9: each of these exited 2 and left a run 'ghost' reading PER-STEP for ever."""
    write(project / "store.yaml", f"run_log_store: {{type: {kind}, config: {{log_folder: runs}}}}\n")
    assert magnus("execute_single_node", "real", "prepare", *BASE, "store.yaml").returncode == 0
    before = sorted(p.name for p in (project / "runs").iterdir())
    result = magnus(*command, *BASE, "store.yaml")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert sorted(p.name for p in (project / "runs").iterdir()) == before  # no run 'ghost', nothing new


BASE = ("--file", "examples/composite.yaml", "--config-file")


def test_stop_and_show_of_a_run_driven_by_hand_name_its_next_step_and_files(project: Path, magnus) -> None:
    """Trial 9, finding 5: the hint said `magnus execute_single_node RUN STEP`, without the next step or the
    files the run was made with, so the command as printed failed (`pipeline.yaml: pipeline file not
    found`); `magnus show` did not say it at all. The command printed now works as typed."""
    import shlex

    assert magnus("execute_single_node", "hand", "prepare", *BASE, "shared.yaml").returncode == 0
    command = (
        "magnus fan hand parallel%step --mode out --file examples/composite.yaml --config-file shared.yaml"
    )
    stop = magnus("stop", "hand", "--config-file", "shared.yaml")
    assert stop.returncode != 0 and f"nothing runs its next step until you do: {command}" in stop.stderr
    show = magnus("show", "hand", "--config-file", "shared.yaml")
    assert show.returncode == 0 and "Run hand is driven one step at a time" in show.stdout
    assert f"until you do: {command}\n" in show.stdout
    assert magnus(*shlex.split(command)[1:]).returncode == 0  # as typed
    show = magnus("show", "hand", "--config-file", "shared.yaml")
    assert "until you do: magnus execute_single_node hand parallel%step.branch%a.a1" not in show.stdout
    assert "until you do: magnus fan hand parallel%step --mode out" in show.stdout  # not decided yet


def test_a_secret_given_at_a_prompt_reaches_a_step_run_alone_and_a_masked_parameter_is_not_handed_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    (project / "given.py").write_text(
        "from magnus import get_secret\n"
        "def use():\n"
        "    print('worker sees', get_secret('typed'))\n"
        "    return {'conn': 'db://' + get_secret('typed')}\n"
        "def after(conn):\n"
        "    print(conn)\n"
    )
    write(
        project / "given.yaml",
        """
        dag:
          start_at: use
          steps:
            use: {type: task, command: given.use, next: after}
            after: {type: task, command: given.after, next: success}
            success: {type: success}
            fail: {type: fail}
        secrets: {type: env-secrets-manager}
    """,
    )
    first = dataclasses.replace(job("use", "given.yaml", "g1"), secrets_given={"typed": "typed-value-123"})
    assert "typed-value-123" not in repr(first)  # Dask may log a task's arguments
    assert execute_single_node(first) == 0
    assert "worker sees *****" in capsys.readouterr().out
    log = read("g1")
    assert log.parameters["conn"] == "db://*****" and log.masked_parameters == ["conn"]
    # the next step would get 'db://*****' from the run log: it fails before it runs, saying why
    second = dataclasses.replace(job("after", "given.yaml", "g1"), secrets_given={"typed": "typed-value-123"})
    assert execute_single_node(second) == 1
    step = read("g1").find_step("after")
    assert step is not None and step.status == "FAIL"
    assert "'conn'" in step.message and "get_secret()" in step.message
    for path in (project / "runs").rglob("*"):
        if path.is_file():
            assert b"typed-value-123" not in path.read_bytes()


@pytest.mark.parametrize("kind", ["chunked-fs", "postgres"])
def test_a_step_in_a_map_branch_reads_its_branch_not_the_run(
    project: Path, monkeypatch: pytest.MonkeyPatch, kind: str, store_block
) -> None:
    """The per-step entry point on the stores that keep steps apart reads the run's metadata, the composite
    and branch holding the step and the steps of its own graph: no part of the other items (its cost does
    not grow with the map)."""
    from magnus_core.stores import make_store

    block = store_block(kind) if kind == "postgres" else {"type": kind, "config": {"log_folder": "runs"}}
    (project / "shared.yaml").write_text(
        json.dumps({"run_log_store": block, "catalog": {"type": "do-nothing"}})
    )
    write(project / "fns.py", "def plus(x, item):\n    return {'x': x + item}\n")
    write(
        project / "wide.yaml",
        """
        dag:
          start_at: each
          steps:
            each:
              type: map
              iterate_on: items
              iterate_as: item
              next: success
              branch:
                start_at: add
                steps:
                  add: {type: task, command: fns.plus, next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    write(project / "params.yaml", "x: 1\nitems: [1, 2, 3, 4, 5, 6, 7, 8]\n")

    def run(step: str, item: int | None = None) -> int:
        variable = json.dumps({"item": item}) if item is not None else None
        return execute_single_node(
            job(step, "wide.yaml", "w", parameters_file="params.yaml", map_variable=variable)
        )

    code, items = fan_out(job("each", "wide.yaml", "w", parameters_file="params.yaml"))
    assert code == 0 and len(items) == 8
    for item in range(1, 8):
        assert run(f"each.{PLACEHOLDER}.add", item) == 0
    store_class = type(make_store(block))
    real = store_class._read
    read: list[str] = []  # the internal name of every step and branch log the step's process read

    def spying(self, run_id: str):
        log = real(self, run_id)
        for step in log.walk():
            read.append(step.internal_name)
            read.extend(step.branches)
        return log

    with monkeypatch.context() as patched:  # monkeypatch.undo() would also undo the fixture's chdir
        patched.setattr(store_class, "_read", spying)
        assert run(f"each.{PLACEHOLDER}.add", 8) == 0
        assert run(f"each.{PLACEHOLDER}.success", 8) == 0
    assert {"each", "each.8", "each.8.add"} <= set(read)
    assert not [name for name in read if name.startswith(tuple(f"each.{i}" for i in range(1, 8)))]
    log = make_store(block).get_run("w")
    assert log.find_step("each.8.add").returned_parameters == {"x": 9}
    assert log.find_branch("each.8").status == "SUCCESS"
    assert log.find_step("each.1.add").status == "SUCCESS"  # the other items are untouched
