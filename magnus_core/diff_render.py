"""A RunDiff for people: rich text, only what changed (unless show_all), a count per group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.diff import ADDED, CHANGED, EQUAL, NOT_RUN, REMOVED, Change, GroupDiff, RunDiff
from magnus_core.table import fmt_seconds

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

MARK = {
    ADDED: ("+", "green"),
    REMOVED: ("-", "red"),
    CHANGED: ("~", "yellow"),
    EQUAL: ("=", "dim"),
    NOT_RUN: ("·", "magenta"),
}
# How many names a line of steps not run lists when they are not one stretch of the dag's order.
NOT_RUN_NAMES = 3
# What to print instead of the few non-ASCII signs when the terminal cannot show them.
ASCII = str.maketrans({"→": "->", "›": ">", "×": "x", "·": "*", "…": "..."})
MAX_VALUE = 80
HASH_FIELDS = {"commit", "dag_hash", "data_hash"}


def fmt_value(value: Any, field: str = "") -> str:
    """A value on one short line: strings bare (the empty string as `""`, so a side is never blank),
    hashes shortened, the rest as JSON."""
    if value is None:
        return "none"
    if value == "":
        return '""'
    if isinstance(value, str):
        text = value[:12] if field in HASH_FIELDS and len(value) > 12 else value
    elif isinstance(value, float):
        text = f"{value:.12g}"
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def fmt_pair(before: Any, after: Any, field: str = "") -> tuple[str, str]:
    """Two values of a change on short lines (fmt_value), but two long texts cut at the same place showed
    the same words on both sides (trial 5: a command changed near its end): then both show the same window
    around their first difference, `…` on each side cut."""
    a, b = fmt_value(before, field), fmt_value(after, field)
    if not (isinstance(before, str) and isinstance(after, str) and a.endswith("…") and b.endswith("…")):
        return a, b
    whole_a, whole_b = before.replace("\n", "\\n"), after.replace("\n", "\\n")
    same = next(
        (i for i, (x, y) in enumerate(zip(whole_a, whole_b, strict=False)) if x != y),
        min(len(whole_a), len(whole_b)),
    )
    start = max(0, same - MAX_VALUE // 4)
    if start == 0:
        return a, b

    def window(text: str) -> str:
        part = text[start : start + MAX_VALUE - 2]
        return "…" + part + ("…" if start + MAX_VALUE - 2 < len(text) else "")

    return window(whole_a), window(whole_b)


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
    elif change.kind == NOT_RUN:  # (`to run in B` while B still runs: diff._steps_group's detail)
        if change.after is None:
            text = f"{change.detail or 'not run in B'} (ran in A: {fmt_value(change.before)})"
        else:
            text = f"{change.detail or 'not run in A'} (ran in B: {fmt_value(change.after)})"
    elif change.kind == EQUAL:
        text = fmt_value(change.after, change.field) if change.after is not None else "same"
    else:
        before, after = fmt_pair(change.before, change.after, change.field)
        text = f"{before} → {after}"
        if change.delta is not None:
            text += f"  ({fmt_delta(change.delta)})"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True, kw_only=True)
class DiffRow:
    """One change as people read it, for `magnus diff` and the workbench's diff screen alike.

    `mark` and `style`: the sign and its colour (`+` green, `-` red, `~` yellow, `=` dim, `·` cyan for
    information such as timings); `key` the item; `text` what happened (describe); `detail` a short note;
    `block`: the lines of a YAML document under the item (a dag step added or removed, shown whole)."""

    change: Change
    mark: str
    style: str
    key: str
    text: str
    detail: str = ""
    block: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return self.change.kind == EQUAL


def yaml_lines(value: Any) -> tuple[str, ...]:
    """A mapping or list as block YAML lines (keys in their order, unicode kept)."""
    import yaml

    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
    return tuple(text.rstrip("\n").splitlines())


def full_text(value: Any) -> str:
    """A value in full, for reading it whole: text as it is, mappings and lists as YAML, the rest as JSON."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.17g}"
    if isinstance(value, (dict, list)) and value:
        return "\n".join(yaml_lines(value))
    return json.dumps(value, default=str, ensure_ascii=False)


def diff_row(change: Change) -> DiffRow:
    """How one change reads (the render model both the CLI and the workbench draw)."""
    mark, style = MARK.get(change.kind, ("?", ""))
    if change.informational and change.kind != EQUAL:
        mark, style = "·", "cyan"
    text, detail = describe(change), change.detail
    block: tuple[str, ...] = ()
    if not text:  # e.g. the files changed between two commits: the detail is the whole story
        text, detail = detail, ""
    if change.kind == NOT_RUN:  # the text says which side already
        detail = ""
    whole = change.after if change.kind == ADDED else change.before if change.kind == REMOVED else None
    if isinstance(whole, dict) and whole:  # a step of the dag added or removed: its definition as YAML
        text, block = ("added" if change.kind == ADDED else "removed"), yaml_lines(whole)
    return DiffRow(
        change=change, mark=mark, style=style, key=change.key, text=text, detail=detail, block=block
    )


def diff_rows(group: GroupDiff, *, show_all: bool = False) -> list[DiffRow]:
    """The rows of one group: the changes, or every compared item with `show_all`. The steps that did not
    run on one side (kind not_run) are one row per side, where the first of them was (trial 6: a run that
    failed at step 1,234 of 3,000 listed 1,766 lines): `s1235 … s3000  1,766 steps not run in B`."""
    shown = group.changes if show_all else group.changed
    missing: dict[bool, list[Change]] = {}
    for change in shown:
        if change.kind == NOT_RUN:
            missing.setdefault(change.after is None, []).append(change)
    if not any(len(v) > 1 for v in missing.values()):
        return [diff_row(c) for c in shown]
    order = {name: i for i, name in enumerate(dict.fromkeys(c.step for c in group.changes if c.step))}
    rows: list[DiffRow] = []
    for change in shown:
        if change.kind != NOT_RUN or len(missing[change.after is None]) == 1:
            rows.append(diff_row(change))
        elif change is missing[change.after is None][0]:
            rows.append(_not_run_row(missing[change.after is None], order))
    return rows


def _not_run_row(changes: list[Change], order: dict[str, int]) -> DiffRow:
    """One row for the steps not run on one side: a stretch `first … last`, else the first few names."""
    in_b = changes[0].after is None
    names = [c.step for c in changes]
    places = [order[n] for n in names]
    stretch = places == list(range(places[0], places[0] + len(places)))
    key = (
        f"{names[0]} … {names[-1]}"
        if stretch
        else ", ".join(names[:NOT_RUN_NAMES]) + (", …" if len(names) > NOT_RUN_NAMES else "")
    )
    statuses = {c.step: (c.before if in_b else c.after) for c in changes}
    summary = Change(
        kind=NOT_RUN,
        key=key,
        field="step",
        before=statuses if in_b else None,
        after=None if in_b else statuses,
        detail=changes[0].detail or f"not run in {'B' if in_b else 'A'}",
    )
    mark, style = MARK[NOT_RUN]
    text = f"{len(changes):,} steps {summary.detail}"
    return DiffRow(change=summary, mark=mark, style=style, key=key, text=text)


def group_heading(group: GroupDiff, *, show_all: bool = False, skipped: bool = False) -> Text:
    """'metrics    2 differences' / 'no differences' / 'not compared', with the equal count when shown."""
    from rich.text import Text

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
    return heading


def group_lines(group: GroupDiff, *, show_all: bool = False, skipped: bool = False) -> list[Text]:
    """The heading and item lines of one group (`skipped`: part of it could not be compared)."""
    from rich.text import Text

    rows = diff_rows(group, show_all=show_all)
    lines = [group_heading(group, show_all=show_all, skipped=skipped)]
    width = min(48, max((len(r.key) for r in rows), default=0))
    for row in rows:
        line = Text("  ")
        line.append(f"{row.mark} ", style=row.style)
        line.append(f"{row.key:<{width}}  ", style="dim" if row.equal else "")
        line.append(row.text, style="dim" if row.equal else "")
        if row.detail:
            line.append(f"  {row.detail}", style="dim")
        lines.append(line)
        lines.extend(Text(f"      {block}", style="dim") for block in row.block)
    return lines


def can_encode(stream: object, text: str = "→›×·…") -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def output_line(diff: RunDiff, refs: tuple[str, str] | None = None) -> str:
    """`output     3 steps printed differently (s1235, s1236, s1237), not counted as a difference; see one:
    magnus diff A B --output s1235`,
    or "" when every step compared printed the same (diff.output; `refs`: the runs as the user named them,
    for the command; the run ids by default). Not a difference: output is not data."""
    import shlex

    steps = diff.output.steps
    if not steps:
        return ""
    a, b = refs or (diff.a.run_id, diff.b.run_id)
    command = " ".join(shlex.quote(w) for w in ("magnus", "diff", a, b, "--output", steps[0]))
    return f"{'output':<11}{printed_differently(diff)}, not counted as a difference; see one: {command}"


def code_hint(diff: RunDiff, refs: tuple[str, str] | None = None) -> str:
    """`what changed in the code: magnus diff A B --code`, under the code group when it counts a difference
    (another commit, uncommitted changes on one side, other modified files): the group says that the code
    differs, `--code` shows how (trial 9: nothing said it existed). "" otherwise; `refs` as output_line."""
    import shlex

    group = diff.groups.get("code")
    if group is None or not group.count:
        return ""
    a, b = refs or (diff.a.run_id, diff.b.run_id)
    return "what changed in the code: " + " ".join(shlex.quote(w) for w in ("magnus", "diff", a, b, "--code"))


def printed_differently(diff: RunDiff) -> str:
    """`3 steps printed differently (s1235, s1236, s1237)` (the first three named, `…` after), or "" when
    every step compared printed the same: output_line's words, which the workbench's diff screen shows
    with its own key to see one."""
    steps = diff.output.steps
    if not steps:
        return ""
    names = ", ".join(steps[:3]) + (", …" if len(steps) > 3 else "")
    return f"{_plural(len(steps), 'step')} printed differently ({names})"


def render(
    diff: RunDiff, console: Console, *, show_all: bool = False, refs: tuple[str, str] | None = None
) -> None:
    """Print the comparison: a header, each group with its count, which steps printed differently (not
    a difference: output_line), what was skipped, a last line."""
    from rich.text import Text

    if not can_encode(console.file):
        console = _AsciiConsole(console)  # type: ignore[assignment]

    head = Text("Comparing ", style="bold")
    for i, ref in enumerate((diff.a, diff.b)):
        if i:
            head.append("  →  ")
        head.append(ref.run_id, style="bold")
        status = f"{ref.state} ({ref.status})" if ref.state and ref.state != ref.status else ref.status
        head.append(f" ({status}{', ' + ref.source if ref.source else ''})", style="dim")
    console.print(head, soft_wrap=True)
    skipped = {s.group for s in diff.skipped}
    for group in diff.groups.values():
        for line in group_lines(group, show_all=show_all, skipped=group.name in skipped):
            console.print(line, soft_wrap=True)
        hint = code_hint(diff, refs) if group.name == "code" else ""
        if hint:  # (the text only: --json has the group, and --code its own magnus-code-diff/1)
            console.print(Text(f"  {hint}", style="cyan"), soft_wrap=True)
    printed = output_line(diff, refs)
    if printed:
        console.print(Text(printed, style="cyan"), soft_wrap=True)
    for skip in diff.skipped:
        console.print(Text(f"skipped ({skip.group}): {skip.reason}", style="dim"), soft_wrap=True)
    if diff.differs:
        groups = [g.name for g in diff.groups.values() if g.differs]
        console.print(
            Text(f"{_plural(diff.count, 'difference')} in {', '.join(groups)}.", style="bold yellow")
        )
    elif diff.skipped:
        console.print(Text("No differences in what was compared (see skipped above).", style="bold green"))
    else:
        console.print(Text("No differences.", style="bold green"))


class _AsciiConsole:
    """Prints through a console whose terminal cannot show the arrows: swaps them for ASCII."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def print(self, text: Text, **kw: object) -> None:
        from rich.text import Text

        self.console.print(Text(text.plain.translate(ASCII)), **kw)  # type: ignore[arg-type]
