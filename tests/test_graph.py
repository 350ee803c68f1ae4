"""graph.py: branches of every node type, routing after success and failure, the walk and locating a node by
internal name, on a pipeline that nests parallel, map and dag three deep (and a fourth level below)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from magnus_core import graph
from magnus_core.graph import PLACEHOLDER, NotInDag
from magnus_core.loading import load_pipeline
from magnus_core.models.pipeline import BranchSpec, Dag, _Flow

# top: parallel `outer` -> branch `left`: map `each` -> per item: dag `nested` (inner.yaml) ->
# parallel `deep` -> branch `only`: task `t`. Branch `right`: a task routed by on_failure.
PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "true", next: outer, on_failure: rescue}
    outer:
      type: parallel
      next: success
      branches:
        left:
          start_at: each
          steps:
            each:
              type: map
              iterate_on: items
              iterate_as: chunk
              next: success
              branch:
                start_at: nested
                steps:
                  nested: {type: dag, dag_definition: inner.yaml, next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
        right:
          start_at: r1
          steps:
            r1: {type: task, command_type: shell, command: "true", next: r2, on_failure: r3}
            r2: {type: stub, next: success}
            r3: {type: as-is, next: fail}
            success: {type: success}
            fail: {type: fail}
    rescue: {type: stub, next: fail}
    unreached: {type: stub, next: success}
    success: {type: success}
    fail: {type: fail}
"""

INNER = """
dag:
  start_at: deep
  steps:
    deep:
      type: parallel
      next: success
      branches:
        only:
          start_at: t
          steps:
            t: {type: task, command_type: shell, command: "true", next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

NAMES = [
    "first",
    "outer",
    "outer.left.each",
    "outer.left.each.<item>.nested",
    "outer.left.each.<item>.nested.dag.deep",
    "outer.left.each.<item>.nested.dag.deep.only.t",
    "outer.left.each.<item>.nested.dag.deep.only.success",
    "outer.left.each.<item>.nested.dag.deep.only.fail",
    "outer.left.each.<item>.nested.dag.success",
    "outer.left.each.<item>.nested.dag.fail",
    "outer.left.each.<item>.success",
    "outer.left.each.<item>.fail",
    "outer.left.success",
    "outer.left.fail",
    "outer.right.r1",
    "outer.right.r2",
    "outer.right.r3",
    "outer.right.success",
    "outer.right.fail",
    "rescue",
    "unreached",
    "success",
    "fail",
]


@pytest.fixture
def dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dag:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "inner.yaml").write_text(textwrap.dedent(INNER))
    return load_pipeline(tmp_path / "pipeline.yaml").dag


def node_at(dag: Dag, name: str, map_variable: dict[str, Any] | None = None) -> Any:
    return graph.locate(dag, name, map_variable or {"chunk": "a"}).node


def test_branches_of_every_node_type(dag: Dag, tmp_path: Path) -> None:
    outer = dag.steps["outer"]
    assert [(b.name, b.per_item) for b in graph.branches(outer)] == [("left", False), ("right", False)]
    assert graph.branches(outer)[1].dag.start_at == "r1"
    each = node_at(dag, "outer.left.each")
    [per_item] = graph.branches(each)
    assert per_item.name is None and per_item.per_item and per_item.item_variable == "chunk"
    assert per_item.dag.start_at == "nested"
    nested = node_at(dag, f"outer.left.each.{PLACEHOLDER}.nested")
    [sub] = graph.branches(nested)
    assert (sub.name, sub.dag.start_at) == ("dag", "deep")
    assert Path(sub.source or "").resolve() == (tmp_path / "inner.yaml").resolve()
    deep = node_at(dag, f"outer.left.each.{PLACEHOLDER}.nested.dag.deep")
    assert [b.name for b in graph.branches(deep)] == ["only"]
    for leaf in ("first", "outer.right.r2", "outer.right.r3", "success", "fail"):
        assert graph.branches(node_at(dag, leaf)) == [], leaf
    leaf = node_at(dag, f"outer.left.each.{PLACEHOLDER}.nested.dag.deep.only.t")
    assert leaf.type == "task" and graph.branches(leaf) == []
    assert [n.is_composite for n in (outer, each, nested, deep, leaf)] == [True] * 4 + [False]
    assert [n.concurrent_branches for n in (outer, each, nested, deep)] == [True, True, False, True]


def test_next_step_after_success_and_failure_at_every_depth(dag: Dag) -> None:
    # on_failure when set, else the graph's own fail node; terminal nodes end their graph
    assert graph.next_step(dag, "first", True) == "outer"
    assert graph.next_step(dag, "first", False) == "rescue"
    assert graph.next_step(dag, "outer", False) == "fail"
    assert graph.next_step(dag, "success", True) is None and graph.next_step(dag, "fail", False) is None
    right = graph.locate(dag, "outer.right.r1").dag
    assert (graph.next_step(right, "r1", True), graph.next_step(right, "r1", False)) == ("r2", "r3")
    assert graph.successors(right, "r1") == ["r2", "r3"]
    assert graph.successors(right, "success") == []
    deepest = graph.locate(dag, "outer.left.each.x.nested.dag.deep.only.t", {"chunk": "x"}).dag
    assert graph.next_step(deepest, "t", True) == "success"
    assert graph.next_step(deepest, "t", False) == "fail"
    with pytest.raises(KeyError):
        graph.next_step(dag, "no such step", True)


def test_reachable_leaves_out_steps_no_route_leads_to(dag: Dag) -> None:
    assert graph.reachable(dag) == {"first", "outer", "rescue", "success", "fail"}


def test_walk_yields_every_node_with_internal_name_and_parents(dag: Dag) -> None:
    visits = list(graph.walk(dag, item="<item>"))
    assert [v.internal_name for v in visits] == NAMES
    by_name = {v.internal_name: v for v in visits}
    t = by_name["outer.left.each.<item>.nested.dag.deep.only.t"]
    assert t.name == "t" and t.node.type == "task"
    assert t.branch == "outer.left.each.<item>.nested.dag.deep.only"
    assert t.parents == (
        "outer",
        "outer.left.each",
        "outer.left.each.<item>.nested",
        "outer.left.each.<item>.nested.dag.deep",
    )
    assert t.depth == 4 and t.spec is not None and t.spec.name == "only"
    assert t.dag.steps["t"] is t.node
    top = by_name["first"]
    assert (top.branch, top.parents, top.depth, top.spec) == (None, (), 0, None)
    assert by_name["outer.left.each.<item>.nested"].spec.per_item  # type: ignore[union-attr]
    # the default placeholder is what command lines carry
    assert f"outer.left.each.{PLACEHOLDER}.nested" in [v.internal_name for v in graph.walk(dag)]


def test_graphs_lists_every_graph_once_depth_first(dag: Dag) -> None:
    names = [name for name, _ in graph.graphs(dag, item="<item>")]
    assert names == [
        None,
        "outer.left",
        "outer.left.each.<item>",
        "outer.left.each.<item>.nested.dag",
        "outer.left.each.<item>.nested.dag.deep.only",
        "outer.right",
    ]


@pytest.mark.parametrize(
    ("name", "map_variable", "internal", "branch", "parent"),
    [
        ("first", {}, "first", None, None),
        ("outer.right.r1", {}, "outer.right.r1", "outer.right", "outer"),
        (
            f"outer.left.each.{PLACEHOLDER}.nested",
            {"chunk": "a"},
            "outer.left.each.a.nested",
            "outer.left.each.a",
            "outer.left.each",
        ),
        (
            "outer.left.each.a.nested",
            {"chunk": "a"},
            "outer.left.each.a.nested",
            "outer.left.each.a",
            "outer.left.each",
        ),
        # items that are not strings are named by their JSON
        (
            f"outer.left.each.{PLACEHOLDER}.nested.dag.deep.only.t",
            {"chunk": 3},
            "outer.left.each.3.nested.dag.deep.only.t",
            "outer.left.each.3.nested.dag.deep.only",
            "outer.left.each.3.nested.dag.deep",
        ),
    ],
)
def test_locate_fills_in_items(dag: Dag, name, map_variable, internal, branch, parent) -> None:
    visit = graph.locate(dag, name, map_variable)
    assert (visit.internal_name, visit.branch) == (internal, branch)
    assert (visit.parents[-1] if visit.parents else None) == parent
    assert visit.name == name.rsplit(".", 1)[-1]


@pytest.mark.parametrize(
    ("name", "map_variable", "field", "message"),
    [
        ("nope", {}, "step", "no step 'nope' (steps: first, outer,"),
        ("outer.right.zz", {}, "step", "no step 'zz' of branch 'outer.right'"),
        ("first.x", {}, "step", "'first' is a task node and has no branches"),
        (
            "outer.middle.r1",
            {},
            "step",
            "parallel step 'outer' has no branch 'middle' (branches: left, right)",
        ),
        (f"outer.left.each.{PLACEHOLDER}.nested", {}, "map-variable", "--map-variable must give 'chunk'"),
        (
            "outer.left.each.b.nested",
            {"chunk": "a"},
            "map-variable",
            "the item 'b' of map step 'outer.left.each' does not match",
        ),
        ("outer.right", {}, "step", "'outer.right' is a branch, not a step"),
        (
            f"outer.left.each.{PLACEHOLDER}.nested.other.deep",
            {"chunk": "a"},
            "step",
            "dag step 'outer.left.each.a.nested' has no branch 'other' (branches: dag)",
        ),
    ],
)
def test_locate_says_which_part_does_not_fit(dag: Dag, name, map_variable, field, message) -> None:
    with pytest.raises(NotInDag) as info:
        graph.locate(dag, name, map_variable)
    assert message in info.value.message
    assert info.value.field == field


# -- node types yet to come: the API needs no change for them ---------------------------------------


class _Loop(_Flow):
    """A loop as a later node type might declare it: one branch, run once per iteration `<step>.<i>`."""

    type: Literal["loop"] = "loop"
    body: Dag
    composite: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        return [BranchSpec(None, self.body, item_variable="iteration")]


class _Conditional(_Flow):
    """A conditional: named branches, of which one is chosen at run time (`<step>.<value>`)."""

    type: Literal["conditional"] = "conditional"
    choices: dict[str, Dag]
    composite: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        return [BranchSpec(value, dag) for value, dag in self.choices.items()]


def test_a_node_type_declaring_its_branches_is_walked_and_located(dag: Dag) -> None:
    body = graph.locate(dag, "outer.right.r1").dag
    loop = _Loop(next="success", body=body)
    choose = _Conditional(next="success", choices={"yes": body, "no": body})
    dag.steps["again"] = loop  # type: ignore[assignment]
    dag.steps["choose"] = choose  # type: ignore[assignment]
    names = [v.internal_name for v in graph.walk(dag, item="<i>")]
    assert "again.<i>.r1" in names and "choose.yes.r1" in names and "choose.no.fail" in names
    visit = graph.locate(dag, "again.2.r3", {"iteration": 2})
    assert (visit.internal_name, visit.branch, visit.parents) == ("again.2.r3", "again.2", ("again",))
    assert graph.locate(dag, "choose.no.r2").internal_name == "choose.no.r2"
    with pytest.raises(NotInDag, match="conditional step 'choose' has no branch 'maybe'"):
        graph.locate(dag, "choose.maybe.r2")
    assert ("again.<i>", body) in list(graph.graphs(dag, item="<i>"))


def test_a_branch_name_or_an_item_holding_dots_is_located_whole(dag: Dag) -> None:
    body = graph.locate(dag, "outer.right.r1").dag
    dag.steps["choose"] = _Conditional(next="success", choices={"1": body, "1.5": body})  # type: ignore[assignment]
    dag.steps["again"] = _Loop(next="success", body=body)  # type: ignore[assignment]
    visit = graph.locate(dag, "choose.1.5.r2")
    assert (visit.branch, visit.name) == ("choose.1.5", "r2")
    assert graph.locate(dag, "choose.1.r2").branch == "choose.1"
    assert graph.locate(dag, "again.2.5.r1", {"iteration": 2.5}).branch == "again.2.5"
    with pytest.raises(NotInDag, match=r"'choose\.1\.5' is a branch, not a step"):
        graph.locate(dag, "choose.1.5")


def test_the_planned_success_path_follows_next_step(dag: Dag) -> None:
    """progress.success_path asks graph.next_step: on-failure handlers and unreached steps are off the path."""
    from magnus_core.progress import success_path

    assert success_path(dag) == ["first", "outer", "success"]
    right = graph.branches(dag.steps["outer"])[1].dag
    assert success_path(right) == ["r1", "r2", "success"]
