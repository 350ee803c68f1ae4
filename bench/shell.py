"""CPU cost per shell step of `magnus execute`, two checkouts turn about (the watcher's cost: trial 13 fault 1).

    python bench/shell.py --compare /var/tmp/s10-old            # N = 200 shell steps, 5 pairs
    python bench/shell.py --compare OLD --repeat 9 --steps 500

Each pipeline is N shell steps (`command: "true"`) -> success, on the file-system store, run as
`magnus execute -f shell.yaml` in a new process with PYTHONPATH at the checkout. The figures are CPU time (user
+ system, wait4): magnus with every shell it waited for, per step; and, per run, what it left to be
re-parented (the watcher, which outlives magnus by an instant; a shell's `<(env -0)` its shell does not wait
for): this process is made a child subreaper (PR_SET_CHILD_SUBREAPER), so they are reaped here and counted. Runs alternate old, new, old, new...: a load that changes
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
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def pipeline(n: int) -> str:
    lines = ["dag:", "  start_at: s0", "  steps:"]
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "success"
        lines.append(f'    s{i}: {{type: task, command_type: shell, command: "true", next: {nxt}}}')
    lines += ["    success: {type: success}", "    fail: {type: fail}", ""]
    return "\n".join(lines)


def one(checkout: Path, folder: Path) -> tuple[float, float]:
    """CPU seconds of magnus (with the shells it waited for), and of the largest process re-parented here
    when it ended: the watcher (the others are a shell's `<(env -0)`, which its shell does not wait for,
    about 1 ms each)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "shell.yaml"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    magnus = 0.0
    others: list[float] = []
    while True:  # every child, the re-parented ones too, until none is left
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu = usage.ru_utime + usage.ru_stime
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            magnus = cpu
        else:
            others.append(cpu)
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: magnus execute exited {proc.returncode}")
    return magnus, max(others, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeat):
            for name, checkout in (("old", old), ("new", new)):
                magnus, others = one(checkout, folder)
                times[name].append((magnus / args.steps * 1000, others * 1000))
            loads.append(os.getloadavg()[0])
    for name, pairs in times.items():
        per_step = [m for m, _ in pairs]
        rest = [o for _, o in pairs]
        print(
            f"{name}: magnus and its shells {statistics.median(per_step):.3f} ms CPU per shell step "
            f"[{min(per_step):.3f}-{max(per_step):.3f}]; the watcher "
            f"{statistics.median(rest):.1f} ms a run [{min(rest):.1f}-{max(rest):.1f}] "
            f"({args.steps} steps, {args.repeat} runs)"
        )
    print(
        f"load average (1 min) during the sitting: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
