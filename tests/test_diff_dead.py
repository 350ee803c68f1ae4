"""`magnus diff` reads a run whose process died as `magnus show` and `magnus runs` read it (trial 13 fault 3):
it read the raw log, `status PROCESSING → INTERRUPTED`, the run's duration the time of its last store write
(`80.7ms → 5.12s` for a run killed after 10 s), the attempt cut short not counted (`attempts 0 → 1`), and
a composite or retried step that was running the time of its last write (`fan › duration 10.2ms → 4.02s`
for a parallel that ran a second). Now: `INTERRUPTED (PROCESSING)`, no duration (`-`, null) for the run and
any step running when it died, the begun attempt counted. The workbench's compare screen shows the same
diff (magnus_tui/screens/diff.py: compare()), its header the run's state.

Real runs of `magnus execute` in subprocesses: a branch that segfaults (`ctypes.string_at(0)`), a retried
step killed -9 in its second attempt (tests/crashing.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.crashing import RUN, crashing_project


def _diff(magnus: Any, a: str, b: str) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    done = magnus("diff", a, b, "--json", "--all")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    by_key = {
        (c["step"], c["field"]): c
        for group in shown["groups"].values()
        for c in group["changes"]
        if c["field"]
    }
    return shown, by_key


def test_a_segfaulted_parallel_reads_interrupted_with_no_duration(git_repo: Path, magnus: Any) -> None:
    crashing_project(git_repo)
    run = ("execute", *RUN)
    crashed = magnus(*run, "--run-id", "pc1", env={"CRASH": "segv"})
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    again = magnus(*run, "--use-cached", "pc1", "--run-id", "pc1r")
    assert again.returncode == 0, again.stderr
    shown, by_key = _diff(magnus, "pc1", "pc1r")
    assert (shown["a"]["status"], shown["a"]["state"]) == ("PROCESSING", "INTERRUPTED")
    assert shown["b"]["state"] == "SUCCESS"
    assert by_key[("", "status")]["before"] == "INTERRUPTED (PROCESSING)", by_key[("", "status")]
    assert by_key[("", "duration")]["before"] is None  # not the time of its last write
    fan = by_key[("fan", "status")]
    assert (fan["before"], fan["after"]) == ("INTERRUPTED (PROCESSING)", "SUCCESS")
    assert by_key[("fan", "duration")]["before"] is None, by_key[("fan", "duration")]
    for branch in ("fan.slow.s", "fan.crashy.s"):
        assert by_key[(branch, "status")]["before"] == "INTERRUPTED (PROCESSING)"
        assert by_key[(branch, "duration")]["before"] is None
    # the begun attempts are counted as `magnus show` counts them: equal to the re-run's one each
    assert (("fan.slow.s", "attempts") not in by_key) and (("fan.crashy.s", "attempts") not in by_key), [
        k for k in by_key if k[1] == "attempts"
    ]
    text = magnus("diff", "pc1", "pc1r").stdout
    assert "pc1 (INTERRUPTED (PROCESSING)" in text, text
    assert "PROCESSING → SUCCESS" not in text.replace("INTERRUPTED (PROCESSING) → SUCCESS", ""), text
    show = magnus("show", "pc1").stdout
    assert "INTERRUPTED (PROCESSING)" in show


def test_a_retried_step_killed_in_its_second_attempt(git_repo: Path, magnus: Any) -> None:
    crashing_project(git_repo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "r.yaml", "--run-id", "rk1"],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HANG": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "attempt running" not in magnus("logs", "rk1", "train", "--attempt", "1").stdout:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(1.5)  # its store's spaced write: the failed attempt 0 is in the file
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert magnus("execute", "-f", "r.yaml", "--run-id", "ok").returncode == 0
    _shown, by_key = _diff(magnus, "rk1", "ok")
    assert by_key[("train", "status")]["before"] == "INTERRUPTED (PROCESSING)"
    attempts = by_key[("train", "attempts")]  # 2 (one failed, one cut short) against 1
    assert (attempts["before"], attempts["after"]) == (2, 1), attempts
    assert by_key[("train", "duration")]["before"] is None
    assert by_key[("", "duration")]["before"] is None
    show = magnus("show", "rk1").stdout
    row = next(line for line in show.splitlines() if line.startswith("train "))
    assert row.split()[2:6] == ["INTERRUPTED", "(PROCESSING)", "2", "-"], row
