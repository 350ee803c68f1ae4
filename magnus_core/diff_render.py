"""A RunDiff for people: rich text, only what changed (unless show_all), a count per group."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from magnus_core.diff import ADDED, CHANGED, EQUAL, REMOVED, Change, GroupDiff, RunDiff
from magnus_core.table import fmt_seconds

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

MARK = {ADDED: ("+", "green"), REMOVED: ("-", "red"), CHANGED: ("~", "yellow"), EQUAL: ("=", "dim")}
# What to print instead of the few non-ASCII signs when the terminal cannot show them.
ASCII = str.maketrans({"→": "->", "›": ">", "×": "x", "·": "*", "…": "..."})
MAX_VALUE = 80
HASH_FIELDS = {"commit", "dag_hash", "data_hash"}


def fmt_value(value: Any, field: str = "") -> str:
    """A value on one short line: strings bare, hashes shortened, the rest as JSON."""
    if value is None:
        return "none"
    if isinstance(value, str):
        text = value[:12] if field in HASH_FIELDS and len(value) > 12 else value
    elif isinstance(value, float):
        text = f"{value:.12g}"
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def fmt_delta(delta: float | None) -> str:
    if delta is None:
        return ""
    return f"{delta:+.12g}"


def describe(change: Change) -> str:
    """What happened to one item, e.g. '0.6 → 0.7  (+0.1)' or '1.2s → 3.5s  (×2.9)'."""
    if change.field == "duration" or change.key == "duration":
        text = f"{fmt_seconds(change.before)} → {fmt_seconds(change.after)}"
        if change.ratio is not None:
            text += f"  (×{change.ratio:.3g})"
        return text
    if change.field == "files_between":
        return ""  # the detail names the files
    if change.kind == ADDED:
        text = f"added: {fmt_value(change.after, change.field)}" if change.after is not None else "added"
    elif change.kind == REMOVED:
        text = (
            f"removed (was {fmt_value(change.before, change.field)})"
            if change.before is not None
            else "removed"
        )
    elif change.kind == EQUAL:
        text = fmt_value(change.after, change.field) if change.after is not None else "same"
    else:
        text = f"{fmt_value(change.before, change.field)} → {fmt_value(change.after, change.field)}"
        if change.delta is not None:
            text += f"  ({fmt_delta(change.delta)})"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def group_lines(group: GroupDiff, *, show_all: bool = False, skipped: bool = False) -> list[Text]:
    """The heading and item lines of one group (`skipped`: part of it could not be compared)."""
    from rich.text import Text

    shown = group.changes if show_all else group.changed
    equal = len(group.changes) - len(group.changed)
    heading = Text(f"{group.name:<11}", style="bold")
    if group.count:
        heading.append(_plural(group.count, "difference"), style="yellow")
    elif skipped and not group.changes:
        heading.append("not compared (see skipped below)", style="dim")
    else:
        heading.append("no differences", style="green")
    if show_all and equal:
        heading.append(f"  ({equal} equal)", style="dim")
    lines = [heading]
    width = min(48, max((len(c.key) for c in shown), default=0))
    for change in shown:
        mark, style = MARK.get(change.kind, ("?", ""))
        if change.informational and change.kind != EQUAL:
            mark, style = "·", "cyan"
        line = Text("  ")
        line.append(f"{mark} ", style=style)
        line.append(f"{change.key:<{width}}  ", style="dim" if change.kind == EQUAL else "")
        line.append(describe(change), style="dim" if change.kind == EQUAL else "")
        if change.detail:
            line.append(f"  {change.detail}", style="dim")
        lines.append(line)
    return lines


def can_encode(stream: object, text: str = "→›×·…") -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def render(diff: RunDiff, console: Console, *, show_all: bool = False) -> None:
    """Print the comparison: a header, each group with its count, what was skipped, a last line."""
    from rich.text import Text

    if not can_encode(console.file):
        console = _AsciiConsole(console)  # type: ignore[assignment]

    head = Text("Comparing ", style="bold")
    for i, ref in enumerate((diff.a, diff.b)):
        if i:
            head.append("  →  ")
        head.append(ref.run_id, style="bold")
        head.append(f" ({ref.status}{', ' + ref.source if ref.source else ''})", style="dim")
    console.print(head, soft_wrap=True)
    skipped = {s.group for s in diff.skipped}
    for group in diff.groups.values():
        for line in group_lines(group, show_all=show_all, skipped=group.name in skipped):
            console.print(line, soft_wrap=True)
    for skip in diff.skipped:
        console.print(Text(f"skipped ({skip.group}): {skip.reason}", style="dim"), soft_wrap=True)
    if diff.differs:
        groups = [g.name for g in diff.groups.values() if g.differs]
        console.print(
            Text(f"{_plural(diff.count, 'difference')} in {', '.join(groups)}.", style="bold yellow")
        )
    else:
        console.print(Text("No differences.", style="bold green"))


class _AsciiConsole:
    """Prints through a console whose terminal cannot show the arrows: swaps them for ASCII."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def print(self, text: Text, **kw: object) -> None:
        from rich.text import Text

        self.console.print(Text(text.plain.translate(ASCII)), **kw)  # type: ignore[arg-type]
