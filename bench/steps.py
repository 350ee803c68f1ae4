"""Per-step cost of a linear pipeline with the file-system run-log store (and the postgres store).

    python bench/steps.py            # N = 1, 100, 1000, 10000
    python bench/steps.py 300 3000   # chosen sizes (--repeat K: median of K runs, default 3)
    python bench/steps.py --store postgres   # the same on the postgres store, beside the file-system's
                                             # (starts a PostgreSQL server, tests/servers.py)

Each pipeline is N trivial python-function steps (`bench_steps.noop`), run in-process through the same
`prepare()`/`execute()` the CLI calls, in a temporary folder. Prints total time and ms per step, the ratio
per-step(N=10000)/per-step(N=100) (target <= 1.5, flat) and the cost of `magnus --help` start-up imports.
Targets: <= 1 ms per step. The original tool (0.3.12): 43 ms/step at N=100, 95 ms/step at N=300.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (1, 100, 1000, 10000)


def write_pipeline(folder: Path, n: int) -> Path:
    """A dag step0 -> step1 -> ... -> success, every step the same no-op function."""
    (folder / "bench_steps.py").write_text("def noop():\n    return None\n")
    lines = ["dag:", "  start_at: step0", "  steps:"]
    for i in range(n):
        nxt = f"step{i + 1}" if i + 1 < n else "success"
        lines += [
            f"    step{i}:",
            "      type: task",
            "      command: bench_steps.noop",
            f"      next: {nxt}",
        ]
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    path = folder / "pipeline.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


STORE_CONFIG: str | None = None  # a config file naming another store (--store postgres)


def run_once(n: int) -> tuple[float, float, str]:
    """(seconds to load and validate, seconds to execute, status) for one pipeline of n steps."""
    from magnus_core.runner import RunRequest, execute, prepare

    with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
        here = os.getcwd()
        os.chdir(tmp)
        try:
            pipeline = write_pipeline(Path(tmp), n)
            t0 = time.perf_counter()
            prepared = prepare(RunRequest(file=str(pipeline), config_file=STORE_CONFIG))
            t1 = time.perf_counter()
            with open(os.devnull, "w") as sink:
                log = execute(prepared, output=sink)
            t2 = time.perf_counter()
            if STORE_CONFIG is None:
                on_disk = Path(prepared.store.location(log.run_id))
                assert on_disk.exists(), "the file-system store wrote no file"
            else:
                stored = prepared.store.get_run(log.run_id)
                assert len(stored.steps) == n + 1, "the store lost steps"
            return t1 - t0, t2 - t1, log.status
        finally:
            os.chdir(here)


def help_import_ms() -> float:
    """Total of `python -X importtime -m magnus_core --help` (cumulative us of top-level imports), in ms."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "magnus_core", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    total = 0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if m and len(m.group(2)) == 1:  # top-level imports only; nested ones are inside their cumulative
            total += int(m.group(1))
    return total / 1000


def help_wall_ms(repeat: int = 5) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "magnus_core", "--help"], capture_output=True, env=env, check=True
        )
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def compare_postgres(sizes: list[int], repeat: int) -> int:
    """ms per step on the file-system store and on the postgres store, N by N, and the ratio pg/fs."""
    global STORE_CONFIG
    import uuid

    from tests.servers import PostgresServer

    with PostgresServer() as server:
        os.environ.update(server.env)
        config = Path(tempfile.mkdtemp(prefix="magnus-bench-")) / "pg.yaml"
        results: dict[str, dict[int, float]] = {}
        for store in ("file-system", "postgres"):
            STORE_CONFIG = None
            if store == "postgres":
                schema = f"bench_{uuid.uuid4().hex[:8]}"
                config.write_text(
                    f"run_log_store: {{type: postgres, config: {{dsn: '{server.dsn}', schema: {schema}}}}}\n"
                )
                STORE_CONFIG = str(config)
            run_once(1)
            results[store] = {}
            for n in sizes:
                runs = sorted((run_once(n) for _ in range(repeat)), key=lambda r: r[1])
                results[store][n] = runs[len(runs) // 2][1] * 1000 / n
        print(f"median of {repeat} runs per N; run ms/step (executing, not loading the YAML)")
        print(f"{'N':>7} {'file-system':>12} {'postgres':>10} {'pg/fs':>7}")
        for n in sizes:
            fs, pg = results["file-system"][n], results["postgres"][n]
            print(f"{n:>7} {fs:>12.3f} {pg:>10.3f} {pg / fs:>7.2f}")
        pg = results["postgres"]
        if 100 in pg and 10000 in pg:
            ratio = pg[10000] / pg[100]
            print(
                f"postgres ratio ms/step N=10000 / N=100: {ratio:.2f}  {'ok' if ratio <= 1.5 else 'MISSED (flat: <= 1.5)'}"
            )
    return 0


def main(argv: list[str]) -> int:
    repeat = 3
    if "--store" in argv:
        i = argv.index("--store")
        store = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
        if store != "postgres":
            raise SystemExit("--store: only 'postgres' (the file-system store is the default)")
        if "--repeat" in argv:
            i = argv.index("--repeat")
            repeat = int(argv[i + 1])
            argv = argv[:i] + argv[i + 2 :]
        return compare_postgres([int(a) for a in argv] or list(DEFAULT_SIZES), repeat)
    if "--repeat" in argv:
        i = argv.index("--repeat")
        repeat = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    sizes = [int(a) for a in argv] or list(DEFAULT_SIZES)
    run_once(1)  # warm-up: one-time imports (gitpython, the store, the task runners) are not per-step costs
    per_step: dict[int, float] = {}
    print(f"median of {repeat} runs per N; 'load' is reading and validating the YAML, 'run' is executing")
    print(
        f"{'N':>7} {'load s':>8} {'run s':>8} {'total s':>8} {'run ms/step':>12} {'total ms/step':>14}  status"
    )
    for n in sizes:
        results = sorted((run_once(n) for _ in range(repeat)), key=lambda r: r[1])
        load, run, status = results[len(results) // 2]
        per_step[n] = run * 1000 / n
        print(
            f"{n:>7} {load:>8.3f} {run:>8.3f} {load + run:>8.3f} {per_step[n]:>12.3f} "
            f"{(load + run) * 1000 / n:>14.3f}  {status}",
            flush=True,
        )
    if 100 in per_step and 10000 in per_step:
        ratio = per_step[10000] / per_step[100]
        verdict = "ok" if ratio <= 1.5 else "MISSED (target <= 1.5)"
        print(f"ratio run ms/step N=10000 / N=100: {ratio:.2f}  {verdict}")
        if 1 in per_step:  # without the fixed cost of a run, which flatters large N
            fixed = per_step[1] / 1000
            marginal = {n: (per_step[n] * n / 1000 - fixed) * 1000 / (n - 1) for n in (100, 10000)}
            ratio = marginal[10000] / marginal[100]
            print(
                f"marginal ms/step (run(N) - run(1)) / (N - 1): N=100 {marginal[100]:.3f}, "
                f"N=10000 {marginal[10000]:.3f}, ratio {ratio:.2f}  {'ok' if ratio <= 1.5 else 'MISSED'}"
            )
    steady = {n: v for n, v in per_step.items() if n >= 100} or per_step
    worst = max(steady.values())
    print(
        f"worst run ms/step (N >= 100; N=1 is the fixed cost of a run): {worst:.3f}  "
        f"{'ok' if worst <= 1.0 else 'MISSED (target <= 1 ms)'}"
    )
    print(
        f"magnus --help: imports {help_import_ms():.0f} ms (python -X importtime), "
        f"wall {help_wall_ms():.0f} ms (best of 5; target < 150 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
