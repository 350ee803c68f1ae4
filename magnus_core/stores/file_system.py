"""The file-system store: one JSON file per run, `<log_folder>/<run_id>.json`.

The file is complete, valid JSON at every moment: it is written to a temporary file and renamed over the
old one. It is not rewritten after every step (the original's O(N^2)): writes are spaced so that rewriting
costs a small part of the run's time (each step is serialised once: log_text.py), and always happen when
the run starts and ends; a skipped write is made by a timer when it falls due, so the file is never more
than one interval behind. A killed run leaves a readable log whose status (PROCESSING) says it did not
finish.

Between those writes the run's state would live only in the process's memory, which a step that kills the
process at once (a segfault in C code, SIGKILL, the OOM killer) takes along (session 9, trial 12 fault 10:
every step that had succeeded since the last write, and the crashing step's start, were lost). So every
write of the run is also one line appended to its journal, `.<run_id>.journal` beside the file
(stores/journal.py): the kernel holds a line once its write returns. The run's last write removes the
journal. Reading a run whose journal is there and whose process is not alive on this machine replays the
journal over the file; when the process is known dead, the replayed log is written over the file (whole,
atomically) and the journal removed, so it is replayed once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.errors import ConfigError, RunLogError
from magnus_core.files import atomic_write, create_exclusive
from magnus_core.gcpause import paused
from magnus_core.models.reading import MAX_RUN_LOG_BYTES as MAX_RUN_LOG_BYTES
from magnus_core.models.reading import MAX_RUN_LOG_DEPTH as MAX_RUN_LOG_DEPTH
from magnus_core.models.reading import load_run_log as load_run_log
from magnus_core.models.reading import parse_run_log_json as parse_run_log_json
from magnus_core.models.reading import read_run_log_bytes
from magnus_core.models.reading import run_log_from_dict as run_log_from_dict
from magnus_core.models.reading import run_log_from_json as run_log_from_json
from magnus_core.paths import read_regular_file
from magnus_core.registry import parse_options
from magnus_core.stores.base import RunLogStore, check_run_id
from magnus_core.stores.journal import Journal, read_lines, replay, start_line, start_record
from magnus_core.stores.log_text import RunLogText

if TYPE_CHECKING:  # imported where a log is read: listing the runs (the run index) needs no model
    from magnus_core.models.run_log import BranchLog, RunLog, StepLog

log = logging.getLogger("magnus")


@dataclass(frozen=True)
class FileSystemOptions:
    """The store's options (`run_log_store: {type: file-system, config: {log_folder: ...}}`)."""

    log_folder: str = ".run_log_store"

    @classmethod
    def parse(cls, config: dict[str, Any]) -> FileSystemOptions:
        """The options of a config block; ConfigError for an unknown option or a folder that is not text.
        The usual block is read here; anything else is checked by a pydantic model, whose messages every
        provider's options give (registry.parse_options): `magnus runs` needs no pydantic."""
        folder = config.get("log_folder", cls.log_folder)
        if config.keys() <= {"log_folder"} and type(folder) is str:
            return cls(folder)
        return cls(parse_options(_options_model(), config, "run_log_store").log_folder)


@functools.cache
def _options_model() -> Any:
    """FileSystemOptions as a pydantic model, for the exact error of a block the fast reading refuses."""
    from pydantic import BaseModel, ConfigDict

    class FileSystemOptions(BaseModel):
        model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)
        log_folder: str = ".run_log_store"

    return FileSystemOptions


def _alive(raw: bytes) -> bool:
    """Whether the run log's text names a process alive on this machine (runs.process_alive, read from
    the plain JSON); False for anything else (unknown, dead, a text that is not a run log: the models say)."""
    from pydantic_core import from_json

    from magnus_core.runs import driven_per_step, process_alive_at

    try:
        data = from_json(raw)
        config = data.get("run_config")
        process = config.get("process")
        if driven_per_step(config) or "pid" not in process:
            return False
        return bool(process_alive_at(process["pid"], process.get("host"), process.get("start_time")))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return False


JOURNAL = ".%s.journal"  # a run's journal, beside its file (hidden: listing runs ignores it)
_JOURNAL_END = ".journal"


def _journaled(names: list[str]) -> set[str]:
    """The run ids whose journal is among these names of the store's folder."""
    return {name[1:-8] for name in names if name[:1] == "." and name[-8:] == _JOURNAL_END}


_TOKEN = "%d:%d:%d"  # a run's full version token: inode, modification time (ns) and size of its file
_STAT_FIELDS = attrgetter("st_ino", "st_mtime_ns", "st_size")


def _token_at(name: str, folder: int) -> str | None:
    """The full version token of file `name` in the open folder; None when it cannot be stat'ed."""
    try:
        return _TOKEN % _STAT_FIELDS(os.stat(name, dir_fd=folder))
    except OSError:
        return None


def folder_error(folder: Path, exc: OSError) -> ConfigError:
    """The store's folder cannot take a run log (read-only, /proc/self, no space): a one-line ConfigError."""
    return ConfigError(
        f"cannot write run logs in '{folder}': {exc.strerror or exc}", field="run_log_store.config.log_folder"
    )


class FileSystemRunLogStore(RunLogStore):
    service_name = "file-system"
    lazy_starts = True  # a step's start reaches the file with the next write that falls due (begin_step)
    min_interval = 0.05  # seconds between intermediate writes, at least
    # and at least this many times the last write's cost (what every write repeats: joining the kept texts,
    # writing the file; not the steps serialised for the first time, about 25 us each, once): rewriting takes
    # at most ~1/30 of a run's time, so the cost per step stays flat as the log grows (python bench/steps.py).
    # A write of 10,000 steps costs a few ms (it was ~0.3 s when each write serialised the whole log, with
    # 9 here): the file is still several times fresher than then, for less CPU (s4-fslog note)
    cost_factor = 29.0

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = FileSystemOptions.parse(self.config)
        self.folder = Path(self.options.log_folder)
        self._last_write: dict[str, float] = {}
        self._last_cost: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._timers: dict[str, threading.Timer] = {}
        self._durable: set[str] = set()  # runs whose file holds the live run as it is, fsynced
        self._texts: dict[str, RunLogText] = {}  # each live run's text, made again only where it changed
        self._journals: dict[str, Journal] = {}  # each live run's journal (opened at its first line)

    def path(self, run_id: str) -> Path:
        return self.folder / f"{check_run_id(run_id)}.json"

    def folders(self) -> list[tuple[Path, str]]:
        return [(self.folder, "run_log_store.config.log_folder")]

    def location(self, run_id: str) -> str:
        return str(self.path(run_id))

    def where(self) -> str:
        return f"{self.folder}/"

    def journal_path(self, run_id: str) -> str:
        """The run's journal (stores/journal.py), beside its file."""
        return os.path.join(self.folder, JOURNAL % check_run_id(run_id))

    # -- the journal: one line per write of the live run, under the store's lock ----------------------
    def _line(self, run_id: str, line: bytes, *, hold: bool = False) -> None:
        """Append `line` to the run's journal; `hold`: its descriptor stays open for the next line (a
        commit's: Journal)."""
        journal = self._journals.get(run_id)
        if journal is None:  # (a run this process took up: attach)
            journal = self._journals[run_id] = Journal(self.journal_path(run_id))
        try:
            journal.append(line, hold=hold)
        except FileNotFoundError:  # the store's folder was removed while the run wrote it: made again
            self.folder.mkdir(parents=True, exist_ok=True)  # (and the file, whole, at the next write)
            journal.append(line, hold=hold)

    def _step_line(
        self, run_id: str, step: StepLog, branch: str | None, extra: bytes = b"", *, hold: bool = False
    ) -> None:
        """Step log `step` (the store's masked copy) as a journal line: its text made once, kept for the
        file's next write (RunLogText.offer). A composite's line holds no branches (their own lines do)."""
        from magnus_core.models.run_log import step_json
        from magnus_core.stores.log_text import _json_key

        body = step_json(step.model_copy(update={"branches": {}}) if step.branches else step)
        texts = self._texts.get(run_id)
        if texts is not None:
            texts.offer(step, body)
        branch_json = b"null" if branch is None else _json_key(branch).encode("utf-8")
        text = body.replace("\n", "").encode("utf-8")  # (a newline in JSON text is only ever layout)
        self._line(run_id, b'{"b":%s,"s":%s%s}\n' % (branch_json, text, extra), hold=hold)

    def _on_step(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        self._step_line(run_id, step_log, branch)
        self._persist(run_id)

    def _on_commit(self, run_id: str, step_log: StepLog, branch: str | None, parameters: bool) -> None:
        """The commit's journal line (the step log, and the run's parameters when given) is its commit
        point until the file's next write: one write either way. Its descriptor is held for the line
        that follows (the next step's start: Journal)."""
        extra = b""
        if parameters:
            from pydantic_core import to_json

            extra = b',"p":' + to_json(self._live[run_id].log.parameters, fallback=str)
        self._step_line(run_id, step_log, branch, extra, hold=True)
        self._persist(run_id)

    def _on_branch(self, run_id: str, branch_log: BranchLog, step: str) -> None:
        from pydantic_core import to_json

        held = {"internal_name": branch_log.internal_name, "status": branch_log.status}
        self._line(run_id, to_json({"t": step, "l": held}) + b"\n")
        self._persist(run_id)

    def _on_run(self, run_id: str, fields: dict[str, Any], *, final: bool) -> None:
        from pydantic_core import to_json

        self._line(run_id, to_json({"r": fields}, fallback=str) + b"\n")
        self._persist(run_id, final=final)

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
        if self._begun.get(run_id):  # steps that began since the last write are in this one (begin_step)
            self._write_begun(run_id)
        texts = self._texts.get(run_id)
        if texts is None:
            texts = self._texts[run_id] = RunLogText()
        atomic_write(self.path(run_id), texts.parts(self._live[run_id].log), durable=final)
        if final and run_id in self._journals:  # the file holds all of it, durably: no journal needed
            self._journals.pop(run_id).remove()
        end = time.perf_counter()
        # the steps' texts are made once each, whenever they are written: the spacing counts what every
        # write repeats (joining, writing the file); counting the first serialisations too would make the
        # next interval grow with the last (more steps to serialise in a longer one), without bound
        self._last_cost[run_id] = end - now - texts.making
        self._last_write[run_id] = end
        self._dirty.discard(run_id)
        if final:
            self._durable.add(run_id)

    def _on_begin(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        """The step's start record goes to the journal now, before its code runs (a step that crashes the
        process at once reads as begun and cut short); the file has it at its next write. Built as text
        (start_line) and searched for the run's secrets; one there: the record masked as every write is."""
        text = start_line(step_log, branch)
        line = None
        if text is not None:
            masker = self._maskers.get(run_id)
            if masker is None or masker.clean_json(text):
                with contextlib.suppress(UnicodeEncodeError):  # (lone surrogates: the masked record's way)
                    line = text.encode("utf-8")
        if line is None:
            from pydantic_core import to_json

            line = to_json(self._mask(run_id, {"b": branch, "s": start_record(step_log)})) + b"\n"
        self._line(run_id, line)
        if run_id in self._timers:  # a write is due soon and will have it (what _persist would do here)
            self._dirty.add(run_id)
            self._durable.discard(run_id)
            return
        self._persist(run_id)

    def _finish(self, run_id: str) -> None:
        """The run's end writes its status durably (update_run) and then closes it: the file is rewritten
        only if something changed in between (at 10,000 steps a full write is about 0.3 s)."""
        if run_id not in self._durable:
            self._persist(run_id, final=True)

    def _forget(self, run_id: str) -> None:
        super()._forget(run_id)
        self._durable.discard(run_id)
        self._texts.pop(run_id, None)
        journal = self._journals.pop(run_id, None)  # (its last write failed: the journal stays, the file
        if journal is not None:  # may be behind)
            with contextlib.suppress(OSError):
                journal.release()

    def _write_later(self, run_id: str, delay: float) -> None:
        """A skipped write still reaches the disk when it falls due, even if nothing else happens before
        (a long step after a quick one): watchers and a killed run's log are at most one interval late."""
        if run_id in self._timers:
            return
        timer = threading.Timer(max(delay, 0.0), self._write_if_dirty, args=(run_id,))
        timer.daemon = True
        timer.name = "magnus-store-write"  # (magnus's, not a step's thread: output.leave_strays)
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
            texts = self._texts[run_id] = RunLogText()
            create_exclusive(self.path(run_id), texts.parts(self._live[run_id].log))
            # a journal left by an earlier run of this id (its file removed since) is not this run's
            journal = self._journals[run_id] = Journal(self.journal_path(run_id))
            journal.remove()
        except FileExistsError:
            self._texts.pop(run_id, None)
            raise self._taken(run_id) from None
        except OSError as exc:  # the folder cannot take a run log (/proc/self as root, a full disk)
            self._texts.pop(run_id, None)
            raise folder_error(self.folder, exc) from None
        self._last_write[run_id] = time.perf_counter()
        self._last_cost[run_id] = 0.0

    def _current(self, run_id: str) -> tuple[bytes, RunLog | None]:
        """The bytes of the run's file, with its journal replayed over it when the file may be behind: the
        journal is there and the run's process is not alive on this machine (dead, or another host's:
        run_config.process). With the process known dead, the replayed log is written over the file and the
        journal removed (a reader that may not write there leaves both). The log, when one was made.
        A live process's file is at most one interval behind (its timer) and is read as it is."""
        path = self.path(run_id)
        journal = self.journal_path(run_id)
        if not os.path.lexists(journal):
            return read_run_log_bytes(path), None
        raw = read_run_log_bytes(path)
        if _alive(raw):  # (a live run's readers, a follower at every change: no models made)
            return raw, None
        from magnus_core.models.reading import run_log_from_json
        from magnus_core.models.run_log import PROCESSING
        from magnus_core.runs import process_alive

        with paused():
            run = run_log_from_json(raw, str(path))
            alive = process_alive(run)
            if alive:
                return raw, run
            ended = run.status not in (PROCESSING, "CREATED")  # its last write was made: nothing to add
            lines = [] if ended else read_lines(journal)
            if not lines:
                if not ended and not os.path.lexists(journal):  # another reader replayed it meanwhile
                    return read_run_log_bytes(path), None
                if alive is False:
                    with contextlib.suppress(OSError):
                        os.unlink(journal)
                return raw, run
            replay(run, lines, journal)
            text = run.model_dump_json(indent=4).encode("utf-8")
        if alive is False:  # replayed once: what the killed process did, as it would have written it
            try:
                atomic_write(path, text)
                os.unlink(journal)
            except OSError as exc:
                log.debug("run %s: replayed journal not written back: %s", run_id, exc)
        return text, run

    def _read(self, run_id: str) -> RunLog | None:
        path = self.path(run_id)
        if not path.exists():
            return None
        raw, made = self._current(run_id)
        if made is not None:
            return made
        from magnus_core.models.reading import run_log_from_json

        with paused():  # about a million acyclic objects for 10,000 steps (magnus_core/gcpause.py)
            return run_log_from_json(raw, str(path))

    def get_plain_run(self, run_id: str) -> dict[str, Any]:
        """A run not live in this process is read from its file as plain JSON (no models made)."""
        path = self.path(run_id)
        if run_id in self._live or not path.exists():
            return super().get_plain_run(run_id)
        from magnus_core.models.plain import plain_from_json

        raw, _ = self._current(run_id)
        with paused():
            return plain_from_json(raw, str(path))

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
        """One directory listing, and with `full` one stat per run: the token `inode:mtime_ns:size` (text,
        as the run index keeps it) changes with every rewrite; without, the inode alone (`inode`, from the
        scan itself: each write renames a new file into place). None: listed but not readable (the index
        reads that log, and lists it as broken)."""
        try:
            folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        try:
            if not full:  # the loop the run index's every look makes over 20,000 entries: nothing more
                with os.scandir(folder) as entries:
                    hidden: list[str] = []
                    quick: dict[str, Any] = {}
                    for entry in entries:
                        name = entry.name
                        if name[:1] == ".":
                            hidden.append(name)
                        elif name[-5:] == ".json":
                            quick[name[:-5]] = str(entry.inode())
                return self._unknown_if_journaled(quick, hidden)
            listed = os.listdir(folder)
            names = [name for name in listed if name[-5:] == ".json" and name[:1] != "."]
            stat = functools.partial(os.stat, dir_fd=folder)
            try:  # 20,000 stats and their tokens in C loops (a third of the cost of a loop over DirEntry)
                tokens: list[str | None] = list(map(_TOKEN.__mod__, map(_STAT_FIELDS, map(stat, names))))
            except OSError:  # one went away or cannot be read since the listing: one at a time
                tokens = [_token_at(name, folder) for name in names]
            versions = dict(zip([name[:-5] for name in names], tokens, strict=True))
            return self._unknown_if_journaled(versions, [name for name in listed if name[:1] == "."])
        finally:
            os.close(folder)

    @staticmethod
    def _unknown_if_journaled(versions: dict[str, Any], hidden: list[str]) -> dict[str, Any]:
        """A run with a journal (running, or killed before its last write) has no token: the index reads
        it at every look (a killed run's first read replays the journal and removes it: _current)."""
        for run_id in _journaled(hidden):
            if run_id in versions:
                versions[run_id] = None
        return versions

    def run_tokens(self, run_ids: Collection[str]) -> dict[str, Any]:
        """One stat per run asked for (see RunLogStore.run_tokens); a run gone is left out, a run with a
        journal is None (read at every look: _unknown_if_journaled)."""
        tokens: dict[str, Any] = {}
        for run_id in run_ids:
            try:
                st = os.stat(os.path.join(self.folder, f"{check_run_id(run_id)}.json"))
            except (OSError, ValueError):
                continue
            journaled = os.path.lexists(os.path.join(self.folder, JOURNAL % run_id))
            tokens[run_id] = None if journaled else _TOKEN % _STAT_FIELDS(st)
        return tokens

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

    def full_look_command(self) -> tuple[list[str], str] | None:
        """GNU find, one line per log: its name, inode, modification and change times (ns) and size, with
        symbolic links followed as os.stat follows them (run_versions): a C loop beside the listing in
        place of 20,000 calls of os.stat here. Elsewhere (no GNU find: -printf is an error) no answer."""
        if not sys.platform.startswith("linux"):
            return None
        command = [
            "find", "-L", os.path.abspath(self.folder), "-mindepth", "1", "-maxdepth", "1",
            "-name", "*.json", "!", "-name", ".*", "-printf", "%f/%i/%T@/%C@/%s\\n",
        ]  # fmt: skip
        return command, r"[^/]+\.json/\d+/-?\d+\.\d{9,}/-?\d+\.\d{9,}/\d+"

    def modified(self, run_id: str) -> float | None:
        try:
            return os.stat(self.folder / f"{check_run_id(run_id)}.json").st_mtime
        except (OSError, ValueError):
            return None

    def read_json(self, run_id: str) -> Any:
        if run_id in self._live:
            return self.get_run(run_id).model_dump(mode="json")
        # the id came from listing the folder (run_versions): a plain join, no pathlib (20,000 reads). The
        # file is untrusted like every run log: a FIFO must not block the index, nor a huge file fill memory
        path = os.path.join(self.folder, f"{check_run_id(run_id)}.json")
        if os.path.lexists(os.path.join(self.folder, JOURNAL % run_id)):  # (replayed: _current)
            raw = self._current(run_id)[0]
        else:
            raw = read_regular_file(path, limit=MAX_RUN_LOG_BYTES, what="run log", error=RunLogError)
        # pydantic-core's parser: three times json.load's speed. What it refuses (a number of more than
        # 4300 digits, a lone surrogate, deep nesting) raises, and the index reads the log through the
        # models instead, which say exactly why (index/sqlite.py _record, runs.read_log)
        from pydantic_core import from_json  # (imported once a log is read: a warm listing reads none)

        return from_json(raw)
