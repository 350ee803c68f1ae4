"""One group of a run diff as a table: key, run A, run B, delta; changed values highlighted."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from magnus_tui.widgets.step_detail import value_text

KIND_GLYPHS = {
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "changed": ("~", "yellow"),
    "equal": ("=", "dim"),
}


def fmt_delta(change: Any) -> Text:
    if change.delta is None:
        return Text("")
    delta = change.delta
    text = f"{delta:+.3f}" if isinstance(delta, float) and not float(delta).is_integer() else f"{delta:+g}"
    if change.ratio is not None:
        text += f" ×{change.ratio:.2f}"
    return Text(text, style="cyan" if not change.informational else "dim")


def side(value: Any, present: bool, style: str) -> Text:
    if not present:
        return Text("—", style="dim")
    return Text(value_text(value, 60), style=style)


class DiffGroupTable(DataTable[Any]):
    """The changes of one group; `show(changes, all_rows)` refills it (groups hold tens of rows, not
    thousands)."""

    DEFAULT_CSS = """
    DiffGroupTable { height: 1fr; }
    """

    def __init__(self, group: str, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.group = group
        self.changes: dict[str, Any] = {}

    def on_mount(self) -> None:
        self.add_column(" ", key="kind")
        self.add_column("item", key="key")
        self.add_column("run A", key="a")
        self.add_column("run B", key="b")
        self.add_column("delta", key="delta")

    def show(self, changes: list[Any], include_equal: bool) -> None:
        self.clear()
        self.changes = {}
        for i, change in enumerate(changes):
            if change.kind == "equal" and not include_equal:
                continue
            mark, style = KIND_GLYPHS.get(change.kind, ("?", ""))
            changed = change.kind != "equal"
            key = change.key + (f" {change.field}" if change.field and change.field not in change.key else "")
            row = [
                Text(mark, style=style),
                Text(key, style="" if changed else "dim"),
                side(change.before, change.kind != "added", "red" if changed else "dim"),
                side(change.after, change.kind != "removed", "green" if changed else "dim"),
                fmt_delta(change),
            ]
            self.add_row(*row, key=str(i))
            self.changes[str(i)] = change

    def highlighted_change(self) -> Any:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.changes.get(str(key.value))
