"""A run driven one step per process that a magnus before the fifth sitting made (tests/data/per_step/
argo-before-s5.json: `magnus execute_single_node argo-old load` with the Argo executor's config, by commit
26f0720^) records the pid of the process that ran its first step. That process is long gone, but the run is
not interrupted: its other steps run in pods of their own. `magnus runs`, `magnus show`, `magnus stop` and
the run state the workbench reads (runs.run_state) say it is driven one step at a time, as for a run made
now; a run of the local executor whose process is gone still reads INTERRUPTED."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from magnus_core.runs import driven_per_step, run_state
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import run_magnus

FIXTURE = Path(__file__).parent / "data" / "per_step" / "argo-before-s5.json"


def dead_pid() -> int:
    """A pid no process holds now (a child that has ended and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def store_with(tmp_path: Path, executor: str | None = None) -> Path:
    """The fixture's run in tmp_path/.run_log_store, its process record naming this host and a dead pid, as
    its pod's record would read on the machine that ran it."""
    data = json.loads(FIXTURE.read_text())
    assert "driven" not in data["run_config"]["process"] and data["run_config"]["executor"]["type"] == "argo"
    data["run_config"]["process"].update(host=socket.gethostname(), pid=dead_pid())
    if executor is not None:
        data["run_config"]["executor"] = {"type": executor, "config": {}}
    folder = tmp_path / ".run_log_store"
    folder.mkdir()
    (folder / "argo-old.json").write_text(json.dumps(data))
    shutil.copy(Path(__file__).parent / "data" / "per_step" / "pipeline.yaml", tmp_path / "pipeline.yaml")
    return folder


def test_an_older_argo_run_is_driven_one_step_at_a_time_not_interrupted(tmp_path: Path) -> None:
    folder = store_with(tmp_path)
    log = FileSystemRunLogStore({"log_folder": str(folder)}).get_run("argo-old")
    assert driven_per_step(log.run_config)
    assert run_state(log) == "RUNNING"  # (no process says it stopped; show words it below)
    shown = run_magnus("show", "argo-old", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "Run argo-old: PER-STEP (PROCESSING); last step load SUCCESS"
    listed = run_magnus("runs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("argo-old"))
    assert "INTERRUPTED" not in row, listed.stdout
    stopped = run_magnus("stop", "argo-old", cwd=tmp_path)
    assert stopped.returncode != 0 and "driven one step at a time" in stopped.stderr, stopped.stderr


def test_a_local_run_whose_process_is_gone_still_reads_interrupted(tmp_path: Path) -> None:
    folder = store_with(tmp_path, executor="local")
    log = FileSystemRunLogStore({"log_folder": str(folder)}).get_run("argo-old")
    assert not driven_per_step(log.run_config)
    assert run_state(log) == "INTERRUPTED"
    listed = run_magnus("runs", cwd=tmp_path)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("argo-old"))
    assert "INTERRUPTED" in row, listed.stdout
