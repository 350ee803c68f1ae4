"""Trial 24 F1: the child processes of a python step write to fd 1 and 2, two pipes magnus pumps. A thread
per pipe raced: "print, then the reason on stderr" was kept the other way round about one time in five,
and a child writing pieces of lines (python under PYTHONUNBUFFERED: `print("out", i)` is four writes) had
the other stream's line spliced into its own (`outerr 0`, then ` 0`), in the file and on the terminal.
Both pumps' pipes are now passed on together, stdout's first (output.FdPump._pass_ready), and a line one
stream left unended waits a moment for its end (output._Unended), in shell steps' pipes too (ChildPipes).
The real command line, a real child process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import run_magnus

CHILDREN = 10

STEPS = f"""
import os, subprocess, sys

def reasons():
    for i in range({CHILDREN}):
        subprocess.run(["sh", "-c", f"echo downloading {{i}}; echo failed {{i}} >&2"], check=True)

CHILD = '''
import sys
for i in range(20):
    print("out", i)
    print("err", i, file=sys.stderr)
'''

BIG = "import sys\\nfor i in range(3000): sys.stdout.write('x' * 100 + '\\\\n')\\nprint('child end')"

def after():
    for i in range({CHILDREN}):
        subprocess.run([sys.executable, "-c", BIG], check=True)
        print(f"parent {{i}}", file=sys.stderr)  # (a line at a time: at once to the file)

def pieces():
    subprocess.run([sys.executable, "-c", CHILD], check=True, env={{**os.environ, "PYTHONUNBUFFERED": "1"}})
"""

PIPELINE = """
dag:
  start_at: reasons
  steps:
    reasons: {type: task, command: steps.reasons, next: after}
    after: {type: task, command: steps.after, next: pieces}
    pieces: {type: task, command: steps.pieces, next: shell}
    shell:
      type: task
      command_type: shell
      command: PYTHONUNBUFFERED=1 "$PY" -c "$CHILD"
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def _kept(project: Path, log: dict[str, object], step: str) -> str:
    record = log["steps"][step]["attempts"][0]["output"]  # type: ignore[index]
    return (project / ".catalog" / record["catalog_relative_path"]).read_text()


def test_a_python_steps_children_keep_each_line_whole_and_stdout_before_its_reason(git_repo: Path) -> None:
    steps = STEPS
    (git_repo / "steps.py").write_text(steps)
    (git_repo / "p.yaml").write_text(PIPELINE)
    child = steps.split("'''")[1]
    done = run_magnus(
        "execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, env={"CHILD": child, "PY": sys.executable}
    )
    assert done.returncode == 0, done.stderr
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())

    # "print, then the reason on stderr", ten children: each keeps its order
    kept = _kept(git_repo, log, "reasons").splitlines()
    assert kept == [line for i in range(CHILDREN) for line in (f"downloading {i}", f"failed {i}")]

    # a print made as a child has ended comes after all the child wrote (300 KB, more than the pipe holds)
    lines = [line for line in _kept(git_repo, log, "after").splitlines() if line[0] != "x"]
    assert lines == [line for i in range(CHILDREN) for line in ("child end", f"parent {i}")]

    # pieces of lines on both streams: every line whole, each stream's lines in their order, in the file
    # and on the terminal (here two pipes, magnus's stdout and stderr)
    for step in ("pieces", "shell"):
        lines = _kept(git_repo, log, step).splitlines()
        for name in ("out", "err"):
            assert [line for line in lines if line.startswith(name)] == [f"{name} {i}" for i in range(20)]
        assert len(lines) == 40, (step, lines)
    shown = [
        line for line in done.stdout.splitlines() + done.stderr.splitlines() if line[:3] in ("out", "err")
    ]
    assert sorted(shown) == sorted(2 * [f"{name} {i}" for name in ("out", "err") for i in range(20)])


CHECKS = """
import subprocess


def started():
    from magnus_core import output

    print("a step's child seen:", bool(output._STARTED))


def spawn():
    subprocess.run(["true"], check=True)
"""

CHECKED = """
dag:
  start_at: shell
  steps:
    shell: {type: task, command_type: shell, command: echo hi, next: before}
    before: {type: task, command: steps.started, next: spawn}
    spawn: {type: task, command: steps.spawn, next: after}
    after: {type: task, command: steps.started, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_only_a_steps_own_children_make_its_prints_wait_for_the_pipes(git_repo: Path) -> None:
    """What magnus starts itself (git for the run's code identity, the watcher, the output writer process, a
    shell step's command, whose output has pipes of its own) does not make every later print of every step
    wait for fd 1 and 2's pipes (output._STARTED: a select() per block python writes); a step's child does."""
    (git_repo / "steps.py").write_text(CHECKS)
    (git_repo / "p.yaml").write_text(CHECKED)
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "c", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("a step's")] == [
        "a step's child seen: False",
        "a step's child seen: True",
    ]
