"""The loader's quick paths for large pipelines give the answers of the thorough ones they stand in front of
(issue 19): the cycle check (a one-pass search before graphlib names the cycle), the NUL check (the dag's
JSON, made once for its hash, before a walk of every string), and the command and folder checks (one pass
over the nodes before the walk that names a step at fault)."""

from __future__ import annotations

import random
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from magnus_core import graph, loading
from magnus_core.errors import PipelineError
from magnus_core.loading import _acyclic, dag_hash, load_pipeline, read_yaml
from magnus_core.models.pipeline import Dag


def graphlib_acyclic(edges: dict[str, list[str]]) -> bool:
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name, targets in edges.items():
        sorter.add(name, *targets)
    try:
        sorter.prepare()
    except CycleError:
        return False
    return True


def dag_of(edges: dict[str, list[str]]) -> Dag:
    steps: dict[str, object] = {}
    for name, targets in edges.items():
        if not targets:
            steps[name] = {"type": "success"}
        else:
            node = {"type": "stub", "next": targets[0]}
            if len(targets) > 1:
                node["on_failure"] = targets[1]
            steps[name] = node
    return Dag.model_validate({"start_at": next(iter(edges)), "steps": steps})


def test_the_cycle_check_agrees_with_graphlib_on_random_graphs() -> None:
    rng = random.Random(19)
    verdicts = set()
    for _ in range(600):
        n = rng.randint(1, 9)
        names = [f"s{i}" for i in range(n)]
        edges: dict[str, list[str]] = {}
        for name in names:
            k = rng.choice([0, 1, 1, 2, 2])
            edges[name] = [rng.choice(names) for _ in range(k)]
        expected = graphlib_acyclic(edges)
        assert _acyclic(dag_of(edges)) == expected, edges
        verdicts.add(expected)
    assert verdicts == {True, False}  # both kinds were tried


def test_a_long_chain_and_its_closing_edge() -> None:
    chain = {f"s{i}": [f"s{i + 1}"] for i in range(3000)} | {"s3000": []}
    assert _acyclic(dag_of(chain))
    chain["s3000"] = ["s0"]  # (the success node's stand-in now loops back: a stub)
    assert not _acyclic(dag_of(chain))


def write(folder: Path, text: str) -> Path:
    path = folder / "p.yaml"
    path.write_text(text)
    return path


STEPS = "dag:\n  start_at: a\n  steps:\n{a}    success: {{type: success}}\n    fail: {{type: fail}}\n"


@pytest.mark.parametrize(
    "step",
    [
        '    "a\\0": {type: stub, next: success}\n    a: {type: stub, next: success}\n',
        '    a: {type: stub, next: success, command: "x\\0"}\n',
        '    a: {type: stub, next: success, command: "\\\\u0000 x\\0"}\n',
    ],
)
def test_nul_in_the_dag_is_found_where_the_walk_finds_it(
    tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, STEPS.format(a=step))
    with pytest.raises(PipelineError) as quick:
        load_pipeline(path)

    def unencodable(block: object) -> str:
        raise TypeError("as if the dag could not be encoded: the walk of every string decides")

    monkeypatch.setattr(loading, "_dag_text", unencodable)
    with pytest.raises(PipelineError) as walked:
        load_pipeline(path)
    assert str(quick.value) == str(walked.value) and "NUL" in str(quick.value)


def test_nul_outside_the_dag_is_found_and_text_that_reads_backslash_u0000_is_not_a_nul(
    tmp_path: Path,
) -> None:
    step = '    a: {type: stub, next: success, command: "\\\\u0000 and \\\\\\\\u0000"}\n'
    path = write(tmp_path, STEPS.format(a=step))
    assert "\\u0000" in read_yaml(path)["dag"]["steps"]["a"]["command"]
    loaded = load_pipeline(path)  # a backslash and 'u0000' written as text: no NUL
    assert loaded.dag_hash == dag_hash(loaded.dag_block)
    path.write_text(path.read_text() + 'run_log_store: {type: file-system, config: {log_folder: "x\\0"}}\n')
    with pytest.raises(PipelineError) as err:
        load_pipeline(path)
    assert "field 'run_log_store.config.log_folder': must not contain a NUL" in str(err.value)


def test_the_hash_is_the_dag_blocks(tmp_path: Path) -> None:
    path = write(tmp_path, STEPS.format(a="    a: {type: stub, next: success}\n"))
    loaded = load_pipeline(path)
    assert loaded.dag_hash == dag_hash(read_yaml(path)["dag"])


def test_nodes_meets_every_node_in_walks_order(tmp_path: Path) -> None:
    text = (
        "dag:\n  start_at: p\n  steps:\n"
        "    p:\n      type: parallel\n      next: m\n      branches:\n"
        "        one: {start_at: x, steps: {x: {type: stub, next: s}, s: {type: success}, f: {type: fail}}}\n"
        "        two: {start_at: y, steps: {y: {type: stub, next: s}, s: {type: success}, f: {type: fail}}}\n"
        "    m:\n      type: map\n      iterate_on: xs\n      iterate_as: x\n      next: success\n"
        "      branch: {start_at: z, steps: {z: {type: stub, next: s}, s: {type: success}, f: {type: fail}}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    dag = load_pipeline(write(tmp_path, text)).dag
    assert [id(n) for n in graph.nodes(dag)] == [id(v.node) for v in graph.walk(dag)]
    assert len(list(graph.nodes(dag))) == 13
