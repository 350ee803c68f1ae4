"""What one step's metric series costs as it grows: `track_this(step=i, loss=...)` called N times in one
step, in process (trial 17 F6: the series was searched at every point, so N points cost N^2 / 2 looks;
8,000 points took 6.6 s).

    python bench/metrics.py                  # N = 1000 8000 32000
    python bench/metrics.py 1000 100000

Prints, per N, the time of the N calls and the time per point; linear growth keeps the per-point figure
flat (the ratio of the largest N's per-point time to the smallest's is printed last: about 1 when linear,
N_max / N_min when quadratic).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from magnus_core.interaction import StepScope


def per_point(n: int) -> float:
    """Seconds per point of `n` points of one metric tracked at steps 0..n-1 (the best of three)."""
    best = float("inf")
    for _ in range(3):
        scope = StepScope(run_id="bench", tag="", parameters={})
        began = time.perf_counter()
        for i in range(n):
            scope.track("loss", 1.0 / (i + 1), step=i)
        best = min(best, (time.perf_counter() - began) / n)
    return best


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [1000, 8000, 32000]
    figures = {n: per_point(n) for n in counts}
    for n, seconds in figures.items():
        print(f"N={n:>7,}  {seconds * n * 1000:9.1f} ms in all  {seconds * 1e6:6.2f} us per point")
    low, high = min(counts), max(counts)
    print(f"per point at N={high:,} / at N={low:,}: x{figures[high] / figures[low]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
