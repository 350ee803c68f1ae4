"""What one step printed in two runs, compared: `magnus diff A B --output STEP` and the workbench diff
screen's `o` (trial 4: the diff's "step logs" were run-log records, and no view put two runs' output side
by side).

    a, b = step_output(run_a, "train", runs=store.get_run), step_output(run_b, "train", runs=...)
    unified(a, b)          # `--- A/train (attempt 1)` / `+++ B/train (attempt 0)` / `@@ ... @@` lines
    line_pairs(a, b)       # [(kind, left, right)]: the outputs aligned line by line (side by side)

A step's output is its **last attempt's** (the one that decided the step), read through magnus_core.logs
from the catalog the run used, as `magnus logs` reads it (masked when it was captured). A step a re-run
reused shows the output of the run it came from. A step with nothing to show (it printed nothing, the
catalog keeps no output, the run log predates capture) compares as no lines, and `problem` says why.

A composite step (parallel, map, nested dag, ...) prints nothing itself: naming one compares the steps
inside it, as `magnus logs RUN par` shows them (logs.step_sections): each step's output under a line
`── par.b1.p1` (`── par.b2.p2: the step printed nothing` when it has none), so the two runs' steps line up
(trial 7: `--output par` on a parallel that ran said "the step has no attempt (it did not run)").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from magnus_core.logs import OutputReader

from magnus_core.errors import UsageError
from magnus_core.models.run_log import RunLog, StepLog

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only-a", "only-b"


@dataclass
class StepOutput:
    """One run's output of one step: its `lines` (text, no line ends), the attempt they come from (None:
    no attempt), `problem` when there is nothing to show, and the run it was reused from."""

    run_id: str
    step: str
    lines: list[str] = field(default_factory=list)
    attempt: int | None = None
    problem: str = ""
    reused_from: str = ""
    steps: list[str] = field(default_factory=list)  # a composite step's: the steps inside it, compared

    @property
    def label(self) -> str:
        """`RUN/step (attempt N)`: a unified diff's file name."""
        attempt = "" if self.attempt is None else f" (attempt {self.attempt})"
        return f"{self.run_id}/{self.step}{attempt}"

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "attempt": self.attempt,
            "problem": self.problem,
            "reused_from": self.reused_from,
            "steps": self.steps,
            "lines": self.lines,
        }


def step_output(
    run_log: RunLog, step: str, *, runs: Callable[[str], RunLog] | None = None, side: str = "A"
) -> StepOutput:
    """What `step` (an internal name, `%` for a space as `magnus logs` takes it) printed in its last
    attempt in `run_log`. UsageError (exit 2) naming the steps the run has when it has no such step.
    `runs` reads another run (a re-run's original); `side` names the run in that error (A or B)."""
    from magnus_core.logs import OutputReader, known_steps, step_sections
    from magnus_core.suggest import nearest

    name = step.replace("%", " ")
    found = run_log.find_step(name)
    if found is None:
        names = known_steps(run_log)
        near = nearest(name, names, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else f"; its steps: {', '.join(names[:12])}"
        raise UsageError(f"--output {step!r}: run {side} ({run_log.run_id}) has no step {name!r}{hint}")
    reader = OutputReader(run_log, runs=runs)
    if found.branches:  # a composite: the steps inside it, each under its name
        out = StepOutput(run_log.run_id, name)
        for inner in step_sections(run_log, name):
            if inner is found:
                continue
            one = _one_step(reader, inner, run_log.run_id)
            out.steps.append(inner.internal_name)
            out.lines.append(f"{HEADING} {inner.internal_name}" + (f": {one.problem}" if one.problem else ""))
            out.lines.extend(one.lines)
        if not out.steps:
            out.problem = "no step inside it ran"
        return out
    return _one_step(reader, found, run_log.run_id)


HEADING = "──"  # the line that opens each inner step's output when a composite step is compared


def _one_step(reader: OutputReader, found: StepLog, run_id: str) -> StepOutput:
    """One step's (not a composite's) last attempt's output, as step_output describes."""
    from magnus_core.logs import decode

    out = StepOutput(run_id, found.internal_name)
    views = reader.views(found)
    if not views:
        out.problem = "the step has no attempt (it did not run)"
        return out
    view = views[-1]
    out.attempt, out.reused_from = view.attempt_number, view.reused_from
    if not view.has_output:
        out.problem = view.problem or "the step printed nothing"
        return out
    try:
        out.lines = decode(view.read()).splitlines()
    except Exception as exc:  # a catalog that fails now: said, not raised (the other side still shows)
        out.problem = f"output cannot be read: {exc}"
    return out


def unified(a: StepOutput, b: StepOutput, *, context: int = 3) -> list[str]:
    """The unified diff of the two outputs (as `diff -u`), without line ends; [] when they are the same."""
    return list(
        difflib.unified_diff(a.lines, b.lines, fromfile=a.label, tofile=b.label, lineterm="", n=context)
    )


def line_pairs(a: StepOutput, b: StepOutput) -> list[tuple[str, str | None, str | None]]:
    """The two outputs aligned for a side-by-side view: (kind, left, right) per row, a line only one
    side has facing None; lines replaced are paired in order (CHANGED), the rest of the longer block
    faces a gap."""
    rows: list[tuple[str, str | None, str | None]] = []
    matcher = difflib.SequenceMatcher(a=a.lines, b=b.lines, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend((SAME, line, line) for line in a.lines[i1:i2])
            continue
        left, right = a.lines[i1:i2], b.lines[j1:j2]
        paired = min(len(left), len(right))
        rows.extend((CHANGED, left[i], right[i]) for i in range(paired))
        rows.extend((ONLY_A, line, None) for line in left[paired:])
        rows.extend((ONLY_B, None, line) for line in right[paired:])
    return rows
