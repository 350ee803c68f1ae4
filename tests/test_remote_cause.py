"""A failure inside a process pool's worker is located at the worker's line: multiprocessing.Pool and
concurrent.futures.ProcessPoolExecutor raise the worker's exception again in the step with the worker's
traceback, as text, for its cause (RemoteTraceback); that text is read as the worker's exception, its
type, message and frames (trial 23 F6: `caused by RemoteTraceback`, an empty message, no frame; the
worker's file and line were only in the kept output, as an absolute path)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def feature(i):
    if i == 3:
        raise ValueError(f"feature {i}: NaN in column 'age'")
    return i


def with_pool():
    with multiprocessing.Pool(2) as pool:
        print(pool.map(feature, range(5)))


def with_futures():
    with ProcessPoolExecutor(2) as pool:
        print(list(pool.map(feature, range(5))))
"""

PIPELINE = """
dag:
  start_at: pool
  steps:
    pool: {type: task, command: steps.with_pool, next: success, on_failure: futures}
    futures: {type: task, command: steps.with_futures, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_pool_workers_failure_is_located_at_the_workers_line(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 1, done.stdout + done.stderr
    said = "caused by ValueError: feature 3: NaN in column 'age' (raised in a worker process), at steps.py:8 in feature"
    assert done.stdout.count(said) == 2, done.stdout
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    for step, line in (("pool", 14), ("futures", 19)):
        error = log["steps"][step]["attempts"][0]["error"]
        assert error["type"] == "ValueError"
        assert ("steps.py", line) in [(frame["file"], frame["line"]) for frame in error["frames"]]
        cause = error["cause"]
        assert cause["type"] == "ValueError"
        assert cause["message"] == "feature 3: NaN in column 'age' (raised in a worker process)"
        innermost = cause["frames"][-1]
        assert (innermost["file"], innermost["line"], innermost["function"]) == ("steps.py", 8, "feature")
        assert innermost["text"].startswith("raise ValueError(")
    shown = run_magnus("show", "r", cwd=git_repo)
    assert said in shown.stdout


QUOTED = '''
import traceback


class _RemoteTraceback(Exception):
    """A pool's cause quoted with three single quotes, the last one closing its last line."""

    def __init__(self, tb):
        self.tb = tb

    def __str__(self):
        return self.tb


def feature(i):
    raise KeyError(f"column {i}")


def quoted():
    try:
        feature(7)
    except KeyError:
        text = traceback.format_exc().rstrip("\\n")
    raise RuntimeError("a task failed") from _RemoteTraceback("\\n\\'\\'\\'\\n" + text + "\\'\\'\\'")
'''


def test_a_remote_traceback_quoted_with_single_quotes_is_read_too(git_repo: Path) -> None:
    """trial 24: `caused by ''':`, the closing quote read as the worker's exception type."""
    (git_repo / "steps.py").write_text(QUOTED)
    pipeline = PIPELINE.replace("steps.with_pool", "steps.quoted").replace(
        "steps.with_futures", "steps.feature"
    )
    (git_repo / "p.yaml").write_text(pipeline)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "q", cwd=git_repo)
    assert (
        "caused by KeyError: 'column 7' (raised in a worker process), at steps.py:16 in feature"
        in done.stdout
    )
    cause = json.loads((git_repo / ".run_log_store" / "q.json").read_text())["steps"]["pool"]["attempts"][0]
    assert cause["error"]["cause"]["type"] == "KeyError"


def test_the_summary_folds_the_causes_tracebacks_and_keeps_the_steps_prints(git_repo: Path) -> None:
    """trial 25: a pool worker's failure filled the summary's ten last lines with its cause's traceback
    (the quote, a blank line, `The above exception was the direct cause ...`): the step's own prints were
    pushed out. The causes' tracebacks fold into one line; the `caused by` line says where it was raised."""
    steps = STEPS.replace(
        "def with_pool():\n", 'def with_pool():\n    for i in range(4):\n        print(f"queued {i}")\n'
    )
    (git_repo / "steps.py").write_text(steps)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "f", cwd=git_repo)
    assert done.returncode == 1
    block = done.stdout.split("\npool: ValueError", 1)[1].split("  all of it:", 1)[0]
    assert "  | queued 3\n  | [magnus: the exception's causes folded (" in block, block
    assert "The above exception was the direct cause" not in block and '"""' not in block
    assert block.rstrip().endswith("  | ValueError: feature 3: NaN in column 'age'")
    kept = run_magnus("logs", "f", "pool", cwd=git_repo).stdout  # the kept output is whole
    assert "The above exception was the direct cause of the following exception:" in kept
