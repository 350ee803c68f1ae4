"""A python step's stdout and stderr are kept in one file per attempt, in the order the step wrote them:
stdout is block-buffered and stderr goes a line at a time, so stdout's pending text is flushed just
before each block of stderr reaches the file (output._ErrRaw; trial 22 F2 moved that flush from every
python-level write to stderr, four per `print(a, b, file=sys.stderr)`, to the moment stderr is flushed).
Pieces written without a line's end, several arguments to print, and an explicit flush all keep it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import sys

def mixed():
    print("out one")
    print("err", "one", file=sys.stderr)
    print("out two")
    sys.stderr.write("err two ")  # no line's end yet: stays in stderr's buffer
    print("out three")
    sys.stderr.write("ends\\n")
    print("out", "four", sep="-")
    sys.stderr.write("err three, flushed")
    sys.stderr.flush()
    print()
    print("out five", end="")
    print(" err four", file=sys.stderr)
    print("out six")

def around_children():
    import os, subprocess
    print("py one")
    subprocess.run(["sh", "-c", "echo child one"], check=True)
    print("py two")
    os.system("echo system two")
    print("py three")
    subprocess.run([sys.executable, "-c", "print('child three')"], check=True)
    print("py four")
"""

PIPELINE = """
dag:
  start_at: mixed
  steps:
    mixed: {type: task, command: steps.mixed, next: children}
    children: {type: task, command: steps.around_children, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _run(project: Path, step: str) -> tuple[str, str]:
    """Run the pipeline: what `magnus execute` printed to stdout, and what `step`'s attempt kept."""
    (project / "steps.py").write_text(STEPS)
    (project / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=project)
    assert done.returncode == 0, done.stderr
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    record = log["steps"][step]["attempts"][0]["output"]
    return done.stdout, (project / ".catalog" / record["catalog_relative_path"]).read_text()


def test_stdout_and_stderr_are_kept_in_the_order_written(git_repo: Path) -> None:
    _, kept = _run(git_repo, "mixed")
    assert kept == (
        "out one\n"
        "err one\n"
        "out two\n"
        "out three\n"
        "err two ends\n"
        "out-four\n"
        "err three, flushed\n"
        "out five err four\n"
        "out six\n"
    )
    shown = run_magnus("logs", "r", "mixed", cwd=git_repo)
    assert shown.returncode == 0 and shown.stdout == kept


def test_prints_and_the_child_processes_between_them_are_kept_in_order(git_repo: Path) -> None:
    """A step's prints are block-buffered where its children write to fd 1 at once: what python holds is
    flushed as a child starts (an audit hook on subprocess.Popen, os.system, os.posix_spawn, os.fork), what
    the child wrote passed on first (trial 23 F2: `print("starting training")` then `subprocess.run(...)`
    was kept after the child's lines, piped or not, PYTHONUNBUFFERED or not)."""
    printed, kept = _run(git_repo, "children")
    assert kept == "py one\nchild one\npy two\nsystem two\npy three\nchild three\npy four\n"
    start = printed.index("py one")
    assert printed[start : start + len(kept)] == kept  # streamed so too (stdout a pipe here)
