"""Did you mean ...? Suggestions for names a user mistyped: options, config keys, fields, steps, files.

One place decides what "close" means, so every "did you mean" in magnus behaves alike:

- `nearest(word, candidates)`: the candidates close enough by difflib's ratio (what
  `difflib.get_close_matches` and Python's own NameError suggestions use), best first by edit distance
  (optimal string alignment; `o`/`l` typed for `0`/`1` cost nothing first), ties by an unchanged length,
  then by that ratio: `s19o1` suggests `s1901` (one letter changed), not `s2191`, which difflib alone
  ranks first (trial 6).
- `did_you_mean(word, candidates)`: " (did you mean 'x'?)" or "" — ready to append to a message.
- `is_typo_of_option(name, option)`: the stricter rule for `magnus execute`, where an unknown `--name` is
  otherwise a parameter (so a false alarm refuses a real parameter): see its docstring.
- `nearby_files(path)`: files a user probably meant when `path` does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def nearest(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` candidates close to `word`: those whose difflib ratio is at least `cutoff` (as
    difflib.get_close_matches picks them), best first by edit distance with `o`/`l` read as `0`/`1`, then
    by edit distance (edit_distance: a swap of two adjacent letters is one edit), then by an unchanged
    length, then by the ratio, then by the candidates' order. Case and `-`/`_` are
    ignored when comparing. Cost: one ratio per candidate, an edit distance per close one (3,000 step
    names: a few milliseconds, only when a name is wrong)."""
    pool = [c for c in dict.fromkeys(candidates) if isinstance(c, str)]
    folded = {_fold(c): c for c in reversed(pool)}
    key = _fold(word)
    exact = folded.get(key)
    if exact is not None and exact != word:
        return [exact]
    import difflib  # (here: only a mistake needs it; every step's start-up imports this module)

    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(key)
    close: list[tuple[int, int, int, float, int, str]] = []
    plain = key.translate(_LOOKALIKE)
    for place, text in enumerate(folded):
        matcher.set_seq1(text)
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            ratio = matcher.ratio()
            if ratio >= cutoff:
                edits = edit_distance(key, text)
                looks = edit_distance(plain, text.translate(_LOOKALIKE))
                close.append((looks, edits, abs(len(text) - len(key)), -ratio, place, text))
    close.sort()
    return [folded[text] for *_, text in close if folded[text] != word][:n]


def did_you_mean(word: str, candidates: Iterable[str], *, quote: str = "'") -> str:
    """' (did you mean 'x'?)' for the nearest candidate, or '' when none is close."""
    found = nearest(word, candidates, n=1)
    return f" (did you mean {quote}{found[0]}{quote}?)" if found else ""


def close_commands(word: str, names: Iterable[str]) -> list[str]:
    """The command names `word` is probably a typo of: one edit away (`exeute`, `lgos`, `dif`), or very
    close by difflib's ratio (>= 0.75). Stricter than `nearest`'s 0.6, which offers `logs` for `bogus`:
    a command name is short, and a suggestion for a word that is not a typo reads as a guess."""
    folded = _fold(word)
    close = set(nearest(word, names, n=3, cutoff=0.75))
    close.update(n for n in names if edit_distance(folded, _fold(n)) <= 1)
    return sorted(close)


# Letters typed for the digits they look like (`s19o1` for `s1901`): the same when ranking suggestions, so a
# name one look-alike away comes before one a deleted letter away (`s191`).
_LOOKALIKE = str.maketrans({"o": "0", "l": "1"})


def _fold(text: str) -> str:
    return text.lower().replace("-", "_")


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, and a swap of two adjacent
    letters each count as one edit (`fiel` -> `file` is 1)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def is_typo_of_option(name: str, option: str) -> bool:
    """Is `--name` (unknown to the command) a mistyped `--option`?

    Yes when, ignoring case and `_`/`-`, it is the option itself, its plural or singular (`--files`,
    `--parameter-file`), or, for options of four letters or more, within a few edits of it: one edit for
    options of up to six letters, two for longer ones, a swap of two adjacent letters counting as one
    (`--fiel`, `--use-cache`, `--paramters-file`). Short options get one edit, not two, because common
    parameter names are two edits from them: `--size`, `--line` (from `--file`), `--stride`, `--string`
    (from `--strict`) stay parameters; an option of three letters only a swap (`--tga` for `--tag`).
    """
    a, b = _fold(name).replace("_", ""), _fold(option).replace("_", "")
    if a == b or _plural_pair(_fold(name), _fold(option)):
        return True
    letters = len(b)
    if letters == 3:  # (`--tga` for `--tag`, trial 19 F17: a swap of two adjacent letters, nothing else)
        return sorted(a) == sorted(b) and edit_distance(a, b) == 1
    if letters < 4:
        return False
    limit = 1 if letters <= 6 else 2
    return edit_distance(_fold(name), _fold(option)) <= limit


def _plural_pair(a: str, b: str) -> bool:
    """`files`/`file`, `parameter_file`/`parameters_file`: one word of the name gains or loses an 's'."""
    wa, wb = a.split("_"), b.split("_")
    if len(wa) != len(wb):
        return False
    differing = [(x, y) for x, y in zip(wa, wb, strict=True) if x != y]
    if len(differing) != 1:
        return False
    x, y = differing[0]
    return x in (y + "s", y + "es") or y in (x + "s", x + "es")


# Folders never worth searching for a mistyped path: magnus's own, version control, environments, caches.
SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", ".run_log_store", ".catalog", ".venv", "venv", "env", "node_modules"}
    | {"__pycache__"}
)


def nearby_files(path: str | Path, root: str | Path | None = None, *, limit: int = 3) -> list[str]:
    """Files under `root` (default: the working folder) the user probably meant by the missing `path`:
    first files with the same name anywhere below (`examples/getting-started.yaml` for
    `getting-started.yaml`), then files with a close name in the folder `path` points into. Paths are
    relative to `root`. The walk is bounded (depth 4, 20,000 entries), so a huge tree costs little."""
    root_path = Path(root) if root is not None else Path.cwd()
    wanted = Path(path)
    same_name: list[str] = []
    seen = 0
    try:
        for folder, dirs, files in os.walk(root_path):
            depth = len(Path(folder).relative_to(root_path).parts)
            dirs[:] = sorted(
                d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith(".") and depth < 4
            )
            seen += len(files) + len(dirs)
            if wanted.name in files:
                same_name.append(Path(folder, wanted.name).relative_to(root_path).as_posix())
            if seen > 20_000 or len(same_name) >= limit:
                break
    except OSError:
        pass
    same_name = [p for p in same_name if p != wanted.as_posix()]
    if same_name:
        return sorted(same_name, key=lambda p: (p.count("/"), p))[:limit]
    parent = (root_path / wanted).parent
    try:
        names = [p.name for p in parent.iterdir() if p.is_file()] if parent.is_dir() else []
    except OSError:
        names = []
    # compare names without their suffix (every candidate ends in .yaml): `secret` -> `secrets`, not `inner`
    stems = {Path(n).stem: n for n in names if Path(n).suffix == wanted.suffix}
    import difflib

    close = difflib.get_close_matches(wanted.stem, list(stems), n=limit, cutoff=0.7)
    base = wanted.parent
    return [(base / stems[stem]).as_posix() for stem in close]


def files_hint(path: str | Path) -> str:
    """' (did you mean examples/p.yaml?)' or ' (did you mean a.yaml or b.yaml?)' or ''."""
    found = nearby_files(path)
    if not found:
        return ""
    return f" (did you mean {' or '.join(found)}?)"
