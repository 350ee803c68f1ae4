"""The file-system store's run journal at its cost (session 10, journal10: the journal of 96135d5 made a
trivial in-process step x1.37 dearer, 0.158 -> 0.216 ms of CPU, and the CLI's file-system params run missed
issue 19.1's 0.3 ms a step). What the cuts must keep:

- a step's start line, built as text (stores/journal.py start_line), is the JSON the masked record's way
  writes (start_record through the masker and to_json), for any name, branch and identity; a secret in it
  sends it the masked record's way, so the journal never holds one;
- the journal's descriptor, held from a commit to the next line (Journal), is never open while a step's
  code runs (the store's folder can be remounted read-only under a running step: test_write_faults'
  read-only case needs mounts; this holds everywhere), and a run opens the journal about once a step, not
  twice (strace of a real `magnus execute`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_core import to_json

from magnus_core.masking import fixed
from magnus_core.models.run_log import PROCESSING, CodeIdentity, RunLog, StepLog, now
from magnus_core.stores.file_system import FileSystemRunLogStore
from magnus_core.stores.journal import read_lines, start_line, start_record
from tests.conftest import ROOT

NAMES = [
    "train",
    'quo"te\\back',
    "tab\there\nnewline\x01ctl",
    "ünïcødé ✓ 日本",
    "map.branch.step",
    "x" * 300,
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("branch", [None, "m.a", 'b"r\\anch ✓'])
def test_a_start_line_built_as_text_is_the_records_json(name: str, branch: str | None) -> None:
    step = StepLog(
        name=name,
        internal_name=f"outer.{name}",
        status=PROCESSING,
        step_type="task",
        code_identities=[CodeIdentity(code_identifier="c0ffee", code_identifier_url=f"https://h/{name}")],
        start_time=now(),
    )
    text = start_line(step, branch)
    assert text is not None and text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == json.loads(to_json({"b": branch, "s": start_record(step)}))


def test_a_start_line_with_a_time_of_no_datetime_takes_the_records_way() -> None:
    step = StepLog(name="a", internal_name="a", status=PROCESSING)
    assert json.loads(start_line(step, None) or "") == {"b": None, "s": start_record(step)}


def test_a_secret_in_a_start_is_masked_in_the_journal(tmp_path: Path) -> None:
    """A real store and its journal file: the step's name and its code identity's address hold the run's
    secret; the line written holds it masked, as every write of the run is."""
    store = FileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r", status=PROCESSING), masker=fixed(["s3cret-value"]))
    store.defer_starts("r")
    identity = CodeIdentity(code_identifier="c0ffee", code_identifier_url="https://u:s3cret-value@h/repo")
    step = StepLog(
        name="use-s3cret-value",
        internal_name="use-s3cret-value",
        status=PROCESSING,
        code_identities=[identity],
        start_time=now(),
    )
    store.begin_step("r", step, None)
    raw = (tmp_path / ".r.journal").read_bytes()
    assert b"s3cret-value" not in raw
    [line] = read_lines(str(tmp_path / ".r.journal"))
    assert line["s"]["status"] == PROCESSING and "s3cret" not in json.dumps(line)
    assert line["s"]["name"].startswith("use-") and "code_identifier_url" in line["s"]["code_identities"][0]


STEPS = """
import os


def look(i=0):
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith(".journal"):
            held.append(target)
    with open("held.txt", "a") as out:
        out.write(repr(held) + "\\n")
    return {"i": i + 1}
"""


def _pipeline(n: int) -> str:
    lines = ["dag:", "  start_at: s0", "  steps:"]
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "success"
        lines.append(f"    s{i}: {{type: task, command: steps.look, next: {nxt}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    return "\n".join(lines) + "\n"


def test_no_journal_descriptor_is_open_while_a_step_runs(git_repo: Path, magnus) -> None:  # type: ignore[no-untyped-def]
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline(5))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 0, done.stderr
    seen = (git_repo / "held.txt").read_text().splitlines()
    assert seen == ["[]"] * 5
    assert not (git_repo / ".run_log_store" / ".r.journal").exists()  # removed by the run's last write


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace(1) is not installed")
def test_a_run_opens_its_journal_about_once_a_step(git_repo: Path) -> None:
    """A real `magnus execute` of 30 steps under strace: the journal is opened once a step (at its commit;
    the next step's start line closes it), not once a line (two a step, before session 10)."""
    import os

    n = 30
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(_pipeline(n))
    trace = git_repo / "trace.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        ["strace", "-f", "-e", "trace=openat", "-o", str(trace),
         sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        cwd=git_repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    opens = [line for line in trace.read_text().splitlines() if ".r.journal" in line]
    assert n <= len(opens) <= n + 3, len(opens)
