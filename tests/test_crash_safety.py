"""Kill a run at random moments (SIGKILL and SIGINT), including inside a catalog put and inside a map: the
run log always reads as valid JSON that says the run did not finish, catalog files are whole or absent,
and `--use-cached` finishes the run with SUCCESS."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from magnus_core.runs import run_state
from magnus_core.stores.file_system import load_run_log
from tests.conftest import ROOT

FUNCS = """
import hashlib, os, time
from pathlib import Path

def make():
    Path("data").mkdir(exist_ok=True)
    block = hashlib.sha256(b"magnus").digest() * 4096          # 128 KiB
    with open("data/big.bin", "wb") as f:
        for _ in range(BLOCKS):                                # 60 MiB: a put takes a while
            f.write(block)
    return {"items": ["a", "b", "c", "d", "e", "f"]}

def work(item):
    time.sleep(0.1)
    return {"done_" + item: True}

def check():
    data = Path("data/big.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == EXPECTED, "catalog file is not whole"
"""

PIPELINE = """
dag:
  start_at: make
  steps:
    make:
      type: task
      command: crashfuncs.make
      catalog: {put: [big.bin]}
      next: fan
    fan:
      type: map
      iterate_on: items
      iterate_as: item
      next: check
      branch:
        start_at: w
        steps:
          w: {type: task, command: crashfuncs.work, next: success}
          success: {type: success}
          fail: {type: fail}
    check:
      type: task
      command: crashfuncs.check
      catalog: {get: [big.bin]}
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def _expected(blocks: int = 480) -> str:
    block = hashlib.sha256(b"magnus").digest() * 4096
    return hashlib.sha256(block * blocks).hexdigest()


def _magnus(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "crash.yaml", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def crash_project(git_repo: Path) -> Path:
    (git_repo / "crashfuncs.py").write_text(
        FUNCS.replace("EXPECTED", repr(_expected())).replace("BLOCKS", "480")
    )
    (git_repo / "crash.yaml").write_text(PIPELINE)
    return git_repo


def _check_catalog_whole(root: Path) -> None:
    expected = _expected()
    for path in (root / ".catalog").rglob("*"):
        if path.is_file() and not path.name.startswith(".") and ".magnus" not in path.parts:  # data only
            assert hashlib.sha256(path.read_bytes()).hexdigest() == expected, f"half-copied file {path}"


def test_clean_run_takes_the_whole_path(crash_project: Path) -> None:
    proc = _magnus("--run-id", "whole")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_at_random_moments_then_resumed(crash_project: Path, sig: int) -> None:
    rng = random.Random(20261125 + sig)
    repeats = int(os.environ.get("MAGNUS_CRASH_REPEATS", "20"))
    stages: set[str] = set()
    for i in range(repeats):
        run_id = f"crash-{sig}-{i}"
        proc = _magnus("--run-id", run_id)
        log_path = crash_project / ".run_log_store" / f"{run_id}.json"
        deadline = time.time() + 60
        while not log_path.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)  # start-up takes long on a loaded machine: time the kill from the run's start
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the make, its put, the map or the get
        if proc.poll() is not None:
            continue  # finished before the signal: nothing to check for this moment
        proc.send_signal(sig)
        proc.communicate(timeout=60)
        log = load_run_log(log_path)  # valid JSON, a run log
        if log.status == "SUCCESS":
            continue  # it finished between our look and the signal
        if sig == signal.SIGINT:
            assert proc.returncode == 130
        assert run_state(log) == "INTERRUPTED", (log.status, run_state(log))
        stages.add(next(reversed(log.steps)) if log.steps else "none")
        _check_catalog_whole(crash_project)
        resume = _magnus("--use-cached", run_id, "--run-id", f"{run_id}-resumed")
        out, err = resume.communicate(timeout=120)
        assert resume.returncode == 0, out + err
        resumed = load_run_log(crash_project / ".run_log_store" / f"{run_id}-resumed.json")
        assert resumed.status == "SUCCESS" and resumed.original_run_id == run_id
    assert len(stages) >= 2, f"the kills should land in different steps, got {stages}"


TEAM_BLOCKS = 160  # 20 MiB: the S3 server keeps objects in memory


@pytest.fixture
def team_project(git_repo: Path, postgres, bucket) -> tuple[Path, dict]:
    from tests.conftest import fresh_schema

    funcs = FUNCS.replace("EXPECTED", repr(_expected(TEAM_BLOCKS))).replace("BLOCKS", str(TEAM_BLOCKS))
    (git_repo / "crashfuncs.py").write_text(funcs)
    (git_repo / "crash.yaml").write_text(PIPELINE)
    block = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": fresh_schema()}}
    url = f"s3://{bucket}/catalog"
    (git_repo / "team.yaml").write_text(
        yaml.safe_dump({"run_log_store": block, "catalog": {"type": "fsspec", "config": {"url": url}}})
    )
    return git_repo, {"store": block, "bucket": bucket}


def test_killed_on_postgres_and_s3_then_resumed(team_project, s3) -> None:
    """SIGKILL at random moments with the run log in PostgreSQL and the catalog in S3: the log reads as
    not finished, no catalog object is half-written, and --use-cached finishes the run."""
    from magnus_core.stores import make_store

    _project, team = team_project
    store = make_store(team["store"])
    fs = s3.filesystem()
    rng = random.Random(20261129)
    repeats = int(os.environ.get("MAGNUS_CRASH_REPEATS_TEAM", "6"))
    stages: set[str] = set()
    for i in range(repeats):
        run_id = f"team-crash-{i}"
        proc = _magnus("-c", "team.yaml", "--run-id", run_id)
        deadline = time.time() + 60
        while not store.exists(run_id) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        log = store.get_run(run_id)
        if log.status == "SUCCESS":
            continue
        assert run_state(log) == "INTERRUPTED", (log.status, run_state(log))
        stages.add(next(reversed(log.steps)) if log.steps else "none")
        for path in fs.find(f"{team['bucket']}/catalog"):  # every object whole: an upload commits at its end
            assert hashlib.sha256(fs.cat_file(path)).hexdigest() == _expected(TEAM_BLOCKS), path
        resume = _magnus("-c", "team.yaml", "--use-cached", run_id, "--run-id", f"{run_id}-resumed")
        out, err = resume.communicate(timeout=180)
        assert resume.returncode == 0, out + err
        resumed = store.get_run(f"{run_id}-resumed")
        assert resumed.status == "SUCCESS" and resumed.original_run_id == run_id
    assert len(stages) >= 2, f"the kills should land in different steps, got {stages}"
