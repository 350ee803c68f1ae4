"""A step that kills the magnus process at once (session 9, trial 12 fault 10, a blocker): a segfault in a C
extension (`ctypes.string_at(0)`), an immediate SIGKILL (the OOM killer's). The run log kept nothing of what
the run did since its last spaced write: on the file-system store the steps that had succeeded were missing
(`"steps": {}`) and the crashing step "never ran"; on chunked-fs the crashing step "never ran" (its part is
written 50 ms after it begins). Now each store's journal (magnus_core/stores/journal.py) holds every event
as it happens, and every reader sees it: `magnus show`, `magnus logs`, `magnus runs`, the workbench's view
(through magnus_core), and a `--use-cached` re-run reuses the steps that succeeded. A torn last line of a
journal (the process died inside its write) is not committed: ignored.

Real runs of `magnus execute` in subprocesses, in a temporary git repository; the crash is real."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

STEPS = """
import ctypes
import os
import signal


def ok():
    print("fine", flush=True)


def crash():
    print("calling the C extension with batch 17", flush=True)
    how = os.environ.get("CRASH", "")
    if how == "segv":
        ctypes.string_at(0)
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
"""

PIPELINE = """dag:
  start_at: s0
  steps:
    s0: {type: task, command: steps.ok, next: s1}
    s1: {type: task, command: steps.ok, next: s2}
    s2: {type: task, command: steps.ok, next: crash}
    crash: {type: task, command: steps.crash, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CHUNKED = "run_log_store:\n  type: chunked-fs\n"


def _crashed(git_repo: Path, magnus: Any, store: str, how: str, run_id: str) -> list[str]:
    """Run the pipeline with its last step crashing the process (`how`: segv, kill); the store's config
    arguments for later commands."""
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    config: list[str] = []
    if store == "chunked-fs":
        (git_repo / "cfg.yaml").write_text(CHUNKED)
        config = ["--config-file", "cfg.yaml"]
    done = magnus("execute", "-f", "p.yaml", *config, "--run-id", run_id, env={"CRASH": how})
    signum = signal.SIGSEGV if how == "segv" else signal.SIGKILL
    assert done.returncode == -signum, (done.returncode, done.stderr)
    return config


def _rows(shown: str) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[1:]
        for line in shown.splitlines()
        if line[:1] in "sc" and "task" in line
    }


@pytest.mark.parametrize("how", ["segv", "kill"])
@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_step_that_kills_the_process_at_once_is_recorded_begun_and_cut_short(
    git_repo: Path, magnus: Any, store: str, how: str
) -> None:
    config = _crashed(git_repo, magnus, store, how, "crashed")
    shown = magnus("show", "crashed", *config)
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    for step in ("s0", "s1", "s2"):
        assert rows[step][:2] == ["task", "SUCCESS"], shown.stdout
    assert rows["crash"][:4] == ["task", "INTERRUPTED", "(PROCESSING)", "1"], shown.stdout
    assert "4/4 steps ran: 3 SUCCESS, 1 INTERRUPTED" in shown.stdout
    if how == "segv":  # located by faulthandler (trial 13 fault 4; tests/test_fatal_signal.py)
        assert "crash: crashed (Segmentation fault) at steps.py:15 in crash" in shown.stdout, shown.stdout
    else:  # a SIGKILL leaves no trace of where
        assert "crash: attempt 0 was cut short: the run's process ended while it ran" in shown.stdout

    logs = magnus("logs", "crashed", "crash", *config)
    assert logs.returncode == 0, logs.stderr  # it ran: not "never ran ... before it" (exit 2)
    said = "crashed (Segmentation fault)" if how == "segv" else "was cut short"
    assert f"crash (attempt 0) {said}" in logs.stderr, logs.stderr
    everything = magnus("logs", "crashed", *config)
    assert "never ran" not in everything.stderr, everything.stderr

    listed = magnus("runs", *config)
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("crashed ")]
    # the cut-short step ran, as show counts it (trial 13 fault 2: runs read 3/4; tests/test_dead_counts.py)
    assert "INTERRUPTED" in row and "4/4" in row, listed.stdout

    # the workbench's view of the run, read through magnus_core's store as the workbench reads it
    from magnus_core.runs import read_log
    from magnus_core.stores import make_store
    from magnus_tui.view import RunView

    store_obj = make_store({"type": store, "config": {}})
    log, why = read_log(store_obj, "crashed")
    assert log is not None, why
    view = RunView.from_runlog(log, "INTERRUPTED")
    assert [view.rows[s].status for s in ("s0", "s1", "s2")] == ["SUCCESS"] * 3
    assert view.rows["crash"].cut_attempt is not None and view.rows["crash"].cut_attempt[0] == 0

    # a re-run reuses what succeeded, and runs the step that crashed
    rerun = magnus("execute", "-f", "p.yaml", *config, "--use-cached", "crashed", "--run-id", "again")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "3 step(s) reused, 1 to run" in rerun.stderr, rerun.stderr
    again = json.loads(magnus("show", "again", *config, "--json").stdout)
    assert [again["steps"][s]["mock"] for s in ("s0", "s1", "s2", "crash")] == [True, True, True, False]
    assert again["steps"]["crash"]["message"] == "cut short before", again["steps"][
        "crash"
    ]  # not "failed before"
    assert again["status"] == "SUCCESS"


def test_the_file_system_store_replays_the_journal_once_and_removes_it(git_repo: Path, magnus: Any) -> None:
    """The first read of a run whose process died writes the replayed log over the file (the same JSON a
    live write gives) and removes the journal; a run that ends removes its own."""
    _crashed(git_repo, magnus, "file-system", "kill", "crashed")
    folder = git_repo / ".run_log_store"
    assert (folder / ".crashed.journal").exists()
    before = json.loads((folder / "crashed.json").read_text())
    assert "crash" not in before["steps"]  # the file alone is behind (its writes are spaced)
    assert magnus("show", "crashed").returncode == 0
    assert not (folder / ".crashed.journal").exists()
    after = json.loads((folder / "crashed.json").read_text())
    assert list(after["steps"]) == ["s0", "s1", "s2", "crash"]
    assert after["status"] == "PROCESSING" and after["steps"]["crash"]["attempts"] == []
    from magnus_core.models.run_log import RunLog

    text = (folder / "crashed.json").read_text()
    assert RunLog.model_validate_json(text).model_dump_json(indent=4) == text  # as a live write gives it
    # a run that ends leaves no journal
    done = magnus("execute", "-f", "p.yaml", "--run-id", "fine")
    assert done.returncode == 0 and not (folder / ".fine.journal").exists()


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_torn_last_journal_line_is_not_committed(git_repo: Path, magnus: Any, store: str) -> None:
    """The process died inside the write of its journal's last line (the crashing step's start): that line
    is ignored, the steps before it read as they ended, and the crashing step as not begun."""
    config = _crashed(git_repo, magnus, store, "kill", "torn")
    folder = git_repo / ".run_log_store"
    journal = folder / (".torn.journal" if store == "file-system" else "torn/starts.journal")
    raw = journal.read_bytes()
    assert raw.endswith(b"\n")
    last = raw[:-1].rindex(b"\n") + 1
    assert b'"crash"' in raw[last:]
    journal.write_bytes(raw[: last + (len(raw) - last) // 2])  # half of the last line: torn
    shown = magnus("show", "torn", *config)
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert [rows[s][:2] for s in ("s0", "s1", "s2")] == [["task", "SUCCESS"]] * 3, shown.stdout
    assert rows["crash"][:3] == ["task", "not", "run"], shown.stdout


def test_a_journal_line_that_is_not_json_ends_the_replay(git_repo: Path, magnus: Any) -> None:
    """Reading stops at a line that is not a JSON object: nothing after it is trusted, nothing fails."""
    _crashed(git_repo, magnus, "file-system", "kill", "bad")
    journal = git_repo / ".run_log_store" / ".bad.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"s2"' in line)
    journal.write_bytes(b"".join([*lines[:at], b"{not json\n", *lines[at:]]))
    shown = magnus("show", "bad")
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert rows["s1"][:2] == ["task", "SUCCESS"] and rows["s2"][:3] == ["task", "not", "run"], shown.stdout
    assert os.path.exists(git_repo / ".run_log_store" / "bad.json")
