"""The chunked-fs store: one file per run-log part, so many processes can write one run at once.

    <log_folder>/<run_id>/RunLog.json            run metadata (no steps, no parameters)
    <log_folder>/<run_id>/parameters/<key>.json  one file per parameter (written when the run starts and
                                                 ends; in between, read from the committed steps)
    <log_folder>/<run_id>/steps/<name>.json      one file per step log (without its branches)
    <log_folder>/<run_id>/branches/<name>.json   one file per branch log (without its steps)

Each part has exactly one owner (the process running that step), is written to a temporary file and
renamed, and is named by the exact, escaped internal name (`a` and `ab` never collide; spaces, unicode
and `/` are safe). Reading a run assembles the same run log as the file-system store writes.

In a run this process executes whole (the local executor: defer_starts), a task step's first part
(PROCESSING, no attempt yet) is written `start_delay` (50 ms) after the step began, by a thread of the store,
unless the step committed first: most steps then write one part, not two. On ext4 a rename over an existing
file also makes the kernel write the new file's data out (auto_da_alloc), which made that second write cost
0.3 ms of CPU a step (issue 19). A kill in those 50 ms leaves the step absent instead of PROCESSING: not
done, either way (the file-system store's writes are spaced the same way). Per-step processes (Argo, Dask)
write a step's start at once: the next process finds a step that died by its PROCESSING part.

A step that kills the process at once (a segfault in C code, SIGKILL, the OOM killer) dies inside those
50 ms, and read as never begun (session 9, trial 12 fault 10). So its start record is appended to the run's
journal, `<run_id>/starts.journal`, when it begins (one O_APPEND write of one line, held by the kernel once
it returns: stores/journal.py), and reading the run takes the start of a step that has no part from there:
the crashed step reads PROCESSING, begun and cut short. A line costs a write, not a second rename. The run's
end (every waiting part written) removes the journal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from magnus_core.crashpoints import crash_point
from magnus_core.errors import RunLogError
from magnus_core.files import kept_inside, replace_in
from magnus_core.gcpause import paused
from magnus_core.models.run_log import FINISHED, PROCESSING, BranchLog, RunLog, StepLog, step_json
from magnus_core.parameters import scope_parameters, starting_parameters
from magnus_core.paths import own_folder, read_regular_file
from magnus_core.registry import parse_options
from magnus_core.stores.base import RunLogStore, check_run_id
from magnus_core.stores.file_system import MAX_RUN_LOG_BYTES, folder_error, parse_run_log_json
from magnus_core.stores.journal import Journal, read_lines, start_record
from magnus_core.stores.parts import assemble, part_name, to_json, walk_with_parents

_log = logging.getLogger("magnus")
# time.sleep as magnus found it, for its thread (_write_starts): a step's `time.sleep = ...` left on (a mock)
# killed it (trial 20 N8's neighbour: `Exception in thread magnus-chunked-starts ... RuntimeError`)
_SLEEP = time.sleep

META = "RunLog.json"
STARTS = "starts.journal"  # the start records of task steps whose part waits (the module's doc)
PARAMETER = "\1"  # sequence keys: steps by name, branches "\0" + name, parameters "\1" + key


class ChunkedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)
    log_folder: str = ".run_log_store"


def _read_part(path: Path) -> Any:
    """One part file, read as untrusted as a whole run log (see file_system.parse_run_log_json)."""
    raw = read_regular_file(path, limit=MAX_RUN_LOG_BYTES, what="run-log part", error=RunLogError)
    return parse_run_log_json(raw, str(path))


def _ids(folder: str) -> tuple[int, int]:
    st = os.lstat(folder)
    return (st.st_dev, st.st_ino)


def _same_folder(folder: str, ids: tuple[int, int]) -> bool:
    """`folder` is still the folder of these (device, inode): not removed, not replaced by a link."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == ids


_LEAVES = frozenset({"task", "as-is"})  # step types whose part holds no other part


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ChunkedFileSystemRunLogStore(RunLogStore):
    service_name = "chunked-fs"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(ChunkedOptions, self.config, "run_log_store")
        self.folder = Path(self.options.log_folder)
        self._params_written: dict[str, dict[str, str]] = {}
        self._stored_params: dict[str, Any] = {}  # the parameter parts on disk, as the last _read found them
        self._only: tuple[list[str], list[str]] | None = None  # attach_scope: the parts to read
        self._seqs: dict[str, dict[str, int]] = {}  # run -> part -> creation order
        self._seqs_read: dict[str, int] | None = None  # while attaching: the order read from disk
        self._last_seq = 0  # the last sequence number given (time.time_ns(), strictly increasing)
        # (run, sub-folder) -> (run folder, folder, their (device, inode)): the folders a part is written
        # into, checked in full once and then by one lstat each per write (_part_folder)
        self._checked: dict[tuple[str, str], tuple[str, str, tuple[int, int], tuple[int, int]]] = {}
        self._steps_written: dict[str, set[str]] = {}  # top-level steps whose part this process wrote
        self._metas: dict[str, str] = {}  # run -> the path of its metadata file (a str: one stat per part)
        self._durable: set[str] = set()  # runs whose last write was the metadata, fsynced (_finish)
        # (run, step) -> (when it falls due, the step log, its branch): task steps begun, part not written
        self._pending: dict[tuple[str, str], tuple[float, StepLog, str | None]] = {}
        self._starter: threading.Thread | None = None  # writes the pending parts that fall due
        self._deferring: set[str] = set()  # runs whose task steps' starts wait (defer_starts)
        self._journals: dict[str, Journal] = {}  # run -> its journal of starts (opened at the first)

    start_delay = 0.05  # seconds a task step's PROCESSING part waits for the step's commit

    def run_folder(self, run_id: str) -> Path:
        return self.folder / check_run_id(run_id)

    def folders(self) -> list[tuple[Path, str]]:
        return [(self.folder, "run_log_store.config.log_folder")]

    def local_folder(self) -> Path:
        return self.folder

    def scratch_folder(self, run_id: str) -> Path:
        """Inside the run's folder, beside its parts (reading the run never looks there)."""
        return self.run_folder(run_id) / "branch-parameters"

    def flush(self, run_id: str) -> None:
        """Every part was written (and renamed into place) when it changed, but the parts of task steps
        just begun (see the module's doc): those are written now. Rewriting the run's metadata here would
        fsync it once per step."""
        with self._lock:
            self._write_pending(run_id)

    def _write_pending(self, run_id: str) -> None:
        for key, (_due, step, branch) in list(self._pending.items()):
            if key[0] == run_id:
                self._write_step(run_id, step, branch)

    def _own_folder(self, run_id: str) -> Path:
        """The run's folder, resolved: a folder of its own in the store's folder, not a link
        (paths.own_folder). Every part is written below it, and atomic_write(root=...) keeps each part's
        sub-folder inside it."""
        return own_folder(self.folder, check_run_id(run_id), what=f"folder of run '{run_id}'")

    def _part_folder(self, run_id: str, sub: str) -> str:
        """The folder part files of `sub` ("steps", "branches", "parameters"; "" for the run's own folder)
        are written into, checked as a write through atomic_write(root=...) would check it: the run's
        folder its own (not a link: _own_folder), the sub-folder inside it (files.kept_inside), created if
        missing. Checked in full the first time; then, while both are still the very folders checked (an
        lstat each: a folder, same device and inode, so not swapped for a link or removed), not again: two
        system calls per part instead of resolving four paths (issue 19: a run writes two parts a step)."""
        known = self._checked.get((run_id, sub))
        if known is not None:
            run, folder, run_ids, folder_ids = known
            if _same_folder(run, run_ids) and (not sub or _same_folder(folder, folder_ids)):
                return folder
        run_path = self._own_folder(run_id)
        folder_path = kept_inside(run_path / sub, run_path) if sub else run_path
        folder_path.mkdir(parents=True, exist_ok=True)
        run, folder = str(run_path), str(folder_path)
        self._checked[(run_id, sub)] = (run, folder, _ids(run), _ids(folder))
        return folder

    def _forget(self, run_id: str) -> None:
        super()._forget(run_id)
        self._journals.pop(run_id, None)  # (the run's last write failed: its starts stay readable)
        self._steps_written.pop(run_id, None)
        self._metas.pop(run_id, None)
        self._durable.discard(run_id)
        for key in [key for key in self._pending if key[0] == run_id]:
            del self._pending[key]
        self._deferring.discard(run_id)

    def defer_starts(self, run_id: str) -> None:
        """(see RunLogStore.defer_starts and this module's doc)"""
        self._deferring.add(run_id)
        for key in [key for key in self._checked if key[0] == run_id]:
            del self._checked[key]

    def _write_part(self, run_id: str, sub: str, name: str, text: str, *, durable: bool = False) -> None:
        """Replace part `name` of `sub` atomically (one rename), in its checked folder (_part_folder)."""
        self._durable.discard(run_id)
        replace_in(self._part_folder(run_id, sub), name, text.encode("utf-8"), durable=durable)

    def location(self, run_id: str) -> str:
        return f"{self.run_folder(run_id)}/"

    def where(self) -> str:
        return f"{self.folder}/"

    def exists(self, run_id: str) -> bool:
        return run_id in self._live or (self.run_folder(run_id) / META).exists()

    # -- writing -----------------------------------------------------------------------------------
    def _create(self, run_id: str) -> None:
        """mkdir is atomic: of two processes creating one run id, exactly one succeeds."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, a read-only or full disk
            raise folder_error(self.folder, exc) from None
        try:
            self.run_folder(run_id).mkdir()
        except FileExistsError:
            raise self._taken(run_id) from None
        except OSError as exc:
            raise folder_error(self.folder, exc) from None
        # a run that arrives whole (magnus store copy): every part first, the metadata that lists it last
        for item, parent in walk_with_parents(self._live[run_id].log):
            if isinstance(item, StepLog):
                self._write_step(run_id, item, parent)
            else:
                assert parent is not None
                self._on_branch(run_id, item, parent)
        self._persist(run_id)

    def _persist(self, run_id: str, *, final: bool = False) -> None:
        log = self._live[run_id].log
        # pydantic's serialiser (indented, as users read it): json.dumps(indent=4) of a 10,000-step run's
        # dag, recorded in run_config, took 0.3 s each time (issue 19)
        meta = log.model_dump_json(indent=4, exclude={"steps", "parameters"})
        self._write_part(run_id, "", META, meta, durable=final)
        self._write_parameters(run_id)
        written = self._steps_written.get(run_id, set())
        steps = self._part_folder(run_id, "steps")
        for step in log.steps.values():  # (the steps this process wrote are there: no stat for each)
            if step.internal_name not in written and not os.path.exists(
                os.path.join(steps, part_name(step.internal_name))
            ):
                self._write_step(run_id, step, None)
        if final:
            self._durable.add(run_id)

    def _finish(self, run_id: str) -> None:
        """The run's end writes its status durably (update_run) and then closes it: the metadata (the whole
        dag) is written again only if something was written in between. Steps begun and not committed
        (a run that crashed) are written first, PROCESSING; then every start is in a part, and the
        journal of starts is removed."""
        self._write_pending(run_id)
        if run_id not in self._durable:
            self._persist(run_id, final=True)
        journal = self._journals.pop(run_id, None)
        if journal is not None:
            journal.remove()

    def _write_parameters(self, run_id: str) -> None:
        """One part per run-level parameter whose value changed since this process last wrote it."""
        written = self._params_written.setdefault(run_id, {})
        for key, value in self._live[run_id].log.parameters.items():
            text = to_json({"key": key, "value": value})
            if written.get(key) != text:
                seq = self._sequence(run_id, PARAMETER + key)  # the order they were set in, kept
                part = to_json({"key": key, "value": value, "_seq": seq})
                self._write_part(run_id, "parameters", part_name(key), part)
                written[key] = text

    def _on_commit(self, run_id: str, step_log: StepLog, branch: str | None, parameters: bool) -> None:
        """The step's part is the commit (one rename). The run's parameters are not rewritten after each
        step (two more files per step for steps that return two parameters; the issue-19 profile): while
        the run goes on, a reader derives them from the committed steps (_read), and the run's end writes
        them (update_run). A kill after the part loses nothing either way."""
        self._on_step(run_id, step_log, branch)
        if parameters:
            crash_point("store:step-part", step_log.internal_name)

    def _on_step(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        """A task step that has just begun (PROCESSING, no attempt) is written when it falls due, unless its
        commit comes first (the module's doc); every other write of a step is written now."""
        if (
            step_log.status == PROCESSING
            and not step_log.attempts
            and step_log.step_type in _LEAVES
            and run_id in self._deferring
        ):
            seq = self._sequence(run_id, step_log.internal_name)  # its place among the parts: when it began
            self._start_line(run_id, step_log, branch, seq)
            self._pending[(run_id, step_log.internal_name)] = (
                time.monotonic() + self.start_delay,
                step_log,
                branch,
            )
            self._durable.discard(run_id)
            if self._starter is None:
                self._starter = threading.Thread(target=self._write_starts, name="magnus-chunked-starts")
                self._starter.daemon = True
                self._starter.start()
            return
        self._write_step(run_id, step_log, branch)

    def _start_line(self, run_id: str, step_log: StepLog, branch: str | None, seq: int) -> None:
        """The step's start record (masked already: put_step_log), one line of the run's journal of starts,
        in the part's form (_parent, _seq), before the step's code runs."""
        journal = self._journals.get(run_id)
        if journal is None:
            folder = self._part_folder(run_id, "")
            journal = self._journals[run_id] = Journal(os.path.join(folder, STARTS))
        record = start_record(step_log)
        record["_parent"] = branch
        record["_seq"] = seq
        try:
            journal.append(to_json(record).encode("utf-8") + b"\n")
        except FileNotFoundError:  # the run's folder was removed while it ran: written again, then the line
            self._restore_if_removed(run_id)
            journal.append(to_json(record).encode("utf-8") + b"\n")

    def _write_starts(self) -> None:
        """The thread that writes begun steps' parts as they fall due; it ends when this process writes no
        run (started again by the next step that begins)."""
        while True:
            _SLEEP(self.start_delay / 2)
            with self._lock:
                if not self._live:
                    self._pending.clear()
                    self._starter = None
                    return
                now = time.monotonic()
                for key, (due, step, branch) in list(self._pending.items()):
                    if key[0] not in self._live:
                        del self._pending[key]
                        continue
                    if due > now:
                        continue
                    try:
                        self._write_step(key[0], step, branch)
                    except Exception as exc:  # the run's next write meets it again, and reports it
                        self._pending.pop(key, None)
                        _log.debug("writing the part of step %s failed: %s", key[1], exc)

    def _write_step(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        if self._pending:
            self._pending.pop((run_id, step_log.internal_name), None)
        self._restore_if_removed(run_id)
        seq = self._sequence(run_id, step_log.internal_name)
        # step_part's fields and then _parent and _seq, in one pass of pydantic's serialiser
        text = step_json(step_log, indent=None, branches=False)
        text = f'{text[:-1]},"_parent":{to_json(branch)},"_seq":{seq}}}'
        self._write_part(run_id, "steps", part_name(step_log.internal_name), text)
        if branch is None:
            self._steps_written.setdefault(run_id, set()).add(step_log.internal_name)

    def _on_branch(self, run_id: str, branch_log: BranchLog, step: str) -> None:
        self._restore_if_removed(run_id)
        data = {
            "internal_name": branch_log.internal_name,
            "status": branch_log.status,
            "_parent": step,
            "_seq": self._sequence(run_id, "\0" + branch_log.internal_name),
        }
        self._write_part(run_id, "branches", part_name(branch_log.internal_name), to_json(data))

    def _restore_if_removed(self, run_id: str) -> None:
        """The run's folder (or the store's) was removed while the run was writing it: write the run again,
        whole, from this process's live copy, so nothing it holds is lost (one stat per part written)."""
        meta = self._metas.get(run_id)
        if meta is None:
            meta = self._metas[run_id] = os.path.join(self.run_folder(run_id), META)
        if os.path.exists(meta):
            return
        _log.warning("the folder of run %s was removed while it ran: writing it again", run_id)
        self._params_written.pop(run_id, None)
        self._steps_written.pop(run_id, None)
        self._persist(run_id)  # the run's metadata, its parameters and its top-level steps

        for part, holder in walk_with_parents(self._live[run_id].log):
            if isinstance(part, BranchLog):
                self._on_branch(run_id, part, str(holder))
            elif holder is not None:  # top-level steps were written by _persist
                self._write_step(run_id, part, holder)

    def _sequence(self, run_id: str, key: str) -> int:
        """Creation order of a part (kept across rewrites, so steps stay in execution order)."""
        seqs = self._seq_map(run_id)
        if key not in seqs:  # strictly increasing, even for two parts written within one clock tick
            self._last_seq = max(time.time_ns(), self._last_seq + 1)
            seqs[key] = self._last_seq
        return seqs[key]

    def _seq_map(self, run_id: str) -> dict[str, int]:
        return self._seqs.setdefault(run_id, {})

    def attach_scope(self, run_id: str, steps: list[str], branches: list[str]) -> RunLog:
        """Read the metadata, the parameters and only the named parts (one file each, no folder listing):
        a step in a map of 10,000 items reads its own branch, not the run."""
        self._only = (steps, branches)
        try:
            return self.attach(run_id)
        finally:
            self._only = None

    def attach(self, run_id: str) -> RunLog:
        self._seqs_read = {}
        log = super().attach(run_id)  # reads the run once; _read notes each part's sequence number
        # Remember the sequence numbers already on disk so rewriting a part keeps its place.
        seqs = self._seq_map(run_id)
        for key, seq in self._seqs_read.items():
            seqs.setdefault(key, seq)
        self._seqs_read = None
        stored = self._stored_params
        self._params_written[run_id] = {k: to_json({"key": k, "value": v}) for k, v in stored.items()}
        self._stored_params.clear()
        return log

    # -- reading -----------------------------------------------------------------------------------
    @staticmethod
    def _parts(folder: Path, names: list[str] | None = None) -> list[tuple[Path, dict[str, Any]]]:
        """Every part in `folder`, or only the parts of these internal names (those that exist)."""
        out: list[tuple[Path, dict[str, Any]]] = []
        if names is not None:
            paths = [folder / part_name(name) for name in dict.fromkeys(names)]
        elif not folder.is_dir():
            return out
        else:
            paths = [
                Path(entry.path)
                for entry in os.scandir(folder)
                if not entry.name.startswith(".") and entry.name.endswith(".json")
            ]
        for path in paths:
            try:
                data = _read_part(path)
            except RunLogError:
                if not path.exists():
                    continue  # replaced or removed between listing and reading
                raise
            if not isinstance(data, dict):
                raise RunLogError("not a run-log part: expected a JSON object", file=str(path))
            for key in ("_seq",):
                if key in data and (type(data[key]) is not int or data[key] < 0):
                    raise RunLogError(
                        f"not a run-log part: expected a whole number >= 0, got {_short(data[key])}",
                        file=str(path),
                        field=key,
                    )
            if "_parent" in data and data["_parent"] is not None and not isinstance(data["_parent"], str):
                raise RunLogError(
                    f"not a run-log part: expected a step or branch name, got {_short(data['_parent'])}",
                    file=str(path),
                    field="_parent",
                )
            out.append((path, data))
        return out

    def _read(self, run_id: str) -> RunLog | None:
        with paused():  # one part per step: many acyclic objects (magnus_core/gcpause.py)
            return self._read_parts(run_id)

    def _read_parts(self, run_id: str) -> RunLog | None:
        folder = self.run_folder(run_id)
        meta_path = folder / META
        if not meta_path.exists():
            return None
        meta = _read_part(meta_path)
        if not isinstance(meta, dict):
            raise RunLogError("not a run log: expected a JSON object", file=str(meta_path))
        params = {}
        noted = self._seqs_read
        found = sorted(self._parts(folder / "parameters"), key=lambda p: (p[1].get("_seq", 0), p[0].name))
        for path, data in found:
            if "key" in data:
                if not isinstance(data["key"], str):
                    raise RunLogError("not a parameter part: expected a name", file=str(path), field="key")
                params[data["key"]] = data.get("value")
                if noted is not None:
                    noted[PARAMETER + str(data["key"])] = int(data.get("_seq", 0) or 0)
        only = self._only
        steps = sorted(
            self._parts(folder / "steps", only[0] if only else None),
            key=lambda p: (p[1].get("_seq", 0), p[0].name),
        )
        if (folder / STARTS).exists():  # steps begun whose part was not written yet (or never: a crash)
            steps = self._started(folder / STARTS, steps, set(only[0]) if only else None)
        branches = sorted(
            self._parts(folder / "branches", only[1] if only else None),
            key=lambda p: (p[1].get("_seq", 0), p[0].name),
        )

        def parts(found: list[tuple[Path, dict[str, Any]]], prefix: str) -> list[tuple[dict[str, Any], Any]]:
            out = []
            for _path, data in found:
                parent = data.pop("_parent", None)
                seq = data.pop("_seq", 0)
                if noted is not None:
                    noted[prefix + str(data.get("internal_name", ""))] = int(seq or 0)
                out.append((data, parent))
            return out

        try:
            log = assemble(meta, params, parts(steps, ""), parts(branches, "\0"))
        except (ValueError, KeyError, TypeError) as exc:
            raise RunLogError(
                f"a part of run '{run_id}' is not a run-log part: {str(exc)[:120]}", file=str(folder)
            ) from None
        if noted is not None:
            self._stored_params = dict(params)  # what is on disk (attach: rewrite only what differs)
        if log.status not in FINISHED and not only:  # written at the run's end: until then, derived
            log.parameters = scope_parameters(starting_parameters(log), log.steps.values())
        return log

    @staticmethod
    def _started(
        path: Path, steps: list[tuple[Path, dict[str, Any]]], only: set[str] | None
    ) -> list[tuple[Path, dict[str, Any]]]:
        """`steps` (sorted parts) with the start record of each step the journal of starts names and no
        part holds (of `only`'s names, when given), in their places by `_seq`."""
        have = {str(data.get("internal_name")) for _path, data in steps}
        added = False
        for record in read_lines(str(path)):
            name = record.get("internal_name")
            if not isinstance(name, str) or name in have or (only is not None and name not in only):
                continue
            if type(record.get("_seq", 0)) is not int or record.get("_seq", 0) < 0:
                continue  # (not a part this store wrote: read what the parts hold)
            have.add(name)
            steps.append((path, record))
            added = True
        if added:
            steps.sort(key=lambda p: (p[1].get("_seq", 0), p[0].name))
        return steps

    def list_run_ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.name for p in self.folder.iterdir() if p.is_dir() and (p / META).exists()]

    def index_location(self) -> str | None:
        return str(self.folder.resolve())

    def run_versions(self, *, full: bool = True) -> dict[str, Any]:
        return {run_id: self.version(run_id) for run_id in self.list_run_ids()}

    def version(self, run_id: str) -> Hashable | None:
        """Changes whenever any part of the run changes (for followers)."""
        folder = self.run_folder(run_id)
        stamps = []
        for sub in ("", "steps", "branches", "parameters"):
            try:
                stamps.append(os.stat(folder / sub).st_mtime_ns)
            except FileNotFoundError:
                stamps.append(0)
        with contextlib.suppress(FileNotFoundError):
            stamps.append(os.stat(folder / META).st_mtime_ns)
        with contextlib.suppress(FileNotFoundError):  # a step begun (its start, before its part)
            stamps.append(os.stat(folder / STARTS).st_size)
        return tuple(stamps)
