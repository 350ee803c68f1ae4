"""loop nodes: one branch run again and again (runnable's `loop`).

Iteration i runs the branch as `<step>.<i>` (one branch log each), from 0, with the iteration number given
to its steps as parameter `index_as` (a python function binds it by name, a shell step reads
`MAGNUS_PRM_<index_as>`; it travels as a map variable, like a map's item, so the per-step entry point takes
it from `--map-variable`). Iteration 0 starts from the loop's parameters, each later one from those the
iteration before ended with; the last iteration's parameters are what the loop returns to the steps after
it. After each iteration (the end of a round: `next_round`):
  - the iteration failed                            -> the loop fails (no more iterations)
  - parameter `break_on` is true                    -> the loop succeeds
  - `break_on` is set to anything but true or false  -> the loop fails, naming the value (the iteration is
                                                       recorded FAIL, so a re-run runs it again)
  - `max_iterations` have run                       -> the loop succeeds
  - else                                            -> the next iteration runs
So at least one iteration runs, even if `break_on` is already true (the check comes after).

`outputs` reports `break` (the break parameter is true) and `iterations` (how many ran): the Argo renderer's
recursive template runs the next iteration `when` break is false and iterations are below max_iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magnus_core.errors import StepError
from magnus_core.models.pipeline import LoopNode
from magnus_core.models.run_log import SUCCESS, StepLog
from magnus_core.nodes import composite
from magnus_core.nodes.composite import Branch, execute, fan_in, fan_out

__all__ = [
    "branches_of",
    "branches_ran",
    "execute",
    "fan_in",
    "fan_out",
    "iteration",
    "merged_changes",
    "next_round",
    "outputs",
]


def iteration(
    node: LoopNode,
    internal_name: str,
    map_variable: dict[str, Any],
    number: int,
    parameters: dict[str, Any] | None = None,
) -> Branch:
    """Iteration `number` as a branch to run: `<step>.<number>`, `index_as` set to the number."""
    return Branch(
        f"{internal_name}.{number}", node.branch, {**map_variable, node.index_as: number}, None, parameters
    )


def branches_of(
    node: LoopNode,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """The first round: iteration 0, from the loop's own parameters (iterations are named by their number,
    nothing `mask` would hide)."""
    return [iteration(node, internal_name, map_variable, 0)]


def branches_ran(
    node: LoopNode,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    step: StepLog,
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """At a per-step fan-in: iterations 0 to the one that just ended, which the engine names in the map
    variable (`index_as`: the fan-in runs after that iteration); without it, every iteration logged."""
    ended = map_variable.get(node.index_as)
    if isinstance(ended, int) and not isinstance(ended, bool) and ended >= 0:
        count = ended + 1
    else:
        prefix = f"{internal_name}."
        numbers = [name[len(prefix) :] for name in step.branches if name.startswith(prefix)]
        count = max((int(n) + 1 for n in numbers if n.isdigit()), default=1)
    return [iteration(node, internal_name, map_variable, i) for i in range(count)]


def broke(node: LoopNode, params: dict[str, Any], number: int) -> bool:
    """Did iteration `number`, ending with `params`, set `break_on` true? Not set yet: no. Raises
    StepError when it holds anything but true or false."""
    if node.break_on not in params:
        return False
    value = params[node.break_on]
    if not isinstance(value, bool):
        raise StepError(
            f"field 'break_on': parameter '{node.break_on}' must be true or false, and iteration {number} "
            f"left it {value!r} (a {type(value).__name__})"
        )
    return value


def next_round(
    node: LoopNode,
    internal_name: str,
    ran: list[Branch],
    statuses: dict[str, str],
    results: list[dict[str, Any]],
    map_variable: dict[str, Any],
) -> list[Branch]:
    """The next iteration, from the parameters the last one ended with; [] when the loop is decided (the
    last iteration failed, set break_on true, or was number max_iterations - 1)."""
    if not ran or statuses.get(ran[-1].internal_name) != SUCCESS:
        return []
    if broke(node, results[-1], len(ran) - 1) or len(ran) >= node.max_iterations:
        return []
    return [iteration(node, internal_name, map_variable, len(ran), dict(results[-1]))]


def merged_changes(before: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the loop changed: the last iteration's parameters (each iteration started from the one before)
    against the loop's own."""
    return composite.merged_changes(before, results[-1:])


def outputs(node: LoopNode, ran: list[Branch], results: list[dict[str, Any]]) -> dict[str, Any]:
    """`break`: the last iteration left break_on true; `iterations`: how many iterations have run."""
    return {"break": bool(results) and results[-1].get(node.break_on) is True, "iterations": len(ran)}
