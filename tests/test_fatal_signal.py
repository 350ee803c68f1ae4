"""A python step that segfaults is located (session 9, trial 13 fault 4, major): `magnus show` said only
`train: attempt 0 was cut short: the run's process ended while it ran`, the same as for a SIGKILL, and even
PYTHONFAULTHANDLER=1's traceback was lost (fd 2 is captured into a pipe whose reader dies with the process).
Now the run enables python's faulthandler into `.magnus/fatal.log` of its catalog (magnus_core/fatal.py):
`magnus show` and `magnus logs` say `train: crashed (Segmentation fault) at mlproj/crashy.py:10 in train`
(the user's frame, not ctypes' nor magnus's) and `magnus logs R train` prints faulthandler's text after the
attempt's output. A run that ends normally leaves no such file.

Real runs of `magnus execute` in subprocesses, in a temporary git repository; the segfault is real."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

CRASHY = """import ctypes
import time


def train():
    print("training epoch 1", flush=True)
    time.sleep(0.5)  # its output reaches its file first (docs/logs.md: the last tenth of a second is lost)
    if CRASH:
        ctypes.string_at(0)


def fetch():
    print("fetched", flush=True)
"""

PIPELINE = """dag:
  start_at: fetch
  steps:
    fetch: {type: task, command: mlproj.crashy.fetch, next: train}
    train: {type: task, command: mlproj.crashy.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _project(git_repo: Path, crash: bool) -> None:
    (git_repo / "mlproj").mkdir(exist_ok=True)
    (git_repo / "mlproj" / "__init__.py").write_text("")
    (git_repo / "mlproj" / "crashy.py").write_text(f"CRASH = {crash}\n" + CRASHY)
    (git_repo / "p.yaml").write_text(PIPELINE)


def test_a_segfault_in_a_python_step_is_located_in_show_and_logs(git_repo: Path, magnus: Any) -> None:
    _project(git_repo, crash=True)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "segv", env={"PYTHONFAULTHANDLER": "1"})
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)

    shown = magnus("show", "segv")
    assert shown.returncode == 0, shown.stderr
    assert "train: crashed (Segmentation fault) at mlproj/crashy.py:10 in train" in shown.stdout, shown.stdout
    assert "its output until then: magnus logs segv train" in shown.stdout

    logs = magnus("logs", "segv", "train")
    assert logs.returncode == 0, logs.stderr
    output, _, fault = logs.stdout.partition("Fatal Python error: Segmentation fault")
    assert "training epoch 1" in output  # the attempt's output first, then faulthandler's text
    assert "Current thread 0x" in fault and 'crashy.py", line 10 in train' in fault, logs.stdout
    assert "magnus: train (attempt 0) crashed (Segmentation fault) at mlproj/crashy.py:10 in train" in (
        logs.stderr
    )

    # the failure lines the workbench reads (magnus_core.summary.cut_short_lines, its runs list's panel)
    from magnus_core.stores import make_store
    from magnus_core.summary import cut_short_lines

    log = make_store({"type": "file-system", "config": {}}).get_run("segv")
    assert cut_short_lines(log)[0] == "train: crashed (Segmentation fault) at mlproj/crashy.py:10 in train"


def test_a_run_that_ends_leaves_no_fatal_file(git_repo: Path, magnus: Any) -> None:
    _project(git_repo, crash=False)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "fine")
    assert done.returncode == 0, done.stderr
    assert not (git_repo / ".catalog" / "fine" / ".magnus" / "fatal.log").exists()
    assert (git_repo / ".catalog" / "fine" / ".magnus").is_dir()  # the run's catalog folder is there


def test_a_segfault_after_a_step_turned_faulthandler_off_or_elsewhere_is_located(
    git_repo: Path, magnus: Any
) -> None:
    """Trial 17 F12: a step that called faulthandler.disable(), or faulthandler.enable() into its own
    stderr, left every later crash unlocated (`was cut short`). The run's fatal file is faulthandler's
    again after each python step; turning it off is said."""
    _project(git_repo, crash=True)
    for turned, said in (("faulthandler.disable()", True), ("faulthandler.enable()", False)):
        crashy = git_repo / "mlproj" / "crashy.py"
        crashy.write_text(
            crashy.read_text().replace(
                'print("fetched", flush=True)', f'print("fetched", flush=True); import faulthandler; {turned}'
            )
        )
        run_id = "off" if said else "elsewhere"
        done = magnus("execute", "-f", "p.yaml", "--run-id", run_id)
        assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)
        assert ("magnus: a step turned faulthandler off" in done.stderr) is said, done.stderr
        shown = magnus("show", run_id)
        assert "train: crashed (Segmentation fault) at mlproj/crashy.py:10 in train" in shown.stdout, (
            shown.stdout
        )
        _project(git_repo, crash=True)
