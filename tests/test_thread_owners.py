"""Whose output is a thread's: the step's that started it (trial 20). A thread a step starts prints into that
step's file while the step runs, and to the terminal only once it has ended, never into a later step's.

- N9: once a step had left a quiet thread running (tqdm's monitor, a heartbeat), every later step's worker
  threads (a joined `with ThreadPoolExecutor()`) printed to the terminal only: in no file and not in the
  failure summary. A pool a step left and a later step reused lost that step's work the same way.
- F2 beside other branches: a thread a parallel's or map's branch started (max_workers 2) printed into the
  next step's file and failure summary once the branches had ended; while the branch ran, its lines were
  in no file.
- Neighbours: a thread started by a thread an earlier step left is that step's; a thread a step's module
  starts as it is imported (before the run) is no step's.

Real runs of `magnus execute` in subprocesses, read back with `magnus logs RUN STEP`. Threads and steps
wait for each other through files (no timing): what a thread prints while a given step runs is printed
while it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STEPS = """
import concurrent.futures
import threading
import time
from pathlib import Path

POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2)


def wait_for(name):
    for _ in range(2000):  # (10 s at most: a test that fails does not hang)
        if Path(name).exists():
            return
        time.sleep(0.005)


def uses_tqdm():
    from tqdm import tqdm

    for _ in tqdm(range(5)):
        time.sleep(0.01)
    print("epoch done")


def leaves_quiet_thread():
    threading.Thread(target=time.sleep, args=(3600,), name="monitor", daemon=True).start()
    print("monitor started")


def with_pool_fails():
    def load(i):
        print("worker", i, "loading shard", flush=True)
        return i

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(load, range(3)))
    print("results", results)
    raise ValueError("shard 2 was empty")


def pool_first():
    both = threading.Barrier(2)  # (the pool makes its two threads now: the next step makes none)
    print("a", list(POOL.map(lambda i: (both.wait(), print("pool a", i, flush=True), i)[2], range(2))))

    def late():  # work of this step still running as it ends
        wait_for("second-started")
        print("late work of the first step", flush=True)
        Path("late-printed").write_text("")

    POOL.submit(late)


def pool_second():
    Path("second-started").write_text("")
    wait_for("late-printed")
    print("b", list(POOL.map(lambda i: (print("pool b", i, flush=True), i)[1], range(2))))


def leaves_parent():
    def child():
        print("child of the left thread", flush=True)
        Path("child-printed").write_text("")
        time.sleep(3600)  # still running as the next step ends

    def parent():
        wait_for("second-started")
        threading.Thread(target=child, name="child", daemon=True).start()
        time.sleep(3600)

    threading.Thread(target=parent, name="parent", daemon=True).start()
    print("left parent")


def sees_child():
    Path("second-started").write_text("")
    wait_for("child-printed")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(print, "second's worker", flush=True).result()
    print("second saw the child print")


def leaves_printer(name):
    def loop():
        print("bg of", name, 0, flush=True)
        Path(f"bg0-{name}").write_text("")
        wait_for("sh-started")
        for i in range(1, 4):
            print("bg of", name, i, flush=True)
        Path(f"bg-{name}").write_text("")

    threading.Thread(target=loop, name=f"printer-{name}", daemon=True).start()
    wait_for(f"bg0-{name}")  # its first line is printed while the step runs
    print("left a printer", name)


def branch_a():
    leaves_printer("A")


def branch_b():
    print("B starts", flush=True)
    wait_for("bg0-A")
    print("B ends")


def items():
    return {"items": ["a", "b", "c", "d"]}


def per_item(chunk):
    leaves_printer(chunk)


def pooled(name):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for i in pool.map(lambda i: (print(name, "worker", i, flush=True), i)[1], range(3)):
            pass
    Path(f"pooled-{name}").write_text("")
    wait_for(f"pooled-{'B' if name == 'A' else 'A'}")  # (both pools printed while both branches ran)
    print(name, "done")


def pooled_a():
    pooled("A")


def pooled_b():
    pooled("B")
"""

IMPORTED = """
import threading
import time
from pathlib import Path


def _beat():
    for i in range(1, 6000):
        print("heartbeat", i, flush=True)
        Path("beats").write_text(str(i))
        time.sleep(0.01)


threading.Thread(target=_beat, name="heartbeat", daemon=True).start()


def _beats():
    try:
        return int(Path("beats").read_text() or 0)
    except (OSError, ValueError):
        return 0


def step():
    start = _beats()
    for _ in range(2000):  # until the thread printed while this step runs
        if _beats() >= start + 2:
            break
        time.sleep(0.005)
    print("step runs")
"""


def _sequence(*commands: str) -> str:
    names = [f"s{i}" for i in range(1, len(commands) + 1)]
    steps = "".join(
        f"    {name}: {{type: task, command: {command}, next: {following}}}\n"
        for name, command, following in zip(names, commands, [*names[1:], "success"], strict=True)
    )
    return (
        f"dag:\n  start_at: s1\n  steps:\n{steps}    success: {{type: success}}\n    fail: {{type: fail}}\n"
    )


def _branch(command: str) -> str:
    return (
        f"{{start_at: s, steps: {{s: {{type: task, command: {command}, next: success}}, "
        "success: {type: success}, fail: {type: fail}}}"
    )


# the shell step after the branches: it runs while the threads they left print (sh-started), and fails
SHELL = (
    "'echo shell starts; touch sh-started; for i in $(seq 500); do {done} && break; sleep 0.02; done; "
    'echo "disk full" >&2; exit 3\''
)

PARALLEL = f"""
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: sh
      branches:
        A: {_branch("steps.branch_a")}
        B: {_branch("steps.branch_b")}
    sh: {{type: task, command_type: shell, command: {SHELL.format(done="[ -e bg-A ]")}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
executor: {{type: local, config: {{max_workers: 2}}}}
"""

MAP = f"""
dag:
  start_at: p
  steps:
    p: {{type: task, command: steps.items, next: each}}
    each:
      type: map
      iterate_on: items
      iterate_as: chunk
      next: sh
      branch: {_branch("steps.per_item")}
    sh: {{type: task, command_type: shell, command: {SHELL.format(done=" && ".join(f"[ -e bg-{c} ]" for c in "abcd"))}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
executor: {{type: local, config: {{max_workers: 2}}}}
"""

POOLED = f"""
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        A: {_branch("steps.pooled_a")}
        B: {_branch("steps.pooled_b")}
    success: {{type: success}}
    fail: {{type: fail}}
executor: {{type: local, config: {{max_workers: 2}}}}
"""

STRAY = "[magnus: a thread still running as this step ended ({}): what it prints from here on goes to the terminal only"


def _run(project: Path, magnus: Any, pipeline: str, run_id: str, code: int = 0) -> Any:
    (project / "steps.py").write_text(STEPS)
    (project / f"{run_id}.yaml").write_text(pipeline)
    done = magnus("execute", "--file", f"{run_id}.yaml", "--run-id", run_id)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def _logs(magnus: Any, run_id: str, step: str) -> list[str]:
    shown = magnus("logs", run_id, step)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()


def _summary(done: Any, step: str) -> list[str]:
    """The last lines the failure summary shows under `step`'s error (`  | line`)."""
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{step}: "))
    shown = []
    for line in lines[start + 1 :]:
        if line.startswith("  | "):
            shown.append(line[4:])
        elif shown:
            break
    return shown


@pytest.mark.parametrize("first", ["uses_tqdm", "leaves_quiet_thread"])
def test_a_later_steps_threads_print_into_its_file(git_repo: Path, magnus: Any, first: str) -> None:
    """After a step left tqdm's monitor (or any quiet daemon thread) running, the next step's joined pool
    printed to the terminal only: its worker lines were in neither its file nor its failure summary."""
    done = _run(git_repo, magnus, _sequence(f"steps.{first}", "steps.with_pool_fails"), "r", code=1)
    if first == "uses_tqdm":  # tqdm's monitor never prints: not named (trial 23 F10), still followed
        assert not any(line.startswith("[magnus:") for line in _logs(magnus, "r", "s1"))
    else:
        assert _logs(magnus, "r", "s1")[-1].startswith(STRAY.format("monitor"))
    workers = [f"worker {i} loading shard" for i in range(3)]
    kept = _logs(magnus, "r", "s2")
    assert sorted(kept[:3]) == workers and kept[3] == "results [0, 1, 2]", kept
    assert kept[-1] == "ValueError: shard 2 was empty"
    shown = _summary(done, "s2")
    assert sorted(shown[:3]) == workers and shown[3] == "results [0, 1, 2]", done.stdout
    assert not any(line.startswith("[magnus:") for line in kept)


def test_a_pool_a_step_left_runs_a_later_steps_work_for_that_step(git_repo: Path, magnus: Any) -> None:
    """A module-level pool the first step used and the second reused: the second step's work printed to
    the terminal only. Now work is the step's that gave it: the first step's work still running as the
    second runs is on the terminal only, the second's is in its file."""
    done = _run(git_repo, magnus, _sequence("steps.pool_first", "steps.pool_second"), "r")
    second = _logs(magnus, "r", "s2")
    assert sorted(second[:2]) == ["pool b 0", "pool b 1"] and second[2:] == ["b [0, 1]"], second
    assert "late work of the first step" in done.stdout.splitlines()  # (the terminal)
    first = _logs(magnus, "r", "s1")
    assert sorted(first[:2]) == ["pool a 0", "pool a 1"] and first[2] == "a [0, 1]", first
    assert first[3].startswith("[magnus: a thread pool's thread still running as this step ended (")
    assert "work a later step gives the pool prints into that step's file" in first[3] and len(first) == 4


def test_a_thread_started_by_a_left_thread_is_the_earlier_steps(git_repo: Path, magnus: Any) -> None:
    """A thread a left thread starts while the next step runs is the earlier step's: not in the next
    step's file, nor named there as left by it; the next step's own pool still prints into its file."""
    done = _run(git_repo, magnus, _sequence("steps.leaves_parent", "steps.sees_child"), "r")
    first = _logs(magnus, "r", "s1")
    assert first[0] == "left parent" and first[1].startswith(STRAY.format("parent")) and len(first) == 2
    assert _logs(magnus, "r", "s2") == ["second's worker", "second saw the child print"]
    assert "child of the left thread" in done.stdout.splitlines()


def test_a_thread_a_module_starts_as_imported_is_no_steps(git_repo: Path, magnus: Any) -> None:
    """A heartbeat a step's module starts as it is imported (before the run) printed into the file of
    whichever step ran as it printed; it is no step's: its lines are on the terminal only."""
    (git_repo / "beat.py").write_text(IMPORTED)
    done = _run(git_repo, magnus, _sequence("beat.step", "beat.step"), "r")
    assert _logs(magnus, "r", "s1") == ["step runs"]
    assert _logs(magnus, "r", "s2") == ["step runs"]
    assert sum(line.startswith("heartbeat") for line in done.stdout.splitlines()) >= 4


def test_a_branchs_thread_prints_into_its_file_and_no_later_steps(git_repo: Path, magnus: Any) -> None:
    """A thread a parallel's branch left printing (max_workers 2) printed into the next step's file and its
    failure summary once the branches had ended. Now what it prints while its branch runs is that branch's,
    the branch's file ends saying it was left running, and the rest is on the terminal only."""
    done = _run(git_repo, magnus, PARALLEL, "r", code=1)
    assert _logs(magnus, "r", "sh") == ["shell starts", "disk full"]
    assert _summary(done, "sh") == ["shell starts", "disk full"]
    kept = _logs(magnus, "r", "par.A.s")
    assert kept[:2] == ["bg of A 0", "left a printer A"], kept
    assert kept[2].startswith(STRAY.format("printer-A")) and len(kept) == 3, kept
    assert _logs(magnus, "r", "par.B.s") == ["B starts", "B ends"]
    terminal = done.stdout.splitlines()
    assert all(f"bg of A {i}" in terminal for i in range(4)), done.stdout


def test_a_map_items_threads_print_into_no_later_steps_file(git_repo: Path, magnus: Any) -> None:
    """Each map item (max_workers 2) left a printing thread: their lines were at the end of the next shell
    step's file and in its failure summary."""
    done = _run(git_repo, magnus, MAP, "m", code=1)
    assert _logs(magnus, "m", "sh") == ["shell starts", "disk full"]
    assert _summary(done, "sh") == ["shell starts", "disk full"]
    for chunk in "abcd":
        kept = _logs(magnus, "m", f"each.{chunk}.s")
        assert kept[:2] == [f"bg of {chunk} 0", f"left a printer {chunk}"], kept
        assert kept[2].startswith(STRAY.format(f"printer-{chunk}")) and len(kept) == 3, kept


def test_a_branchs_own_pool_prints_into_its_file(git_repo: Path, magnus: Any) -> None:
    """Beside another branch, the workers of a branch's `with ThreadPoolExecutor()` printed to the terminal
    only (magnus could not tell whose they were): each branch's are in its own file."""
    _run(git_repo, magnus, POOLED, "p")
    for name, other in (("A", "B"), ("B", "A")):
        kept = _logs(magnus, "p", f"par.{name}.s")
        assert sorted(kept[:3]) == [f"{name} worker {i}" for i in range(3)], kept
        assert kept[3:] == [f"{name} done"], kept
        assert not any(line.startswith(other) for line in kept)
