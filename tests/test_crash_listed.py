"""A run whose process a fatal signal ended is said so by `magnus runs --json`/`--csv` and `magnus diff`, as
`magnus show` says it (trial 15). N6: `runs --json` gave the crashed run `"failed_step": ""` and `"failure":
""` though `magnus show` said `fan.crashy.s: crashed (Segmentation fault) at steps.py:N in crashy`; a script
alerting on `--status INTERRUPTED` got no reason. N3: `magnus diff` of the crashed run against a good re-run
said `fan.crashy.s › status INTERRUPTED (PROCESSING) → SUCCESS` and nothing of why.

Real runs of `magnus execute` in subprocesses; the branch segfaults (`ctypes.string_at(0)`: tests/crashing.py)."""

from __future__ import annotations

import csv
import io
import json
import signal
from pathlib import Path
from typing import Any

from tests.crashing import RUN as CRASHING_RUN
from tests.crashing import crashing_project

RUN = ("execute", *CRASHING_RUN)


def _crashed_run(git_repo: Path, magnus: Any) -> str:
    """Run `pc1`, whose branch fan.crashy segfaults; the crash as `magnus show` says it."""
    crashing_project(git_repo)
    crashed = magnus(*RUN, "--run-id", "pc1", env={"CRASH": "segv"})
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    show = magnus("show", "pc1").stdout
    said = next(line for line in show.splitlines() if line.strip().startswith("fan.crashy.s: crashed"))
    said = said.strip().removeprefix("fan.crashy.s: ")
    assert said.startswith("crashed (Segmentation fault) at steps.py:") and said.endswith(" in crashy"), show
    return said


def test_runs_json_and_csv_give_a_crashed_runs_step_and_crash(git_repo: Path, magnus: Any) -> None:
    said = _crashed_run(git_repo, magnus)
    listed = magnus("runs", "--json", "--status", "INTERRUPTED")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)["runs"]
    assert (run["run_id"], run["status"], run["state"]) == ("pc1", "PROCESSING", "INTERRUPTED"), run
    assert (run["failed_step"], run["failure"]) == ("fan.crashy.s", said), run
    rows = list(csv.DictReader(io.StringIO(magnus("runs", "--csv").stdout)))
    assert [(r["run_id"], r["failed_step"], r["failure"]) for r in rows] == [("pc1", "fan.crashy.s", said)]
    # a good run's fields stay empty
    assert magnus(*RUN, "--run-id", "good").returncode == 0
    runs = {r["run_id"]: r for r in json.loads(magnus("runs", "--json").stdout)["runs"]}
    assert (runs["good"]["failed_step"], runs["good"]["failure"]) == ("", "")
    assert runs["pc1"]["failure"] == said


def test_diff_says_the_crash_as_the_steps_error(git_repo: Path, magnus: Any) -> None:
    said = _crashed_run(git_repo, magnus)
    again = magnus(*RUN, "--use-cached", "pc1", "--run-id", "pc1r")
    assert again.returncode == 0, again.stderr
    done = magnus("diff", "pc1", "pc1r", "--json", "--all")
    assert done.returncode == 0, done.stderr
    changes = {
        (c["step"], c["field"]): c
        for group in json.loads(done.stdout)["groups"].values()
        for c in group["changes"]
        if c["field"]
    }
    error = changes.get(("fan.crashy.s", "error"))
    assert error is not None, sorted(changes)
    assert (error["before"], error["after"]) == (said, ""), error
    assert ("fan.slow.s", "error") not in changes  # a victim branch did not crash (its status says it)
    text = magnus("diff", "pc1", "pc1r").stdout
    line = next((x for x in text.splitlines() if "fan.crashy.s › error" in x), None)
    assert line is not None and said in line, text
