"""The file-system store: one JSON file per run, `<log_folder>/<run_id>.json`.

The file is complete, valid JSON at every moment: it is written to a temporary file and renamed over the
old one. It is not rewritten after every step (the original's O(N^2)): writes are spaced so that writing
costs at most about a tenth of the run's time, and always happen when the run starts and ends; a skipped
write is made by a timer when it falls due, so the file is never more than one interval behind. A killed run
leaves a readable log whose status (PROCESSING) says it did not finish.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import from_json

from magnus_core.errors import ConfigError, RunLogError
from magnus_core.files import atomic_write, create_exclusive
from magnus_core.gcpause import paused
from magnus_core.models.run_log import RunLog
from magnus_core.paths import read_regular_file
from magnus_core.registry import parse_options
from magnus_core.stores.base import RunLogStore, check_run_id

log = logging.getLogger("magnus")

# Reading a run log costs about 6x its size in memory; past this, refuse with a clear error instead.
MAX_RUN_LOG_BYTES = int(float(os.environ.get("MAGNUS_MAX_RUN_LOG_MB", "256")) * 1024 * 1024)


class FileSystemOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log_folder: str = ".run_log_store"


# Run logs magnus writes nest at most about 150 levels (pipelines nest at most 20 composite steps, parameter
# values at most 64 levels: see loading.MAX_NESTING and parameters.MAX_VALUE_DEPTH); deeper JSON is refused
# on reading, so nothing downstream (a diff, a re-run writing it again) meets recursion limits. The limit is
# that of pydantic-core's JSON parser (containers inside the outermost one, at most 201 levels below it), so
# the fast reading (run_log_from_json, the run index's from_json) and the careful one refuse the same logs.
MAX_RUN_LOG_DEPTH = 201
# A lone UTF-16 surrogate: as a JSON escape (\ud800) or as raw bytes json.loads lets through (ED A0..BF ..).
_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def load_run_log(path: str | Path) -> RunLog:
    """Read a run-log JSON file, or raise a RunLogError saying which file and which field is wrong.

    Never trusts the file: a FIFO or a device is refused before it is read, at most MAX_RUN_LOG_BYTES are
    read (MAGNUS_MAX_RUN_LOG_MB), and every fault of the content (see parse_run_log_json) is a RunLogError.
    """
    raw = read_regular_file(
        path,
        limit=MAX_RUN_LOG_BYTES,
        what="run log",
        error=RunLogError,
        limit_hint=" (set MAGNUS_MAX_RUN_LOG_MB to read it)",
    )
    with paused():  # about a million acyclic objects for 10,000 steps (magnus_core/gcpause.py)
        return run_log_from_json(raw, str(path))


def run_log_from_json(raw: bytes, source: str) -> RunLog:
    """A RunLog from the bytes of a run-log file, or a RunLogError naming `source` and what is wrong.

    pydantic-core parses and validates in one pass first (2.6x faster than json.loads and model_validate
    for a 10,000-step log: `magnus diff`, `get_run`). It refuses everything the careful reading refuses:
    nesting deeper than MAX_RUN_LOG_DEPTH (its parser's own limit), numbers of more than 4300 digits, text
    that is not UTF-8. Whatever it refuses, and whatever it reads in its own way (a lone surrogate, a byte
    order mark, a negative integer of 4300 digits), is read again the careful way (parse_run_log_json,
    run_log_from_dict), which reads it or names the fault: a bad log gets the same one-line error as before
    (tests/test_hostile_logs.py checks both ways at the limits)."""
    from pydantic import ValidationError

    try:
        return RunLog.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        pass
    return run_log_from_dict(parse_run_log_json(raw, source), source)


def parse_run_log_json(raw: bytes, source: str) -> Any:
    """The JSON value in `raw` (a run log, or a part of one), or a RunLogError naming `source`.

    Refused: text that is not JSON or not UTF-8, integers of more than 4300 digits (what Python converts),
    nesting deeper than MAX_RUN_LOG_DEPTH. Text that is not valid Unicode (a lone surrogate such as
    "\\ud800", which no terminal or JSON encoder can write) is read with U+FFFD in its place, so one odd
    character never makes a whole run unreadable. Every reader of run logs (stores, `runs`, `diff`, the
    workbench) goes through here.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise RunLogError(f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep", file=source) from None
    except UnicodeDecodeError:
        raise RunLogError("not UTF-8 text", file=source) from None
    except ValueError as exc:  # JSONDecodeError, and "Exceeds the limit (4300 digits)" for huge integers
        digits = re.search(r"value has (\d+) digits", str(exc))
        if digits and not isinstance(exc, json.JSONDecodeError):
            limit = sys.get_int_max_str_digits()
            raise RunLogError(
                f"holds a number with {digits.group(1)} digits (at most {limit} are read)", file=source
            ) from None
        raise RunLogError(f"not valid JSON ({_first_line(exc)})", file=source) from None
    # fewer brackets than the limit cannot nest deeper than it: most logs skip the walk
    if raw.count(b"{") + raw.count(b"[") > MAX_RUN_LOG_DEPTH and _deeper_than(data, MAX_RUN_LOG_DEPTH):
        raise RunLogError(
            f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep (magnus never writes such a log)",
            file=source,
        )
    if _may_hold_surrogates(raw) and _SURROGATE.search(raw):
        data = _replace_surrogates(data)
    return data


def _may_hold_surrogates(raw: bytes) -> bool:
    """A fast pre-check (substring search) before the regular expression, 100x slower on a big log."""
    return b"\\ud" in raw or b"\\uD" in raw or b"\\Ud" in raw or b"\\UD" in raw or b"\xed" in raw


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether nested dicts and lists go more than `limit` levels deep (level by level: no recursion, and
    the inner loop runs as a comprehension, about 80 ms for a 10,000-step log)."""
    if type(value) is not dict and type(value) is not list:
        return False
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            sub
            for item in level
            for sub in (item.values() if type(item) is dict else item)
            if type(sub) is dict or type(sub) is list
        ]
        if not level:
            return False
    return True


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def run_log_from_dict(data: Any, source: str) -> RunLog:
    """A RunLog from parsed JSON, or a RunLogError naming `source` and the first field that is wrong."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise RunLogError(f"not a run log: expected a JSON object, got {type(data).__name__}", file=source)
    try:
        return RunLog.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RunLogError(f"not a run log: {err['msg'].lower()}", file=source, field=loc) from None
    except RecursionError:
        raise RunLogError("run log nested too deeply", file=source) from None


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
