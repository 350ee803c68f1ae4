"""Benchmark: `magnus runs --where` and `magnus compare` on the postgres store, answered by SQL on the store's
own run_index table, against the per-user SQLite index over the same store (what issue 23 left: each user's
first query read every run).

    python bench/runs_postgres.py [--runs 2000] [--repeat 3]     (or MAGNUS_BENCH_PG_RUNS=20000)

Starts a local PostgreSQL server (tests/servers.py, the wheel's binaries), writes N runs like bench/runs.py's
(5 steps, metrics, 5 parameters, tags of 200 runs) with put_run, then measures in this one sitting:
- the cold build of the table (every run read once, in batches) against reading every run with get_run (the
  baseline: what any index must read once) and against a cold SQLite index over the same store;
- a refresh with nothing changed, and after one run changed (runs read: 1);
- in-process `--where "metrics.auc > 0.95"`: the postgres index (one SQL query) and the SQLite index (warm);
- end to end as new processes, with a warm table: `magnus runs --where ...`, `magnus runs --limit 5`,
  `magnus compare --tag exp-0`, with `python -c pass` for scale.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import runs as runs_bench  # bench/runs.py: the same run logs

from magnus_core.index import RunQuery
from magnus_core.index.sqlite import SQLiteRunIndex
from magnus_core.models.run_log import RunLog
from magnus_core.query import parse_filter
from magnus_core.stores import make_store


def timed(fn: object, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("MAGNUS_BENCH_PG_RUNS", "2000")))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from tests.servers import PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix="magnus-bench-pg-runs-"))
    os.environ["MAGNUS_INDEX_DIR"] = str(tmp / "index")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.runs} runs")
    with PostgresServer() as server:
        os.environ.update(server.env)
        block = {"type": "postgres", "config": {"dsn": server.dsn, "schema": f"bench_{uuid.uuid4().hex[:8]}"}}
        store = make_store(block)
        import random

        rng = random.Random(22)
        t0 = time.perf_counter()
        for i in range(args.runs):
            store.put_run(RunLog.model_validate(runs_bench.run_log(i, rng)))
        print(f"store: {args.runs} runs written with put_run in {time.perf_counter() - t0:.1f} s")
        ids = store.list_run_ids()

        def read_all() -> None:
            for run_id in ids:
                store.get_run(run_id)

        def drop_table_rows() -> None:
            store.db.run("bench", lambda c: c.execute(store._sql("DELETE FROM {t}.run_index")))

        def cold_pg() -> None:
            drop_table_rows()
            report = store.run_index().refresh()
            assert report.read == args.runs, report

        def cold_sqlite() -> None:
            index = SQLiteRunIndex(store, tmp / f"cold-{uuid.uuid4().hex}.sqlite", notify=print)
            index.refresh()
            index.close()

        base = timed(read_all)
        pg_cold = timed(cold_pg)
        sqlite_cold = timed(cold_sqlite)
        print(f"read every run once with get_run:        {base:.2f} s")
        print(
            f"cold build, postgres run_index table:    {pg_cold:.2f} s = {pg_cold / base:.2f}x get_run of every run"
        )
        print(f"cold build, SQLite index over the store: {sqlite_cold:.2f} s = {sqlite_cold / base:.2f}x")
        index = store.run_index()
        nothing = timed(index.refresh, args.repeat)
        print(f"refresh, nothing changed:                {nothing * 1000:.1f} ms (one query)")
        store.attach("run-000007")
        store.update_run("run-000007", tag="moved")
        store.close("run-000007")
        t0 = time.perf_counter()
        report = index.refresh()
        print(
            f"refresh after one run changed:           {(time.perf_counter() - t0) * 1000:.1f} ms, runs read: {report.read}"
        )
        where = RunQuery(where=parse_filter("metrics.auc > 0.95"))
        pg_query = timed(lambda: index.query(where), args.repeat)
        sqlite_index = SQLiteRunIndex(store, tmp / "warm.sqlite", notify=print)
        sqlite_index.refresh()
        sqlite_query = timed(lambda: sqlite_index.query(where), args.repeat)
        rows = len(index.query(where).runs)
        assert rows == len(sqlite_index.query(where).runs)
        sqlite_index.close()
        print(f"in-process --where 'metrics.auc > 0.95' ({rows} runs): postgres {pg_query * 1000:.1f} ms, "
              f"SQLite (warm) {sqlite_query * 1000:.1f} ms")  # fmt: skip

        config = tmp / "pg.yaml"
        config.write_text(f"run_log_store: {{type: postgres, config: {{dsn: '{server.dsn}', schema: {block['config']['schema']}}}}}\n")  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}

        def cpu_children() -> float:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime

        print(f"\nend to end, median of {args.repeat} (new processes; stdout captured): wall, CPU")
        for label, cmd in (
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ('magnus runs --where "metrics.auc > 0.95"', ["runs", "-c", str(config), "--where", "metrics.auc > 0.95"]),
            ("magnus runs --limit 5", ["runs", "-c", str(config), "--limit", "5"]),
            ("magnus compare --tag exp-0  (200 runs)", ["compare", "-c", str(config), "--tag", "exp-0"]),
        ):  # fmt: skip
            full = cmd if cmd[0] == sys.executable else [sys.executable, "-m", "magnus_core", *cmd]
            walls, cpus = [], []
            for _ in range(args.repeat):
                c0, t0 = cpu_children(), time.perf_counter()
                out = subprocess.run(full, env=env, capture_output=True, text=True, cwd=tmp, check=False)
                walls.append(time.perf_counter() - t0)
                cpus.append(cpu_children() - c0)
                assert out.returncode == 0, out.stderr
            lines = len(out.stdout.splitlines())
            print(
                f"  {label:<45} {statistics.median(walls):.3f} s  {statistics.median(cpus):.3f} s  {lines} lines"
            )


if __name__ == "__main__":
    main()
