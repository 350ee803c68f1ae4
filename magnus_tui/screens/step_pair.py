"""One step's log in two runs, side by side, aligned by key: a key only one run has leaves a gap on the other
side only, so every later line stays level with its twin. Long lines scroll sideways (both sides together).

    lines = keyed_lines(step_log_as_dict)     # [(path, text)]: YAML-like lines, each with its key path
    pairs = align(lines_a, lines_b)           # [Pair]: left / right text (None: a gap), and how they differ
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from magnus_core.models.run_log import RunLog
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen
from magnus_tui.widgets.header import Header

Path = tuple[Any, ...]
SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only-a", "only-b"


def _scalar(value: Any) -> str:
    """A value on one line: text as it is (quoted when empty or holding a line break), the rest as JSON."""
    if isinstance(value, str) and value and "\n" not in value:
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def keyed_lines(value: Any, path: Path = (), indent: int = 0, first: str = "") -> list[tuple[Path, str]]:
    """A mapping as block-YAML lines, each with the path of keys (and list positions) it shows."""
    out: list[tuple[Path, str]] = []
    pad = " " * indent
    if isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            lead = first if i == 0 and first else pad
            here = (*path, key)
            if isinstance(item, (dict, list)) and item:
                out.append((here, f"{lead}{key}:"))
                out.extend(keyed_lines(item, here, indent + 2))
            else:
                shown = "{}" if item == {} else "[]" if item == [] else _scalar(item)
                out.append((here, f"{lead}{key}: {shown}"))
        if not value and first:
            out.append((path, f"{first}{{}}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            here = (*path, i)
            if isinstance(item, dict) and item:
                out.extend(keyed_lines(item, here, indent + 2, first=f"{pad}- "))
            elif isinstance(item, list) and item:
                out.append((here, f"{pad}-"))
                out.extend(keyed_lines(item, here, indent + 2))
            else:
                out.append((here, f"{pad}- {_scalar(item)}"))
    return out


@dataclass(frozen=True)
class Pair:
    """One row of the side-by-side view: `left`/`right` text (None: a gap on that side) and `kind`."""

    left: str | None
    right: str | None
    kind: str


def align(a: list[tuple[Path, str]], b: list[tuple[Path, str]]) -> list[Pair]:
    """Rows pairing lines of the same key path; a path only one side has faces a gap."""
    pa, pb = [p for p, _ in a], [p for p, _ in b]
    matcher = difflib.SequenceMatcher(a=pa, b=pb, autojunk=False)
    rows: list[Pair] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for (_, ta), (_, tb) in zip(a[i1:i2], b[j1:j2], strict=True):
                rows.append(Pair(ta, tb, SAME if ta == tb else CHANGED))
            continue
        rows.extend(Pair(text, None, ONLY_A) for _, text in a[i1:i2])
        rows.extend(Pair(None, text, ONLY_B) for _, text in b[j1:j2])
    return rows


def step_data(log: RunLog, internal_name: str) -> dict[str, Any] | None:
    """A step's log as plain data, its branches by name only (their steps are steps of their own)."""
    step = log.find_step(internal_name)
    if step is None:
        return None
    data = step.model_dump(mode="json", exclude={"branches"})
    data["branches"] = sorted(step.branches)
    return data


def step_pairs(a: RunLog, b: RunLog, internal_name: str) -> list[Pair]:
    da, db = step_data(a, internal_name), step_data(b, internal_name)
    return align(
        keyed_lines(da) if da is not None else [((), "(no such step in run A)")],
        keyed_lines(db) if db is not None else [((), "(no such step in run B)")],
    )


GUTTER = {SAME: ("  ", "  "), CHANGED: ("~ ", "~ "), ONLY_A: ("- ", "  "), ONLY_B: ("  ", "+ ")}


class PairView(ScrollView, can_focus=True):
    """The aligned rows, both sides in one view: a cursor bar, ←/→ scroll both sides sideways together."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First line", show=False),
        Binding("end,G", "jump(-1)", "Last line", show=False),
        Binding("left,h", "sideways(-8)", "Scroll left", show=False),
        Binding("right,l", "sideways(8)", "Scroll right", show=False),
        Binding("n", "next_change(1)", "Next difference"),
        Binding("N", "next_change(-1)", "Previous difference"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"pair-view--cursor", "pair-view--gap"}
    DEFAULT_CSS = """
    PairView { height: 1fr; border: round $primary 40%; }
    PairView:focus { border: round $accent; }
    PairView > .pair-view--cursor { background: $accent 40%; }
    PairView > .pair-view--gap { color: $text-muted 50%; }
    """

    cursor_line: reactive[int] = reactive(0, init=False)
    shift: reactive[int] = reactive(0, init=False)  # columns scrolled sideways

    def __init__(self, pairs: list[Pair], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_pairs(pairs)

    def set_pairs(self, pairs: list[Pair]) -> None:
        """Show these rows (the output view reads the two outputs after it is drawn)."""
        self.pairs = pairs
        self.longest = max((len(t) for p in pairs for t in (p.left, p.right) if t), default=0)
        self.virtual_size = Size(0, len(pairs))
        self.refresh()

    def _half(self) -> int:
        return max(4, (self.scrollable_content_region.width - 1) // 2)

    def validate_cursor_line(self, value: int) -> int:
        return max(0, min(value, len(self.pairs) - 1))

    def validate_shift(self, value: int) -> int:
        return max(0, min(value, max(0, self.longest + 2 - self._half())))

    def watch_cursor_line(self, previous: int, line: int) -> None:
        self.refresh_line(previous)
        self.refresh_line(line)
        self.scroll_to_region(Region(0, line, 1, 1), animate=False, force=True)

    def watch_shift(self) -> None:
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self.cursor_line += delta

    def action_page(self, direction: int) -> None:
        self.cursor_line += direction * max(1, self.scrollable_content_region.height - 1)

    def action_jump(self, line: int) -> None:
        self.cursor_line = line if line >= 0 else len(self.pairs) - 1

    def action_sideways(self, columns: int) -> None:
        self.shift += columns

    def action_next_change(self, direction: int) -> None:
        line = self.cursor_line + direction
        while 0 <= line < len(self.pairs):
            if self.pairs[line].kind != SAME and (
                self.pairs[line - direction].kind == SAME or line - direction == self.cursor_line
            ):
                self.cursor_line = line
                return
            line += direction
        self.notify("No more differences this way.")

    def _side(self, text: str | None, gutter: str, style: str, width: int) -> Text:
        if text is None:
            return Text(gutter + "╌" * (width - 2), style=self.get_component_rich_style("pair-view--gap"))
        body = Text(text[self.shift : self.shift + width - 2], style=style)
        return Text(gutter, style=style or "dim") + body

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.pairs):
            return Strip.blank(width, base)
        pair = self.pairs[index]
        half = self._half()
        ga, gb = GUTTER[pair.kind]
        left_style = "bold red" if pair.kind in (CHANGED, ONLY_A) else ""
        right_style = "bold green" if pair.kind in (CHANGED, ONLY_B) else ""
        line = self._side(pair.left, ga, left_style, half)
        line.pad_right(half - line.cell_len)
        line.append("│", style="dim")
        line += self._side(pair.right, gb, right_style, width - half - 1)
        segments = list(line.render(self.app.console, end=""))
        strip = Strip(Segment.apply_style(segments, base)).crop_extend(0, width, base)
        if index == self.cursor_line:
            cursor: Style = self.get_component_rich_style("pair-view--cursor")
            strip = Strip(Segment.apply_style(list(strip), post_style=cursor), strip.cell_length)
        return strip

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line = self.scroll_offset.y + offset.y
        if 0 <= line < len(self.pairs):
            self.cursor_line = line


class StepPairScreen(WorkbenchScreen[None]):
    """A step's record in run A's log (left) and run B's (right), aligned by key; n/N jump between
    differences. Called "step records", not "step logs": everywhere else logs are what a step printed
    (`magnus logs`; trial 4)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Back to the diff", "escape", "back"),
        ("Next difference", "Move to the next line that differs (n)", "next_change"),
    ]
    DEFAULT_CSS = """
    StepPairScreen #pair-heads { height: 1; padding: 0 1; }
    StepPairScreen #pair-heads Static { width: 1fr; text-style: bold; }
    """

    def __init__(self, internal_name: str, a: RunLog, b: RunLog) -> None:
        super().__init__()
        self.internal_name = internal_name
        self.a, self.b = a, b
        self.pairs = step_pairs(a, b, internal_name)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="pair-heads"):
            yield Static(f"A {self.a.run_id}", id="head-a")
            yield Static(f"B {self.b.run_id}", id="head-b")
        yield PairView(self.pairs, id="pairs")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = self.heading()
        self.query_one(PairView).focus()
        self.started()

    def heading(self) -> str:
        return f"{self.internal_name}: run-log records"

    def started(self) -> None:
        """After the first draw (the output view reads the two outputs here)."""

    def action_next_change(self) -> None:
        self.query_one(PairView).action_next_change(1)

    def action_back(self) -> None:
        self.app.pop_screen()


class StepOutputPairScreen(StepPairScreen):
    """What a step printed in run A (left) and run B (right), its last attempt each, aligned line by line
    (magnus_core.diff_output: the same reading as `magnus diff A B --output STEP`); n/N jump between
    differences. A side with nothing to show says why in its heading."""

    def __init__(self, internal_name: str, a: RunLog, b: RunLog) -> None:
        WorkbenchScreen.__init__(self)
        self.internal_name = internal_name
        self.a, self.b = a, b
        self.pairs = [Pair("reading the output…", "reading the output…", SAME)]

    def heading(self) -> str:
        return f"{self.internal_name}: output (last attempt)"

    def started(self) -> None:
        self.read_outputs()

    @work(thread=True, exclusive=True, group="step-output")
    def read_outputs(self) -> None:
        from magnus_core.diff_output import line_pairs, step_output
        from magnus_core.errors import MagnusError

        runs = self.app.project.get_run
        try:
            a = step_output(self.a, self.internal_name, runs=runs, side="A")
            b = step_output(self.b, self.internal_name, runs=runs, side="B")
        except MagnusError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        rows = [Pair(left, right, kind) for kind, left, right in line_pairs(a, b)]
        self.app.call_from_thread(self._show, a, b, rows)

    def _head(self, side: str, out: Any) -> Text:
        attempt = "" if out.attempt is None else f" · attempt {out.attempt}"
        text = Text(f"{side} {out.run_id}{attempt}")
        if out.problem:
            text.append(f" · {out.problem}", style="yellow not bold")
        elif not out.lines:
            text.append(" · printed nothing", style="dim not bold")
        return text

    def _show(self, a: Any, b: Any, rows: list[Pair]) -> None:
        self.query_one("#head-a", Static).update(self._head("A", a))
        self.query_one("#head-b", Static).update(self._head("B", b))
        self.pairs = rows or [Pair(None, None, SAME)]
        self.query_one(PairView).set_pairs(self.pairs)
        changed = sum(1 for row in rows if row.kind != SAME)
        if rows and not changed:
            lines = f"{len(rows):,} line{'' if len(rows) == 1 else 's'}"  # (trial 7: `(1 lines)`)
            self.notify(f"{self.internal_name} printed the same in both runs ({lines}).")

    def _show_error(self, message: str) -> None:
        self.query_one("#head-a", Static).update(Text(message, style="red"))
