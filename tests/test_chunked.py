"""The stores many processes write at once (chunked-fs, postgres): exact part names, eight writers at once,
kills in the middle of a run, followers."""

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
import yaml

from magnus_core.follow import Follower
from magnus_core.models.run_log import RunLog, StepAttempt, StepLog
from magnus_core.runs import run_state
from magnus_core.stores import make_store
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from magnus_core.stores.parts import name_of, part_name
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "ab",
        "a.b",
        "with space",
        "ünïcødé ✓",
        "slash/and\\back",
        "..",
        ".hidden",
        "%41",
        "x" * 400,
        "~tilde",
    ],
)
def test_part_names_are_exact_and_safe(name: str) -> None:
    file = part_name(name)
    assert "/" not in file and "\\" not in file and not file.startswith(".")
    assert len(file.encode()) < 255
    if len(name) < 50:
        assert name_of(file) == name


def test_similar_names_never_collide() -> None:
    names = ["a", "ab", "a b", "a.b", "a%2Eb", "A", "a/b", "a%2Fb"] + [f"{'x' * 300}{i}" for i in range(3)]
    assert len({part_name(n) for n in names}) == len(names)


def test_step_names_with_odd_characters_round_trip(tmp_path: Path) -> None:
    store = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r1", status="PROCESSING"))
    for name in ["a", "ab", "a b", "é/è", "x" * 300]:
        store.put_step_log("r1", StepLog(name=name, internal_name=name, status="SUCCESS"))
    store.close("r1")
    fresh = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    assert list(fresh.get_run("r1").steps) == ["a", "ab", "a b", "é/è", "x" * 300]


WRITER = textwrap.dedent("""
    import json, sys
    from magnus_core.models.run_log import StepLog, StepAttempt
    from magnus_core.stores import make_store
    block, run_id, worker = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = make_store(block)
    store.attach(run_id)
    for i in range(100):
        name = f"w{worker}-step{i}"
        step = StepLog(name=name, internal_name=name, status="PROCESSING")
        store.put_step_log(run_id, step)
        step.attempts.append(StepAttempt(attempt_number=0, status="SUCCESS"))
        step.status = "SUCCESS"
        store.put_step_log(run_id, step)
""")


@pytest.mark.parametrize("kind", ["chunked-fs", "postgres"])
def test_eight_processes_writing_one_run_lose_nothing(kind: str, store_block) -> None:
    block = store_block(kind)
    store = make_store(block)
    store.create_run(RunLog(run_id="shared", status="PROCESSING"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, json.dumps(block), "shared", str(w)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    reads = 0
    while any(p.poll() is None for p in writers):  # read while they write: never a decode error
        seen = make_store(block).get_run("shared")
        assert all(len(s.attempts) == (s.status == "SUCCESS") for s in seen.steps.values())  # never half
        reads += 1
    for p in writers:
        assert p.wait() == 0, p.stderr.read()
    log = make_store(block).get_run("shared")
    assert len(log.steps) == 800
    assert all(s.status == "SUCCESS" and len(s.attempts) == 1 for s in log.steps.values())
    for w in range(8):  # each writer's steps in the order it wrote them
        mine = [n for n in log.steps if n.startswith(f"w{w}-")]
        assert mine == [f"w{w}-step{i}" for i in range(100)]
    assert reads > 0
    if kind == "chunked-fs":
        folder = Path(block["config"]["log_folder"])
        leftovers = [p for p in (folder / "shared" / "steps").iterdir() if p.name.startswith(".")]
        assert leftovers == []


SLOW_MAP = """
dag:
  start_at: m
  steps:
    m:
      type: map
      iterate_on: xs
      iterate_as: x
      next: success
      branch:
        start_at: t
        steps:
          # the first item ends at once, the others take 5 s: the run cannot end before the test's kill,
          # however loaded the machine (it raced at 0.2 s an item: CI under load, ninth sitting)
          t: {type: task, command_type: shell, command: "test $MAGNUS_PRM_x = 1 || sleep 5", next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("store", ["chunked-fs", "file-system", "postgres"])
def test_sigkill_in_the_middle_of_a_map_leaves_a_readable_run(
    git_repo: Path, store: str, store_block
) -> None:
    block = store_block(store) if store == "postgres" else {"type": store, "config": {}}
    (git_repo / "map.yaml").write_text(SLOW_MAP)
    (git_repo / "c.yaml").write_text(
        yaml.safe_dump({"run_log_store": block, "catalog": {"type": "do-nothing"}})
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "magnus_core",
            "execute",
            "-f",
            "map.yaml",
            "-c",
            "c.yaml",
            "--run-id",
            "killed",
            "--xs",
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reader = make_store(block)
    deadline = time.time() + 20
    while time.time() < deadline:  # wait until the map is under way
        try:
            log = reader.get_run("killed")
            if (
                "m" in log.steps
                and len(log.steps["m"].branches) == 10
                and any(s.name == "t" and s.status == "SUCCESS" for s in log.walk())
            ):
                break
        except Exception:
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log = reader.get_run("killed")
    assert log.status == "PROCESSING"
    assert run_state(log) == "INTERRUPTED"
    assert log.steps["m"].status == "PROCESSING"


@pytest.mark.parametrize("kind", ["chunked-fs", "file-system", "postgres"])
def test_follower_reports_each_change_once(kind: str, store_block) -> None:
    store = make_store(store_block(kind))
    store.create_run(RunLog(run_id="r", status="PROCESSING"))
    watcher = Follower(make_store(store_block(kind)), "r")
    first = watcher.poll()
    assert [e.kind for e in first] == ["run-created", "run-updated"]
    assert watcher.poll() == []
    step = StepLog(name="s", internal_name="s", status="PROCESSING")
    store.put_step_log("r", step)
    if hasattr(store, "flush"):  # the file-system store batches writes
        store.flush("r")
    events = watcher.poll()
    assert [(e.kind, e.internal_name, e.status) for e in events] == [("step-updated", "s", "PROCESSING")]
    step.status = "SUCCESS"
    step.attempts.append(StepAttempt(status="SUCCESS"))
    store.put_step_log("r", step)
    store.update_run("r", status="SUCCESS")
    store.close("r")
    events = watcher.poll()
    assert [(e.kind, e.status) for e in events] == [("step-updated", "SUCCESS"), ("run-updated", "SUCCESS")]
    assert events[0].step_log.attempts[0].status == "SUCCESS"
    assert watcher.finished


def test_reading_a_corrupt_part_names_the_file(tmp_path: Path) -> None:
    from magnus_core.errors import RunLogError

    store = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.create_run(RunLog(run_id="r", status="PROCESSING"))
    store.put_step_log("r", StepLog(name="s", internal_name="s"))
    (tmp_path / "r" / "steps" / "s.json").write_text("{not json")
    with pytest.raises(RunLogError, match=r"s\.json.*not valid JSON"):
        ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)}).get_run("r")
    assert json.loads((tmp_path / "r" / "RunLog.json").read_text())["run_id"] == "r"


def test_a_postgres_follower_is_woken_by_the_write_not_the_timeout(store_block) -> None:
    block = store_block("postgres")
    writer = make_store(block)
    writer.create_run(RunLog(run_id="r", status="PROCESSING"))
    follower = Follower(make_store(block), "r")
    follower.poll()
    seen = follower.store.version("r")
    assert follower.store.wait_for_change("r", seen, 0.2) is False  # nothing happened: the timeout
    other = subprocess.Popen(  # another process writes a step a moment later
        [sys.executable, "-c", WRITER.replace("range(100)", "range(1)"), json.dumps(block), "r", "0"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        started = time.monotonic()
        assert follower.store.wait_for_change("r", seen, 60) is True
        assert time.monotonic() - started < 30  # the notification, long before the 60 s timeout
    finally:
        assert other.wait(timeout=60) == 0
    events = follower.poll()
    assert ("step-updated", "w0-step0") in [(e.kind, e.internal_name) for e in events]


def test_a_task_step_begun_is_written_when_it_falls_due_unless_it_committed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: a step's PROCESSING part waits `start_delay` for its commit, so a quick step writes one
    part (a rename over an existing part costs ext4 a data write-out); a step still running then is
    written by the store's thread, and flush() and close() write what is still waiting."""
    import magnus_core.stores.chunked as chunked

    written: list[str] = []
    real = chunked.replace_in

    def recording(folder: str, name: str, data: bytes, *, durable: bool = False) -> None:
        written.append(name)
        real(folder, name, data, durable=durable)

    monkeypatch.setattr(chunked, "replace_in", recording)
    store = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    store.start_delay = 0.2
    store.create_run(RunLog(run_id="r", status="PROCESSING"))
    steps = tmp_path / "r" / "steps"
    early = StepLog(name="early", internal_name="early", status="PROCESSING", step_type="task")
    store.put_step_log("r", early)  # not deferred (a per-step process): written at once
    assert (steps / "early.json").exists()
    store.defer_starts("r")  # the local executor: the whole run in this process

    quick = StepLog(name="quick", internal_name="quick", status="PROCESSING", step_type="task")
    store.put_step_log("r", quick)
    assert not (steps / "quick.json").exists()
    quick.status = "SUCCESS"
    quick.attempts.append(StepAttempt(status="SUCCESS"))
    store.commit_step("r", quick)
    assert written.count("quick.json") == 1  # the commit only
    time.sleep(0.5)
    assert written.count("quick.json") == 1 and store.get_run("r").steps["quick"].status == "SUCCESS"

    slow = StepLog(name="slow", internal_name="slow", status="PROCESSING", step_type="task")
    store.put_step_log("r", slow)
    deadline = time.time() + 10
    while not (steps / "slow.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    reader = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path)})
    assert reader.get_run("r").steps["slow"].status == "PROCESSING"  # seen by another process
    assert list(reader.get_run("r").steps) == ["early", "quick", "slow"]

    late = StepLog(name="late", internal_name="late", status="PROCESSING", step_type="task")
    store.put_step_log("r", late)
    store.flush("r")
    assert reader.get_run("r").steps["late"].status == "PROCESSING"
    crashed = StepLog(name="crashed", internal_name="crashed", status="PROCESSING", step_type="task")
    store.put_step_log("r", crashed)
    store.close("r")
    assert list(reader.get_run("r").steps) == ["early", "quick", "slow", "late", "crashed"]
    composite = StepLog(name="m", internal_name="m", status="PROCESSING", step_type="map")
    store.create_run(RunLog(run_id="r2", status="PROCESSING"))
    store.defer_starts("r2")
    store.put_step_log("r2", composite)  # a composite's part holds its branches': written at once
    assert (tmp_path / "r2" / "steps" / "m.json").exists()
    store.close("r2")
