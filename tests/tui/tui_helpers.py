"""Helpers for the workbench tests: what a widget shows, as plain text."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
RUN_LOGS = FIXTURES / "magnus-0.3.12" / "run_logs"


def plain(widget) -> str:
    """The text a Static shows (str, Text or any rich renderable), without styles."""
    import io

    from rich.console import Console
    from rich.text import Text

    content = widget.content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    console.print(content)
    return console.export_text()


def column(table, key: str) -> list[str]:
    """One column of a DataTable, top to bottom, as plain text."""
    return [str(getattr(table.get_cell(row, key), "plain", table.get_cell(row, key))) for row in table.rows]
