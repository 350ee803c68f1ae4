"""A step the per-step entry point runs again in the same run keeps its earlier attempts (trial 14 F5).

`magnus execute_single_node RUN STEP` on a step that failed (what `magnus show`'s hint says to type, and
what an engine does when it runs a pod again) used to replace the step's log: its first failure, its record
and its output file were gone, and a step that failed twice then succeeded read as one clean attempt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

FLAKY = textwrap.dedent(
    """
    from pathlib import Path


    def flaky():
        counter = Path("counter.txt")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        print(f"flaky call {n}")
        if n < 2:
            raise ConnectionError(f"transient failure {n}")
        print("flaky succeeded")
    """
)

PIPELINE = """
dag:
  start_at: flaky
  steps:
    flaky: {type: task, command: steps.flaky, next: success}
    success: {type: success}
    fail: {type: fail}
"""

STORES = {
    "file-system": "run_log_store: {type: file-system}\n",
    "chunked-fs": "run_log_store: {type: chunked-fs}\n",
    # an Argo pod's usual set-up (docs/argo.md): its first call takes the plain path (single_plain.py)
    "chunked-fs, no catalog": "run_log_store: {type: chunked-fs}\ncatalog: {type: do-nothing}\n",
}


def _magnus(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{cwd}", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_failed_step_run_again_keeps_each_attempt_and_its_output(git_repo: Path, store: str) -> None:
    (git_repo / "steps.py").write_text(FLAKY)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "c.yaml").write_text(STORES[store])
    step = ("execute_single_node", "sn", "flaky", "--file", "p.yaml", "--config-file", "c.yaml")
    first = _magnus(git_repo, *step)
    assert first.returncode == 1, first.stderr
    again = _magnus(git_repo, *step)
    assert again.returncode == 1, again.stderr
    assert "flaky ran before in run sn (attempts 0 FAIL): kept; this is attempt 1" in again.stderr
    last = _magnus(git_repo, *step)
    assert last.returncode == 0, last.stderr

    shown = _magnus(git_repo, "show", "sn", "--json", "--config-file", "c.yaml")
    attempts = json.loads(shown.stdout)["steps"]["flaky"]["attempts"]
    assert [(a["attempt_number"], a["status"]) for a in attempts] == [
        (0, "FAIL"),
        (1, "FAIL"),
        (2, "SUCCESS"),
    ]
    assert "transient failure 0" in attempts[0]["message"]
    assert "transient failure 1" in attempts[1]["message"]
    for number in range(
        3 if "no catalog" not in store else 0
    ):  # each attempt's output, as retries keep theirs
        logs = _magnus(git_repo, "logs", "sn", "flaky", "--attempt", str(number), "--config-file", "c.yaml")
        assert logs.returncode in (0, 1), logs.stderr
        assert f"flaky call {number}" in logs.stdout
        assert all(f"flaky call {other}" not in logs.stdout for other in range(3) if other != number)
    table = _magnus(git_repo, "show", "sn", "--config-file", "c.yaml")
    assert table.returncode == 0, table.stderr
    assert "flaky" in table.stdout and "SUCCESS" in table.stdout


def test_a_step_whose_process_died_is_run_again_after_its_cut_short_attempt(git_repo: Path) -> None:
    """An engine runs a pod again when its process died (docs/argo.md's retryStrategy): the attempt the dead
    process was running is kept as INTERRUPTED, and the new one is numbered after it."""
    (git_repo / "steps.py").write_text(
        FLAKY
        + "\n\ndef slow():\n    import time\n    print('slow started', flush=True)\n    time.sleep(60)\n"
    )
    (git_repo / "p.yaml").write_text(PIPELINE.replace("steps.flaky", "steps.slow"))
    (git_repo / "c.yaml").write_text(STORES["chunked-fs"])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{git_repo}", "NO_COLOR": "1"}
    argv = [
        sys.executable,
        "-m",
        "magnus_core",
        "execute_single_node",
        "pod",
        "flaky",
        "-f",
        "p.yaml",
        "-c",
        "c.yaml",
    ]
    proc = subprocess.Popen(argv, cwd=git_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        assert b"slow started" in proc.stdout.readline()
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (git_repo / "p.yaml").write_text(PIPELINE)  # the pod's next run: the code now ends (flaky: fails once)
    (git_repo / "counter.txt").write_text("5")
    again = _magnus(git_repo, "execute_single_node", "pod", "flaky", "-f", "p.yaml", "-c", "c.yaml")
    assert again.returncode == 0, again.stderr
    assert "attempts 0 INTERRUPTED" in again.stderr
    shown = json.loads(_magnus(git_repo, "show", "pod", "--json", "-c", "c.yaml").stdout)
    attempts = shown["steps"]["flaky"]["attempts"]
    assert [(a["attempt_number"], a["status"]) for a in attempts] == [(0, "INTERRUPTED"), (1, "SUCCESS")]


ROUTED = """
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "exit 3", next: second, on_failure: cleanup}
    second: {type: task, command_type: shell, command: "true", next: success}
    cleanup: {type: task, command_type: shell, command: "exit 4", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_the_next_step_hint_of_a_run_driven_by_hand_follows_failures(git_repo: Path) -> None:
    """Trial 14 F6: `magnus show` of a run driven one step at a time named the failed step again as the
    step to run next (typing it ran it again, and the hint never moved on). It follows the run's route:
    a failed step's on_failure, else the dag's fail node; once that has run, no command is offered."""
    (git_repo / "p.yaml").write_text(ROUTED)
    (git_repo / "c.yaml").write_text(STORES["chunked-fs"])
    base = ("--file", "p.yaml", "--config-file", "c.yaml")

    def hint() -> str:
        shown = _magnus(git_repo, "show", "hand", "--config-file", "c.yaml")
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    assert _magnus(git_repo, "execute_single_node", "hand", "first", *base).returncode == 1
    assert "magnus execute_single_node hand cleanup --file p.yaml" in hint()  # first's on_failure
    assert _magnus(git_repo, "execute_single_node", "hand", "cleanup", *base).returncode == 1
    assert "magnus execute_single_node hand fail --file p.yaml" in hint()  # no on_failure: the fail node
    assert _magnus(git_repo, "execute_single_node", "hand", "fail", *base).returncode == 1
    assert "execute_single_node hand" not in hint()  # the run has ended FAIL: nothing to run next
