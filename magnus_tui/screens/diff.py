"""The diff screen: two runs compared group by group (run, dag, code, data, parameters, metrics, steps)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from magnus_core.errors import MagnusError
from magnus_tui.screens.base import WorkbenchScreen
from magnus_tui.view import glyph, style
from magnus_tui.widgets.diff_group import DiffGroupTable

GROUPS = ("run", "dag", "code", "data", "parameters", "metrics", "steps")


class DiffScreen(WorkbenchScreen[None]):
    """Run A against run B: changed items by group with counts.

    `a` shows equal items too; Enter on a step compares its two logs.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("a", "toggle_all", "All/changed"),
        Binding("enter", "open_step", "Step logs", show=False),
        Binding("x", "swap", "Swap A/B"),
        Binding("c", "copy", "Copy"),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Show all or changed only", "Include items that are equal in both runs (a)", "toggle_all"),
        ("Compare step logs", "The highlighted step's two logs side by side (Enter)", "open_step"),
        ("Swap runs", "Make run B the 'before' side (x)", "swap"),
        ("Copy value", "Copy the highlighted item (c)", "copy"),
        ("Back", "Leave the diff (escape)", "back"),
    ]
    DEFAULT_CSS = """
    DiffScreen #diff-summary { height: auto; max-height: 4; padding: 0 1; background: $boost; }
    DiffScreen TabbedContent { height: 1fr; }
    """

    def __init__(self, run_a: str, run_b: str) -> None:
        super().__init__()
        self.run_a, self.run_b = run_a, run_b
        self.diff: Any = None
        self.logs: tuple[Any, Any] | None = None
        self.include_equal = False
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Comparing…", id="diff-summary")
        with TabbedContent(id="groups"):
            for name in GROUPS:
                with TabPane(name, id=f"tab-{name}"):
                    yield DiffGroupTable(name, id=f"group-{name}")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.run_a} → {self.run_b}"
        self.compute()

    @work(thread=True, exclusive=True, group="diff")
    def compute(self) -> None:
        """Reading two logs and asking git about commits may take a moment: off the UI thread."""
        from magnus_core.diff import compare

        project = self.app.project
        try:
            a, b = project.get_run(self.run_a), project.get_run(self.run_b)
            result = compare(a, b, repo=str(project.root), a_source=self.run_a, b_source=self.run_b)
        except MagnusError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show, result, (a, b))

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#diff-summary", Static).update(Text(f"Cannot compare: {message}", style="red"))

    def show(self, diff: Any, logs: tuple[Any, Any]) -> None:
        self.diff, self.logs = diff, logs
        self.query_one("#diff-summary", Static).update(self.summary())
        tabs = self.query_one(TabbedContent)
        first_changed = None
        for name in GROUPS:
            group = diff.groups.get(name)
            changes = group.changes if group is not None else []
            count = group.count if group is not None else 0
            self.query_one(f"#group-{name}", DiffGroupTable).show(changes, self.include_equal)
            tabs.get_tab(f"tab-{name}").label = f"{name} {count}" if count else name
            if count and first_changed is None:
                first_changed = name
        if first_changed and tabs.active == "tab-run" and not diff.groups["run"].count:
            tabs.active = f"tab-{first_changed}"

    def summary(self) -> Text:
        diff = self.diff
        text = Text()
        for label, ref in (("A", diff.a), ("B", diff.b)):
            text.append(f"{label} ", style="bold")
            text.append(f"{glyph(ref.status)} {ref.run_id}", style=style(ref.status) or None)
            text.append("   ")
        text.append(
            f"\n{diff.count} difference{'s' if diff.count != 1 else ''}"
            if diff.differs
            else "\nno differences",
            style="yellow" if diff.differs else "green",
        )
        text.append(
            f"  showing {'all items' if self.include_equal else 'changed items only'} (a)", style="dim"
        )
        for skip in diff.skipped:
            text.append(f"\nnot compared: {skip.reason}", style="dim")
        return text

    # -- actions -------------------------------------------------------------------------------------
    def _table(self) -> DiffGroupTable:
        active = self.query_one(TabbedContent).active
        return self.query_one(f"#group-{active.removeprefix('tab-')}", DiffGroupTable)

    def action_toggle_all(self) -> None:
        self.include_equal = not self.include_equal
        if self.diff is not None:
            self.show(self.diff, self.logs)  # type: ignore[arg-type]

    def action_swap(self) -> None:
        self.run_a, self.run_b = self.run_b, self.run_a
        self.sub_title = f"{self.run_a} → {self.run_b}"
        self.compute()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_open_step()

    def action_open_step(self) -> None:
        change = self._table().highlighted_change()
        if change is None or not change.step or self.logs is None:
            return
        from magnus_tui.screens.step_pair import StepPairScreen

        a, b = self.logs
        self.app.push_screen(StepPairScreen(change.step, a, b))

    def action_copy(self) -> None:
        change = self._table().highlighted_change()
        if change is not None:
            self.app.copy(f"{change.key}: {change.before!r} -> {change.after!r}", "change")

    def action_back(self) -> None:
        self.app.pop_screen()
