"""Benchmark: what reading a run log without trusting it costs (issue 15).

    python bench/reading.py [--steps 10000] [--runs 2000] [--repeat 5]

1. One run log of N steps (nested map branches, as bench/diff.py builds it), read by load_run_log (a regular
   file check, a capped read, the JSON parse, the nesting-depth check, the surrogate scan, validation)
   against the bare baseline measured in the same run: read_bytes + json.loads + RunLog.model_validate.
2. A cold build of the run index (what `magnus runs` does the first time: every log read and summarised)
   over a store of R runs, with the store's checked reader against the reader it replaced (read_bytes +
   json.loads), in the same run.

Prints the medians and the ratios (checked / bare). There is no target: the figure says what the checks cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.diff import build
from magnus_core.index.sqlite import SQLiteRunIndex
from magnus_core.models.run_log import RunLog
from magnus_core.stores.file_system import FileSystemRunLogStore, load_run_log


def bare(path: Path) -> RunLog:
    return RunLog.model_validate(json.loads(path.read_bytes()))


def median_seconds(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "big.json"
        path.write_text(build(args.steps, seed=1).model_dump_json(indent=4))
        size = path.stat().st_size / 2**20
        checked = median_seconds(lambda: load_run_log(path), args.repeat)
        plain = median_seconds(lambda: bare(path), args.repeat)
        print(
            f"one run log, {args.steps} steps ({size:.1f} MB): load_run_log {checked * 1000:.0f} ms, "
            f"bare {plain * 1000:.0f} ms, ratio {checked / plain:.2f}"
        )

        store_folder = folder / "store"
        store_folder.mkdir()
        small = build(20, seed=2)
        for i in range(args.runs):
            small.run_id = f"run{i:05d}"
            (store_folder / f"{small.run_id}.json").write_text(small.model_dump_json())
        store = FileSystemRunLogStore({"log_folder": str(store_folder)})

        def cold_index() -> None:
            index = SQLiteRunIndex(store, None, notify=lambda message: None)  # in memory: built from nothing
            try:
                index.refresh()
            finally:
                index.close()

        checked_index = median_seconds(cold_index, args.repeat)
        # the same build with the store's reader as it was before issue 15: read_bytes + json.loads
        unchecked = FileSystemRunLogStore({"log_folder": str(store_folder)})
        unchecked.read_json = lambda run_id: json.loads((store_folder / f"{run_id}.json").read_bytes())  # type: ignore[method-assign]
        store = unchecked
        plain_index = median_seconds(cold_index, args.repeat)
        print(
            f"cold run index over {args.runs} runs of 220 step logs: {checked_index:.2f} s with the checked "
            f"reader, {plain_index:.2f} s with read_bytes + json.loads, ratio {checked_index / plain_index:.2f}"
        )


if __name__ == "__main__":
    main()
