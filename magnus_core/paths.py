"""Names that become paths: they must stay inside the folder they are relative to.

relative_problem(text, what)   lexical: relative and without '..' (a pattern or folder in a file)
is_within(path, root)          on disk: `path`, symlinks followed, is `root` or under it
inside(path, root, what=...)   is_within, or a UsageError naming the path
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from magnus_core.errors import UsageError

_RUN_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """Run ids become file and folder names: letters, digits, '-', '_' and '.', no leading '.', at most 128.
    Returns it; UsageError (field run_id) otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise UsageError(
            f"run id {run_id!r} is not allowed: use letters, digits, '-', '_' and '.', "
            "not starting with '.', at most 128 characters",
            field="run_id",
        )
    return run_id


def relative_problem(text: str, what: str) -> str | None:
    """What is wrong with `text` as a path relative to some base folder, or None: it must not be empty,
    absolute (`/x`, `\\x`, `C:x`) or contain a '..' part (with either slash)."""
    if not text.strip():
        return f"{what} must not be empty"
    if text.startswith(("/", "\\")) or PureWindowsPath(text).drive:
        return f"{what} '{text}' must be relative, not absolute"
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        return f"{what} '{text}' must not contain '..' (it would leave its folder)"
    return None


def check_relative(text: str, what: str) -> str:
    """`text` with forward slashes, if it is a relative path without '..'; else UsageError saying why."""
    problem = relative_problem(text, what)
    if problem is not None:
        raise UsageError(problem)
    return text.replace("\\", "/")


def is_within(path: str | PurePath, root: str | PurePath, *, resolve: bool = True) -> bool:
    """Whether `path` is `root` or inside it. Both are resolved first (symlinks followed, so a link
    pointing out of `root` is outside; a relative path is relative to the working folder, as open() takes
    it). resolve=False compares them as written, for paths on another machine (a pod's mounts): then
    give normalised pure paths."""
    if resolve:
        path, root = Path(path).resolve(), Path(root).resolve()
    else:
        path, root = PurePath(path), PurePath(root)
    return path == root or root in path.parents


def inside(
    path: str | Path,
    root: str | Path,
    *,
    what: str,
    field: str | None = None,
    file: str | None = None,
    step: str | None = None,
) -> Path:
    """`path` (relative to `root`, or absolute) resolved, symlinks followed.

    Raises UsageError if it leaves `root`.
    """
    root_resolved = Path(root).resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root_resolved / candidate).resolve()
    if not is_within(resolved, root_resolved):
        raise UsageError(
            f"{what} '{path}' is outside {root_resolved} (refused: it would read or write "
            "files that are not the project's)",
            file=file,
            step=step,
            field=field,
        )
    return resolved


def check_writable(folder: str | Path, *, what: str, key: str, file: str | None = None) -> None:
    """Raise a UsageError naming `folder` and the config `key` that moves it when magnus could not create or
    write it (no permission, a read-only file system, a file in the way). Nothing is created: a missing
    folder is judged by its nearest existing parent. os.access asks the system, so this holds for root on a
    read-only mount as for an unprivileged user."""
    import contextlib
    import os

    path = Path(folder)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    problem = ""
    if probe.exists() and not probe.is_dir():
        problem = f"'{probe}' is a file, not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        readonly = False
        with contextlib.suppress(OSError, AttributeError):  # statvfs: POSIX only
            readonly = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        problem = f"'{probe.resolve()}' is " + ("on a read-only file system" if readonly else "not writable")
    if problem:
        shown = path
        with contextlib.suppress(ValueError):
            shown = path.resolve().relative_to(Path.cwd().resolve()) if path.is_absolute() else path
        raise UsageError(
            f"cannot write the {what} '{shown}': {problem}; move it with {key} "
            "(in magnus-config.yaml or a --config-file), or run where you may write",
            file=file,
            field=key,
        )
