"""conditional nodes: exactly one branch runs, chosen by a parameter's value (runnable's `conditional`).

The value of parameter `parameter` is compared with each key of `branches` as text: a string as itself;
a number, boolean or null as its JSON text (`1`, `1.5`, `true`, `null`). The branch of the key that matches
runs, as `<step>.<key>`; with no match, `default` runs (as `<step>.default`), and without a default the step
fails naming the parameter and its value. A list or mapping, or a parameter that is not set, fails the step
the same way: the choice is made at fan-out, before any branch runs.

Everything else is a composite's (nodes/composite.py): one round, the branch's parameter changes merged
into the step's scope at its fan-in. `outputs` reports the chosen branch's position among the declared
ones (`branch`), which the Argo renderer compares in each branch task's `when`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magnus_core import jsonio as json
from magnus_core.errors import StepError
from magnus_core.graph import branches
from magnus_core.models.pipeline import DEFAULT_BRANCH, ConditionalNode
from magnus_core.models.run_log import StepLog
from magnus_core.nodes.composite import Branch, execute, fan_in, fan_out, merged_changes, next_round

__all__ = [
    "branches_of",
    "branches_ran",
    "chosen_key",
    "execute",
    "fan_in",
    "fan_out",
    "merged_changes",
    "next_round",
    "outputs",
    "value_text",
]


def value_text(value: Any) -> str:
    """A parameter's value as a conditional compares it: a string as itself; a number, boolean or null as
    its JSON text. Raises StepError for a list or mapping (no key can name one)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    kind = (
        "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, dict)
        else type(value).__name__
    )
    raise StepError(f"is {kind}; a conditional compares a string, number, boolean or null with its keys")


def chosen_key(node: ConditionalNode, params: dict[str, Any]) -> str:
    """The branch that runs for these parameters: the key matching the parameter's value, else 'default'.
    Raises StepError naming the parameter (and its value) when it is not set, is a list or mapping, or
    matches no key and there is no default."""
    if node.parameter not in params:
        known = ", ".join(sorted(params)[:20]) or "none"
        raise StepError(f"field 'parameter': parameter '{node.parameter}' is not set (known: {known})")
    try:
        text = value_text(params[node.parameter])
    except StepError as exc:
        raise StepError(f"field 'parameter': parameter '{node.parameter}' {exc}") from None
    if text in node.branches:
        return text
    if node.default is not None:
        return DEFAULT_BRANCH
    keys = ", ".join(repr(k) for k in list(node.branches)[:20])
    raise StepError(
        f"field 'branches': no branch for parameter '{node.parameter}' = {text!r} (keys: {keys}) and no "
        "default"
    )


def branches_of(
    node: ConditionalNode,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """The one branch that runs (chosen_key), as `<step>.<key>`. Inside a map or loop, its item or index
    is a parameter here as it is for the steps. A key that `mask` changes (it is a secret's value) would
    name a branch the run log records as '*****': refused (StepError)."""
    key = chosen_key(node, {**params, **map_variable})
    if mask is not None and mask(key) != key:
        raise StepError(
            f"field 'branches': parameter '{node.parameter}' holds a secret value that is also a key, and a "
            "branch named after a secret would be recorded masked: choose by a value that is not a secret"
        )
    spec = next(s for s in branches(node) if s.name == key)
    return [Branch(f"{internal_name}.{key}", spec.dag, dict(map_variable), key)]


def branches_ran(
    node: ConditionalNode,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    step: StepLog,
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """At a per-step fan-in: the branch its fan-out logged (not chosen again)."""
    logged = {name[len(internal_name) + 1 :] for name in step.branches}
    return [
        Branch(f"{internal_name}.{spec.name}", spec.dag, dict(map_variable), spec.name)
        for spec in branches(node)
        if spec.name in logged
    ] or branches_of(node, internal_name, params, map_variable, mask)


def outputs(node: ConditionalNode, ran: list[Branch], results: list[dict[str, Any]]) -> dict[str, Any]:
    """`branch`: the position of the branch that runs among the declared ones (keys in order, then
    default); -1 when none does (the fan-out failed)."""
    names = [spec.name for spec in branches(node)]
    return {"branch": names.index(ran[0].key) if ran else -1}
