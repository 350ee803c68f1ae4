"""The dag's structure in one place (pure, no I/O): where a run goes after each step.

The rule comes from the original's spec: after a step succeeds, its `next`; after it fails, its
`on_failure` if set, else the dag's fail node. Terminal nodes (success, fail) have no next step.
"""

from __future__ import annotations

from magnus_core.models.pipeline import Dag, FailNode, SuccessNode


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
