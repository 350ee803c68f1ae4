"""A step that kills its own process (`os.kill(os.getpid(), signal.SIGKILL)`) keeps everything it and its
children wrote before: the signal is audited (output._flush_before_spawn), and before it is sent what fd 1
and 2's pipes hold is passed on, python's buffers flushed and the attempt's growing file written (trial 23
F4: a child's line written just before was missing from `magnus logs`, 2 runs in 12; with more output,
most of it, most runs)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_magnus

STEPS = """
import os, signal, subprocess, sys

def die():
    print("loaded 1000 rows")
    child = "import sys\\nfor i in range(3000): print('child line %04d ' % i + 'x' * 60)\\nprint('child last line')"
    subprocess.run([sys.executable, "-c", child], check=True)
    print("about to die", file=sys.stderr)
    os.kill(os.getpid(), signal.SIGKILL)
"""

PIPELINE = """
dag:
  start_at: die
  steps:
    die: {type: task, command: steps.die, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_what_a_step_wrote_before_killing_its_own_process_is_kept(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    for run_id in ("k1", "k2"):
        done = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=git_repo)
        assert done.returncode == -9, done.stderr  # (SIGKILL: the shell's 137)
        shown = run_magnus("logs", run_id, "die", cwd=git_repo)
        lines = shown.stdout.splitlines()
        assert lines[0] == "loaded 1000 rows", shown.stdout[:300]
        child = [line for line in lines if line.startswith("child line ")]
        assert len(child) == 3000 and "child last line" in lines, (run_id, len(child))
        assert "about to die" in lines
