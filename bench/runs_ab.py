"""`magnus runs` from two checkouts, alternately, on one store: CPU time before and after a change.

    python bench/runs.py --folder /tmp/runs-store        # makes the store (20,000 runs) and keeps it
    python bench/runs_ab.py /tmp/runs-store OLD_CHECKOUT NEW_CHECKOUT [--rounds 4]

Each round runs `magnus runs`, `magnus runs --limit 5`, `magnus runs --where "metrics.auc > 0.95"` and
`magnus compare --tag exp-7` (200 runs) with PYTHONPATH at each checkout in turn (each with its own index
folder); the first round (cold indexes) is dropped; prints the median CPU time (user + system of the child)
and wall time per command and checkout.

--full-look: before each command, the index forgets when it last looked at every log, so each command makes
the full look (a stat of every log) that a command run more than 10 s after the last one makes (since the
fourth sitting checked by GNU find in a child beside the listing: its CPU is counted, as a child's child);
without it, commands a moment apart make the quick look (or none: the store's folder is unchanged).
Bytecode: run `python -m compileall -q CHECKOUT/magnus_core` first when PYTHONDONTWRITEBYTECODE is set, or
every start compiles the modules (a user's install has them compiled).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [
    ["runs"],
    ["runs", "--limit", "5"],
    ["runs", "--where", "metrics.auc > 0.95"],
    ["compare", "--tag", "exp-7"],
]


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def forget_full_look(folder: Path) -> None:
    """Make the next command look at every log (index/sqlite.py keeps when it last did in its meta table)."""
    for path in folder.glob("*.sqlite"):
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM meta WHERE key = 'full_look'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="the folder bench/runs.py --folder made")
    parser.add_argument("checkouts", nargs=2, type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--full-look", action="store_true", help="every command makes the full look")
    args = parser.parse_args()
    found: dict[tuple[str, int], list[float]] = {}
    walls: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for cmd in COMMANDS:
            for k, root in enumerate(args.checkouts):
                env = {
                    **os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1",
                    "MAGNUS_INDEX_DIR": str(args.store / f"index-ab-{k}"),
                }  # fmt: skip
                if args.full_look and round_:
                    forget_full_look(args.store / f"index-ab-{k}")
                c0, w0 = cpu_children(), time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-m", "magnus_core", cmd[0], "-c", str(args.store / "store.yaml"), *cmd[1:]],
                    env=env, capture_output=True, text=True, cwd=root, check=False,
                )  # fmt: skip
                assert out.returncode == 0, out.stderr
                if round_:
                    walls.setdefault((" ".join(cmd), k), []).append(time.perf_counter() - w0)
                    found.setdefault((" ".join(cmd), k), []).append(cpu_children() - c0)
    for (cmd, k), cpus in found.items():
        wall = statistics.median(walls[(cmd, k)])
        print(f"{cmd:<40} {args.checkouts[k]}  CPU {statistics.median(cpus):.3f} s  wall {wall:.3f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
