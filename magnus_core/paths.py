"""Names that become paths: they must stay inside the folder they are relative to."""

from __future__ import annotations

from pathlib import Path

from magnus_core.errors import UsageError


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
    if resolved != root_resolved and root_resolved not in resolved.parents:
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
