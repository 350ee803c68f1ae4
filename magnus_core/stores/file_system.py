"""The file-system store: one JSON file per run, `<log_folder>/<run_id>.json`.

The file is complete, valid JSON at every moment: it is written to a temporary file and renamed over the
old one. It is not rewritten after every step (the original's O(N^2)): writes are spaced so that writing
costs at most about a tenth of the run's time, and always happen when the run starts and ends; a skipped
write is made by a timer when it falls due, so the file is never more than one interval behind. A killed run
leaves a readable log whose status (PROCESSING) says it did not finish.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import from_json

from magnus_core.errors import ConfigError, RunLogError
from magnus_core.files import atomic_write, create_exclusive
from magnus_core.models.reading import MAX_RUN_LOG_BYTES as MAX_RUN_LOG_BYTES
from magnus_core.models.reading import MAX_RUN_LOG_DEPTH as MAX_RUN_LOG_DEPTH
from magnus_core.models.reading import load_run_log as load_run_log
from magnus_core.models.reading import parse_run_log_json as parse_run_log_json
from magnus_core.models.reading import run_log_from_dict as run_log_from_dict
from magnus_core.models.reading import run_log_from_json as run_log_from_json
from magnus_core.models.run_log import RunLog
from magnus_core.paths import read_regular_file
from magnus_core.registry import parse_options
from magnus_core.stores.base import RunLogStore, check_run_id

log = logging.getLogger("magnus")


class FileSystemOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log_folder: str = ".run_log_store"


def folder_error(folder: Path, exc: OSError) -> ConfigError:
    """The store's folder cannot take a run log (read-only, /proc/self, no space): a one-line ConfigError."""
    return ConfigError(
        f"cannot write run logs in '{folder}': {exc.strerror or exc}", field="run_log_store.config.log_folder"
    )


class FileSystemRunLogStore(RunLogStore):
    service_name = "file-system"
    min_interval = 0.05  # seconds between intermediate writes, at least
    # and at least this many times the last write's cost: writing takes at most ~1/10 of a run's time,
    # so the cost per step stays flat as the log grows (python bench/steps.py)
    cost_factor = 9.0

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(FileSystemOptions, self.config, "run_log_store")
        self.folder = Path(self.options.log_folder)
        self._last_write: dict[str, float] = {}
        self._last_cost: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._timers: dict[str, threading.Timer] = {}
        self._durable: set[str] = set()  # runs whose file holds the live run as it is, fsynced

    def path(self, run_id: str) -> Path:
        return self.folder / f"{check_run_id(run_id)}.json"

    def folders(self) -> list[tuple[Path, str]]:
        return [(self.folder, "run_log_store.config.log_folder")]

    def location(self, run_id: str) -> str:
        return str(self.path(run_id))

    def where(self) -> str:
        return f"{self.folder}/"

    def _persist(self, run_id: str, *, final: bool = False) -> None:
        self._dirty.add(run_id)
        self._durable.discard(run_id)
        now = time.perf_counter()
        due = self._last_write.get(run_id, 0.0) + max(
            self.min_interval, self.cost_factor * self._last_cost.get(run_id, 0.0)
        )
        first = run_id not in self._last_write
        if not (final or first or now >= due):
            self._write_later(run_id, due - now)
            return
        timer = self._timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()
        text = self._live[run_id].log.model_dump_json(indent=4)
        atomic_write(self.path(run_id), text, durable=final)
        end = time.perf_counter()
        self._last_cost[run_id] = end - now
        self._last_write[run_id] = end
        self._dirty.discard(run_id)
        if final:
            self._durable.add(run_id)

    def _finish(self, run_id: str) -> None:
        """The run's end writes its status durably (update_run) and then closes it: the file is rewritten
        only if something changed in between (at 10,000 steps a full write is about 0.3 s)."""
        if run_id not in self._durable:
            self._persist(run_id, final=True)

    def _forget(self, run_id: str) -> None:
        super()._forget(run_id)
        self._durable.discard(run_id)

    def _write_later(self, run_id: str, delay: float) -> None:
        """A skipped write still reaches the disk when it falls due, even if nothing else happens before
        (a long step after a quick one): watchers and a killed run's log are at most one interval late."""
        if run_id in self._timers:
            return
        timer = threading.Timer(max(delay, 0.0), self._write_if_dirty, args=(run_id,))
        timer.daemon = True
        self._timers[run_id] = timer
        timer.start()

    def _write_if_dirty(self, run_id: str) -> None:
        with self._lock:
            self._timers.pop(run_id, None)
            if run_id in self._live and run_id in self._dirty:
                try:
                    self._persist(run_id)
                except OSError as exc:  # the run's next write (or its last) tries again, and reports it
                    log.debug("deferred write of run %s failed: %s", run_id, exc)

    def _create(self, run_id: str) -> None:
        """Write the first version under a temporary name and hard-link it into place: if two processes
        create the same run id at once, exactly one succeeds and the other's file is never written."""
        try:
            create_exclusive(self.path(run_id), self._live[run_id].log.model_dump_json(indent=4))
        except FileExistsError:
            raise self._taken(run_id) from None
        except OSError as exc:  # the folder cannot take a run log (/proc/self as root, a full disk)
            raise folder_error(self.folder, exc) from None
        self._last_write[run_id] = time.perf_counter()
        self._last_cost[run_id] = 0.0

    def _read(self, run_id: str) -> RunLog | None:
        path = self.path(run_id)
        if not path.exists():
            return None
        return load_run_log(path)

    def get_plain_run(self, run_id: str) -> dict[str, Any]:
        """A run not live in this process is read from its file as plain JSON (no models made)."""
        path = self.path(run_id)
        if run_id in self._live or not path.exists():
            return super().get_plain_run(run_id)
        from magnus_core.models.plain import read_plain_run_log

        return read_plain_run_log(path)

    def local_folder(self) -> Path:
        return self.folder

    def scratch_folder(self, run_id: str) -> Path:
        """A hidden folder beside the run's file (listing runs ignores it)."""
        return self.folder / f".{check_run_id(run_id)}.branch-parameters"

    def version(self, run_id: str) -> Hashable | None:
        """Changes whenever the run's file is rewritten (for followers)."""
        try:
            st = os.stat(self.path(run_id))
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def list_run_ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.stem for p in self.folder.glob("*.json") if not p.name.startswith(".")]

    def index_location(self) -> str | None:
        return str(self.folder.resolve())

    def run_versions(self, *, full: bool = True) -> dict[str, Any]:
        """One directory scan, and with `full` one stat per run: (inode, mtime_ns, size) changes with every
        rewrite; without, the inode alone (from the scan itself: each write renames a new file into place)."""
        out: dict[str, Any] = {}
        try:
            entries = os.scandir(self.folder)
        except (FileNotFoundError, NotADirectoryError):
            return out
        with entries:
            if not full:  # the loop the run index's every look makes over 20,000 entries: nothing more
                for entry in entries:
                    name = entry.name
                    if name[-5:] == ".json" and name[:1] != ".":
                        out[name[:-5]] = (entry.inode(),)
                return out
            for entry in entries:
                name = entry.name
                if not name.endswith(".json") or name.startswith("."):
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    out[name[:-5]] = None  # listed, but unreadable: read it (and list it as broken)
                    continue
                out[name[:-5]] = (st.st_ino, st.st_mtime_ns, st.st_size)
        return out

    # a folder's modification time ticks at the kernel's clock (a few ms): a rename in the same tick as a
    # look leaves it unchanged, so only a folder untouched for this long gives a token
    QUIET_FOR = 2.0  # seconds

    def quiet_token(self) -> str | None:
        """The folder's inode and modification time once it has been untouched for QUIET_FOR seconds:
        every write of this store renames a file into the folder, which changes it."""
        try:
            st = os.stat(self.folder)
        except OSError:
            return None
        if time.time() - st.st_mtime < self.QUIET_FOR:
            return None
        return f"{st.st_ino}:{st.st_mtime_ns}"

    def modified(self, run_id: str) -> float | None:
        try:
            return os.stat(self.folder / f"{check_run_id(run_id)}.json").st_mtime
        except (OSError, ValueError):
            return None

    def read_json(self, run_id: str) -> Any:
        live = self._live.get(run_id)
        if live is not None:
            return live.log.model_dump(mode="json")
        # the id came from listing the folder (run_versions): a plain join, no pathlib (20,000 reads). The
        # file is untrusted like every run log: a FIFO must not block the index, nor a huge file fill memory
        path = os.path.join(self.folder, f"{check_run_id(run_id)}.json")
        raw = read_regular_file(path, limit=MAX_RUN_LOG_BYTES, what="run log", error=RunLogError)
        # pydantic-core's parser: three times json.load's speed. What it refuses (a number of more than
        # 4300 digits, a lone surrogate, deep nesting) raises, and the index reads the log through the
        # models instead, which say exactly why (index/sqlite.py _record, runs.read_log)
        return from_json(raw)
