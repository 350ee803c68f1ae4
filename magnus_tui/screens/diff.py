"""The diff screen: two runs compared group by group (run, dag, code, data, parameters, metrics, steps).

Each tab lists the rows `magnus diff` prints (one render model, magnus_core.diff_render); run A is the
older run unless the user swaps them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static, TabbedContent, TabPane

from magnus_core.diff import GROUPS
from magnus_core.errors import MagnusError
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen
from magnus_tui.view import glyph, style
from magnus_tui.widgets.diff_group import DiffList
from magnus_tui.widgets.header import Header


def _short_time(text: str) -> str:
    from magnus_tui.screens.runs import short_start

    return short_start(text) if text else "time unknown"


class DiffScreen(WorkbenchScreen[None]):
    """Run A (before) against run B (after), group by group: what changed, with counts.

    `a` shows equal items too; Enter opens a change in full (on the steps tab: the step's two logs; on the
    code tab: what changed in the code, code_patch.code_change).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Short labels, as lazygit's, so that every key but Copy fits the footer at 80 columns (`o` did
        # not); F1 lists each with its tooltip, the longer text (dialogs/help.py)
        Binding("escape", "back", "Back"),
        Binding("a", "toggle_all", "All", tooltip="All items or changed only"),
        Binding("v", "view", "Open", tooltip="Open the change in full"),
        Binding("s", "open_step", "Records", key_display="s", tooltip="Step records side by side"),
        Binding("x", "swap", "Swap", tooltip="Swap runs A and B"),
        Binding("o", "open_output", "Output", tooltip="Step output side by side"),
        Binding("c", "copy", "Copy", show=False),  # F1 lists it; the footer keeps F1 at 80 columns
        # priority: before the focused list's own ←/→ (it never scrolls sideways: long values wrap)
        Binding("left,h", "tab(-1)", "Previous tab", show=False, priority=True),
        Binding("right,l", "tab(1)", "Next tab", show=False, priority=True),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Show all or changed only", "Include items that are equal in both runs (a)", "toggle_all"),
        (
            "Open the change in full",
            "Both values whole: hashes, long text, a step's YAML; on the code tab the code's diff (v)",
            "view",
        ),
        (
            "Compare step records",
            "The highlighted change's step as each run log records it, side by side (s)",
            "open_step",
        ),
        (
            "Compare step output",
            "What the highlighted change's step printed in each run, side by side (o)",
            "open_output",
        ),
        ("Swap runs", "Make run B the 'before' side (x)", "swap"),
        ("Copy value", "Copy the highlighted change (c)", "copy"),
        ("Back", "Leave the diff (escape)", "back"),
    ]
    DEFAULT_CSS = """
    DiffScreen #diff-summary { height: auto; max-height: 5; padding: 0 1; background: $boost; }
    DiffScreen TabbedContent { height: 1fr; }
    DiffScreen TabPane { padding: 0; }
    DiffScreen .empty { padding: 1 2; color: $text-muted; }
    """

    def __init__(self, run_a: str, run_b: str, *, keep_order: bool = False) -> None:
        super().__init__()
        self.run_a, self.run_b = run_a, run_b
        self.keep_order = keep_order  # True once the user swapped: A/B as asked, not by time
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
                    yield DiffList(name, id=f"group-{name}")
                    yield Static("", id=f"empty-{name}", classes="empty")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._subtitle()
        self.compute()

    def _subtitle(self) -> None:
        self.sub_title = f"{self.run_a} → {self.run_b}"

    @work(thread=True, exclusive=True, group="diff")
    def compute(self) -> None:
        """Reading two logs and asking git about commits may take a moment: off the UI thread."""
        from magnus_core.diff import compare, oldest_first

        project = self.app.project
        try:
            a, b = project.get_run(self.run_a), project.get_run(self.run_b)
            if not self.keep_order and not oldest_first(a, b):
                a, b = b, a
            result = compare(a, b, repo=str(project.root), a_source=a.run_id, b_source=b.run_id)
        except MagnusError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show, result, (a, b))

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#diff-summary", Static).update(Text(f"Cannot compare: {message}", style="red"))

    def show(self, diff: Any, logs: tuple[Any, Any]) -> None:
        from magnus_core.diff_render import diff_rows

        first = self.diff is None
        self.diff, self.logs = diff, logs
        self.run_a, self.run_b = diff.a.run_id, diff.b.run_id
        self._subtitle()
        self._draw_summary()
        tabs = self.query_one(TabbedContent)
        skipped = {s.group for s in diff.skipped}
        for name in GROUPS:
            group = diff.groups[name]
            rows = diff_rows(group, show_all=self.include_equal)
            listing = self.query_one(f"#group-{name}", DiffList)
            listing.show(rows)
            listing.display = bool(rows)
            empty = self.query_one(f"#empty-{name}", Static)
            empty.display = not rows
            empty.update(self._empty_text(group, name in skipped))
            tabs.get_tab(f"tab-{name}").label = f"{name} {group.count}" if group.count else name
        if first:
            changed = next((n for n in GROUPS if diff.groups[n].count), None)
            if changed is not None:
                tabs.active = f"tab-{changed}"
            self._focus_list()

    def _empty_text(self, group: Any, skipped: bool) -> Text:
        equal = len(group.changes) - len(group.changed)
        if skipped and not group.changes:
            return Text(f"{group.name}: not compared (see the lines above)")
        text = Text(f"{group.name}: no differences")
        if equal and not self.include_equal:
            text.append(f"  ({equal} equal item{'s' if equal != 1 else ''}: a shows them)", style="dim")
        return text

    def summary(self, width: int | None = None) -> Text:
        """A and B (status, id, start), the count of differences and the keys; at `width` columns nothing
        wraps in the middle of an id or a time: B goes on a line of its own under A, and the list of groups
        that differ (the tabs count them too) is left out of a line it would overflow (trial 3: B's start
        wrapped onto a line alone at 80 columns)."""
        from magnus_core.diff import started
        from magnus_core.diff_render import printed_differently

        diff = self.diff
        assert self.logs is not None
        sides = []
        for label, ref, log in (("A", diff.a, self.logs[0]), ("B", diff.b, self.logs[1])):
            side = Text()
            side.append(f"{label} ", style="bold")
            now = ref.state or ref.status  # (a run whose process died: INTERRUPTED, not running)
            side.append(f"{glyph(now)} {ref.run_id}", style=style(now) or None)
            side.append(" ")
            side.append(_short_time(started(log)), style="dim")
            sides.append(side)
        arrow = Text.assemble("  ", ("→", "dim"), "  ")
        one_line = sides[0].cell_len + arrow.cell_len + sides[1].cell_len
        text = Text.assemble(sides[0], arrow if width is None or one_line <= width else "\n", sides[1])
        order = "A/B as swapped (x)" if self.keep_order else "A older (x swaps)"
        shown = "all items" if self.include_equal else "changed only"
        keys = Text(f" · {shown} (a) · {order}", style="dim")
        if diff.differs:
            count = Text(f"{diff.count} difference{'s' if diff.count != 1 else ''}", style="yellow")
            groups = Text(f" ({', '.join(g.name for g in diff.groups.values() if g.differs)})", style="dim")
            if width is not None and count.cell_len + groups.cell_len + keys.cell_len > width:
                groups = Text()
            text.append("\n")
            text.append_text(Text.assemble(count, groups, keys))
        else:
            text.append("\nno differences", style="green")
            text.append_text(keys)
        for skip in diff.skipped:
            text.append(f"\nnot compared ({skip.group}): {skip.reason}", style="dim")
        printed = printed_differently(diff)
        if printed:  # as `magnus diff` says it (diff_render.output_line), with this screen's key to see one;
            # last: information, the first line the box (5 lines at most) leaves out
            see = "see one: o on its row in steps (a lists every step)"
            text.append(f"\noutput: {printed}, not counted as a difference; {see}", style="cyan")
        return text

    def _draw_summary(self) -> None:
        if self.diff is not None and self.logs is not None:
            box = self.query_one("#diff-summary", Static)
            box.update(self.summary(box.content_region.width or None))

    def on_resize(self, event: events.Resize) -> None:
        """(Textual runs WorkbenchScreen.on_resize too: every class's handler in turn.)"""
        self.call_after_refresh(self._draw_summary)  # what fits on a line changed

    # -- actions -------------------------------------------------------------------------------------
    def _list(self) -> DiffList:
        active = self.query_one(TabbedContent).active
        return self.query_one(f"#group-{active.removeprefix('tab-')}", DiffList)

    def _focus_list(self) -> None:
        listing = self._list()
        if listing.display:
            listing.focus()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self) -> None:
        self._focus_list()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        names = [f"tab-{n}" for n in GROUPS]
        tabs.active = names[(names.index(tabs.active) + step) % len(names)]

    def action_toggle_all(self) -> None:
        self.include_equal = not self.include_equal
        if self.diff is not None:
            self.show(self.diff, self.logs)  # type: ignore[arg-type]

    def action_swap(self) -> None:
        self.run_a, self.run_b = self.run_b, self.run_a
        self.keep_order = True
        self._subtitle()
        self.compute()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        change = self._list().highlighted_change()
        if change is not None and change.step and self._list().group == "steps":
            self.action_open_step()
        else:
            self.action_view()

    def action_view(self) -> None:
        change = self._list().highlighted_change()
        if change is None:
            return
        if self._list().group == "code" and self.logs is not None:
            from magnus_tui.dialogs.code_change import CodeChangeView  # what changed, as content

            self.app.push_screen(CodeChangeView(*self.logs, str(self.app.project.root)))
            return
        from magnus_tui.dialogs.value import ValueView

        self.app.push_screen(ValueView(change, self.run_a, self.run_b))

    def action_open_step(self) -> None:
        """The highlighted change's step as each run log records it, side by side."""
        from magnus_tui.screens.step_pair import StepPairScreen

        self._open_pair(StepPairScreen)

    def action_open_output(self) -> None:
        """What the highlighted change's step printed in A and in B, aligned line by line (its last
        attempt each: `magnus diff A B --output STEP`)."""
        from magnus_tui.screens.step_pair import StepOutputPairScreen

        self._open_pair(StepOutputPairScreen)

    def _open_pair(self, screen: Any) -> None:
        change = self._list().highlighted_change()
        if change is None or self.logs is None:
            return
        if not change.step:
            self.notify("This change belongs to no step: move to a step's row.", severity="warning")
            return
        a, b = self.logs
        self.app.push_screen(screen(change.step, a, b))

    def action_copy(self) -> None:
        from magnus_core.diff_render import full_text

        change = self._list().highlighted_change()
        if change is not None:
            self.app.copy(f"{change.key}: {full_text(change.before)} -> {full_text(change.after)}", "change")

    def action_back(self) -> None:
        self.app.pop_screen()
