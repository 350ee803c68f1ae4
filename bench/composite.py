"""Composite-node cost per branch, for each run-log store.

    python bench/composite.py            # map over 100 and 1,000 items; parallel of 10 and 100 branches
    python bench/composite.py --store postgres   # the postgres store too (starts a PostgreSQL server)

Each branch is one trivial python step plus its success node. Prints total seconds and ms per branch; the
per-branch cost should not grow with the number of branches (the last column is the ratio large/small).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from magnus_core.runner import RunRequest, execute, prepare

FUNCS = "def noop(x=None):\n    return None\n"


def map_pipeline(n: int) -> str:
    return """
dag:
  start_at: m
  steps:
    m:
      type: map
      iterate_on: xs
      iterate_as: x
      next: success
      branch:
        start_at: t
        steps:
          t: {type: task, command: bench_funcs.noop, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def parallel_pipeline(n: int) -> str:
    branches = "".join(
        f"""
        b{i}:
          start_at: t
          steps:
            t: {{type: task, command: bench_funcs.noop, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}"""
        for i in range(n)
    )
    return f"""
dag:
  start_at: p
  steps:
    p:
      type: parallel
      next: success
      branches:{branches}
    success: {{type: success}}
    fail: {{type: fail}}
"""


PG_DSN = ""


def timed(store: str, text: str, n: int, params: dict) -> float:
    Path("p.yaml").write_text(text)
    block = f"{{type: {store}}}"
    if store == "postgres":
        import uuid

        block = f"{{type: postgres, config: {{dsn: '{PG_DSN}', schema: bench_{uuid.uuid4().hex[:8]}}}}}"
    Path("c.yaml").write_text(f"run_log_store: {block}\ncatalog: {{type: do-nothing}}\n")
    start = time.perf_counter()
    prepared = prepare(RunRequest(file="p.yaml", config_file="c.yaml", parameters=params))
    log = execute(prepared)
    elapsed = time.perf_counter() - start
    assert log.status == "SUCCESS", log.status
    return elapsed


def main() -> None:
    global PG_DSN
    stores = ["buffered", "file-system", "chunked-fs"]
    server = None
    if "--store" in sys.argv and sys.argv[sys.argv.index("--store") + 1] == "postgres":
        from tests.servers import PostgresServer

        server = PostgresServer().start()
        os.environ.update(server.env)
        PG_DSN = server.dsn
        stores = ["file-system", "postgres"]
    try:
        run(stores)
    finally:
        if server is not None:
            server.stop()


def run(stores: list[str]) -> None:
    work = tempfile.mkdtemp(prefix="magnus-bench-")
    os.chdir(work)
    sys.path.insert(0, work)
    Path("bench_funcs.py").write_text(FUNCS)
    print(f"{'store':<12} {'shape':<10} {'n':>6} {'total s':>9} {'ms/branch':>10}  ratio (large/small)")
    for store in stores:
        for kind, sizes in (("map", (100, 1000)), ("parallel", (10, 100))):
            per = []
            for n in sizes:
                text = map_pipeline(n) if kind == "map" else parallel_pipeline(n)
                params = {"xs": list(range(n))} if kind == "map" else {}
                total = timed(store, text, n, params)
                per.append(total / n * 1000)
                ratio = f"{per[-1] / per[0]:.2f}" if len(per) == 2 else ""
                print(f"{store:<12} {kind:<10} {n:>6} {total:>9.3f} {per[-1]:>10.3f}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
