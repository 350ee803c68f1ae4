"""The dag as a tree: steps, branches and map items nested by internal name, each with status and time."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from magnus_tui.view import BRANCH, Row, RunView, fmt_duration


def row_label(row: Row) -> Text:
    text = Text()
    text.append(row.glyph, style=row.style or None)
    text.append(" ")
    text.append(row.name, style="italic" if row.kind == BRANCH else None)
    if row.kind != BRANCH and row.step_type not in ("task", ""):
        text.append(f" [{row.step_type}]", style="dim")
    if row.mock:
        text.append(" cached", style="blue")
    if row.status in ("PROCESSING", "RUNNING") and row.end is None:
        text.append("  running", style="yellow")
    elif row.duration is not None:
        text.append(f"  {fmt_duration(row.duration)}", style="dim")
    if row.attempts > 1:
        text.append(f"  ×{row.attempts}", style="yellow")
    return text


class DagTree(Tree[str]):
    """Rows of a RunView; `update(keys)` relabels or adds only those rows, keeping the cursor on its node."""

    DEFAULT_CSS = """
    DagTree { width: 1fr; min-width: 30; height: 1fr; border: round $primary 40%; }
    DagTree:focus { border: round $accent; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("run", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 3
        self.nodes_by_key: dict[str, TreeNode[str]] = {}

    def build(self, view: RunView) -> None:
        self.clear()
        self.nodes_by_key = {}
        for row, _ in view.walk():
            self._add(view, row)

    def _add(self, view: RunView, row: Row) -> TreeNode[str]:
        parent = self.nodes_by_key.get(row.parent) if row.parent else self.root
        if parent is None:
            parent = self.root
        has_children = bool(view.children.get(row.key))
        node = parent.add(row_label(row), data=row.key, expand=True, allow_expand=has_children)
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True
        self.nodes_by_key[row.key] = node
        return node

    def update_rows(self, view: RunView, keys: Iterable[str]) -> None:
        """Relabel changed rows in place; add new ones under their parent; the cursor stays on its node."""
        cursor = self.cursor_node
        added = False
        for key in dict.fromkeys(keys):
            row = view.rows.get(key)
            if row is None:
                continue
            node = self.nodes_by_key.get(key)
            if node is None:
                self._add(view, row)
                added = True
            else:
                node.set_label(row_label(row))
        if added and cursor is not None and cursor is not self.root:
            _ = self.last_line  # lay the lines out now, so the cursor's node has its new line number
            if cursor.line >= 0 and cursor.line != self.cursor_line:
                self.move_cursor(cursor, animate=False)

    def select_key(self, key: str) -> None:
        node = self.nodes_by_key.get(key)
        if node is not None:
            _ = self.last_line  # nodes added since the last paint get their line numbers now
            self.move_cursor(node, animate=False)
