"""A run log kept in parts (run metadata, parameters, one part per step and per branch), put back together.

Stores that let many processes write one run at once keep each step log and branch log separately (the
chunked-fs store as files, the postgres store as rows), each with the name of what holds it and its creation
order. `assemble` builds the same RunLog the file-system store writes whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

if TYPE_CHECKING:  # (part_name and to_json need no model: a step run alone imports none, issue 19)
    from magnus_core.models.run_log import BranchLog, RunLog, StepLog

_MAX_NAME = 180


def part_name(name: str) -> str:
    """An exact, reversible file name for any internal name ('.' is escaped too, so no name is hidden),
    under file-name limits: a long name is cut and followed by its SHA1."""
    escaped = quote(name, safe="").replace(".", "%2E").replace("~", "%7E")
    if len(escaped) > _MAX_NAME:  # keep under file-name limits; the hash keeps it exact
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()
        escaped = f"{escaped[: _MAX_NAME - 42]}~{digest}"
    return f"{escaped}.json"


def name_of(file_name: str) -> str:
    """The internal name a part_name file stands for (not for a cut, hashed name)."""
    return unquote(file_name[: -len(".json")])


def to_json(value: Any) -> str:
    """JSON text as pydantic writes a run log (NaN and infinity become null, as in the file-system store)."""
    import pydantic_core

    return pydantic_core.to_json(value, inf_nan_mode="null").decode("utf-8")


def step_part(step_log: StepLog) -> dict[str, Any]:
    """A step log without its branches (they are parts of their own), as JSON-ready data."""
    return step_log.model_dump(mode="json", exclude={"branches"})


def assemble(
    meta: dict[str, Any],
    parameters: dict[str, Any],
    steps: Iterable[tuple[dict[str, Any], str | None]],
    branches: Iterable[tuple[dict[str, Any], str]],
) -> RunLog:
    """The run log from its parts, each given in creation order with the name of its holder.

    `meta` holds the run-level fields (no steps, no parameters); a step's holder is the branch it is in
    (None: the top-level dag), a branch's holder is its composite step. Parts whose holder is missing (a
    writer that died between two writes) are left out. Raises ValueError (pydantic's) or KeyError when a
    part is not a run-log part.

    Each part is made without the models' validators when it holds only what they would keep as it is
    (models.run_log.made_few: a process that runs one step reads a few and builds none, issue 19); any
    other part, and every part past the first few of a big read, is validated, so a bad part gets the
    models' error.
    """
    from magnus_core.models.run_log import BranchLog, RunLog, StepLog, made_few

    step_logs: dict[str, tuple[StepLog, str | None]] = {}
    for data, parent in steps:
        step = made_few(StepLog, data)
        if step is None:
            step = StepLog.model_validate(data)
        step_logs[step.internal_name] = (step, parent)
    branch_logs: dict[str, tuple[BranchLog, str]] = {}
    for data, parent in branches:
        branch = made_few(BranchLog, data)
        if branch is None:
            branch = BranchLog.model_validate(data)
        branch_logs[branch.internal_name] = (branch, parent)
    check_nesting(step_logs, branch_logs)
    for branch, parent in branch_logs.values():
        holder = step_logs.get(parent)
        if holder is not None:
            holder[0].branches[branch.internal_name] = branch
    top: dict[str, StepLog] = {}
    for step, holder_name in step_logs.values():
        if holder_name is None:
            top[step.internal_name] = step
        elif holder_name in branch_logs:
            branch_logs[holder_name][0].steps[step.internal_name] = step
    whole = {**meta, "steps": top, "parameters": parameters}
    log = made_few(RunLog, whole)
    return log if log is not None else RunLog.model_validate(whole)


# Steps inside branches inside steps...: a pipeline nests at most 20 composite steps (loading.MAX_NESTING);
# parts claiming deeper nesting (or a loop of holders) are refused, so reading never meets recursion limits.
MAX_STEP_NESTING = 32


def check_nesting(
    steps: dict[str, tuple[StepLog, str | None]], branches: dict[str, tuple[BranchLog, str]]
) -> None:
    """Every step's chain of holders (branch, step, branch, ...) ends at the top within MAX_STEP_NESTING
    steps; ValueError naming the step otherwise (the parts come from files or rows anyone may have edited)."""
    depth: dict[str, int] = {}
    for name in steps:
        chain: list[str] = []
        current: str | None = name
        while current is not None and current not in depth:
            chain.append(current)
            if len(chain) > MAX_STEP_NESTING:
                raise ValueError(
                    f"step '{name}' is nested more than {MAX_STEP_NESTING} levels deep "
                    "(or its parents form a loop)"
                )
            branch = steps[current][1]
            parent = branches[branch][1] if branch is not None and branch in branches else None
            # a top-level step, or one whose holder is not there (it is not shown): the chain ends
            current = parent if parent is not None and parent in steps else None
        level = depth.get(current, 0) if current is not None else 0
        for item in reversed(chain):
            level += 1
            depth[item] = level
            if level > MAX_STEP_NESTING:
                raise ValueError(f"step '{name}' is nested more than {MAX_STEP_NESTING} levels deep")


def walk_with_parents(log: RunLog) -> Iterator[tuple[StepLog | BranchLog, str | None]]:
    """Every step and branch log with the name of what holds it (branch for a step, step for a branch),
    in execution order: a holder always comes before what it holds."""

    def steps(container: dict[str, StepLog], parent: str | None) -> Iterator[tuple[Any, str | None]]:
        for step in container.values():
            yield step, parent
            for branch in step.branches.values():
                yield branch, step.internal_name
                yield from steps(branch.steps, branch.internal_name)

    yield from steps(log.steps, None)
