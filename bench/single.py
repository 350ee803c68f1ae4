"""The per-step entry point (`magnus execute_single_node`, what every Argo pod runs) as a new process, against
the size of the run it belongs to (issue 19, target 4).

    python bench/single.py                        # maps of 100 and 1,000 items, file-system and chunked-fs
    python bench/single.py --compare /path/to/old/checkout   # the same items, old and new turn about
    MAGNUS_BENCH_SINGLE_ITEMS="100 1000 10000" python bench/single.py --stores file-system --repeat 5

For each store and size M: a map of M items (one python step `add` per item, which returns a parameter) is
fanned out and item 1 is run in-process through the same entry point. The other items but the last few are
then marked done as item 1 was, each a copy of item 1's records with its own names and values: on
file-system, whose one file per run every call rewrites (quadratic to set up: 1,000 items did not finish in
30 minutes), by writing the run log once as JSON; on chunked-fs by writing each item's part files (running
them in-process took over 30 minutes for 10,000 items under load). Once every size of a store is set up,
`add` of each of the last items runs as a new process, timed, paired with a bare `python -c pass` run just
before it, the sizes and the ways taking turns in each round (a change of the machine's load between one
size's minutes and the next's read as growth with the run's size before): the first round as a warm-up
(file cache, bytecode cache), then `repeat` with bytecode cached (as an installed magnus: pip compiles a
package when it installs it) and `repeat` with PYTHONDONTWRITEBYTECODE=1 (as this project's development
machines run it: magnus's own modules compiled from source at every start). Prints per way the median wall
time, the median CPU time (user + system of the child), the median ratio of wall time to its
`python -c pass` and that bare python's CPU time, and the growth from the smallest M to the largest.

Targets: <= 0.25 s for a trivial step of a 1,000-step run on a quiet machine; flat in M on chunked-fs (a step
reads its own branch); on file-system (one file per run) the figure is reported, at 10,000 steps too.
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


def ways_of_starting(cache: Path, compare: Path | None) -> dict[str, dict[str, str]]:
    """label -> environment of the timed process: bytecode kept (an installed magnus) or compiled at every
    start, of this checkout and, with --compare, of another one (the same items, turn about)."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    trees = {"": ROOT} if compare is None else {"new ": ROOT, "old ": compare.resolve()}
    ways = {}
    for label, tree in trees.items():
        ways[f"{label}cached"] = {**base, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(cache)}
    for label, tree in trees.items():
        ways[f"{label}source"] = {**base, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    return ways


def _synthesize(log_file: Path, done: int) -> None:
    """Items 2..done of the map marked done in a file-system run log, as item 1 was: one write."""
    run = json.loads(log_file.read_text())
    branches = run["steps"]["each"]["branches"]
    template = json.dumps(branches["each.1"])
    for item in range(2, done + 1):
        text = template.replace('"each.1.', f'"each.{item}.').replace('"each.1"', f'"each.{item}"')
        branch = json.loads(text)
        add = branch["steps"][f"each.{item}.add"]
        add["attempts"][0]["parameters"]["item"] = item
        add["returned_parameters"]["x"] = 1 + item
        branches[f"each.{item}"] = branch
    log_file.write_text(json.dumps(run, indent=4))


def _synthesize_parts(run: Path, done: int) -> None:
    """Items 2..done of the map marked done in a chunked-fs run, as item 1 was: its step and branch parts
    copied with each item's names and values (running 10,000 items in-process took over 30 minutes at
    load 9, for a state the timed steps never read: each reads its own branch)."""
    parts = {
        run / "steps" / "each%2E1%2Eadd.json": "steps/each%2E{}%2Eadd.json",
        run / "steps" / "each%2E1%2Esuccess.json": "steps/each%2E{}%2Esuccess.json",
        run / "branches" / "each%2E1.json": "branches/each%2E{}.json",
    }
    for source, name in parts.items():
        template = source.read_text()
        for item in range(2, done + 1):
            text = template.replace('"each.1.', f'"each.{item}.').replace('"each.1"', f'"each.{item}"')
            part = json.loads(text)
            if part.get("name") == "add":
                part["attempts"][0]["parameters"]["item"] = item
                part["returned_parameters"]["x"] = 1 + item
            if "_seq" in part:
                part["_seq"] += item
            (run / name.format(item)).write_text(json.dumps(part))


def prepare(folder: Path, store: str, items: int, timed: int) -> None:
    """A project in `folder` with a map of `items` items fanned out on `store`, all but the last `timed`
    items done (item 1 run in-process, the others copies of it)."""
    from magnus_core.single import PLACEHOLDER, execute_single_node, fan_out, job_from_files

    assert items > timed, f"a map of {items} items is too small to time {timed} of them"
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
        done = items - timed
        for step in ("add", "success"):
            assert execute_single_node(job(f"each.{PLACEHOLDER}.{step}", 1)) == 0  # type: ignore[arg-type]
        if store == "file-system":
            _synthesize(folder / "runs" / "r.json", done)
        else:
            _synthesize_parts(folder / "runs" / "r", done)
    finally:
        os.chdir(here)
        sys.path.remove(str(folder))


def measure(
    projects: dict[int, Path], repeat: int, envs: dict[str, dict[str, str]]
) -> dict[tuple[int, str], tuple[float, ...]]:
    """Per size and way of starting: (median wall s, median CPU s, median wall / python -c pass, median CPU
    s of that python -c pass) of `add` in the last items of each size's project (`prepare`d with
    (1 + repeat) * len(envs) items left). Every round runs each size with each way in turn, so the sizes are
    compared in the same minutes as the ways are (one size after the other, a change of the machine's load
    between them read as a growth with the run's size); the first round warms up, not counted."""
    from magnus_core.graph import PLACEHOLDER

    results: dict[tuple[int, str], tuple[list[float], ...]] = {
        (n, way): ([], [], [], []) for n in projects for way in envs
    }
    timed = (1 + repeat) * len(envs)
    next_item = {n: n - timed + 1 for n in projects}
    for round_ in range(1 + repeat):
        for n, folder in projects.items():
            for way, env in envs.items():
                item, next_item[n] = next_item[n], next_item[n] + 1
                c0, t0 = cpu_children(), time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
                bare, bare_cpu = time.perf_counter() - t0, cpu_children() - c0
                c0, t0 = cpu_children(), time.perf_counter()
                subprocess.run(
                    [
                        sys.executable, "-m", "magnus_core", "execute_single_node", "r",
                        f"each.{PLACEHOLDER}.add", "-f", "wide.yaml", "-c", "store.yaml",
                        "--map-variable", json.dumps({"item": item}),
                    ],
                    cwd=folder, env=env, check=True,
                )  # fmt: skip
                if round_ == 0:
                    continue
                walls, cpus, ratios, bare_cpus = results[n, way]
                walls.append(time.perf_counter() - t0)
                cpus.append(cpu_children() - c0)
                ratios.append(walls[-1] / bare)
                bare_cpus.append(bare_cpu)
    return {key: tuple(statistics.median(v) for v in lists) for key, lists in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="file-system,chunked-fs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout, timed turn about")
    args = parser.parse_args()
    sizes = [int(n) for n in os.environ.get("MAGNUS_BENCH_SINGLE_ITEMS", "100 1000").split()]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'store':>12} {'items':>6} {'bytecode':>12} {'wall s':>8} {'CPU s':>7} {'/ python -c pass':>17} "
        f"{'its CPU s':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="magnus-bench-single-") as tmp:
        envs = ways_of_starting(Path(tmp) / "pyc", args.compare)
        for store in args.stores.split(","):
            projects = {n: Path(tmp) / f"{store}-{n}" for n in sizes}
            for n, folder in projects.items():
                prepare(folder, store, n, (1 + args.repeat) * len(envs))
            print(f"{'':>12} load average {os.getloadavg()[0]:.1f} (set up)")
            figures = measure(projects, args.repeat, envs)
            for (n, way), (wall, cpu, ratio, bare_cpu) in figures.items():
                print(f"{store:>12} {n:>6} {way:>12} {wall:8.3f} {cpu:7.3f} {ratio:17.1f} {bare_cpu:9.3f}")
            print(f"{'':>12} load average {os.getloadavg()[0]:.1f}")
            if len(sizes) > 1:
                for way in envs:
                    growth = figures[sizes[-1], way][1] / figures[sizes[0], way][1]
                    print(f"{store:>12} {way}: CPU at {sizes[-1]} items / at {sizes[0]}: {growth:.2f}")


if __name__ == "__main__":
    main()
