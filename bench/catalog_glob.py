"""The catalog's glob in a project holding a virtual environment: `put: ["**/*"]` with `compute_data_folder: .`.

    python bench/catalog_glob.py            # a .venv of 30,000 files beside 200 project files
    MAGNUS_BENCH_VENV_FILES=100000 python bench/catalog_glob.py

The catalog never matches nor walks magnus's own folders, `.git` and virtual environments (issue 18, item 5).
Prints the median time (of 3) of pathlib's `glob("**/*")`, what the catalog did before, against the catalog's
`glob`, in the same process, and what each matched. Target: the catalog's glob costs what the project's own
files cost, whatever the size of the environment beside them.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(root: Path, venv_files: int, project_files: int = 200) -> None:
    for i in range(project_files):
        folder = root / "src" / f"m{i // 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.py").write_text("x = 1\n")
    venv = root / ".venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for i in range(venv_files):
        folder = venv / "lib" / f"pkg{i // 100}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i}.py").write_text("")


def median(func: object, repeat: int = 3) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        found = len(func())  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def main() -> None:
    from magnus_core.catalog import FileSystemCatalog

    venv_files = int(os.environ.get("MAGNUS_BENCH_VENV_FILES", "30000"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root, venv_files)
        os.chdir(root)
        catalog = FileSystemCatalog({"compute_data_folder": "."})
        before, matched_before = median(lambda: [p for p in sorted(root.glob("**/*")) if p.is_file()])
        after, matched_after = median(lambda: catalog.glob(root, "**/*"))
        os.chdir(ROOT)
    print(f"project of 200 files beside a .venv of {venv_files} files, put ['**/*']:")
    print(f"  pathlib glob (before): {before:.3f} s, {matched_before} files matched")
    print(f"  catalog glob (now):    {after:.3f} s, {matched_after} files matched")
    print(f"  ratio now/before: {after / before:.3f}")


if __name__ == "__main__":
    main()
