"""How long one signal takes to stop a run with concurrent python and shell branches, and what is left.

    python bench/stop.py              # 10 stops per signal (MAGNUS_BENCH_STOPS to change)

The pipeline is tests/test_stop.py's: a parallel step (max_workers 4) with a python loop, a shell step
ignoring SIGTERM with a background child, and a map of python steps each with a child process. Each stop
waits until everything runs, sends one SIGINT (or SIGTERM) and times until magnus exits: the target is
2 s plus the steps' own clean-up. The shell step ignores SIGTERM, so it is SIGKILLed after the grace
period (MAGNUS_STOP_GRACE, set to 1 s here): the figure includes that second. A second figure, with a
shell step that ends on SIGTERM, is the stop itself.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil

from tests.test_stop import EXPECTED, FUNCS, PIPELINE

STOPS = int(os.environ.get("MAGNUS_BENCH_STOPS", "10"))


def one(folder: Path, sig: int, pipeline: str) -> tuple[float, int, int]:
    """(seconds from the signal to exit, exit code, processes left)."""
    for old in (folder / "pids").iterdir():
        old.unlink()
    (folder / "p.yaml").write_text(pipeline)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-p", "params.yaml"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MAGNUS_STOP_GRACE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while {p.name for p in (folder / "pids").iterdir()} != EXPECTED:
        time.sleep(0.02)
    time.sleep(0.2)
    pids = [int(p.read_text()) for p in (folder / "pids").iterdir() if p.read_text()]
    began = time.perf_counter()
    proc.send_signal(sig)
    code = proc.wait()
    took = time.perf_counter() - began
    left = sum(1 for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie")
    return took, code, left


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        (folder / "stopf.py").write_text(FUNCS)
        (folder / "params.yaml").write_text("items: [a, b, c]\n")
        (folder / "pids").mkdir()
        polite = PIPELINE.replace('trap "" TERM; ', "")
        print(
            f"{STOPS} stops each; wall seconds from the signal to magnus's exit (load {os.getloadavg()[0]:.1f})"
        )
        for label, pipeline in (("shell ignores SIGTERM", PIPELINE), ("shell ends on SIGTERM", polite)):
            for sig in (signal.SIGINT, signal.SIGTERM):
                runs = [one(folder, sig, pipeline) for _ in range(STOPS)]
                times = [t for t, _, _ in runs]
                codes = sorted({c for _, c, _ in runs})
                left = sum(n for _, _, n in runs)
                print(
                    f"{label:22} {sig.name:8} median {statistics.median(times):.2f} s, max {max(times):.2f} s, "
                    f"exit codes {codes}, processes left {left}"
                )


if __name__ == "__main__":
    main()
