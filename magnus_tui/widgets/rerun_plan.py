"""A re-run's plan in the form that starts it: the plan the CLI prints (rerun.format_plan, from
rerun.plan_rerun), and what changed since the original (dag, code, catalog files, stale reused steps)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


def plan_text(plan: Any, warnings: list[str], not_compared: str = "") -> Text:
    """The plan's lines, reused steps in blue, steps to run in yellow, a reused step whose parameters
    differ flagged in red; then each warning. `not_compared`: why the code could not be compared
    (rerun.code_not_compared), said instead of "same code"."""
    from magnus_core.rerun import format_plan

    lines = format_plan(plan)
    text = Text()
    text.append(lines[0] + "\n", style="bold")
    for line in lines[1:]:
        body = line.strip()
        colour = "red" if "! " in line else "blue" if body.startswith("reuse") else "yellow"
        text.append(line + "\n", style=colour)
    for warning in warnings:
        text.append(f"! {warning}\n", style="red")
    if not warnings and not_compared:
        text.append("Same dag as the original. ", style="green")
        text.append(f"The code cannot be compared ({not_compared}): an edit is not seen.\n", style="yellow")
    elif not warnings:
        text.append("Nothing changed since the original: same dag, same code.\n", style="green")
    return text


class RerunPlan(Static):
    """The plan of the re-run the form would start; `show(plan, warnings)` or `waiting(message)`."""

    DEFAULT_CSS = """
    RerunPlan { height: auto; margin-top: 1; padding: 0 1; border-left: thick $accent; }
    """

    def show(self, plan: Any, warnings: list[str], not_compared: str = "") -> None:
        self.update(plan_text(plan, warnings, not_compared))

    def waiting(self, message: str) -> None:
        self.update(Text(message, style="dim"))
