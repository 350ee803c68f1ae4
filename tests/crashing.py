"""The crashing project of tests/data/crashing, written into a test's folder (one module for the tests of
a run whose process a fatal signal or a kill -9 ended: test_crash_listed, test_diff_dead, the workbench's
test_tui_diff_dead; it was written out in each):

    crashing_project(folder)      # steps.py, p.yaml (the parallel), r.yaml (the retried step), cfg.yaml
    magnus("execute", *RUN, "--run-id", "pc1", env={"CRASH": "segv"})   # -SIGSEGV in fan.crashy.s
"""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "crashing"
FILES = {"steps.py": "steps.py", "parallel.yaml": "p.yaml", "retry.yaml": "r.yaml", "cfg.yaml": "cfg.yaml"}
RUN = ("-f", "p.yaml", "-c", "cfg.yaml")  # the parallel, two workers: `magnus execute` of it takes these


def crashing_project(folder: Path) -> Path:
    """Copy the crashing project into `folder` (FILES: as named there); returns `folder`."""
    for source, name in FILES.items():
        shutil.copy(DATA / source, folder / name)
    return folder
