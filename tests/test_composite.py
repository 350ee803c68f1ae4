"""Parallel, map and nested dag nodes, run for real with each run-log store."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from magnus_core.errors import PipelineError, UsageError
from magnus_core.runner import RunRequest, execute, prepare
from tests.conftest import ORIGINAL, ROOT

STORES = ["buffered", "file-system", "chunked-fs"]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def config(tmp: Path, store: str, workers: int = 1) -> str:
    return str(
        write(
            tmp / f"config-{store}-{workers}.yaml",
            f"""
        run_log_store: {{type: {store}}}
        executor: {{type: local, config: {{max_workers: {workers}}}}}
        catalog: {{type: do-nothing}}
    """,
        )
    )


def run(file: Path | str, cfg: str, **kw) -> tuple:
    prepared = prepare(RunRequest(file=str(file), config_file=cfg, **kw))
    log = execute(prepared)
    if prepared.store.service_name != "buffered":  # read back what is on disk
        log = prepared.store.get_run(log.run_id)
    return prepared, log


def shape(log) -> list[tuple]:
    """(internal name, status, type) of every step and branch, depth first."""
    out = []
    for step in log.steps.values():
        out.append((step.internal_name, step.status, step.step_type))
        for bname, branch in step.branches.items():
            out.append((bname, branch.status, "branch"))
            out.extend((s.internal_name, s.status, s.step_type) for s in branch.walk())
    return out


@pytest.fixture
def project(git_repo: Path) -> Path:
    shutil.copytree(ROOT / "examples", git_repo / "examples")
    return git_repo


@pytest.mark.parametrize("store", STORES)
def test_composite_example_matches_the_original_shape(project: Path, store: str) -> None:
    _, log = run(project / "examples/composite.yaml", config(project, store))
    assert log.status == "SUCCESS"
    names = [n for n, _, _ in shape(log)]
    assert names[:8] == [
        "prepare",
        "parallel step",
        "parallel step.branch a",
        "parallel step.branch a.a1",
        "parallel step.branch a.success",
        "parallel step.branch b",
        "parallel step.branch b.b1",
        "parallel step.branch b.success",
    ]
    assert "map step.c.m1" in names and "nested.dag.inner step" in names
    assert log.steps["map step"].branches["map step.b"].steps["map step.b.m1"].user_defined_metrics == {
        "chunk_len": 1
    }
    assert log.parameters["seen_a"] is True and log.parameters["result"] == 3
    composite = log.steps["parallel step"]
    assert composite.attempts == [] and composite.step_type == "parallel"


def test_same_nesting_as_the_original_tool(project: Path) -> None:
    """Our composite run and the original's composite_run.json nest steps and branches the same way."""
    original = json.loads((ORIGINAL / "run_logs/composite_run.json").read_text())
    _, ours = run(project / "examples/composite.yaml", config(project, "file-system"))
    ours_d = ours.model_dump(mode="json")

    def keys(d, depth=0):
        if isinstance(d, dict):
            return {k: keys(v, depth + 1) for k, v in d.items()} if depth < 1 else sorted(d)
        return type(d).__name__

    ours_only = {"returned_parameters", "start_time"}  # ours, documented in docs/run-log.md
    for name in ("prepare", "parallel step", "nested"):
        assert sorted(set(ours_d["steps"][name]) - ours_only) == sorted(original["steps"][name])
    for bname in ("parallel step.branch a", "nested.dag"):
        assert sorted(ours_d["steps"][bname.split(".")[0]]["branches"][bname]) == sorted(
            original["steps"][bname.split(".")[0]]["branches"][bname]
        )
    assert set(original["steps"]["map step"]["branches"]) <= set(ours_d["steps"]["map step"]["branches"])


NESTED = """
dag:
  start_at: outer
  steps:
    outer:
      type: map
      iterate_on: xs
      iterate_as: x
      next: success
      branch:
        start_at: par
        steps:
          par:
            type: parallel
            next: success
            branches:
              left:
                start_at: inner
                steps:
                  inner:
                    type: map
                    iterate_on: ys
                    iterate_as: y
                    next: success
                    branch:
                      start_at: leaf
                      steps:
                        leaf:
                          type: task
                          command_type: shell
                          command: echo "$MAGNUS_PRM_x $MAGNUS_PRM_y" >> seen.txt
                          next: success
                        success: {type: success}
                        fail: {type: fail}
                  success: {type: success}
                  fail: {type: fail}
              right:
                start_at: s
                steps:
                  s: {type: stub, next: success}
                  success: {type: success}
                  fail: {type: fail}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("store", STORES)
def test_map_inside_parallel_inside_map(git_repo: Path, store: str) -> None:
    f = write(git_repo / "nested.yaml", NESTED)
    params = write(git_repo / "p.yaml", "xs: [1, 2]\nys: [a, b, c]\n")
    _, log = run(f, config(git_repo, store), parameters_file=str(params))
    assert log.status == "SUCCESS"
    leaf = log.find_step("outer.2.par.left.inner.c.leaf")
    assert leaf is not None and leaf.status == "SUCCESS"
    assert sorted((git_repo / "seen.txt").read_text().split("\n")[:-1]) == sorted(
        f'{x} "{y}"' for x in (1, 2) for y in "abc"
    )
    assert log.find_branch("outer.1.par.left.inner.b").status == "SUCCESS"


def test_branch_failure_fails_the_composite_and_says_which(git_repo: Path) -> None:
    f = write(
        git_repo / "p.yaml",
        """
        dag:
          start_at: par
          steps:
            par:
              type: parallel
              next: success
              branches:
                good:
                  start_at: ok
                  steps:
                    ok: {type: task, command_type: shell, command: "true", next: success}
                    success: {type: success}
                    fail: {type: fail}
                bad:
                  start_at: nope
                  steps:
                    nope: {type: task, command_type: shell, command: "exit 3", next: success}
                    success: {type: success}
                    fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    _, log = run(f, config(git_repo, "file-system"))
    par = log.steps["par"]
    assert log.status == "FAIL" and par.status == "FAIL"
    assert par.branches["par.good"].status == "SUCCESS" and par.branches["par.bad"].status == "FAIL"
    assert "par.bad" in par.message and "1 of 2" in par.message
    assert (
        par.branches["par.bad"].steps["par.bad.nope"].attempts[0].message
        == "shell command exited with code 3"
    )


def test_map_over_integers_and_zero_items(git_repo: Path) -> None:
    f = write(
        git_repo / "m.yaml",
        """
        dag:
          start_at: m
          steps:
            m:
              type: map
              iterate_on: xs
              iterate_as: x
              next: success
              branch:
                start_at: t
                steps:
                  t: {type: task, command_type: python-lambda, command: "lambda x: {'last': x}", next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    _, log = run(f, config(git_repo, "file-system"), parameters={"xs": [3, 1, 2]})
    assert list(log.steps["m"].branches) == ["m.3", "m.1", "m.2"]
    assert log.parameters["last"] == 2  # merged in item order, whatever finished last
    _, empty = run(f, config(git_repo, "file-system"), parameters={"xs": []})
    assert empty.status == "SUCCESS" and empty.steps["m"].branches == {}
    assert "zero items" in empty.steps["m"].message


@pytest.mark.parametrize("value, expected", [(None, "is not set"), ("abc", "must be a list")])
def test_map_iterate_on_missing_or_not_a_list_fails_the_step_clearly(git_repo: Path, value, expected) -> None:
    f = write(
        git_repo / "m.yaml",
        """
        dag:
          start_at: m
          steps:
            m:
              type: map
              iterate_on: xs
              iterate_as: x
              next: success
              branch:
                start_at: t
                steps:
                  t: {type: stub, next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    params = {} if value is None else {"xs": value}
    _, log = run(f, config(git_repo, "file-system"), parameters=params)
    assert log.status == "FAIL"
    assert "iterate_on" in log.steps["m"].message and expected in log.steps["m"].message


def test_concurrent_branches_overlap_and_merge_in_branch_order(git_repo: Path) -> None:
    branches = "\n".join(
        textwrap.indent(
            textwrap.dedent(f"""
        b{i}:
          start_at: t
          steps:
            t: {{type: task, command_type: shell, command: "sleep 0.5; export MAGNUS_PRM_winner=b{i}", next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
    """),
            " " * 8,
        )
        for i in range(4)
    )
    f = git_repo / "par.yaml"
    f.write_text(f"""
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
{branches}
    success: {{type: success}}
    fail: {{type: fail}}
""")
    _, log = run(f, config(git_repo, "chunked-fs", workers=4))
    assert log.status == "SUCCESS"
    spans = [(a.start_time, a.end_time) for s in log.walk() if s.name == "t" for a in s.attempts]
    assert len(spans) == 4
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    assert latest_start < earliest_end, "the four branches should have run at the same time"
    assert log.parameters["winner"] == "b3"  # branch order, not finishing order


def test_bad_composites_are_refused_before_anything_runs(git_repo: Path) -> None:
    write(
        git_repo / "self.yaml",
        """
        dag:
          start_at: d
          steps:
            d: {type: dag, dag_definition: self.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    with pytest.raises(PipelineError, match="includes itself"):
        prepare(RunRequest(file="self.yaml"))
    write(
        git_repo / "a.yaml",
        """
        dag:
          start_at: d
          steps:
            d: {type: dag, dag_definition: sub/b.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    (git_repo / "sub").mkdir()
    write(
        git_repo / "sub/b.yaml",
        """
        dag:
          start_at: d
          steps:
            d: {type: dag, dag_definition: ../a.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    with pytest.raises(PipelineError, match=r"includes itself \(a.yaml -> b.yaml -> a.yaml\)"):
        prepare(RunRequest(file="a.yaml"))
    write(
        git_repo / "missing.yaml",
        """
        dag:
          start_at: d
          steps:
            d: {type: dag, dag_definition: nowhere.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    with pytest.raises(
        PipelineError, match=r"step 'd': field 'dag_definition': file 'nowhere.yaml' not found"
    ):
        prepare(RunRequest(file="missing.yaml"))
    write(
        git_repo / "nosuccess.yaml",
        """
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: success
              branches:
                only:
                  start_at: s
                  steps:
                    s: {type: stub, next: fail}
                    fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    with pytest.raises(PipelineError, match=r"p.only.*exactly one success node"):
        prepare(RunRequest(file="nosuccess.yaml"))
    write(
        git_repo / "dupbranch.yaml",
        """
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: success
              branches:
                same: {start_at: s, steps: {s: {type: stub, next: success}, success: {type: success}, fail: {type: fail}}}
                same: {start_at: s, steps: {s: {type: stub, next: success}, success: {type: success}, fail: {type: fail}}}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    with pytest.raises(UsageError, match="duplicate key 'same'"):
        prepare(RunRequest(file="dupbranch.yaml"))
    assert not (git_repo / ".run_log_store").exists()


def test_invalid_dag_definition_names_its_file(git_repo: Path, magnus) -> None:
    write(
        git_repo / "outer.yaml",
        """
        dag:
          start_at: d
          steps:
            d: {type: dag, dag_definition: inner.yaml, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    write(
        git_repo / "inner.yaml",
        """
        dag:
          start_at: x
          steps:
            x: {type: taks, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    result = magnus("execute", "--file", "outer.yaml")
    assert result.returncode == 2
    assert "inner.yaml" in result.stderr and "unknown node type 'taks'" in result.stderr
    assert "Traceback" not in result.stderr


def _comparable(log) -> dict:
    """A run log without what differs between two runs of one pipeline (ids, times, store, process)."""
    data = log.model_dump(mode="json")
    data.pop("run_id")
    for key in ("run_log_store", "process"):
        data["run_config"].pop(key)
    data["run_config"].pop("config_file", None)  # each store's run names its own config file
    text = json.dumps(data, sort_keys=True)
    import re

    text = re.sub(r'"(start_time|end_time|duration)": "[^"]*"', r'"\1": ""', text)
    return json.loads(text)


def test_every_store_assembles_the_same_run_log(project: Path) -> None:
    logs = [run(project / "examples/composite.yaml", config(project, store))[1] for store in STORES]
    first = _comparable(logs[0])
    for other in logs[1:]:
        assert _comparable(other) == first
