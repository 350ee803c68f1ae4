"""What a child process forked from a python step prints through python (multiprocessing's fork start method,
a fork Pool's workers, os.fork()) is kept in the step's output file, as a subprocess's output is (trial 16
F12: it reached the terminal only, the child writing to its copy of the parent's in-memory attempt file).
The real `magnus execute` in a subprocess, in a temporary git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FORKS = """
import logging
import multiprocessing as mp
import os
import sys

log = logging.getLogger("forks")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


def _child(i):
    print(f"child {i} prints")
    print(f"child {i} err", file=sys.stderr)
    log.info("child %s logs", i)
    return i * i


def process():
    p = mp.get_context("fork").Process(target=_child, args=(7,))
    p.start()
    p.join()
    print("parent after process", p.exitcode)


def pool():
    pl = mp.get_context("fork").Pool(2)
    result = pl.map(_child, range(3))
    pl.close()
    pl.join()
    print("pool result", result)


def raw():
    pid = os.fork()
    if pid == 0:
        print("raw child prints", flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("raw parent done")
"""

PIPELINE = """
dag:
  start_at: process
  steps:
    process: {type: task, command: forks.process, next: pool}
    pool: {type: task, command: forks.pool, next: raw}
    raw: {type: task, command: forks.raw, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_forked_childs_python_output_is_in_the_steps_file(git_repo: Path, magnus: Any) -> None:
    (git_repo / "forks.py").write_text(FORKS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 0, (result.stdout, result.stderr)
    output = git_repo / ".catalog" / "r" / ".magnus" / "output"
    process = (output / "process.0.log").read_text()
    for line in ("child 7 prints", "child 7 err", "INFO child 7 logs", "parent after process 0"):
        assert line in process, process
    pool = (output / "pool.0.log").read_text()
    for i in range(3):
        for line in (f"child {i} prints", f"child {i} err", f"INFO child {i} logs"):
            assert line in pool, pool
    assert "pool result [0, 1, 4]" in pool
    raw = (output / "raw.0.log").read_text()
    assert "raw child prints" in raw and "raw parent done" in raw, raw
    # once each: not in the parent's file twice, nor lost on the terminal's way
    assert result.stdout.count("child 7 prints") == 1
    assert (result.stdout + result.stderr).count("child 1 err") == 1
