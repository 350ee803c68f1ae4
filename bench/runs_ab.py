"""`magnus runs` from two checkouts, alternately, on one store: CPU time before and after a change.

    python bench/runs.py --folder /tmp/runs-store        # makes the store (20,000 runs) and keeps it
    python bench/runs_ab.py /tmp/runs-store OLD_CHECKOUT NEW_CHECKOUT [--rounds 4]

Each round runs `magnus runs`, `magnus runs --limit 5`, `magnus runs --where "metrics.auc > 0.95"` and
`magnus compare --tag exp-7` (200 runs) with PYTHONPATH at each checkout in turn (each with its own index folder); the first round (cold indexes) is
dropped; prints the median CPU time (user + system of the child) per command and checkout.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="the folder bench/runs.py --folder made")
    parser.add_argument("checkouts", nargs=2, type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    found: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for cmd in COMMANDS:
            for k, root in enumerate(args.checkouts):
                env = {
                    **os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1",
                    "MAGNUS_INDEX_DIR": str(args.store / f"index-ab-{k}"),
                }  # fmt: skip
                c0 = cpu_children()
                out = subprocess.run(
                    [sys.executable, "-m", "magnus_core", cmd[0], "-c", str(args.store / "store.yaml"), *cmd[1:]],
                    env=env, capture_output=True, text=True, cwd=root, check=False,
                )  # fmt: skip
                assert out.returncode == 0, out.stderr
                if round_:
                    found.setdefault((" ".join(cmd), k), []).append(cpu_children() - c0)
    for (cmd, k), cpus in found.items():
        print(f"{cmd:<40} {args.checkouts[k]}  CPU {statistics.median(cpus):.3f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
