"""Run-log stores: the protocol on every store (buffered, file-system, chunked-fs, postgres on a real server);
the file on disk is valid JSON at every moment; a run killed outright leaves a readable PROCESSING log that
run_state calls INTERRUPTED; an existing run id is refused."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from magnus_core.errors import RunNotFoundError, UsageError
from magnus_core.models.run_log import PROCESSING, SUCCESS, BranchLog, RunLog, StepAttempt, StepLog
from magnus_core.runs import run_state
from magnus_core.stores import make_store
from magnus_core.stores.file_system import FileSystemRunLogStore, load_run_log
from tests.conftest import ROOT

STORES = ["buffered", "file-system", "chunked-fs", "postgres"]
SHARED = ["file-system", "chunked-fs", "postgres"]  # what one process writes, another reads


@pytest.mark.parametrize("kind", STORES)
def test_create_get_update_put(kind: str, store_block) -> None:
    store = make_store(store_block(kind))
    store.create_run(RunLog(run_id="r1", status=PROCESSING, tag="t", dag_hash="abc"))
    assert store.exists("r1") and "r1" in store.list_run_ids()
    step = StepLog(name="a", internal_name="a", status=PROCESSING)
    store.put_step_log("r1", step)
    step.status = SUCCESS  # the caller's copy changes; the store kept its own
    assert store.get_run("r1").steps["a"].status == PROCESSING
    step.attempts.append(StepAttempt(attempt_number=0, status=SUCCESS))
    store.put_step_log("r1", step)
    composite = StepLog(name="p", internal_name="p", step_type="parallel", status=PROCESSING)
    store.put_step_log("r1", composite)
    store.put_branch_log("r1", BranchLog(internal_name="p.b", status=PROCESSING), "p")
    store.put_step_log("r1", StepLog(name="x", internal_name="p.b.x", status=SUCCESS), "p.b")
    store.put_branch_log("r1", BranchLog(internal_name="p.b", status=SUCCESS), "p")  # keeps its steps
    store.update_run("r1", status=SUCCESS, parameters={"k": 1})
    store.close("r1")
    log = store.get_run("r1")
    assert log.status == SUCCESS and log.parameters == {"k": 1} and log.tag == "t" and log.dag_hash == "abc"
    assert log.steps["a"].status == SUCCESS and log.steps["a"].attempts[0].attempt_number == 0
    assert [s.internal_name for s in log.walk()] == ["a", "p", "p.b.x"]
    assert log.find_branch("p.b").status == SUCCESS
    with pytest.raises(RunNotFoundError, match="no run 'r2'"):
        store.get_run("r2")
    if kind in SHARED:  # another store object (another process) reads the same log
        again = make_store(store_block(kind)).get_run("r1")
        assert again.model_dump_json() == log.model_dump_json()


@pytest.mark.parametrize("kind", STORES)
def test_an_existing_run_id_is_refused(kind: str, store_block) -> None:
    store = make_store(store_block(kind))
    store.create_run(RunLog(run_id="r1", status=PROCESSING))
    store.close("r1")
    with pytest.raises(UsageError, match="already exists"):
        store.create_run(RunLog(run_id="r1", status=PROCESSING))
    assert store.get_run("r1").status == PROCESSING  # the first run is untouched
    if kind in SHARED:  # a second process with the same id is refused too
        with pytest.raises(UsageError, match="already exists"):
            make_store(store_block(kind)).create_run(RunLog(run_id="r1", status=SUCCESS))
        assert make_store(store_block(kind)).get_run("r1").status == PROCESSING


@pytest.mark.parametrize("kind", SHARED)
@pytest.mark.parametrize("run_id", ["../x", ".hidden", "a/b", "", "a b", "x" * 200])
def test_run_ids_that_are_not_file_names_are_refused(run_id: str, kind: str, store_block) -> None:
    with pytest.raises(UsageError, match="not allowed"):
        make_store(store_block(kind)).create_run(RunLog(run_id=run_id))


@pytest.mark.parametrize("kind", SHARED)
def test_parameters_keep_their_order_and_types_across_processes(kind: str, store_block) -> None:
    params = {"zeta": 1, "alpha": {"b": [1, 2.5, None], "a": "ü ✓"}, "big": 2**53 + 1, "nan": float("nan")}
    store = make_store(store_block(kind))
    store.create_run(RunLog(run_id="r", status=PROCESSING, parameters=params, run_config={"z": 1, "a": 2}))
    step = StepLog(name="s", internal_name="s", status=SUCCESS, user_defined_metrics={"m2": 0.1, "m1": 1e-9})
    store.put_step_log("r", step)
    store.close("r")
    log = make_store(store_block(kind)).get_run("r")
    assert list(log.parameters) == ["zeta", "alpha", "big", "nan"] and list(log.parameters["alpha"]) == [
        "b",
        "a",
    ]
    assert log.parameters["big"] == 2**53 + 1 and log.parameters["nan"] is None  # NaN is written as null
    assert list(log.run_config) == ["z", "a"]
    assert log.steps["s"].user_defined_metrics == {"m2": 0.1, "m1": 1e-9}


def test_the_file_system_store_is_the_default_and_keeps_one_file_per_run(tmp_path: Path) -> None:
    store = make_store({"type": "file-system", "config": {"log_folder": str(tmp_path / "f")}})
    store.create_run(RunLog(run_id="r1", status=PROCESSING))
    store.update_run("r1", status=SUCCESS)
    store.close("r1")
    assert store.location("r1") == str(tmp_path / "f" / "r1.json")
    assert load_run_log(tmp_path / "f" / "r1.json").status == SUCCESS
    assert [p.name for p in (tmp_path / "f").iterdir()] == ["r1.json"]  # no temp files left
    # Another store object (another process) reads it from disk.
    assert FileSystemRunLogStore({"log_folder": str(tmp_path / "f")}).get_run("r1").status == SUCCESS


def test_closing_a_run_rewrites_its_file_only_if_it_changed_after_the_last_durable_write(
    tmp_path: Path,
) -> None:
    """The run's end writes its status durably and then closes it: the second full write is skipped (issue
    19: 0.3 s at 10,000 steps), unless something changed in between."""
    store = FileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r1", status=PROCESSING))
    store.put_step_log("r1", StepLog(name="a", internal_name="a", status=SUCCESS))
    store.update_run("r1", status=SUCCESS)
    path = tmp_path / "r1.json"
    written = (path.stat().st_ino, path.stat().st_mtime_ns)
    store.close("r1")
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == written  # not written again
    assert load_run_log(path).status == SUCCESS and list(load_run_log(path).steps) == ["a"]

    store.create_run(RunLog(run_id="r2", status=PROCESSING))
    store.update_run("r2", status=SUCCESS)
    store.put_step_log("r2", StepLog(name="late", internal_name="late", status=SUCCESS))
    store.close("r2")
    assert list(load_run_log(tmp_path / "r2.json").steps) == ["late"]  # a change after it is written


def test_closing_a_chunked_run_rewrites_its_metadata_only_if_a_part_was_written_after_it(
    tmp_path: Path,
) -> None:
    """chunked-fs as the file-system store above: the metadata holds the whole dag (run_config), so the
    close after the durable status write does not write it again, unless a part was written in between."""
    from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore

    store = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r1", status=PROCESSING))
    store.put_step_log("r1", StepLog(name="a", internal_name="a", status=SUCCESS))
    store.update_run("r1", status=SUCCESS)
    meta = tmp_path / "r1" / "RunLog.json"
    written = (meta.stat().st_ino, meta.stat().st_mtime_ns)
    store.close("r1")
    assert (meta.stat().st_ino, meta.stat().st_mtime_ns) == written  # not written again
    assert store.get_run("r1").status == SUCCESS and list(store.get_run("r1").steps) == ["a"]

    store.create_run(RunLog(run_id="r2", status=PROCESSING))
    store.update_run("r2", status=SUCCESS)
    store.put_step_log("r2", StepLog(name="late", internal_name="late", status=SUCCESS))
    meta = tmp_path / "r2" / "RunLog.json"
    written = (meta.stat().st_ino, meta.stat().st_mtime_ns)
    store.close("r2")
    assert (meta.stat().st_ino, meta.stat().st_mtime_ns) != written  # a part written after it: again
    assert list(store.get_run("r2").steps) == ["late"]


def test_an_unknown_store_type_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        make_store({"type": "s3", "config": {}})
    assert "buffered" in str(info.value) and "file-system" in str(info.value)


def test_the_file_is_valid_json_at_every_moment(tmp_path: Path) -> None:
    store = FileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.min_interval = 0.0  # write as often as the cadence allows, to give the reader many chances
    store.create_run(RunLog(run_id="r", status=PROCESSING))
    path = tmp_path / "r.json"
    stop = threading.Event()
    reads: list[int] = []
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                data = json.loads(path.read_bytes())
                reads.append(len(data["steps"]))
            except Exception as exc:
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(400):
            store.put_step_log(
                "r", StepLog(name=f"s{i}", internal_name=f"s{i}", status=SUCCESS, message="x" * 2000)
            )
        store.update_run("r", status=SUCCESS)
        store.close("r")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(reads) > 10 and reads == sorted(reads)  # never a half-written or older file
    assert json.loads(path.read_text())["status"] == SUCCESS


def test_the_file_catches_up_while_a_long_step_runs(tmp_path: Path) -> None:
    # Writes are spaced out; a change made just before a long step must still reach the disk soon.
    store = FileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r", status=PROCESSING))
    store.put_step_log("r", StepLog(name="quick", internal_name="quick", status=SUCCESS))
    store.put_step_log("r", StepLog(name="long", internal_name="long", status=PROCESSING))
    deadline = time.monotonic() + 2
    seen: dict = {}
    while time.monotonic() < deadline:
        seen = json.loads((tmp_path / "r.json").read_text())["steps"]
        if "long" in seen:
            break
        time.sleep(0.02)
    assert seen.get("quick", {}).get("status") == SUCCESS and seen.get("long", {}).get("status") == PROCESSING
    store.close("r")


KILLABLE = """dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "export MAGNUS_PRM_made=1", next: long}
    long: {type: task, command_type: shell, command: "touch started; sleep 60", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_run_killed_outright_stays_processing_and_reads_as_interrupted(git_repo: Path) -> None:
    (git_repo / "pipeline.yaml").write_text(KILLABLE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "pipeline.yaml", "--run-id", "killed"],
        cwd=git_repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90  # (magnus's start-up at load 13 takes tens of seconds)
        while not (git_repo / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (git_repo / "started").exists(), "the long step never started"
        # let the store catch up with the step that started: the file-system store writes at most one
        # interval late (29x its last write's cost: longer on a loaded machine, or with a secret to mask)
        path, deadline = git_repo / ".run_log_store" / "killed.json", time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and "long" in json.loads(path.read_text()).get("steps", {}):  # (written whole)
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the shell step's sleep
    log = load_run_log(git_repo / ".run_log_store" / "killed.json")
    assert log.status == PROCESSING
    assert log.steps["first"].status == SUCCESS and log.steps["long"].status == PROCESSING
    assert log.parameters == {"made": 1}  # what the finished step passed on is in the log too
    assert log.run_config["process"]["pid"] == proc.pid
    assert run_state(log) == "INTERRUPTED"


def test_a_live_run_reads_as_running(tmp_path: Path) -> None:
    import socket

    log = RunLog(
        run_id="r",
        status=PROCESSING,
        run_config={"process": {"pid": os.getpid(), "host": socket.gethostname(), "started_at": ""}},
    )
    assert run_state(log) == "RUNNING"
    log.run_config["process"]["host"] = "another-host"
    assert run_state(log) == "RUNNING"  # unknown: another machine's process cannot be checked
    assert run_state(RunLog(run_id="r", status=SUCCESS)) == SUCCESS
