"""The dag as a tree: steps, branches and map items nested by internal name, each with status and time.

A line-based scroll view (only the visible lines are drawn), so a 10,000-step run opens as fast as a
10-step one; `update_rows(keys)` redraws only those rows, inserts new ones under their parent and keeps
the cursor on the row it was on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from magnus_tui.view import BRANCH, Row, RunView, fmt_duration, type_label
from magnus_tui.widgets.keys import KeysInOrder


def row_label(row: Row, now: datetime | None = None, live: bool = True) -> Text:
    """Glyph, name, type, and time, e.g. '✓ train [task]  1.204s ×2'; a running step's time since its
    attempt began ('▶ train  running 12.3s', at `now`); a planned step dimmed ('not run' once the run is
    over); the step a fatal signal hit, and its branch, `■ crashy  crashed`."""
    text = Text(no_wrap=True)
    if row.planned:
        text.append(f"{row.glyph} {row.name}", style="dim")
        if row.kind != BRANCH and row.step_type not in ("task", "as-is", "success", "fail", ""):
            text.append(f" [{row.step_type}]", style="dim")
        if not live:
            text.append("  not run", style="dim italic")
        if row.edge_note:
            text.append(f"  {row.edge_note}", style="dim")
        return text
    text.append(row.glyph, style=row.style or None)
    text.append(" ")
    text.append(row.name, style="italic" if row.kind == BRANCH else None)
    if row.kind != BRANCH and row.step_type not in ("task", "success", "fail", ""):
        text.append(f" [{type_label(row.step_type)}]", style="dim")
    if row.mock:
        text.append(" cached", style="blue")
    if row.running_since is not None:
        seconds = (now - row.running_since).total_seconds() if now is not None else None
        shown = f"  running {fmt_duration(max(0.0, seconds))}" if seconds is not None else "  running"
        text.append(shown, style="yellow")
        if row.running_attempt:
            text.append(f" (attempt {row.running_attempt + 1})", style="yellow")
    elif row.status in ("PROCESSING", "RUNNING"):  # (a composite: its ended branches' end is not its own)
        text.append("  running", style="yellow")
    elif row.duration is not None:
        text.append(f"  {fmt_duration(row.duration)}", style="dim")
    if (
        row.crashed
    ):  # the step a fatal signal hit, and its branch: not the branches it took down (trial 16 F2)
        # (the word only: the reason and where are on its Output and Step tabs; the pane stays as wide)
        text.append("  crashed", style="bold red")
    if row.attempts > 1:
        text.append(f"  ×{row.attempts}", style="yellow")
    if row.edge_note:  # why a step off the success path ran, where a failure goes (trial 8, finding 7)
        text.append(f"  {row.edge_note}", style="dim red" if row.failure_of and not row.planned else "dim")
    return text


class DagTree(KeysInOrder, ScrollView, can_focus=True):
    """Rows of a RunView in dag order with tree guides; arrows/mouse move the cursor. `find(text)` finds
    steps by name as a pager's search does (the rows whose internal name holds `text`, any case, marked;
    the cursor on the first from where the search began; `next_match` moves among them), the border's
    title says `/text 3/111`. Keys act in the order typed (KeysInOrder: `/s1500` typed at once)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First line", show=False),
        Binding("end,G", "jump(-1)", "Last line", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"dag-tree--cursor", "dag-tree--guides", "dag-tree--match"}
    DEFAULT_CSS = """
    DagTree { width: 1fr; min-width: 30; height: 1fr; border: round $primary 40%; }
    DagTree:focus { border: round $accent; }
    DagTree > .dag-tree--cursor { background: $accent 30%; }
    DagTree:focus > .dag-tree--cursor { background: $accent 50%; text-style: bold; }
    DagTree > .dag-tree--guides { color: $text-muted; }
    DagTree > .dag-tree--match { text-style: reverse; }
    """

    cursor_line: reactive[int] = reactive(0, always_update=False, init=False)

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, tree: DagTree, key: str) -> None:
            super().__init__()
            self.tree = tree
            self.key = key

        @property
        def control(self) -> DagTree:
            return self.tree

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = RunView(run_id="")
        self.lines: list[str] = []  # keys in display order
        self.depth: dict[str, int] = {}
        self.position: dict[str, int] = {}
        self._cache: dict[str, Text] = {}
        self._width = 0
        self.now: datetime | None = None  # the time running steps' elapsed time is shown at (tick)
        self.find_text = ""  # what `find` looks for ("" none): lower case
        self._found: list[int] | None = None  # the lines whose key holds it (None: to work out again)

    # -- the rows ------------------------------------------------------------------------------------
    @property
    def nodes_by_key(self) -> dict[str, int]:
        """Every row shown, by key (its line number)."""
        return self.position

    def build(self, view: RunView) -> None:
        self.view = view
        self.lines, self.depth, self._cache = [], {}, {}
        for row, depth in view.walk():
            self.lines.append(row.key)
            self.depth[row.key] = depth
        self._reindex(0)
        self._found = None
        self._width = max((self._row_width(k, d) for k, d in self.depth.items()), default=0)
        self.virtual_size = Size(self._width, len(self.lines))
        self.cursor_line = min(self.cursor_line, max(0, len(self.lines) - 1))
        self.refresh(layout=True)

    def _row_width(self, key: str, depth: int) -> int:
        """About the cells row `key` takes at `depth`: guides, glyph, name, type and time, a failure edge, a
        crash's mark."""
        row = self.view.rows[key]
        width = 3 * depth + len(row.name) + 22
        if (
            row.edge_note or row.crashed
        ):  # its label as drawn, and room for a time that grows (not the fudge twice)
            width = max(width, 3 * depth + self.label(key).cell_len + 6)
        return width

    def _reindex(self, start: int) -> None:
        for i in range(start, len(self.lines)):
            self.position[self.lines[i]] = i

    def _insert(self, key: str) -> int:
        """Place a new row at the end of its parent's subtree; returns its line."""
        row = self.view.rows[key]
        parent = row.parent
        if parent is None or parent not in self.position:
            at, depth = len(self.lines), 0
        else:
            at = self.position[parent] + 1
            depth = self.depth[parent] + 1
            while at < len(self.lines) and self.depth[self.lines[at]] >= depth:
                at += 1
        self.lines.insert(at, key)
        self._found = None
        self.depth[key] = depth
        self._reindex(at)
        return at

    def update_rows(self, view: RunView, keys: Iterable[str]) -> None:
        """Redraw changed rows in place; add new ones; the cursor stays on its row."""
        self.view = view
        cursor_key = self.cursor_key
        grew = False
        for key in dict.fromkeys(keys):
            if key not in view.rows:
                continue
            self._cache.pop(key, None)
            if key not in self.position:
                self._insert(key)
                self._width = max(self._width, self._row_width(key, self.depth[key]))
                grew = True
            else:
                self.refresh_line(self.position[key])
                if view.rows[key].crashed:  # marked once the run is known dead: as wide as its mark needs
                    width = self._row_width(key, self.depth[key])
                    grew = grew or width > self._width
                    self._width = max(self._width, width)
        if grew:
            if cursor_key is not None and self.position.get(cursor_key, self.cursor_line) != self.cursor_line:
                self.set_reactive(DagTree.cursor_line, self.position[cursor_key])
            self.virtual_size = Size(self._width, len(self.lines))
            self.refresh(layout=True)  # the pane is as wide and (stacked) as tall as its rows need

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor_line < len(self.lines):
            return self.lines[self.cursor_line]
        return None

    def select_key(self, key: str) -> None:
        if key in self.position:
            self.cursor_line = self.position[key]

    def label(self, key: str) -> Text:
        """The text of a row without guides (what tests and screenshots read)."""
        text = self._cache.get(key)
        if text is None:
            text = self._cache[key] = row_label(self.view.rows[key], self.now, self.view.live)
        return text

    def tick(self, now: datetime, keys: Iterable[str]) -> None:
        """The clock moved: redraw the rows of `keys` (running steps) with their time at `now`."""
        self.now = now
        for key in keys:
            self._cache.pop(key, None)
            if key in self.position:
                self.refresh_line(self.position[key])

    def parent_of(self, key: str) -> str | None:
        return self.view.rows[key].parent

    # -- finding -------------------------------------------------------------------------------------
    def found(self) -> list[int]:
        """The lines (in order) whose step's internal name holds `find_text`; [] without one. One pass
        over the rows per text (about 1 ms at 10,000), kept until the rows or the text change."""
        if not self.find_text:
            return []
        if self._found is None:
            text = self.find_text
            self._found = [i for i, key in enumerate(self.lines) if text in key.lower()]
        return self._found

    def find(self, text: str, start: int | None = None) -> int:
        """Look for `text` (any case): the cursor on the first row that holds it at or after line `start`
        (the cursor's line; from the top again past the last), the matches marked. Returns how many rows
        match; the cursor stays where it is when none does (or `text` is "", which ends the search)."""
        self.find_text = text.strip().lower()
        self._found = None
        found = self.found()
        if found:
            at = self.cursor_line if start is None else start
            self.cursor_line = next((i for i in found if i >= at), found[0])
        self._find_title()
        self.refresh()
        return len(found)

    def next_match(self, step: int) -> bool:
        """The cursor to the next (`step` 1) or previous (-1) matching row, round past the ends; False
        when nothing matches."""
        found = self.found()
        if not found:
            return False
        line = self.cursor_line
        if step > 0:
            self.cursor_line = next((i for i in found if i > line), found[0])
        else:
            self.cursor_line = next((i for i in reversed(found) if i < line), found[-1])
        self._find_title()
        return True

    def _find_title(self) -> None:
        """The border's title: `/text 3/111` (which match the cursor is on, of how many), `/text 111`
        with the cursor elsewhere, `/text: no step` when none matches; nothing without a search."""
        if not self.find_text:
            self.border_title = None
            return
        found = self.found()
        if not found:
            self.border_title = f"/{self.find_text}: no step"
            return
        import bisect

        at = bisect.bisect_left(found, self.cursor_line)
        on = at < len(found) and found[at] == self.cursor_line
        self.border_title = (
            f"/{self.find_text} {at + 1}/{len(found)}" if on else f"/{self.find_text} {len(found)}"
        )

    # -- drawing -------------------------------------------------------------------------------------
    def _guides(self, key: str) -> str:
        """'│  ├─ ' style prefix: one column group per ancestor, from the view's children lists."""
        parts: list[str] = []
        row = self.view.rows[key]
        node, parent = key, row.parent
        first = True
        while parent is not None:
            siblings = self.view.children.get(parent, [])
            last = bool(siblings) and siblings[-1] == node
            parts.append(("└─ " if last else "├─ ") if first else ("   " if last else "│  "))
            first = False
            node, parent = parent, self.view.rows[parent].parent
        return "".join(reversed(parts))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        key = self.lines[index]
        guides = Text(self._guides(key), style=self.get_component_rich_style("dag-tree--guides"))
        label = self.label(key)
        if self.find_text and self.find_text in key.lower():
            label = self._marked(key, label)
        text = guides + label
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(Segment.apply_style(segments, base)).crop_extend(scroll_x, scroll_x + width, base)
        if index == self.cursor_line:  # a bar across the row: over the row's own colours, not under them
            cursor: Style = self.get_component_rich_style("dag-tree--cursor")
            strip = Strip(Segment.apply_style(list(strip), post_style=cursor), strip.cell_length)
        return strip.apply_offsets(scroll_x, index)

    def _marked(self, key: str, label: Text) -> Text:
        """A matching row's label with the text found marked in its name (the whole name when only the
        internal name holds it: `par.left` finds the steps of that branch)."""
        marked = label.copy()
        name = self.view.rows[key].name
        begin = 2  # after the glyph and its space (row_label)
        at = name.lower().find(self.find_text)
        style = self.get_component_rich_style("dag-tree--match")
        if at >= 0:
            marked.stylize(style, begin + at, begin + at + len(self.find_text))
        else:
            marked.stylize(style, begin, begin + len(name))
        return marked

    # -- moving --------------------------------------------------------------------------------------
    def validate_cursor_line(self, value: int) -> int:
        return max(0, min(value, len(self.lines) - 1)) if self.lines else 0

    def watch_cursor_line(self, previous: int, line: int) -> None:
        if self.find_text:
            self._find_title()
        self.refresh_line(previous)
        self.refresh_line(line)
        self.scroll_to_region(Region(0, line, 1, 1), animate=False, force=True)
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Highlighted(self, key))

    def action_cursor(self, delta: int) -> None:
        self.cursor_line += delta

    def action_page(self, direction: int) -> None:
        self.cursor_line += direction * max(1, self.scrollable_content_region.height - 1)

    def action_jump(self, line: int) -> None:
        self.cursor_line = line if line >= 0 else len(self.lines) - 1

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)  # the row under the pointer, the border left out
        if offset is None:
            return
        line = self.scroll_offset.y + offset.y
        if 0 <= line < len(self.lines):
            self.cursor_line = line
