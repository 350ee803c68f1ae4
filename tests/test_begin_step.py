"""A task step's start written lazily (RunLogStore.begin_step, issue 19): in a run whose steps all run in
this process, the file-system and buffered stores make the PROCESSING copy of a step that began only when
a reader could see it; every reader sees what it saw when each start was written at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.masking import fixed
from magnus_core.models.run_log import PROCESSING, SUCCESS, CodeIdentity, RunLog, StepAttempt, StepLog, now
from magnus_core.stores.base import RunLogStore
from magnus_core.stores.buffered import BufferedRunLogStore
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from magnus_core.stores.file_system import FileSystemRunLogStore


def _begun(name: str) -> StepLog:
    return StepLog(
        name=name.rsplit(".", 1)[-1],
        internal_name=name,
        status=PROCESSING,
        code_identities=[CodeIdentity(code_identifier="c0ffee")],
        start_time=now(),
    )


def _store(kind: str, folder: Path) -> RunLogStore:
    if kind == "file-system":
        store: RunLogStore = FileSystemRunLogStore({"log_folder": str(folder)})
    elif kind == "chunked-fs":
        store = ChunkedFileSystemRunLogStore({"log_folder": str(folder)})
    else:
        store = BufferedRunLogStore()
    store.create_run(RunLog(run_id="r", status=PROCESSING), masker=fixed(["s3cret"]))
    store.defer_starts("r")
    return store


def _finished(step: StepLog) -> None:
    """What the node does to its own step log after it began: an attempt, its status, its message."""
    step.attempts.append(StepAttempt(start_time=step.start_time, end_time=now(), status=SUCCESS))
    step.status = SUCCESS
    step.message = "done"


@pytest.mark.parametrize("kind", ["file-system", "buffered", "chunked-fs"])
def test_a_step_that_began_is_read_processing_with_only_its_start(tmp_path: Path, kind: str) -> None:
    store = _store(kind, tmp_path)
    store.put_step_log("r", StepLog(name="first", internal_name="first", status=SUCCESS))
    step = _begun("s3cret-step")  # a name holding a secret: masked as any write is
    store.begin_step("r", step, None)
    _finished(step)  # the node goes on with its own copy: none of this is the start's
    run = store.get_run("r")
    assert list(run.steps) == ["first", "*****-step"]
    start = run.steps["*****-step"]
    assert start.status == PROCESSING and start.attempts == [] and start.message == ""
    assert start.start_time == step.start_time and start.code_identities == step.code_identities
    assert start is not step
    store.commit_step("r", step)  # the commit replaces it, in its place
    run = store.get_run("r")
    assert list(run.steps) == ["first", "*****-step"]
    assert run.steps["*****-step"].status == SUCCESS and run.steps["*****-step"].message == "done"


def test_the_file_has_the_start_whenever_a_write_reaches_it(tmp_path: Path) -> None:
    store = _store("file-system", tmp_path)
    assert isinstance(store, FileSystemRunLogStore)
    store.min_interval = store.cost_factor = 0.0  # every write reaches the file
    store.begin_step("r", _begun("a"), None)
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["steps"]["a"]["status"] == PROCESSING
    assert (tmp_path / "r.json").read_bytes() == store.get_run("r").model_dump_json(indent=4).encode()


def test_a_start_not_yet_written_is_not_copied_and_waits_for_the_next_write(tmp_path: Path) -> None:
    store = _store("file-system", tmp_path)
    assert isinstance(store, FileSystemRunLogStore)
    store.min_interval = 3600.0  # no write falls due while the step runs
    step = _begun("a")
    store.begin_step("r", step, None)
    assert store._begun["r"]["a"][0] is step  # kept aside: no copy, no masking, no write
    assert "a" not in store._live["r"].log.steps
    for timer in store._timers.values():  # (the deferred write a begun step schedules as any change)
        timer.cancel()
    store.close("r")  # the run's end writes it
    assert json.loads((tmp_path / "r.json").read_text())["steps"]["a"]["status"] == PROCESSING


@pytest.mark.parametrize("kind", ["file-system", "buffered"])
def test_starts_are_written_at_once_when_not_deferred_or_watched(tmp_path: Path, kind: str) -> None:
    store = _store(kind, tmp_path)
    seen: list[str] = []
    unsubscribe = store.events.subscribe(lambda event: seen.append(event.internal_name or ""))
    store.begin_step("r", _begun("watched"), None)  # a watcher sees the step begin
    assert seen == ["watched"] and not store._begun.get("r")
    unsubscribe()
    store._lazy.discard("r")  # per-step processes do not defer_starts
    store.begin_step("r", _begun("alone"), None)
    assert not store._begun.get("r") and "alone" in store._live["r"].log.steps


def test_a_buffered_run_closed_with_a_step_begun_keeps_it(tmp_path: Path) -> None:
    store = _store("buffered", tmp_path)
    store.begin_step("r", _begun("a"), None)
    store.close("r")
    assert store.get_run("r").steps["a"].status == PROCESSING


@pytest.mark.parametrize("kind", ["file-system", "buffered"])  # (chunked-fs writes a start at once)
def test_get_run_waits_for_a_deferred_write_keeping_the_steps_that_began(tmp_path: Path, kind: str) -> None:
    """The store's timer thread (a deferred write) takes the steps that began out of their waiting place
    and keeps them in the log under the store's lock; a get_run in between returned the log with the step
    in neither (CI, session 15: a run stopped by an error then ended with that step PROCESSING). Here the
    keeping is held open in another thread: get_run must wait for it, not read the log half-kept."""
    import threading

    store = _store(kind, tmp_path)
    store.begin_step("r", _begun("work"), None)
    taken, go_on = threading.Event(), threading.Event()
    keep = store._keep_step

    def slow_keep(*args: object, **kwargs: object) -> None:
        taken.set()
        go_on.wait(1.0)  # (the old get_run did not wait: this ends it without the test's help)
        keep(*args, **kwargs)  # type: ignore[arg-type]

    store._keep_step = slow_keep  # type: ignore[method-assign]

    def deferred_write() -> None:
        with store._lock:
            store._write_begun("r")

    writer = threading.Thread(target=deferred_write)
    writer.start()
    assert taken.wait(5)
    seen = list(store.get_run("r").steps)
    go_on.set()
    writer.join(5)
    assert seen == ["work"]
