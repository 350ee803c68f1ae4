"""Scale-out: a map of 64 items that each sleep 0.5 s, on a Dask LocalCluster vs one local worker.

    python bench/scale.py                 # 64 items x 0.5 s; 2 workers x 2 threads
    python bench/scale.py --items 16      # a quicker look

Prints the wall time with the local executor (`max_workers: 1`), with the dask executor starting its own
LocalCluster (2 workers x 2 threads, start-up included) and on an already running cluster, the speed-ups
(target >= 3x), and the per-step overhead of the per-step entry point: `magnus execute_single_node` run as
a process (process start included) and called in-process (what a Dask worker pays).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PIPELINE = """
dag:
  start_at: make items
  steps:
    make items:
      type: task
      command: bench_scale.make_items
      next: each
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: work
        steps:
          work:
            type: task
            command: bench_scale.work
            next: success
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def setup(folder: Path, items: int, seconds: float) -> None:
    (folder / "bench_scale.py").write_text(
        "import time\n\n"
        f"def make_items():\n    return {{'items': list(range({items}))}}\n\n"
        f"def work(item):\n    time.sleep({seconds})\n    return {{f'done_{{item}}': True}}\n"
    )
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "stub.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    store = (
        f"run_log_store: {{type: chunked-fs, config: {{log_folder: {folder / 'runs'}}}}}\n"
        "catalog: {type: do-nothing}\n"
    )
    (folder / "local.yaml").write_text("executor: {type: local, config: {max_workers: 1}}\n" + store)
    (folder / "dask.yaml").write_text(
        "executor: {type: dask, config: {n_workers: 2, threads_per_worker: 2}}\n" + store
    )


def timed_run(config: str) -> tuple[float, str]:
    from magnus_core.runner import RunRequest, execute, prepare

    start = time.perf_counter()
    log = execute(prepare(RunRequest(file="pipeline.yaml", config_file=config)))
    return time.perf_counter() - start, log.status


def on_running_cluster(folder: Path) -> tuple[float, str]:
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
    try:
        (folder / "running.yaml").write_text(
            f"executor: {{type: dask, config: {{scheduler_address: '{cluster.scheduler_address}'}}}}\n"
            + (folder / "local.yaml").read_text().split("\n", 1)[1]
        )
        timed_run("running.yaml")  # warm the workers' imports once
        return timed_run("running.yaml")
    finally:
        cluster.close()


def entry_point_overhead(folder: Path, repeat: int) -> tuple[float, float]:
    """Seconds per `execute_single_node` of a stub step: as a new process, and called in-process."""
    from magnus_core.single import execute_single_node, job_from_files

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    walls = []
    for i in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "magnus_core",
                "execute_single_node",
                f"proc-{i}",
                "s",
                "--file",
                "stub.yaml",
                "--config-file",
                "local.yaml",
            ],
            env=env,
            check=True,
        )
        walls.append(time.perf_counter() - start)
    calls = []
    for i in range(repeat):
        start = time.perf_counter()
        execute_single_node(job_from_files(f"call-{i}", "s", file="stub.yaml", config_file="local.yaml"))
        calls.append(time.perf_counter() - start)
    return statistics.median(walls), statistics.median(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument(
        "--repeat", type=int, default=10, help="runs of the entry point to take the median of"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="magnus-bench-scale-") as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        setup(folder, args.items, args.seconds)
        ideal = args.items * args.seconds
        print(f"map of {args.items} items x {args.seconds} s (serial work {ideal:.1f} s)")
        local, s1 = timed_run("local.yaml")
        print(f"  local, max_workers 1             {local:7.2f} s  {s1}")
        dask_total, s2 = timed_run("dask.yaml")
        print(
            f"  dask, own LocalCluster 2x2       {dask_total:7.2f} s  {s2}   speed-up {local / dask_total:.2f}x "
            "(cluster start-up included)"
        )
        running, s3 = on_running_cluster(folder)
        print(
            f"  dask, running LocalCluster 2x2   {running:7.2f} s  {s3}   speed-up {local / running:.2f}x "
            f"(target >= 3x; 4 slots, ideal 4x)"
        )
        per_proc, per_call = entry_point_overhead(folder, args.repeat)
        print(f"per-step entry point (median of {args.repeat}, stub step):")
        print(
            f"  magnus execute_single_node as a process  {per_proc * 1000:7.1f} ms (process start included)"
        )
        print(f"  called in-process (as in a Dask worker)  {per_call * 1000:7.1f} ms")
        os.chdir(ROOT)


if __name__ == "__main__":
    main()
