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


def row_label(row: Row, now: datetime | None = None, live: bool = True) -> Text:
    """Glyph, name, type, and time, e.g. '✓ train [task]  1.204s ×2'; a running step's time since its
    attempt began ('▶ train  running 12.3s', at `now`); a planned step dimmed ('not run' once the run is
    over)."""
    text = Text(no_wrap=True)
    if row.planned:
        text.append(f"{row.glyph} {row.name}", style="dim")
        if row.kind != BRANCH and row.step_type not in ("task", "as-is", "success", "fail", ""):
            text.append(f" [{row.step_type}]", style="dim")
        if not live:
            text.append("  not run", style="dim italic")
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
    elif row.status in ("PROCESSING", "RUNNING") and row.end is None:
        text.append("  running", style="yellow")
    elif row.duration is not None:
        text.append(f"  {fmt_duration(row.duration)}", style="dim")
    if row.attempts > 1:
        text.append(f"  ×{row.attempts}", style="yellow")
    return text


class DagTree(ScrollView, can_focus=True):
    """Rows of a RunView in dag order with tree guides; arrows/mouse move the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First line", show=False),
        Binding("end,G", "jump(-1)", "Last line", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"dag-tree--cursor", "dag-tree--guides"}
    DEFAULT_CSS = """
    DagTree { width: 1fr; min-width: 30; height: 1fr; border: round $primary 40%; }
    DagTree:focus { border: round $accent; }
    DagTree > .dag-tree--cursor { background: $accent 30%; }
    DagTree:focus > .dag-tree--cursor { background: $accent 50%; text-style: bold; }
    DagTree > .dag-tree--guides { color: $text-muted; }
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
        self._width = max(
            (3 * d + len(self.view.rows[k].name) + 22 for k, d in self.depth.items()), default=0
        )
        self.virtual_size = Size(self._width, len(self.lines))
        self.cursor_line = min(self.cursor_line, max(0, len(self.lines) - 1))
        self.refresh(layout=True)

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
                self._width = max(self._width, 3 * self.depth[key] + len(view.rows[key].name) + 22)
                grew = True
            else:
                self.refresh_line(self.position[key])
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
        text = guides + self.label(key)
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(Segment.apply_style(segments, base)).crop_extend(scroll_x, scroll_x + width, base)
        if index == self.cursor_line:  # a bar across the row: over the row's own colours, not under them
            cursor: Style = self.get_component_rich_style("dag-tree--cursor")
            strip = Strip(Segment.apply_style(list(strip), post_style=cursor), strip.cell_length)
        return strip.apply_offsets(scroll_x, index)

    # -- moving --------------------------------------------------------------------------------------
    def validate_cursor_line(self, value: int) -> int:
        return max(0, min(value, len(self.lines) - 1)) if self.lines else 0

    def watch_cursor_line(self, previous: int, line: int) -> None:
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
