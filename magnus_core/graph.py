"""The dag's structure in one place (pure, no I/O): what each node contains, where a run goes after each
step, and every node of a pipeline with its internal name.

What a node contains is declared by its type (`declared_branches()` in `models/pipeline.py`); this module is
the only reader of those declarations for everything structural, so executors, the per-step entry points,
the loader and the secrets check know no node type by name.

Internal names are dot paths: `step`, `par.branch a.a1`, `nested.dag.inner step`, `map step.<item>.m1`.
A branch run per item (a map's items, a loop's iterations) has no name until run time; where a name must be
written before (a command line, an Argo template, a message), it is written with an `item` placeholder:
`PLACEHOLDER` on command lines (the item itself comes with `--map-variable`).

Routing comes from the original's spec: after a step succeeds, its `next`; after it fails, its
`on_failure` if set, else the dag's fail node. Terminal nodes (success, fail) have no next step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from magnus_core import jsonio as json
from magnus_core.models.pipeline import BranchSpec, Dag, FailNode, Node, SuccessNode

PLACEHOLDER = "map_variable_placeholder"  # stands for a map item in internal names on a command line

__all__ = [
    "PLACEHOLDER",
    "BranchSpec",
    "NotInDag",
    "Visit",
    "branch_at",
    "branches",
    "encode_name",
    "graphs",
    "internal_name",
    "item_name",
    "locate",
    "next_step",
    "nodes",
    "reachable",
    "successors",
    "walk",
]


def encode_name(internal_name: str) -> str:
    """An internal name as a command-line word: spaces become '%' (step names never contain '%')."""
    return internal_name.replace(" ", "%")


def internal_name(branch: str | None, name: str) -> str:
    """The internal name of step `name` of the graph `branch` (None: the top-level dag)."""
    return f"{branch}.{name}" if branch else name


def item_name(item: Any) -> str:
    """A map item's name in internal names: strings as they are, other JSON scalars as JSON."""
    return item if isinstance(item, str) else json.dumps(item)


# -- what a node contains ---------------------------------------------------------------------------


def branches(node: Node) -> list[BranchSpec]:
    """The branches `node` declares, in the order they run and are merged; [] for a leaf node."""
    return node.declared_branches()


def branch_at(node: Node, key: str, map_variable: dict[str, Any], step: str = "") -> tuple[str, BranchSpec]:
    """The branch of `node` (step `step`, for messages) that `key` names in an internal name, and the
    branch's resolved name.

    A named branch is found by its name. A branch run per item accepts the item's own name or PLACEHOLDER,
    and takes the item from `map_variable[spec.item_variable]`. Raises NotInDag saying what is wrong.
    """
    specs = branches(node)
    for spec in specs:
        if spec.name is not None and spec.name == key:
            return key, spec
    for spec in specs:
        if spec.per_item:
            variable = spec.item_variable or ""
            if variable not in map_variable:
                raise NotInDag(
                    f"{node.type} step '{step}' runs its branch per item: --map-variable must give "
                    f"'{variable}'",
                    field="map-variable",
                )
            item = item_name(map_variable[variable])
            if key not in (PLACEHOLDER, item):
                raise NotInDag(
                    f"the item '{key}' of {node.type} step '{step}' does not match --map-variable "
                    f"{variable}={item!r}",
                    field="map-variable",
                )
            return item, spec
    if not specs:
        raise NotInDag(f"'{step}' is a {node.type} node and has no branches")
    names = ", ".join(s.name for s in specs if s.name is not None)
    raise NotInDag(f"{node.type} step '{step}' has no branch '{key}' (branches: {names})")


# -- routing ------------------------------------------------------------------------------------------


def next_step(dag: Dag, name: str, succeeded: bool) -> str | None:
    """The step that runs after step `name` of `dag`; None after a terminal node.

    Raises KeyError if `dag` has no step `name` (a loaded pipeline's references are already checked).
    """
    node = dag.steps[name]
    if node.is_terminal:
        return None
    assert not isinstance(node, (SuccessNode, FailNode))
    if succeeded:
        return node.next
    return node.on_failure or dag.fail_node


def successors(dag: Dag, name: str) -> list[str]:
    """Both possible next steps of step `name` (on success, on failure); empty for a terminal node."""
    ok, failed = next_step(dag, name, True), next_step(dag, name, False)
    return [n for n in (ok, failed) if n is not None]


def reachable(dag: Dag) -> set[str]:
    """The steps a traversal from start_at can reach, whatever succeeds or fails."""
    seen: set[str] = set()
    stack = [dag.start_at]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(successors(dag, name))
    return seen


# -- every node, to any depth ------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One node met by `walk`.

    name: the step's name in its graph; internal_name: its dot path from the top-level dag.
    dag: the graph holding it; branch: that graph's internal name (None: the top-level dag).
    parents: internal names of the composite steps holding it, outermost first (() at top level).
    spec: the branch declaration of the graph holding it (None at top level).
    """

    name: str
    internal_name: str
    node: Node
    dag: Dag
    branch: str | None
    parents: tuple[str, ...]
    spec: BranchSpec | None = None
    # the internal names of the branches holding it, outermost first (set by `locate`; () at top level)
    branches: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.parents)


def walk(dag: Dag, *, item: str = PLACEHOLDER) -> Iterator[Visit]:
    """Every node of `dag` and of every branch in it, to any depth: depth first, each graph's steps in
    the order they are written, a composite's branches right after it. Branches run per item are named
    with `item` in their internal names (PLACEHOLDER, or e.g. '<item>' in messages)."""
    yield from _walk(dag, None, (), None, item)


def _walk(
    dag: Dag, branch: str | None, parents: tuple[str, ...], spec: BranchSpec | None, item: str
) -> Iterator[Visit]:
    for name, node in dag.steps.items():
        here = internal_name(branch, name)
        yield Visit(name, here, node, dag, branch, parents, spec)
        for sub in branches(node):
            key = item if sub.name is None else sub.name
            yield from _walk(sub.dag, f"{here}.{key}", (*parents, here), sub, item)


def nodes(dag: Dag) -> Iterator[Node]:
    """Every node of `dag` and of every branch in it, in `walk`'s order, without their names: for checks
    that look at each node and name one only when it is at fault (a Visit costs a few µs; at 10,000 steps
    that is tens of ms per pass)."""
    for node in dag.steps.values():
        yield node
        for spec in node.declared_branches():
            yield from nodes(spec.dag)


def graphs(dag: Dag, *, item: str = PLACEHOLDER) -> Iterator[tuple[str | None, Dag]]:
    """The top-level dag (named None) and every branch's graph with its internal name, depth first."""
    yield from _graphs(dag, None, item)


def _graphs(dag: Dag, name: str | None, item: str) -> Iterator[tuple[str | None, Dag]]:
    yield name, dag
    for step, node in dag.steps.items():
        for sub in branches(node):
            key = item if sub.name is None else sub.name
            yield from _graphs(sub.dag, f"{internal_name(name, step)}.{key}", item)


# -- finding a node by internal name -----------------------------------------------------------------


def _steps_hint(step: str, names: list[str]) -> str:
    """'; did you mean s1?' for close names (suggest.nearest), else the names, the first 20 and how many
    there are when cut, as `magnus logs` says them (trial 9: 20 of 1,004 names, with no sign of the rest)."""
    from magnus_core.suggest import nearest

    near = nearest(step, names)
    if near:
        return f"; did you mean {', '.join(near)}?"
    shown = ", ".join(names[:20]) + (f", ... ({len(names):,} steps in all)" if len(names) > 20 else "")
    return f" (steps: {shown})"


class NotInDag(LookupError):
    """An internal name that names no node of the dag; `field` is the option at fault."""

    def __init__(self, message: str, field: str = "step") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def locate(dag: Dag, name: str, map_variable: dict[str, Any] | None = None) -> Visit:
    """The node an internal name names, with branches run per item resolved from `map_variable`.

    `name` is a dot path ('par.branch a.a1'; 'map step.<PLACEHOLDER or item>.m1'; a branch named `1.5`:
    'choose.1.5.s'). The Visit's internal name has items filled in. Raises NotInDag naming the first part
    that does not fit.
    """
    map_variable = map_variable or {}
    parts = name.split(".")
    branch: str | None = None
    parents: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    spec: BranchSpec | None = None
    i = 0
    while True:
        step = parts[i]
        if step not in dag.steps:
            where = f" of branch '{branch}'" if branch else ""
            raise NotInDag(f"no step '{step}'{where}{_steps_hint(step, list(dag.steps))}")
        node = dag.steps[step]
        here = internal_name(branch, step)
        if i == len(parts) - 1:
            return Visit(step, here, node, dag, branch, parents, spec, chain)
        key, used = _key_at(node, parts, i + 1, map_variable)
        resolved, spec = branch_at(node, key, map_variable, here)
        if i + 1 + used >= len(parts):
            raise NotInDag(f"'{here}.{resolved}' is a branch, not a step (add the step's name)")
        dag, branch, parents = spec.dag, f"{here}.{resolved}", (*parents, here)
        chain = (*chain, branch)
        i += 1 + used


def _key_at(node: Node, parts: list[str], start: int, map_variable: dict[str, Any]) -> tuple[str, int]:
    """The branch key of `node` that begins at parts[start], and how many parts it spans: a branch's name
    or an item's may hold dots (a conditional's `1.5`, a map item 1.5), so the longest declared name (or
    item given in `map_variable`) that the parts spell wins; else the one part."""
    best = 1
    for spec in branches(node):
        if spec.name is not None:
            name = spec.name
        elif spec.item_variable in map_variable:
            name = item_name(map_variable[spec.item_variable])
        else:
            continue
        span = name.count(".") + 1
        if span > best and ".".join(parts[start : start + span]) == name:
            best = span
    return ".".join(parts[start : start + best]), best
