"""The run index: built from the logs, caught up incrementally (only new or changed logs are read), safe
with several writers at once, runs deleted or copied in by hand, the original tool's logs, a corrupt or
locked index file (rebuilt or replaced, with a notice), and its place in the cache folder."""

from __future__ import annotations

import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from magnus_core.index import INDEX_DIR_ENV, RunQuery, cache_dir, index_path, open_index
from magnus_core.index.sqlite import SQLiteRunIndex
from magnus_core.query import parse_order_by
from magnus_core.stores.buffered import BufferedRunLogStore
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import ORIGINAL, ROOT, run_magnus
from tests.runlog_factory import make_log, store_config, write_log


class CountingStore(FileSystemRunLogStore):
    """A file-system store that counts the logs read (the index reads through read_json / get_run)."""

    reads = 0

    def read_json(self, run_id: str) -> Any:
        CountingStore.reads += 1
        return super().read_json(run_id)


def fill(folder: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        write_log(
            folder,
            make_log(f"run-{i:03d}", minute=i, tag="t", params={"i": i}, metrics={"train": {"auc": i / 100}}),
        )


def listed(store: Any) -> list[str]:
    index = open_index(store)
    try:
        return [r.summary.run_id for r in index.query(RunQuery()).runs]
    finally:
        index.close()


def test_rebuilt_from_logs_after_the_index_is_deleted(tmp_path: Path) -> None:
    fill(tmp_path / "logs", 5)
    store = FileSystemRunLogStore({"log_folder": str(tmp_path / "logs")})
    first = listed(store)
    path = index_path(store)
    assert path is not None and path.exists() and path.is_relative_to(cache_dir())
    path.unlink()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    assert listed(store) == first == [f"run-{i:03d}" for i in reversed(range(5))]
    assert path.exists()


def test_incremental_update_reads_only_new_and_changed_logs(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    fill(folder, 20)
    store = CountingStore({"log_folder": str(folder)})
    index = open_index(store)
    CountingStore.reads = 0
    assert index.refresh().read == 20 and CountingStore.reads == 20
    CountingStore.reads = 0
    assert index.refresh().read == 0 and CountingStore.reads == 0  # nothing changed: no log read
    assert len(index.query(RunQuery(limit=5)).runs) == 5 and CountingStore.reads == 0
    fill(folder, 1, start=20)  # a new run by another process
    changed = make_log("run-003", minute=3, tag="t", params={"i": 3}, metrics={"train": {"auc": 0.99}})
    write_log(tmp_path, changed)  # and a changed one, renamed into place as stores write
    os.replace(tmp_path / "run-003.json", folder / "run-003.json")
    report = index.refresh()
    assert (report.read, CountingStore.reads) == (2, 2)
    best = index.query(RunQuery(metrics=["auc"], order_by=parse_order_by("metrics.auc desc"), limit=1)).runs[
        0
    ]
    assert (best.summary.run_id, best.metrics) == ("run-003", {"auc": 0.99})
    index.close()


def test_looks_of_one_process_compare_listings_and_see_every_kind_of_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that looks again and again (the workbench) compares each listing with the last one of the
    same kind, full or quick: runs rewritten, added and deleted between looks are each seen, whichever kind
    of look came before, and a look that finds nothing changed reads nothing."""
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 6)
    store = CountingStore({"log_folder": str(folder)})
    index = open_index(store)
    assert index.refresh().read == 6  # the first look is a full one
    tags = {}

    def rewrite(run_id: str, minute: int, tag: str) -> None:
        write_log(tmp_path, make_log(run_id, minute=minute, tag=tag, params={"i": minute}))
        os.replace(tmp_path / f"{run_id}.json", folder / f"{run_id}.json")  # as stores write: renamed in
        tags[run_id] = tag

    for round_, full_every in enumerate((10.0, 10.0, 0.0, 10.0, 0.0, 0.0)):
        monkeypatch.setattr(sqlite_index, "FULL_LOOK_EVERY", full_every)  # 0: a full look, else quick
        rewrite(f"run-00{round_ % 3}", round_ % 3, f"r{round_}")
        (folder / f"run-00{3 + round_ % 3}.json").unlink(missing_ok=True)
        fill(folder, 1, start=10 + round_)
        CountingStore.reads = 0
        report = index.refresh()
        assert report.removed == (1 if round_ < 3 else 0), round_
        assert report.read == CountingStore.reads
        if full_every:  # a quick look reads exactly the run rewritten and the run added
            assert report.read == 2, round_
        else:  # a full look also reads again, once, the runs a quick look indexed (it knew their inode only)
            assert report.read >= 2, round_
        assert index.refresh().read == 0  # nothing changed since: nothing read
        runs = {r.summary.run_id: r.summary.tag for r in index.query(RunQuery()).runs}
        assert runs == {
            **{f"run-00{i}": tags.get(f"run-00{i}", "t") for i in range(3)},
            **{f"run-00{i}": "t" for i in range(3 + min(round_ + 1, 3), 6)},
            **{f"run-0{10 + i}": "t" for i in range(round_ + 1)},
        }, round_
    index.close()


def test_a_quiet_folder_is_not_listed_again_until_a_run_is_renamed_in_or_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the store's folder has been untouched for QUIET_FOR seconds, a look that finds the same folder
    (inode and modification time) lists nothing (the workbench looks every second); a run written, copied
    in or deleted changes the folder, and the next look sees it."""
    import time

    monkeypatch.setattr(FileSystemRunLogStore, "QUIET_FOR", 0.2)
    folder = tmp_path / "logs"
    fill(folder, 4)
    listings = []

    class Listing(FileSystemRunLogStore):
        def run_versions(self, *, full: bool = True) -> dict[str, Any]:
            listings.append(full)
            return super().run_versions(full=full)

    store = Listing({"log_folder": str(folder)})
    assert store.quiet_token() is None  # just written: too recent to trust
    index = open_index(store)
    assert index.refresh().read == 4
    time.sleep(0.3)
    assert index.refresh().read == 0  # lists once more, now that the folder is quiet, and keeps its token
    listings.clear()
    assert index.refresh().read == 0 and listings == []  # same token: no listing at all
    time.sleep(0.3)
    fill(folder, 1, start=4)  # a new run, renamed in (write_text: created in the folder)
    (folder / "run-000.json").unlink()
    report = index.refresh()
    assert (report.read, report.removed) == (1, 1) and listings == [False]
    assert sorted(r.summary.run_id for r in index.query(RunQuery()).runs) == [
        f"run-00{i}" for i in range(1, 5)
    ]
    index.close()


def test_a_log_edited_in_place_is_seen_at_the_next_full_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between full looks the index compares inodes only (no stat); an edit in place (same inode) shows
    at the next full look, at most FULL_LOOK_EVERY seconds later."""
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 3)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    index = open_index(store)
    index.refresh()
    edited = make_log("run-001", minute=1, tag="edited", params={"i": 1})
    (folder / "run-001.json").write_text(json.dumps(edited))  # in place: same inode
    assert index.refresh().read == 0  # a quick look: not seen yet
    monkeypatch.setattr(sqlite_index, "FULL_LOOK_EVERY", 0.0)
    assert index.refresh().read == 1
    assert [r.summary.run_id for r in index.query(RunQuery(tag="edited")).runs] == ["run-001"]
    index.close()


def test_runs_copied_in_by_hand_and_deleted_runs(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    fill(folder, 3)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    assert len(listed(store)) == 3
    (folder / "run-001.json").unlink()
    shutil.copy(ORIGINAL / "run_logs" / "gs_run.json", folder / "gs_run.json")  # by the original tool
    index = open_index(store)
    report = index.refresh()
    assert (report.read, report.removed) == (1, 1)
    runs = {r.summary.run_id: r for r in index.query(RunQuery(params=["*"], metrics=["*"])).runs}
    index.close()
    assert sorted(runs) == ["gs_run", "run-000", "run-002"]
    original = json.loads((ORIGINAL / "run_logs" / "gs_run.json").read_text())
    assert runs["gs_run"].params == original["parameters"]
    assert runs["gs_run"].summary.status == original["status"]
    # the work steps (progress.step_progress): the dag's success node is not one
    work = [s for s in original["steps"].values() if s["step_type"] not in ("success", "fail")]
    assert runs["gs_run"].summary.steps == len(work) == runs["gs_run"].summary.steps_done


def test_logs_from_the_original_tool_with_nested_steps_and_metrics(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for log in (ORIGINAL / "run_logs").glob("*.json"):
        shutil.copy(log, folder / log.name)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    index = open_index(store)
    runs = {r.summary.run_id: r for r in index.query(RunQuery(metrics=["*"])).runs}
    index.close()
    assert sorted(runs) == sorted(p.stem for p in (ORIGINAL / "run_logs").glob("*.json"))
    for run_id, run in runs.items():
        log = store.get_run(run_id)
        tracked = {}
        for step in log.walk():
            for name, value in step.user_defined_metrics.items():
                tracked[name] = value
                assert run.metrics[f"{step.internal_name}.{name}"] == value
        assert {k: v for k, v in run.metrics.items() if k in tracked} == tracked
        # the work steps (progress.step_progress): end nodes and composites whose branches count are not
        leaves = [s for s in log.walk() if s.step_type not in ("success", "fail") and not s.branches]
        assert run.summary.steps == len(leaves)
        assert run.summary.commit  # the original's git identity


def test_broken_logs_are_listed_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    fill(folder, 1)
    (folder / "garbage.json").write_text("{ not json")
    (folder / "wrong.json").write_text(json.dumps({"run_id": "wrong", "steps": {"a": {"name": 3}}}))
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    index = open_index(store)
    runs = {r.summary.run_id: r.summary for r in index.query(RunQuery()).runs}
    index.close()
    assert runs["garbage"].status == "BROKEN" and "not valid JSON" in runs["garbage"].error
    assert runs["wrong"].status == "BROKEN" and "field 'steps.a.name'" in runs["wrong"].error
    assert runs["run-000"].status == "SUCCESS"


def test_reread_reads_a_log_again_whose_token_did_not_move(tmp_path: Path) -> None:
    """A log read half-written in place (a user's copy) is BROKEN; once written with the same size within
    one tick of the clock its token is the same, and the index kept BROKEN for good. reread(ids): the next
    refresh reads it again (in this process and in another)."""
    folder = tmp_path / "logs"
    fill(folder, 1)
    whole = (folder / "run-000.json").read_text().replace('"run-000"', '"copied"')
    path = folder / "copied.json"
    path.write_text(whole[: len(whole) // 2].ljust(len(whole)))
    mtime = path.stat().st_mtime_ns
    store = FileSystemRunLogStore({"log_folder": str(folder)})

    def status() -> str:
        index = open_index(store)
        try:
            return {r.summary.run_id: r.summary.status for r in index.query(RunQuery()).runs}["copied"]
        finally:
            index.close()

    assert status() == "BROKEN"
    with path.open("r+") as handle:
        handle.write(whole)
    os.utime(path, ns=(mtime, mtime))
    assert status() == "BROKEN"  # the same token: nothing says it changed
    index = open_index(store)
    index.reread(["copied", "no-such-run"])
    index.close()
    assert status() == "SUCCESS"


def test_a_broken_log_is_listed_by_when_it_was_written(tmp_path: Path) -> None:
    """A log too broken to say when it ran is listed by its file's time: a new one at the top, an old one
    among the old runs, not always below every run."""
    from magnus_core.models.run_log import time_key

    folder = tmp_path / "logs"
    fill(folder, 3)  # runs of minutes 0..2 (make_log's times)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    times = {r.summary.run_id: r.summary.start for r in open_index(store).query(RunQuery()).runs}
    old, new = time_key(times["run-000"]) - 60, time_key(times["run-002"]) + 3600
    for name, when in (("new-broken", new), ("old-broken", old)):
        (folder / f"{name}.json").write_text("{ half")
        os.utime(folder / f"{name}.json", (when, when))
    assert listed(store) == ["new-broken", "run-002", "run-001", "run-000", "old-broken"]


def test_several_writers_at_once(tmp_path: Path) -> None:
    """Six processes build and update one cold index while runs keep arriving: all succeed, none
    reports a damaged or locked index, and the index ends holding every run."""
    folder = tmp_path / "logs"
    fill(folder, 60)
    cfg = store_config(tmp_path, folder)

    def lister(i: int) -> subprocess.CompletedProcess[str]:
        if i % 2:
            fill(folder, 5, start=100 + 5 * i)
        return run_magnus("runs", "-c", str(cfg), "--json", cwd=tmp_path)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lister, range(6)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "magnus:" not in result.stderr  # no rebuild or lock notice
        assert len(json.loads(result.stdout)["runs"]) >= 60
    final = json.loads(run_magnus("runs", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    assert len(final["runs"]) == 60 + 15


def test_a_corrupt_index_is_rebuilt_with_a_notice(tmp_path: Path) -> None:
    fill(tmp_path / "logs", 3)
    store = FileSystemRunLogStore({"log_folder": str(tmp_path / "logs")})
    assert len(listed(store)) == 3
    path = index_path(store)
    assert path is not None
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database at all" * 100)
    cfg = store_config(tmp_path, tmp_path / "logs")
    out = run_magnus("runs", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("\n") == 1 and "was unreadable" in out.stderr and "rebuilding" in out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == ["run-002", "run-001", "run-000"]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM runs").fetchone() == (3,)


def test_a_locked_index_falls_back_to_memory_with_a_notice(tmp_path: Path) -> None:
    """Trial 22: a held lock made every command wait the whole busy timeout (5 s), then read every log
    into an empty index in memory. A built index waits LOCK_WAIT at most, then copies what the file holds
    into memory and reads only the new log there."""
    from magnus_core.index.sqlite import LOCK_WAIT

    fill(tmp_path / "logs", 3)
    store = FileSystemRunLogStore({"log_folder": str(tmp_path / "logs")})
    assert len(listed(store)) == 3
    fill(tmp_path / "logs", 1, start=3)  # something to write
    path = index_path(store)
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    holder.execute("DELETE FROM names")  # and has written (not committed)
    notices: list[str] = []
    read: list[str] = []
    real_read = store.read_json

    def counted(run_id: str, *args: Any, **kwargs: Any) -> Any:
        read.append(run_id)
        return real_read(run_id, *args, **kwargs)

    store.read_json = counted  # type: ignore[method-assign]
    try:
        index = SQLiteRunIndex(store, path, notify=notices.append)  # the default busy timeout (5 s)
        assert index.conn.execute("PRAGMA busy_timeout").fetchone() == (int(LOCK_WAIT * 1000),)
        runs = index.query(RunQuery()).runs
        index.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r.summary.run_id for r in runs] == ["run-003", "run-002", "run-001", "run-000"]
    assert len(notices) == 1 and "locked" in notices[0] and "a copy of it in memory" in notices[0]
    assert set(read) == {"run-003"}  # the three runs the file held came from the copy (the new one was
    # read by the try that met the lock, and again in memory)
    # the next command writes the file
    assert listed(store) == ["run-003", "run-002", "run-001", "run-000"]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM runs").fetchone() == (4,)


def test_an_index_from_another_schema_version_is_replaced(tmp_path: Path) -> None:
    fill(tmp_path / "logs", 2)
    store = FileSystemRunLogStore({"log_folder": str(tmp_path / "logs")})
    path = index_path(store)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(str(path))
    old.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema', '0');"
                      "CREATE TABLE runs (run_id TEXT, something TEXT);")  # fmt: skip
    old.close()
    assert listed(store) == ["run-001", "run-000"]


def test_index_location_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = FileSystemRunLogStore({"log_folder": str(tmp_path / "a")})
    b = FileSystemRunLogStore({"log_folder": str(tmp_path / "b")})
    monkeypatch.setenv(INDEX_DIR_ENV, str(tmp_path / "idx"))
    pa, pb = index_path(a), index_path(b)
    assert pa is not None and pb is not None and pa != pb and pa.parent == tmp_path / "idx"
    relative = FileSystemRunLogStore({"log_folder": "a"})
    monkeypatch.chdir(tmp_path)
    assert index_path(relative) == pa  # keyed by the absolute location
    monkeypatch.delenv(INDEX_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "magnus" / "index"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "magnus" / "index"
    assert index_path(BufferedRunLogStore()) is None  # an in-process store: an index in memory


def test_the_chunked_store_is_indexed_and_followed(tmp_path: Path) -> None:
    from magnus_core.models.run_log import RunLog

    store = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path / "chunks")})
    for i in range(3):
        log = RunLog.model_validate(
            make_log(f"c{i}", minute=i, params={"i": i}, metrics={"train": {"auc": i}})
        )
        store.create_run(log)
        store.close(log.run_id)
    index = open_index(store)
    assert [r.summary.run_id for r in index.query(RunQuery()).runs] == ["c2", "c1", "c0"]
    assert index.refresh().read == 0
    writer = ChunkedFileSystemRunLogStore({"log_folder": str(tmp_path / "chunks")})
    writer.attach("c0")
    writer.update_run("c0", tag="changed")
    writer.close("c0")
    assert index.refresh().read == 1
    assert [r.summary.run_id for r in index.query(RunQuery(tag="changed")).runs] == ["c0"]
    index.close()


def test_limit_reads_no_log_once_the_index_is_warm(tmp_path: Path) -> None:
    """`magnus runs --limit 5` with a warm index: a log rewritten in place with the same size, inode and
    time (so no change is visible without reading it) is shown as the index holds it: it was not read."""
    folder = tmp_path / "logs"
    fill(folder, 8)
    cfg = store_config(tmp_path, folder)
    assert run_magnus("runs", "-c", str(cfg), cwd=tmp_path).returncode == 0
    newest = folder / "run-007.json"
    stat = newest.stat()
    text = newest.read_text()
    with open(newest, "r+") as handle:  # same inode, same size
        handle.write(text.replace('"tag": "t"', '"tag": "X"'))
    os.utime(newest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    out = run_magnus("runs", "-c", str(cfg), "--limit", "5", "--json", cwd=tmp_path)
    runs = json.loads(out.stdout)["runs"]
    assert [r["run_id"] for r in runs] == [f"run-{i:03d}" for i in (7, 6, 5, 4, 3)]
    assert runs[0]["tag"] == "t"  # not re-read


def test_tests_never_touch_the_real_cache() -> None:
    assert os.environ.get(INDEX_DIR_ENV)
    assert not cache_dir().is_relative_to(Path.home() / ".cache")
    assert str(ROOT) not in str(cache_dir())
    assert sys.executable  # the suite's interpreter runs every subprocess with the same environment


def test_a_row_of_the_index_becomes_the_run_summary_field_by_field() -> None:
    """The index makes RunSummary rows positionally (20,000 per `magnus runs`): each column lands in its own
    field, whatever order the dataclass declares them in."""
    from magnus_core.index.sqlite import _RUN_FIELDS, _summary

    values = {
        "run_id": "r1", "status": "FAIL", "tag": "t", "pipeline": "p.yaml", "dag_hash": "d", "start": "s",
        "end_time": "e", "duration": 1.5, "steps": 7, "steps_done": 6, "original_run_id": "o",
        "commit_id": "c", "dirty": 1, "use_cached": 0, "pid": None, "host": "", "pid_start": None,
        "error": "why", "failed_step": "fit", "failure": "ValueError: x (at a.py:1)", "user_name": "bob",
        "driven": "per-step", "step_text": "6/≥7", "steps_running": 0,
    }  # fmt: skip
    row = tuple(values[name.strip()] for name in _RUN_FIELDS.split(","))
    assert _summary(row).growing  # (kept in the steps' text; not in to_json)
    assert _summary(row).to_json() == {
        "run_id": "r1", "status": "FAIL", "state": "FAIL", "tag": "t", "start": "s", "end": "e",
        "duration": 1.5, "steps": 7, "original_run_id": "o", "broken_reason": "why", "steps_done": 6,
        "pipeline": "p.yaml", "dag_hash": "d", "commit": "c", "dirty": True, "failed_step": "fit",
        "failure": "ValueError: x (at a.py:1)", "user": "bob", "driven": "per-step",
    }  # fmt: skip


def test_a_look_compares_each_kind_of_token_with_what_the_index_keeps() -> None:
    """What a look reads (index/sqlite._changed): a full token (text or tuple) against the whole version
    kept, a one-part token (a quick look's inode) against its first part; new runs and unknown tokens
    (None) always; the pairs in run-id order."""
    from magnus_core.index.sqlite import _changed

    known = {"a": "1:2:3", "b": "4:5:6", "c": "7", "d": None, "e": "9:9:9"}
    full = {"a": "1:2:3", "b": "4:5:7", "c": "7", "d": "8:8:8", "f": "1:1:1", "g": None}
    assert _changed(full, known) == [("b", "4:5:7"), ("d", "8:8:8"), ("f", "1:1:1"), ("g", None)]
    quick = {"a": "1", "b": "4", "c": "8", "e": "9", "f": "2"}
    assert _changed(quick, known) == [("c", "8"), ("f", "2")]
    first = {"a": "1", "b": "4", "c": "7", "d": None, "e": "9"}
    assert _changed(quick, known, first) == [("c", "8"), ("f", "2")]
    tuples = {"a": (1, 2, 3), "b": (4,), "c": (7,), "e": (9, 9, 8), "h": None}
    assert _changed(tuples, known) == [("e", "9:9:8"), ("h", None)]
    mixed = {"a": "1:2:3", "b": "4", "c": "8", "e": "9:9:9", "i": None}
    assert _changed(mixed, known) == [("c", "8"), ("i", None)]
    assert _changed({}, known) == [] and _changed(full, {})[0] == ("a", "1:2:3")


def test_a_full_look_finding_the_listing_the_index_holds_compares_nothing_until_the_index_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full look whose listing (every run and its token) is the one the index was last found to hold
    compares nothing (a digest kept in the index: `magnus runs` after 10 s stats every log but reads none of
    what the index holds); an edit in place still shows, and any write to the index's runs (another
    process writing what it read a while ago) drops the digest, so the next full look compares again."""
    import magnus_core.index.sqlite as sqlite_index

    monkeypatch.setattr(sqlite_index, "FULL_LOOK_EVERY", 0.0)  # every look a full one
    folder = tmp_path / "logs"
    fill(folder, 4)
    store = CountingStore({"log_folder": str(folder)})
    index = open_index(store)
    assert index.refresh().read == 4
    compared = []
    real = sqlite_index._changed
    monkeypatch.setattr(sqlite_index, "_changed", lambda *a: compared.append(1) or real(*a))
    assert index.refresh().read == 0 and compared  # compared with what the index holds: the same
    compared.clear()
    other = open_index(CountingStore({"log_folder": str(folder)}))  # another process
    assert other.refresh().read == 0 and not compared  # the digest: nothing compared
    edited = make_log("run-001", minute=1, tag="edited", params={"i": 1})
    (folder / "run-001.json").write_text(json.dumps(edited))  # in place: same inode, another mtime and size
    assert other.refresh().read == 1
    assert other.refresh().read == 0 and compared  # (compared again once, then the digest is kept)
    assert isinstance(index, SQLiteRunIndex)  # another process writes a run as it read it a while ago
    index._write([(index._record("run-002"), "stale")], [], {})
    CountingStore.reads = 0
    assert other.refresh().read == 1 and CountingStore.reads == 1
    assert {r.summary.run_id: r.summary.tag for r in other.query(RunQuery()).runs}["run-001"] == "edited"
    index.close()
    other.close()


def _running_log(run_id: str, pid: int, tag: str = "live") -> dict[str, Any]:
    from magnus_core.runs import process_record, process_start_time

    log = make_log(run_id, minute=50, tag=tag, status="PROCESSING")
    log["run_config"]["process"] = {**process_record(), "pid": pid, "start_time": process_start_time(pid)}
    return log


def test_a_running_run_rewritten_between_quick_looks_is_read_again(tmp_path: Path) -> None:
    """Between full looks a look compares inodes, and each write renames a new file into place; but a
    file system gives the freed inode back (ext4: a log rewritten twice has its first inode again), and a
    log may be rewritten in place. The runs the index holds as running are changing ones: each look
    compares their whole token (a stat each), so their new state is seen at once (trial 3, finding 1)."""
    folder = tmp_path / "logs"
    fill(folder, 3)
    log = _running_log("run-live", os.getpid())
    write_log(folder, log)
    store = CountingStore({"log_folder": str(folder)})
    index = open_index(store)
    index.refresh()  # the first, full, look
    assert index.refresh().read == 0  # the next one quick, and nothing changed
    inode = (folder / "run-live.json").stat().st_ino
    log["tag"] = "rewritten"
    (folder / "run-live.json").write_text(json.dumps(log))  # the same inode
    assert (folder / "run-live.json").stat().st_ino == inode
    assert index.refresh().read == 1
    assert [r.summary.tag for r in index.query(RunQuery(run_ids=["run-live"])).runs] == ["rewritten"]
    log["status"] = "SUCCESS"
    (folder / "run-live.json").write_text(json.dumps(log))
    [done] = index.query(RunQuery(run_ids=["run-live"])).runs
    assert (done.summary.status, done.summary.state) == ("SUCCESS", "SUCCESS")
    table = index.table(RunQuery())
    assert table.states[table.run_ids.index("run-live")] == "SUCCESS"
    index.close()


def test_a_run_whose_process_just_ended_reads_as_its_last_write_not_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's process writes its last state and exits. A listing that read the log before that write and
    judges the process after its exit must not say INTERRUPTED: a dead process's log is looked at again
    (after judging it dead), and its last write is what the listing shows."""
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 2)
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    log = _running_log("run-live", child.pid)
    write_log(folder, log)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    index = open_index(store)
    try:
        assert index.query(RunQuery(run_ids=["run-live"])).runs[0].summary.state == "RUNNING"
        real_refresh = sqlite_index.SQLiteRunIndex._refresh

        def refresh_then_the_run_ends(self: Any, **how: Any) -> Any:
            report = real_refresh(self, **how)  # the log read still says PROCESSING
            log["status"] = "SUCCESS"
            (folder / "run-live.json").write_text(json.dumps(log))
            assert child.stdin is not None
            child.stdin.close()
            child.wait()
            return report

        monkeypatch.setattr(sqlite_index.SQLiteRunIndex, "_refresh", refresh_then_the_run_ends)
        [run] = index.query(RunQuery(run_ids=["run-live"])).runs
        assert (run.summary.status, run.summary.state) == ("SUCCESS", "SUCCESS")
        table = index.table(RunQuery())
        assert table.states[table.run_ids.index("run-live")] == "SUCCESS"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        index.close()


def test_a_running_runs_duration_is_the_time_so_far_with_no_end(tmp_path: Path) -> None:
    """A running run has no end: its duration in every listing (query, table, --json's summary) and in
    `magnus show` is the time from its start to now, as the run screen's header ticks it, not the time to
    its last finished step (trial 3, finding 4). A finished run keeps its own."""
    from datetime import UTC, datetime, timedelta

    from magnus_core.models.run_log import RunLog
    from magnus_core.models.times import fmt_time
    from magnus_core.runs import summarise
    from magnus_core.summary import timing_line
    from magnus_core.table import fmt_seconds

    folder = tmp_path / "logs"
    fill(folder, 1)
    log = _running_log("run-live", os.getpid())
    started = datetime.now(UTC) - timedelta(seconds=30)
    log["run_config"]["process"]["started_at"] = fmt_time(started)
    write_log(folder, log)
    index = open_index(FileSystemRunLogStore({"log_folder": str(folder)}))
    runs = {r.summary.run_id: r.summary for r in index.query(RunQuery()).runs}
    live, done = runs["run-live"], runs["run-000"]
    assert live.state == "RUNNING" and live.end == ""
    assert live.duration is not None and 29 < live.duration < 90  # (its last step ended long before)
    assert (done.end, done.duration) != ("", None) and done.duration is not None and done.duration < 60
    table = index.table(RunQuery())
    durations = dict(zip(table.run_ids, table.duration_texts, strict=True))
    assert durations["run-live"].endswith("s") and float(durations["run-live"][:-1]) >= 29
    assert durations["run-000"] == fmt_seconds(done.duration)
    summary = summarise(RunLog.model_validate(log))
    assert summary.end == "" and summary.duration is not None and summary.duration >= live.duration
    assert ", running for " in timing_line(RunLog.model_validate(log))
    index.close()


class FullLookCountingStore(FileSystemRunLogStore):
    """Counts the full looks made in this process (a stat of every log)."""

    full_looks = 0

    def run_versions(self, *, full: bool = True) -> dict[str, Any]:
        FullLookCountingStore.full_looks += full
        return super().run_versions(full=full)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check beside is GNU find's")
def test_a_full_look_checked_beside_the_listing_still_sees_a_log_edited_in_place(tmp_path: Path) -> None:
    """A full look due (a stat of every log, to catch logs edited in place) is checked by a child process
    (GNU find) while the listing reads the rows: the store unchanged since the index last held every run,
    no log is stat'ed here; a log edited in place (same inode) changes the check, and the full look made
    here reads it, in the same call."""
    folder = tmp_path / "logs"
    fill(folder, 3)
    index = open_index(FullLookCountingStore({"log_folder": str(folder)}))
    assert isinstance(index, SQLiteRunIndex)
    made_here: list[int] = []

    def listed_after_a_full_look_due() -> dict[str, str]:
        index.conn.execute("DELETE FROM meta WHERE key = 'full_look'")
        before = FullLookCountingStore.full_looks
        table = index.table(RunQuery())
        made_here.append(FullLookCountingStore.full_looks - before)
        return dict(zip(table.run_ids, table.tags, strict=True))

    assert len(listed_after_a_full_look_due()) == 3  # the first look reads every log
    listed_after_a_full_look_due()  # the check's digest is kept once the index holds every run
    assert listed_after_a_full_look_due() == {"run-000": "t", "run-001": "t", "run-002": "t"}
    assert made_here[-1] == 0
    path = folder / "run-001.json"
    inode = path.stat().st_ino
    log = json.loads(path.read_text())
    path.write_text(json.dumps({**log, "tag": "edited in place"}))  # the same inode: no quick look sees it
    assert path.stat().st_ino == inode
    assert listed_after_a_full_look_due()["run-001"] == "edited in place"
    assert made_here[-1] == 1
    path.write_text(json.dumps({**log, "tag": "again"}))
    index.conn.execute("DELETE FROM meta WHERE key = 'full_look'")
    assert {r.summary.tag for r in index.query(RunQuery()).runs} == {"t", "again"}
    index.close()


def test_a_listing_in_another_zone_shows_the_starts_in_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index keeps each start as shown in the zone of the process that indexed it; a listing made in
    another zone (TZ) shows the starts in its own, as models/times.local_text gives them."""
    import time

    from magnus_core.models.times import local_text

    folder = tmp_path / "logs"
    fill(folder, 3)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    try:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        index = open_index(store)
        utc = index.table(RunQuery())
        index.close()
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        index = open_index(store)
        kolkata = index.table(RunQuery())
        starts = [r.summary.start for r in index.query(RunQuery()).runs]
        index.close()
        assert list(kolkata.start_texts) == [local_text(start) for start in starts]
        assert utc.start_texts != kolkata.start_texts  # (five and a half hours apart)
    finally:
        monkeypatch.undo()
        time.tzset()


class OtherFindStore(FullLookCountingStore):
    """A `find` that does not speak the format asked of it (busybox's, BSD's): its output is no answer."""

    def full_look_command(self) -> tuple[list[str], str] | None:
        asked = super().full_look_command()
        return None if asked is None else ([sys.executable, "-c", "print('%f/%i/%T@/%C@/%s')"], asked[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check beside is GNU find's")
def test_a_check_beside_in_another_format_is_no_answer_and_the_full_look_is_made_here(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    fill(folder, 2)
    index = open_index(OtherFindStore({"log_folder": str(folder)}))
    assert isinstance(index, SQLiteRunIndex)
    index.table(RunQuery())
    for _ in range(2):
        index.conn.execute("DELETE FROM meta WHERE key = 'full_look'")
        before = FullLookCountingStore.full_looks
        assert len(index.table(RunQuery()).run_ids) == 2
        assert FullLookCountingStore.full_looks == before + 1  # made here, every time
    index.close()


def test_store_index_names_the_file_and_prunes_those_of_stores_gone(tmp_path: Path) -> None:
    # trial 4: 267 index files (93 MB) in the cache, one per store ever listed, nothing said which or pruned
    env = {INDEX_DIR_ENV: str(tmp_path / "cache")}
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    configs = {}
    for folder in (kept, gone):
        fill(folder, 2)
        (tmp_path / folder.name).mkdir(exist_ok=True)
        configs[folder] = store_config(tmp_path / folder.name, folder)
        assert run_magnus("runs", "-c", str(configs[folder]), env=env).returncode == 0
    shutil.rmtree(gone)
    said = run_magnus("store", "index", "-c", str(configs[kept]), env=env)
    assert said.returncode == 0, said.stderr
    expected = index_path(FileSystemRunLogStore({"log_folder": str(kept)}))
    assert expected is not None and expected.name in said.stdout.splitlines()[0]
    assert "2 index file(s)" in said.stdout and "1 of stores that no longer exist" in said.stdout
    pruned = run_magnus("store", "index", "--prune", "--json", "-c", str(configs[kept]), env=env)
    shown = json.loads(pruned.stdout)
    assert [Path(p).name for p in shown["removed"]] != [expected.name] and len(shown["removed"]) == 1
    assert [(f["store"], f["stale"]) for f in shown["files"]] == [(str(kept.resolve()), False)]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".sqlite") == [expected.name]


def test_the_progress_line_of_a_cold_build_goes_when_it_is_done(tmp_path: Path) -> None:
    # trial 4: `indexing run logs: 2015/2015` stayed on the terminal above the table
    pexpect = pytest.importorskip("pexpect")
    folder = tmp_path / "logs"
    fill(folder, 200)
    config = store_config(tmp_path, folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", INDEX_DIR_ENV: str(tmp_path / "cache")}
    child = pexpect.spawn(
        sys.executable, ["-m", "magnus_core", "runs", "-c", str(config), "--limit", "1"],
        env=env, dimensions=(24, 120), encoding="utf-8",
    )  # fmt: skip
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    blank = "\r" + " " * len("indexing run logs: 200/200") + "\r"
    assert blank in child.before  # the line is blanked when the logs are read, before the table
    assert "indexing" not in child.before.split(blank)[-1]
    assert child.before.split(blank)[-1].startswith("run id")


def _rows(store: Any) -> list[tuple[Any, ...]]:
    index = open_index(store)
    try:
        found = index.query(RunQuery(params=["*"], metrics=["*"])).runs
        return [(r.summary, r.params, r.metrics) for r in found]
    finally:
        index.close()


def test_a_cold_build_read_by_two_processes_is_the_build_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PARALLEL_MIN logs a second process reads from the last log down, making the rows of what it
    read, while this one reads from the first up (issue 22's cold build: two thirds of it is reading and
    decoding); what it cannot summarise (a broken log, one only the models read) is read here the exact way,
    what both read is written once, and the index is the one a build in this process alone makes."""
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 12)
    (folder / "run-010.json").write_text(json.dumps({**json.loads((folder / "run-001.json").read_text())}))
    (folder / "run-011.json").write_text("{not json")  # broken: where the second process starts
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    serial = _rows(store)  # (in this process alone: fewer logs than PARALLEL_MIN)
    monkeypatch.setenv(INDEX_DIR_ENV, str(tmp_path / "cache"))  # a new index: a cold build again
    started: list[Any] = []
    real_start = sqlite_index._OtherReader.start
    real_record = sqlite_index.SQLiteRunIndex._record

    def start(store: Any, changed: Any) -> Any:
        started.append(real_start(store, changed))
        return started[-1]

    def slow_record(self: Any, run_id: str) -> Any:  # this process slower than the other: it reads more
        select.select([started[0].child.stdout], [], [], 30)  # (it gave its first log, however loaded)
        time.sleep(0.05)
        return real_record(self, run_id)

    monkeypatch.setattr(sqlite_index, "PARALLEL_MIN", 4)
    monkeypatch.setattr(sqlite_index, "_OWN_BATCH", 1)
    monkeypatch.setattr(sqlite_index, "_OTHER_BATCH", 1)
    monkeypatch.setattr(sqlite_index._OtherReader, "start", staticmethod(start))
    monkeypatch.setattr(sqlite_index.SQLiteRunIndex, "_record", slow_record)
    parallel = _rows(FileSystemRunLogStore({"log_folder": str(folder)}))
    other = started[0]
    assert other is not None and other.child.returncode == 0  # it ran, and ended
    assert 1 <= other.given < 12  # it read some of the logs (run-011 among them), this process the others
    assert parallel == serial
    assert [s.status for s, _, _ in parallel].count("BROKEN") == 1


def test_a_cold_build_makes_the_indexes_after_its_rows_and_a_build_cut_short_gets_them_at_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold build writes its rows with no secondary index and makes them after (one sorted pass each);
    a build cut short (meta 'indexes' left) has them made by the next process that opens the index."""
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 6)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    monkeypatch.setattr(sqlite_index, "PARALLEL_MIN", 4)
    made: list[set[str]] = []
    real_write = sqlite_index.SQLiteRunIndex._write_rows

    def write_rows(self: Any, *args: Any) -> None:
        made.append(
            {
                name
                for (name,) in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'runs_%'"
                )
            }
        )
        real_write(self, *args)

    monkeypatch.setattr(sqlite_index.SQLiteRunIndex, "_write_rows", write_rows)
    assert len(listed(store)) == 6
    assert made and made[0] == set()  # written with no secondary index

    def indexes() -> tuple[set[str], list[Any]]:
        with sqlite3.connect(index_path(store)) as conn:
            names = {
                n
                for (n,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'runs_%'"
                )
            }
            return names, conn.execute("SELECT value FROM meta WHERE key = 'indexes'").fetchall()

    assert indexes() == (set(sqlite_index._SECONDARY), [])
    with sqlite3.connect(index_path(store)) as conn:  # as a build killed half way leaves it
        for name in sqlite_index._SECONDARY:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("INSERT INTO meta VALUES ('indexes', 'to make')")
    assert len(listed(store)) == 6
    assert indexes() == (set(sqlite_index._SECONDARY), [])


def test_a_cold_build_whose_second_process_cannot_start_reads_every_log_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import magnus_core.index.sqlite as sqlite_index

    folder = tmp_path / "logs"
    fill(folder, 6)
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    store.config["unpicklable"] = lambda: None  # its config cannot be sent: no second process
    monkeypatch.setattr(sqlite_index, "PARALLEL_MIN", 2)
    assert listed(store) == [f"run-{i:03d}" for i in reversed(range(6))]
