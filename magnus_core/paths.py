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
