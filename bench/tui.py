"""Workbench speed (issue 19 target 6, issue 20): opening runs, the runs list, live lag, idle CPU, keys.

    python bench/tui.py                 # every figure (headless, App.run_test)
    python bench/tui.py --steps 20000   # a bigger log to open
    python bench/tui.py --runs 20000    # a bigger store for the runs list
    python bench/tui.py --only open --repeat 3 --code /work/wt/main   # old code's figures, to compare

1. Keys while a pure-python step computes for 8 s (in the run's process) switch the run screen's tabs: time
   from the key press to the screen having reacted. Target: under 100 ms.
2. Opening a run of 10, 1,000 and N steps (and at N, one keystroke of `/` finding a step by name) (a map of items of 9 steps each, plus top-level steps) from the
   store: time and CPU from the call the runs list's enter makes to the first frame with the dag's rows, and
   to the screen settled (tabs, the step's detail, the estimate), beside the time the core alone takes to
   read the log (the floor). Targets (the first frame): 0.3 s up to 1,000 steps, 1 s at 10,000.
3. The runs list over a store of 5,000 runs (--runs): time to drawn with a new run index and with it made
   (target 1 s); then the workbench's CPU share while a run executes in another terminal (its step sleeps),
   on the runs list and on that run's screen (target 2%).
4. A pipeline of 1,000 trivial steps (--live-steps) started from the workbench (a `magnus execute` process
   of its own, followed from the notices it sends on its socket), then the same from another terminal
   (followed by polling the store): for each step the time from its end, as its process recorded it, to the
   run screen showing it, and the workbench's CPU over the run. Target: median under 100 ms, no growth
   (first 100 steps vs last 100). Each step is a shell `true` (a real step: a process, its output
   captured), so steps end about 80 a second and the figure is latency, not the throughput of a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# --code DIR: the workbench and core of another checkout (old code), to compare old and new in one sitting
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv[:-1] else ROOT
sys.path.insert(0, str(CODE))

from magnus_core.files import atomic_write
from magnus_core.models.run_log import BranchLog, CodeIdentity, RunLog, StepAttempt, StepLog
from magnus_core.stores.file_system import load_run_log


def big_log(n: int) -> RunLog:
    """n steps: 10 top-level, the rest inside a map of items with 9 steps each."""
    ident = [CodeIdentity(code_identifier="0" * 40, code_identifier_dependable=True)]

    def step(name: str, internal: str, i: int) -> StepLog:
        t = f"2026-01-01 10:{(i // 60) % 60:02d}:{i % 60:02d}.000000"
        return StepLog(
            name=name,
            internal_name=internal,
            status="SUCCESS",
            code_identities=ident,
            attempts=[StepAttempt(attempt_number=0, start_time=t, end_time=t, status="SUCCESS")],
            user_defined_metrics={"m": i},
        )

    log = RunLog(run_id="big", status="SUCCESS", parameters={"items": n})
    for i in range(9):
        log.steps[f"s{i}"] = step(f"s{i}", f"s{i}", i)
    mapped = StepLog(name="map", internal_name="map", status="SUCCESS", step_type="map")
    count = 10
    item = 0
    while count < n:
        branch = BranchLog(internal_name=f"map.{item}", status="SUCCESS")
        for j in range(min(9, n - count)):
            internal = f"map.{item}.t{j}"
            branch.steps[internal] = step(f"t{j}", internal, count)
            count += 1
        mapped.branches[branch.internal_name] = branch
        item += 1
    log.steps["map"] = mapped
    return log


@dataclass
class Opened:
    """Opening a run: seconds (wall) and CPU seconds from the call the runs list's enter makes to the first
    frame with the dag's rows (`frame`, `frame_cpu`), and to the screen settled (`settled`, `settled_cpu`:
    the tabs, the selected step's detail and the estimate drawn too); the seconds the core alone takes to read
    the log (`floor`), and the rows of the dag."""

    frame: float
    frame_cpu: float
    settled: float
    settled_cpu: float
    floor: float
    rows: int
    find: float | None = None  # one keystroke of `/` finding a step (the 8th letter of `map.1100`), wall
    find_cpu: float | None = None


async def first_render(folder: Path, steps: int) -> Opened:
    """Open a run of `steps` steps as the runs list's enter does (headless, 100x30)."""
    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.run import RunScreen
    from magnus_tui.source import Project
    from magnus_tui.widgets.dag_tree import DagTree

    path = folder / ".run_log_store" / "big.json"
    path.unlink(missing_ok=True)
    atomic_write(path, big_log(steps).model_dump_json())
    t = time.perf_counter()
    load_run_log(path)
    floor = time.perf_counter() - t
    app = MagnusApp(Project.open(None, folder))
    frame: list[float] = []
    rows_drawn = False
    draw_line = DagTree.render_line

    def render_line(tree: DagTree, y: int) -> Any:  # a row of the dag drawn (not a blank line of the pane)
        nonlocal rows_drawn
        rows_drawn = rows_drawn or tree.scroll_offset.y + y < len(tree.lines)
        return draw_line(tree, y)

    display = app._display  # what hands each frame to the terminal (headless: nowhere)

    def displayed(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if not frame and rows_drawn and isinstance(screen, RunScreen) and renderable is not None:
            frame.extend((time.perf_counter(), time.process_time()))

    DagTree.render_line = render_line  # type: ignore[method-assign]
    app._display = displayed  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            cpu, t = cpu0, t0 = time.process_time(), time.perf_counter()
            app.open_run("big")
            await pilot.pause()
            screen = app.screen
            tree = screen.query_one("#dag", DagTree)
            while not (getattr(screen, "ready", screen.query("#tabs")) and tree.lines):
                await pilot.pause(0.01)
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            settled, settled_cpu = time.perf_counter() - t, time.process_time() - cpu
            rows = len(tree.nodes_by_key)
            find = find_cpu = None
            if hasattr(screen, "action_find") and steps > 1_000:  # (old code: no find)
                await pilot.press("slash", *"map.110")
                await pilot.pause()
                cpu, t = time.process_time(), time.perf_counter()
                await pilot.press("0")
                while tree.cursor_key != "map.1100":  # (its branch row)
                    await pilot.pause(0.001)
                find, find_cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        DagTree.render_line = draw_line  # type: ignore[method-assign]
    path.unlink()
    assert frame, "no frame with the dag's rows was drawn"
    return Opened(frame[0] - t0, frame[1] - cpu0, settled, settled_cpu, floor, rows, find, find_cpu)


def small_log(i: int) -> str:
    """A finished 3-step run log, run id and times numbered by `i` (newest last)."""
    ident = [CodeIdentity(code_identifier="0" * 40, code_identifier_dependable=True)]
    t = f"2026-01-{1 + i // 1440 % 28:02d} {i // 60 % 24:02d}:{i % 60:02d}:00.000000"
    log = RunLog(run_id=f"run{i:06d}", status="SUCCESS" if i % 7 else "FAIL", parameters={"i": i}, tag="t")
    for name in ("a", "b", "c"):
        attempt = StepAttempt(attempt_number=0, start_time=t, end_time=t, status="SUCCESS")
        log.steps[name] = StepLog(
            name=name, internal_name=name, status="SUCCESS", code_identities=ident, attempts=[attempt]
        )
    return log.model_dump_json()


async def runs_list(
    folder: Path, count: int, idle: float
) -> tuple[tuple[float, float], tuple[float, float], float, float]:
    """A store of `count` runs: seconds (wall, CPU) from the workbench starting to its runs list drawn with
    every run, with a fresh run index (the first time) and with the index already made; then the workbench's CPU
    share (CPU seconds per second) while the list stays open `idle` seconds with a run executing in
    another terminal (a step that sleeps), and on the run screen following that run."""
    import subprocess

    from textual.widgets import DataTable

    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    store = folder / ".run_log_store"
    store.mkdir(exist_ok=True)
    for i in range(count):
        atomic_write(store / f"run{i:06d}.json", small_log(i))

    async def opened() -> tuple[float, float]:
        app = MagnusApp(Project.open(None, folder))
        t, cpu = time.perf_counter(), time.process_time()
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.screen.query_one("#runs", DataTable)
            while len(getattr(app.screen, "entries", ())) < count or not table.row_count:
                await pilot.pause(0.01)
            await pilot.pause()
            return time.perf_counter() - t, time.process_time() - cpu

    cold = await opened()
    warm = await opened()
    (folder / "slow.yaml").write_text(
        "dag:\n  start_at: nap\n  steps:\n"
        f"    nap: {{type: task, command_type: shell, command: 'sleep {idle * 2 + 10}', next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(CODE)}
    command = [sys.executable, "-m", "magnus_core", "execute", "-f", "slow.yaml", "--run-id", "slow"]
    other = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not (store / "slow.json").exists():
            await asyncio.sleep(0.01)
        app = MagnusApp(Project.open(None, folder))
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.screen.query_one("#runs", DataTable)
            while len(getattr(app.screen, "entries", ())) < count + 1 or not table.row_count:
                await pilot.pause(0.01)
            await pilot.pause(2.0)  # settled: the index made, the running run listed
            cpu, t = time.process_time(), time.perf_counter()
            await asyncio.sleep(idle)
            on_list = (time.process_time() - cpu) / (time.perf_counter() - t)
            app.open_run("slow")
            await pilot.pause(2.0)
            cpu, t = time.process_time(), time.perf_counter()
            await asyncio.sleep(idle)
            on_run = (time.process_time() - cpu) / (time.perf_counter() - t)
    finally:
        other.kill()
        other.wait(10)
    for path in store.glob("*.json"):
        path.unlink()
    return cold, warm, on_list, on_run


def linear_pipeline(n: int) -> str:
    lines = [
        "dag:",
        "  start_at: wait",
        "  steps:",
        (
            "    wait: {type: task, command_type: shell, command: 'while [ ! -f go ]; do sleep 0.01; done', "
            "next: s0}"
        ),
    ]
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "success"
        lines.append(f'    s{i}: {{type: task, command_type: shell, command: "true", next: {nxt}}}')
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    return "\n".join(lines) + "\n"


async def live_lag(folder: Path, steps: int, here: bool = True) -> tuple[list[float], float, float]:
    """For each step: seconds from the step's end (as its process recorded it in the run log) to the run
    screen showing it; and the workbench's CPU seconds and wall seconds while the steps ran. `here`: the run
    is started from the workbench (a `magnus execute` process of its own that tells of each write on its
    socket); else in another terminal (a `magnus execute` the workbench knows nothing of: it polls the
    store)."""
    import subprocess

    from magnus_core.runner import RunRequest
    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.run import RunScreen
    from magnus_tui.source import Project
    from magnus_tui.view import parse_time

    (folder / "go").unlink(missing_ok=True)
    (folder / "linear.yaml").write_text(linear_pipeline(steps))
    app = MagnusApp(Project.open(None, folder))
    shown: dict[str, float] = {}

    def probe(keys: list[str]) -> None:
        now = time.time()  # the wall clock: the run's process records its times with it
        for key in keys:
            shown.setdefault(key, now)

    other: subprocess.Popen[bytes] | None = None
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 300
        if here:
            app.start_run(RunRequest(file="linear.yaml"))
        else:
            run_id = f"other-{steps}"
            env = {**os.environ, "PYTHONPATH": str(CODE)}
            command = [
                sys.executable,
                "-m",
                "magnus_core",
                "execute",
                "-f",
                "linear.yaml",
                "--run-id",
                run_id,
            ]
            other = subprocess.Popen(
                command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            while not (folder / ".run_log_store" / f"{run_id}.json").exists():
                assert time.monotonic() < deadline and other.poll() is None
                await asyncio.sleep(0.01)
            app.open_run(run_id)
        while not (isinstance(app.screen, RunScreen) and app.screen.query("#dag")):
            assert time.monotonic() < deadline
            await pilot.pause(0.01)
        screen = app.screen
        run_id = screen.run_id
        await pilot.pause(0.3)
        shown.clear()  # the planned rows drawn at the start are not steps finishing
        screen.probe = probe
        cpu, wall = time.process_time(), time.perf_counter()
        (folder / "go").write_text("")  # the screen is up: let the steps run
        while screen.following:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await pilot.pause(0.2)
        log = app.project.get_run(run_id)
        if other is not None:
            other.wait(60)
    lags = []
    for key, step in log.steps.items():
        end = parse_time(step.attempts[-1].end_time) if step.attempts else None
        if key.startswith("s") and key[1:].isdigit() and key in shown and end is not None:
            lags.append(shown[key] - end.timestamp())
    return lags, cpu, wall


BUSY = """
def busy(seconds: float = 8.0):
    import time
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:  # pure-python work: holds the GIL like real step code
        n += sum(i * i for i in range(1000))
"""


async def key_latency(folder: Path, presses: int = 20) -> list[float]:
    """Seconds from a key press to the screen having reacted, while a python step computes."""
    from magnus_core.runner import RunRequest
    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.run import RunScreen
    from magnus_tui.source import Project

    (folder / "bench_busy.py").write_text(BUSY)
    (folder / "busy.yaml").write_text(
        "dag:\n  start_at: busy\n  steps:\n"
        "    busy: {type: task, command: bench_busy.busy, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    app = MagnusApp(Project.open(None, folder))
    out: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(RunRequest(file="busy.yaml"))
        while not (isinstance(app.screen, RunScreen) and getattr(app.screen, "ready", True)):
            await pilot.pause(0.01)
        screen = app.screen
        from textual import events
        from textual.widgets import TabbedContent

        tabs = screen.query_one(TabbedContent)
        await pilot.pause(0.3)
        launched = app.launched[screen.run_id]
        for i in range(presses):
            if not launched.running:
                break
            want = "run" if i % 2 == 0 else "step"
            key = "p" if want == "run" else "i"
            t = time.perf_counter()
            # as the terminal driver does (pilot.press would also wait for the process to go idle,
            # which it never does while a step computes)
            app.post_message(events.Key(key, key))
            while tabs.active != want:
                await asyncio.sleep(0.001)
            out.append(time.perf_counter() - t)
            await asyncio.sleep(0.05)
        while launched.running:
            await pilot.pause(0.05)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--live-steps", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5_000, help="runs in the store for the runs list")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument(
        "--only", default="keys,open,runs,live", help="the parts to measure, of keys,open,runs,live"
    )
    parser.add_argument("--repeat", type=int, default=1, help="times each run is opened (open)")
    parser.add_argument("--code", type=Path, help="measure the workbench of this checkout (old code)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"code: {CODE}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        # each figure on its own: what one part leaves for the garbage collector must not bill the next
        keys = asyncio.run(key_latency(folder)) if "keys" in parts else None
        if keys is None:
            pass
        elif not keys:
            print("keys: the step ended before the screen was up (a loaded machine): no figure")
        else:
            print(
                f"keys while a python step computes: median {statistics.median(keys) * 1000:.1f} ms, "
                f"max {max(keys) * 1000:.1f} ms over {len(keys)} presses (target < 100 ms)"
            )
        gc.collect()
        sizes = (10, 1_000, args.steps) if "open" in parts else ()
        renders = [(n, asyncio.run(first_render(folder, n))) for n in sizes for _ in range(args.repeat)]
        for n, o in renders:
            target = " (target <= 0.3 s)" if n <= 1_000 else " (target <= 1 s)" if n <= 10_000 else ""
            print(
                f"open a {n:,}-step run, key to drawn dag: {o.frame:.3f} s{target}, CPU {o.frame_cpu:.3f} s; "
                f"settled (tabs, detail, estimate) {o.settled:.3f} s, CPU {o.settled_cpu:.3f} s; {o.rows:,} rows; "
                f"reading the log alone (core, pydantic): {o.floor:.3f} s"
                + (
                    f"; / finding a step, one key: {o.find * 1000:.1f} ms, CPU {o.find_cpu * 1000:.1f} ms"
                    if o.find is not None and o.find_cpu is not None
                    else ""
                )
            )
        gc.collect()
        if "runs" in parts:
            cold, warm, on_list, on_run = asyncio.run(runs_list(folder, args.runs, args.idle))
            print(
                f"runs list of {args.runs:,} runs drawn: {cold[0]:.2f} s (CPU {cold[1]:.2f}) with a new run "
                f"index, {warm[0]:.2f} s (CPU {warm[1]:.2f}) with it made (target <= 1 s); CPU while a run "
                f"executes (its step sleeps), idle {args.idle:.0f} s: runs "
                f"list {on_list * 100:.1f}%, run screen {on_run * 100:.1f}% (target <= 2%)"
            )
        for here in (True, False) if "live" in parts else ():  # the same run, started here, then elsewhere
            gc.collect()
            lags, cpu, wall = asyncio.run(live_lag(folder, args.live_steps, here))
            if not lags:
                print("live: no step was measured")
                continue
            ms = [x * 1000 for x in lags]
            first, last = ms[:100], ms[-100:]
            how = "started here (its notices)" if here else "from another terminal (polling the store)"
            print(
                f"live {args.live_steps:,}-step run {how}: step finished -> shown, median "
                f"{statistics.median(ms):.1f} ms, p95 {sorted(ms)[int(len(ms) * 0.95) - 1]:.1f} ms over {len(ms)} "
                f"steps (target median < 100 ms); first 100 median {statistics.median(first):.1f} ms, last 100 "
                f"{statistics.median(last):.1f} ms; workbench CPU {cpu:.2f} s over {wall:.2f} s"
            )
        print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
