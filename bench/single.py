"""The per-step entry point (`magnus execute_single_node`, what every Argo pod runs) as a new process, against
the size of the run it belongs to (issue 19, target 4).

    python bench/single.py                        # maps of 100 and 1,000 items, file-system and chunked-fs
    MAGNUS_BENCH_SINGLE_ITEMS="100 1000 10000" python bench/single.py --repeat 5

For each store and size M: a map of M items (one python step `add` per item, which returns a parameter) is
fanned out and M - repeat items are run in-process through the same entry point; then `add` of each of the
last `repeat` items runs as a new process, timed, paired with a bare `python -c pass` run just before it.
Prints the median wall time, the median CPU time (user + system of the child), the ratio of wall time to
`python -c pass`, and the growth from the smallest M to the largest.

Targets: <= 0.25 s for a trivial step of a 1,000-step run on a quiet machine; flat in M on chunked-fs (a step
reads its own branch); on file-system (one file per run) the figure is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PIPELINE = """\
dag:
  start_at: each
  steps:
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: add
        steps:
          add: {type: task, command: fns.plus, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(folder: Path, store: str, items: int, repeat: int) -> tuple[float, float, float]:
    """(median wall s, median CPU s, median wall / python -c pass) of `add` in the last `repeat` items."""
    from magnus_core.single import PLACEHOLDER, execute_single_node, fan_out, job_from_files

    folder.mkdir(parents=True)
    (folder / "fns.py").write_text("def plus(x, item):\n    return {'x': x + item}\n")
    (folder / "wide.yaml").write_text(PIPELINE)
    (folder / "params.yaml").write_text(f"x: 1\nitems: {json.dumps(list(range(1, items + 1)))}\n")
    (folder / "store.yaml").write_text(
        f"run_log_store: {{type: {store}, config: {{log_folder: runs}}}}\ncatalog: {{type: do-nothing}}\n"
    )
    here = os.getcwd()
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:

        def job(step: str, item: int | None = None) -> object:
            variable = None if item is None else json.dumps({"item": item})
            return job_from_files(
                "r", step, file="wide.yaml", config_file="store.yaml", parameters_file="params.yaml",
                map_variable=variable,
            )  # fmt: skip

        code, _ = fan_out(job("each"))  # type: ignore[arg-type]
        assert code == 0
        for item in range(1, items - repeat + 1):
            for step in ("add", "success"):
                assert execute_single_node(job(f"each.{PLACEHOLDER}.{step}", item)) == 0  # type: ignore[arg-type]
    finally:
        os.chdir(here)
        sys.path.remove(str(folder))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    walls, cpus, ratios = [], [], []
    for item in range(items - repeat + 1, items + 1):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = time.perf_counter() - t0
        c0, t0 = cpu_children(), time.perf_counter()
        subprocess.run(
            [
                sys.executable, "-m", "magnus_core", "execute_single_node", "r", f"each.{PLACEHOLDER}.add",
                "-f", "wide.yaml", "-c", "store.yaml", "--map-variable", json.dumps({"item": item}),
            ],
            cwd=folder, env=env, check=True,
        )  # fmt: skip
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_children() - c0)
        ratios.append(walls[-1] / bare)
    return statistics.median(walls), statistics.median(cpus), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="file-system,chunked-fs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in os.environ.get("MAGNUS_BENCH_SINGLE_ITEMS", "100 1000").split()]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'store':>12} {'items':>6} {'wall s':>8} {'CPU s':>7} {'/ python -c pass':>17}")
    with tempfile.TemporaryDirectory(prefix="magnus-bench-single-") as tmp:
        for store in args.stores.split(","):
            cpu_by_size = {}
            for n in sizes:
                wall, cpu, ratio = measure(Path(tmp) / f"{store}-{n}", store, n, args.repeat)
                cpu_by_size[n] = cpu
                print(f"{store:>12} {n:>6} {wall:8.3f} {cpu:7.3f} {ratio:17.1f}")
            if len(sizes) > 1:
                growth = cpu_by_size[sizes[-1]] / cpu_by_size[sizes[0]]
                print(f"{store:>12} CPU at {sizes[-1]} items / at {sizes[0]}: {growth:.2f}")


if __name__ == "__main__":
    main()
