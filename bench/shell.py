"""CPU cost per shell step of `magnus execute`, two checkouts turn about (the watcher's cost: trial 13 fault 1).

    python bench/shell.py --compare /var/tmp/s10-old            # N = 200 shell steps, 5 pairs
    python bench/shell.py --compare OLD --repeat 9 --steps 500

Each pipeline is N shell steps (`command: "true"`) -> success, on the file-system store, run as
`magnus execute -f shell.yaml` in a new process with PYTHONPATH at the checkout. The figure is the CPU time
(user + system) of the whole tree, per step: magnus, every shell it started, and the watcher (which outlives
magnus by an instant and is re-parented: this process is made a child subreaper, PR_SET_CHILD_SUBREAPER,
so the watcher is reaped here and counted). Runs alternate old, new, old, new...: a load that changes
during the sitting weighs on both. Medians and [min-max]; the load average is printed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def pipeline(n: int) -> str:
    lines = ["dag:", "  start_at: s0", "  steps:"]
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "success"
        lines.append(f'    s{i}: {{type: task, command_type: shell, command: "true", next: {nxt}}}')
    lines += ["    success: {type: success}", "    fail: {type: fail}", ""]
    return "\n".join(lines)


def reap_all() -> None:
    """Wait for and reap every child (the re-parented watcher too), so that os.times() counts them."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        if pid == 0:
            return


def one(checkout: Path, folder: Path) -> float:
    before = os.times()
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "shell.yaml"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"},
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {done.stderr.decode()[-2000:]}")
    time.sleep(0.2)  # the watcher ends at magnus's end: reaped here (subreaper)
    reap_all()
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", required=True, help="the other checkout (run first in each pair)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        print("warning: not a subreaper: the watcher's CPU is not counted", file=sys.stderr)
    old, new = Path(args.compare).resolve(), HERE
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "shell.yaml").write_text(pipeline(args.steps))
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        one(new, folder)  # warm the caches (parse cache, page cache) for both
        one(old, folder)
        times: dict[str, list[float]] = {"old": [], "new": []}
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeat):
            times["old"].append(one(old, folder) / args.steps * 1000)
            times["new"].append(one(new, folder) / args.steps * 1000)
            loads.append(os.getloadavg()[0])
    for name, values in times.items():
        print(
            f"{name}: {statistics.median(values):.3f} ms CPU per shell step "
            f"[{min(values):.3f}-{max(values):.3f}] ({args.steps} steps, {args.repeat} runs)"
        )
    print(f"load average (1 min) during the sitting: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
