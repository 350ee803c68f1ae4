"""Programs the workbench hands the terminal to and takes it back from, as lazygit does: a run log in
`$PAGER` (default `less`), a pipeline file in `$VISUAL`/`$EDITOR` (default `vi`).

The app is suspended while the program runs (its screen comes back as it was); where it cannot be (no
terminal, e.g. under `App.run_test`) the program still runs, with no terminal of its own.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from magnus_core.errors import MagnusError


def command_from_env(names: tuple[str, ...], default: str) -> list[str]:
    """The first of the environment variables `names` that is set, split as a shell would ('code -w')."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return shlex.split(value)
    return [default]


def run_outside(app: Any, argv: list[str]) -> int | None:
    """Run `argv` with the terminal handed over; its exit code, or None when it could not start (said)."""
    from textual.app import SuspendNotSupported

    try:
        try:
            with app.suspend():
                return subprocess.call(argv)
        except SuspendNotSupported:
            return subprocess.call(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        app.notify(f"cannot run {argv[0]}: {exc.strerror or exc}", title="Not opened", severity="error")
        return None


def page_run_log(app: Any, run_id: str) -> None:
    """The run's log as indented JSON in the pager (a temporary file, removed after; secrets are masked in
    the store already)."""
    try:
        log = app.project.get_run(run_id)
    except MagnusError as exc:
        app.notify(str(exc), title="Not opened", severity="error")
        return
    with tempfile.TemporaryDirectory(prefix="magnus-") as folder:
        path = Path(folder) / f"{run_id}.json"
        path.write_text(log.model_dump_json(indent=2) + "\n", encoding="utf-8")
        run_outside(app, [*command_from_env(("PAGER",), "less"), str(path)])
    app.refresh()


def edit_file(app: Any, path: Path) -> None:
    """`path` in the user's editor; a file that is not there is said, not created."""
    if not path.is_file():
        app.notify(
            f"{path} does not exist (moved or deleted since the run?)", title="Not opened", severity="warning"
        )
        return
    run_outside(app, [*command_from_env(("VISUAL", "EDITOR"), "vi"), str(path)])
    app.refresh()
