"""The run-log store protocol, and the in-memory bookkeeping every store shares.

A store holds the run it is writing in memory (steps and branches indexed by internal name, so a write is
O(1)) and persists it its own way. Reads of other runs go to the persisted form. Every write emits a
RunEvent on the store's bus.

What every store must guarantee (the contract the crash-safety of runs rests on, docs/crash-safety.md):

1. **A step commits in one write.** `commit_step` writes a step log whole: its attempts, status, metrics,
   catalog records and `returned_parameters`. A reader (a re-run, another process, a watcher) sees the
   step as it was before the call or with all of these, never some: one atomic file replace
   (file-system), one part renamed into place (chunked-fs), one transaction (a database), one object
   put (object storage). A composite's fan-in is a commit like any other.
2. **Every other write is whole too**: a run, step or branch log is never seen half-written.
3. **Nothing relies on two writes landing together.** The run-level `parameters` a commit also carries
   are a convenience for readers; a store may write them separately (after the step). Whoever needs a
   scope's parameters derives them from the committed step logs (parameters.scope_parameters).
4. **A write that fails raises StoreError** naming the path and the reason (never a bare OSError), and
   what was written before stays readable.
5. **After `stop_writers`**, writes to that run from any other thread raise RunStopped: threads a stopped
   run abandoned record nothing after the run was marked INTERRUPTED.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from magnus_core.errors import RunNotFoundError, StoreError, UsageError
from magnus_core.events import BRANCH_UPDATED, RUN_CREATED, RUN_UPDATED, STEP_UPDATED, EventBus, RunEvent
from magnus_core.masking import Masker
from magnus_core.paths import check_run_id

if TYPE_CHECKING:  # the models are imported where a log is made or read: listing runs needs none of them
    from magnus_core.models.run_log import BranchLog, RunLog, StepLog


class RunStopped(BaseException):
    """A write to a run whose stop has begun, from a thread the stop abandoned (a branch still running
    when SIGINT came): refused. A BaseException, so the thread unwinds past `except Exception` handlers
    instead of going on to the next step of its branch."""


@dataclass
class _Live:
    """The run being written by this process, indexed for O(1) updates."""

    log: RunLog
    steps: dict[str, StepLog]
    branches: dict[str, BranchLog]


_new = object.__new__
_set = object.__setattr__


def _snapshot(step: StepLog, branches: dict[str, BranchLog]) -> StepLog:
    """A copy of a step log safe from the caller's later mutation (attempt records are never mutated).

    Made as pydantic's model_copy makes one (a new object holding a copy of the fields, the set of fields
    given and the extra fields), without its Python layers: a step is copied twice per step run (issue 19).
    The copied containers are put straight into the copy's fields (the models validate no assignment)."""
    fields = step.__dict__.copy()
    fields["attempts"] = list(fields["attempts"])
    fields["code_identities"] = list(fields["code_identities"])
    fields["data_catalog"] = list(fields["data_catalog"])
    fields["user_defined_metrics"] = dict(fields["user_defined_metrics"])
    history = fields["metric_history"]
    fields["metric_history"] = {name: list(points) for name, points in history.items()} if history else {}
    fields["returned_parameters"] = dict(fields["returned_parameters"])
    fields["branches"] = branches
    copy = _new(step.__class__)
    _set(copy, "__dict__", fields)
    extra = step.__pydantic_extra__
    _set(copy, "__pydantic_extra__", None if extra is None else dict(extra))
    _set(copy, "__pydantic_fields_set__", set(step.__pydantic_fields_set__))
    private = step.__pydantic_private__
    _set(copy, "__pydantic_private__", None if private is None else dict(private))
    return copy


class _Writing:
    """RunLogStore._writing (a plain object rather than a generator: two are made per step run)."""

    __slots__ = ("run_id", "store")

    def __init__(self, store: RunLogStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def __enter__(self) -> _Live:
        store = self.store
        store._lock.acquire()
        try:
            stopper = store._stopper.get(self.run_id)
            if stopper is not None and stopper != threading.get_ident():
                raise RunStopped(self.run_id)
            return store._require_live(self.run_id)
        except BaseException:
            store._lock.release()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is not None and isinstance(exc, OSError):
                raise StoreError.from_os_error(exc, self.store._what()) from exc
        finally:
            self.store._lock.release()


class RunLogStore(ABC):
    """Create, read and update run logs. Only the store writes them.

    What callers may ask of any store is declared here, with a default where a store may lack it: the
    change `version` of a run (followers poll it, and `wait_for_change` when the store `notifies`), a
    `scratch_folder` beside a run for per-step processes and the branch parameters they pass
    (`put_branch_parameters`, `get_branch_parameters`), `flush` (other processes see every write so far),
    the `local_folder` holding its runs, if any, the `folders` a run writes (checked before it starts) and
    whether it `keeps_runs` after the process.
    Subclasses implement `_persist`, `_read` and `list_run_ids`.
    """

    service_name: ClassVar[str] = "base"
    # True: a write of a step that begins reaches no reader by itself (the file-system store spaces its
    # writes, the buffered store makes none), so in a run whose steps all run here (defer_starts) it is
    # made only when a reader could see it (begin_step)
    lazy_starts: ClassVar[bool] = False
    # False: runs live only in this process's memory (no resume, no later diff)
    keeps_runs: ClassVar[bool] = True
    # the config file whose run_log_store block made this store (make_store's `source`), named in the
    # errors of a store that can only be found unusable on first use (a server that refuses, a password)
    source: str | None = None

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.events = EventBus()
        self._live: dict[str, _Live] = {}
        self._lock = threading.RLock()
        self._stopper: dict[str, int] = {}  # run id -> the only thread that may still write it
        self._maskers: dict[str, Masker] = {}
        # runs whose task steps' starts wait for a reader (defer_starts on a store with lazy_starts), and the
        # steps begun there and not yet written: run id -> internal name -> (the node's step log, branch)
        self._lazy: set[str] = set()
        self._begun: dict[str, dict[str, tuple[StepLog, str | None]]] = {}

    # -- masking: nothing is written with a secret in it ----------------------------------------------
    def mask_with(self, run_id: str, masker: Masker) -> None:
        """From now on every write of run `run_id` (run fields, step logs, branch logs, names included) is
        masked with `masker` before it is kept, persisted or sent as an event."""
        self._maskers[run_id] = masker

    def _mask(self, run_id: str, value: Any) -> Any:
        masker = self._maskers.get(run_id)
        if masker is None or value is None:  # (None holds no secret: no need to ask for the patterns)
            return value
        # the nodes refuse keys that collide once masked; here (a safety net) a write never fails over one.
        # A write without a secret is kept after one search of its text (masking.clean), not walked.
        return masker.value(value, where="run log", strict=False)

    # -- what each store implements --------------------------------------------------------------
    @abstractmethod
    def _persist(self, run_id: str, *, final: bool = False) -> None:
        """Make the live run durable (or not, for the buffered store)."""

    @abstractmethod
    def _read(self, run_id: str) -> RunLog | None:
        """Read a run that is not live in this process; None if there is none."""

    @abstractmethod
    def list_run_ids(self) -> list[str]:
        """Every run id in the store, in no particular order."""

    def folders(self) -> list[tuple[Path, str]]:
        """The local folders this store writes runs into, each with the config key that moves it (checked
        before a run starts: runner.prepare). None for stores that keep runs elsewhere."""
        return []

    def location(self, run_id: str) -> str:
        """Where a human finds this run's log."""
        return "memory"

    def describe(self) -> dict[str, Any]:
        """The block recorded in run_config."""
        return {"type": self.service_name, "config": dict(self.config)}

    def use_secrets(self, provider: Callable[[], Any]) -> None:
        """A store that may take a credential from the secrets provider keeps `provider` (called when it
        first needs it: a zero-argument function returning the run's or the config's provider). The
        default: the store takes none."""
        return None

    def credentials(self) -> dict[str, str]:
        """{what: value} of the credentials this store uses to reach its storage, however it found them
        (a database password from PGPASSWORD, ~/.pgpass, a service file or the secrets provider): masked in
        everything a run writes (RunContext, docs/secrets.md). A store that needs none: {}."""
        return {}

    # -- capabilities, with what a store without them answers --------------------------------------
    def version(self, run_id: str) -> Hashable | None:
        """A value that changes whenever run `run_id` changes, cheap to get (a follower reads the run only
        when it changed). None: the store cannot tell, so followers read the run on every poll."""
        return None

    def scratch_folder(self, run_id: str) -> Path | None:
        """A folder beside run `run_id`'s log (never inside it) where the processes running its steps may
        keep files, e.g. branch parameters between fan-out and fan-in. None: the store has no such place
        (memory, a database), so steps cannot run one per process with it."""
        return None

    def local_folder(self) -> Path | None:
        """The folder on this machine holding the store's runs; None for a store kept elsewhere."""
        return None

    def put_branch_parameters(
        self, run_id: str, branch: str, parameters: dict[str, Any], *, only_new: bool = False
    ) -> None:
        """Keep branch `branch`'s parameters (a JSON object, already masked) for the processes that run its
        steps one per process (Argo, Dask); only_new: keep what is already there. The default writes a
        JSON file in `scratch_folder` (whole or not at all); a store without one raises UsageError, a
        write that fails StoreError."""
        from magnus_core import jsonio as json
        from magnus_core.files import atomic_write

        path = self._branch_parameters_path(run_id, branch)
        if only_new and path.exists():
            return
        home = self.local_folder()
        try:
            # the scratch folder sits in the store's folder: a link planted there must not lead the write out
            atomic_write(path, json.dumps(parameters, default=str), root=home)
        except OSError as exc:
            raise StoreError.from_os_error(exc, "branch parameters") from exc

    def get_branch_parameters(self, run_id: str, branch: str) -> dict[str, Any] | None:
        """What put_branch_parameters kept for branch `branch`; None when nothing was kept. Raises
        RunLogError (naming the file) for what is not a JSON object."""
        from magnus_core.errors import RunLogError
        from magnus_core.paths import read_regular_file
        from magnus_core.stores.file_system import MAX_RUN_LOG_BYTES, parse_run_log_json

        path = self._branch_parameters_path(run_id, branch)
        if not path.exists() and not path.is_symlink():
            return None
        # a scratch file in the store's folder is read as untrusted as a run log (a FIFO, a huge or deep file)
        raw = read_regular_file(path, limit=MAX_RUN_LOG_BYTES, what="branch parameters", error=RunLogError)
        data = parse_run_log_json(raw, str(path))
        if not isinstance(data, dict):
            raise RunLogError("branch parameters are not a JSON object", file=str(path))
        return data

    def _branch_parameters_path(self, run_id: str, branch: str) -> Path:
        from magnus_core.stores.parts import part_name

        folder = self.scratch_folder(run_id)
        if folder is None:
            raise UsageError(
                f"the {self.service_name} run-log store cannot hold branch parameters between "
                "processes; use chunked-fs",
                field="run_log_store.type",
            )
        return folder / part_name(branch)

    # True: wait_for_change wakes as soon as a write commits (postgres: LISTEN/NOTIFY)
    notifies: ClassVar[bool] = False

    def wait_for_change(self, run_id: str, seen: Hashable | None, timeout: float) -> bool:
        """Block until run `run_id`'s `version` differs from `seen` or `timeout` seconds pass; True if it
        changed. The default (a store that cannot notify, `notifies` False) compares once, then sleeps
        the timeout: callers that can be stopped sleep on their own event instead."""
        import time

        if self.version(run_id) != seen:
            return True
        time.sleep(timeout)
        return False

    def flush(self, run_id: str) -> None:
        """Make every write to run `run_id` so far visible to other processes (a per-step process calls it
        before it exits). The default persists the live run now; a store whose every write is already
        durable does nothing."""
        with self._lock:
            if run_id in self._live:
                self._finish(run_id)

    # -- what a run index asks of a store (magnus_core/index) -------------------------------------
    def index_location(self) -> str | None:
        """The store's absolute location, which names its run index in the cache folder; None keeps the
        index in memory (a store that lives only in this process)."""
        return None

    def run_versions(self, *, full: bool = True) -> dict[str, Any]:
        """Every run id with a token that changes whenever its log changes, without reading the logs: a
        tuple (a file's inode, mtime and size), or None (unknown: the index reads that log each time).

        full=False allows a cheaper token of one element that changes with every write the store itself
        makes (the file-system store: the inode, which each atomic rename changes, read without a stat);
        the index then catches changes made in place (an editor, `cp` over a log) at its next full look."""
        return dict.fromkeys(self.list_run_ids())

    def run_tokens(self, run_ids: Collection[str]) -> dict[str, Any]:
        """The full tokens (as `run_versions(full=True)` gives them) of these runs only, for a few runs that
        are changing (the run index's running runs, at every look); a run not in the store is left out."""
        wanted = set(run_ids)
        return {run_id: token for run_id, token in self.run_versions(full=True).items() if run_id in wanted}

    def quiet_token(self) -> str | None:
        """A text that changes whenever a run is added, removed or rewritten by this store's own writes, and
        that a look may trust (the run index then skips listing every run); None when there is no such
        token, or the store changed too recently to trust one. Changes made in place (an editor over a
        log) are caught by the index's next full look."""
        return None

    def full_look_command(self) -> tuple[list[str], str] | None:
        """A command whose output, for a store that did not change, is the same bytes every time, and
        changes whenever `run_versions(full=True)` would (a run added or removed, a log rewritten, in place
        too), and a regular expression its first line matches (a command that does not speak the format
        asked of it, another `find`, gives no answer); None: no such command. The run index runs it beside
        a listing, in place of its own full look when the digest of the output is what it was when the
        index last held every run (index/sqlite.py: _FullLook). Its standard error is discarded; a non-zero
        exit means no answer."""
        return None

    def modified(self, run_id: str) -> float | None:
        """When the run's log was last written (seconds since the epoch), for a log too broken to say when
        it ran: the run index lists it by this time instead of below every run. None: not known."""
        return None

    def read_json(self, run_id: str) -> Any:
        """The run log's JSON form (a dict), as cheaply as the store can give it (the index extracts its
        rows from it). Any error: the index reads the run with get_run() to say exactly why not."""
        return self.get_run(run_id).model_dump(mode="json")

    def run_index(self) -> Any:
        """A store that answers run queries itself (a database: its tables are the index) returns its
        magnus_core.index.RunIndex; None: the SQLite index in the user's cache folder is used."""
        return None

    # -- the protocol ------------------------------------------------------------------------------
    def exists(self, run_id: str) -> bool:
        return run_id in self._live or run_id in set(self.list_run_ids())

    def create_run(self, run_log: RunLog, *, masker: Masker | None = None) -> None:
        """Start run `run_log.run_id`: the one place a run is created, whichever process does it (`magnus
        execute`, the workbench and --use-cached through runner.execute; the first `execute_single_node` or
        `fan` of an Argo or Dask run through single._create_run). With `masker` (the run's secrets) every
        write of the run is masked from this one on (mask_with), and the starting parameters whose recorded
        value masking changes are added to `masked_parameters` (issue 17: a step fed from the log refuses
        them). UsageError if the store holds the run id already; StoreError if it cannot be written."""
        check_run_id(run_log.run_id)
        if masker is not None:
            self.mask_with(run_log.run_id, masker)
            _, changed = masker.changed(dict(run_log.parameters), where="parameters")
            listed = list(run_log.masked_parameters)
            listed += [name for name in changed if name not in listed]
            run_log = run_log.model_copy(update={"masked_parameters": listed})
        run_log = self._mask(run_log.run_id, run_log)
        with self._lock:
            if self.exists(run_log.run_id):
                raise UsageError(
                    f"a run '{run_log.run_id}' already exists in the store; choose another --run-id",
                    field="run_id",
                )
            live = _Live(run_log, {}, {})
            for step in run_log.walk():
                live.steps[step.internal_name] = step
                live.branches.update(step.branches)
            self._live[run_log.run_id] = live
            try:
                self._create(run_log.run_id)
            except OSError as exc:
                self._live.pop(run_log.run_id, None)
                raise StoreError.from_os_error(exc, self._what()) from exc
            except BaseException:
                self._live.pop(run_log.run_id, None)
                raise
        self.events.emit(RunEvent(kind=RUN_CREATED, run_id=run_log.run_id, status=run_log.status))

    def put_run(self, run_log: RunLog) -> None:
        """Add a whole run log written elsewhere (`magnus store copy`): readers see all of it or none of
        it; UsageError if the store holds that run id already."""
        self.create_run(run_log)
        self.close(run_log.run_id)

    def get_run(self, run_id: str) -> RunLog:
        """The run log (a live run's current state, or the persisted one)."""
        live = self._live.get(run_id)
        if live is not None:
            # under the lock, whether or not steps wait: the store's timer thread (a deferred write) may be
            # between taking them from _begun and keeping them in the log (CI, session 15: the step in
            # progress was in neither, and a run stopped by an error ended with it PROCESSING)
            with self._lock:
                if self._begun.get(run_id):
                    self._write_begun(run_id)
            return live.log
        log = self._read(run_id)
        if log is None:
            raise RunNotFoundError(run_id, self.list_run_ids(), self.where())
        return log

    def get_plain_run(self, run_id: str) -> dict[str, Any]:
        """The run log as plain JSON, checked as the models check it (models.plain: for readers that only
        look, such as `magnus diff`); RunNotFoundError as get_run. A store that keeps the log as one
        document reads it without making the models (file-system); the rest make them and dump them."""
        from magnus_core.models.plain import plain_from_model

        return plain_from_model(self.get_run(run_id))

    def where(self) -> str:
        return f"the {self.service_name} run-log store"

    def brief(self) -> str:
        """This store in a few words for a title bar (the workbench's, which is cut at 80 columns):
        where() unless a store names itself at length."""
        return self.where()

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change run-level fields (status, parameters, ...) of a live run."""
        fields = {key: self._mask(run_id, value) for key, value in fields.items()}
        with self._writing(run_id) as live:
            for key, value in fields.items():
                setattr(live.log, key, value)
            self._on_run(run_id, fields, final=fields.get("status") in ("SUCCESS", "FAIL", "INTERRUPTED"))
        self.events.emit(
            RunEvent(
                kind=RUN_UPDATED, run_id=run_id, status=live.log.status, extra={"fields": sorted(fields)}
            )
        )

    def begin_step(self, run_id: str, step_log: StepLog, branch: str | None = None) -> None:
        """A task step begins: `step_log` as nodes.common.new_step_log makes it (PROCESSING, its names, type,
        code identities and start time, nothing else), at top level or inside branch `branch`.

        Written as put_step_log writes it; but in a run whose steps all run in this process (defer_starts)
        on a store with `lazy_starts` and with no one subscribed to its events, it is kept aside and made
        (a copy of those fields, masked) only when a reader could see it: the store's next write that
        reaches its file, a get_run, the run's end. The step's own next write (its commit, a retry)
        replaces it, so most steps make one copy of their log, not two (issue 19). Every file and every
        get_run shows what it showed before: the step PROCESSING from its start until its commit.
        The caller may change `step_log` afterwards (it does: attempts, status) but not those fields."""
        if run_id not in self._lazy or self.events:
            self.put_step_log(run_id, step_log, branch)
            return
        with self._writing(run_id):
            self._begun.setdefault(run_id, {})[step_log.internal_name] = (step_log, branch)
            self._on_begin(run_id, step_log, branch)

    def _on_begin(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        """A step began and waits (begin_step): what a store whose writes wait anyway does for it (the
        file-system store: its journal's start record, and its next write falls due as for any change).
        `step_log` is the caller's (not masked, changed later): only its start's fields may be read here.
        The default: nothing."""
        return None

    def _write_begun(self, run_id: str) -> None:
        """Keep the steps that began and wait (begin_step) as put_step_log keeps a step: called under the
        lock, before anything reads the live run."""
        begun = self._begun.pop(run_id, None)
        if not begun:
            return
        from magnus_core.models.run_log import PROCESSING, StepLog

        live = self._live[run_id]
        for step_log, branch in begun.values():
            start = StepLog(
                name=step_log.name,
                internal_name=step_log.internal_name,
                status=PROCESSING,
                step_type=step_log.step_type,
                code_identities=list(step_log.code_identities),
                start_time=step_log.start_time,
            )
            self._keep_step(live, self._mask(run_id, start), self._mask(run_id, branch))

    def put_step_log(self, run_id: str, step_log: StepLog, branch: str | None = None) -> None:
        """Add or replace a step log, at top level or inside the branch named `branch`.

        The store keeps its own copy (so callers may go on mutating theirs from another thread) and owns
        the step's branches: a composite step written again keeps the branch logs already stored.
        """
        step_log = self._mask(run_id, step_log)
        branch = self._mask(run_id, branch)
        with self._writing(run_id) as live:
            stored = self._keep_step(live, step_log, branch)
            self._on_step(run_id, stored, branch)
        self._emit_step(run_id, stored, branch)

    def commit_step(
        self,
        run_id: str,
        step_log: StepLog,
        branch: str | None = None,
        *,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """THE COMMIT POINT of a step: its final log, in one write (guarantee 1 of this module).

        `step_log` carries everything the step produced: attempts, status, metrics, catalog records and
        `returned_parameters`. `parameters` (top-level steps): the run's parameters after the step, kept
        as run-level `parameters` in the same write where the store can (guarantee 3: never relied on).
        Raises StoreError when the store cannot write, RunStopped from a thread a stopped run abandoned.
        """
        # one pass of the masker over the three (a commit per step: its secrets' patterns asked for once)
        step_log, branch, parameters = self._mask(run_id, (step_log, branch, parameters))
        with self._writing(run_id) as live:
            stored = self._keep_step(live, step_log, branch)
            if parameters is not None:
                live.log.parameters = dict(parameters)
            self._on_commit(run_id, stored, branch, parameters is not None)
        self._emit_step(run_id, stored, branch)
        if parameters is not None and self.events:
            self.events.emit(
                RunEvent(
                    kind=RUN_UPDATED, run_id=run_id, status=live.log.status, extra={"fields": ["parameters"]}
                )
            )

    def defer_starts(self, run_id: str) -> None:
        """Every step of run `run_id` runs in this process (the local executor), so the write of a step
        that has just begun may wait a little for the step's commit: a kill meanwhile leaves the step
        absent instead of PROCESSING, not done either way, and the run's process record says the run died.
        Per-step processes (Argo pods, Dask workers) do not call this: there the next process learns that
        one died from its step left PROCESSING. The default writes at once, or, on a store with
        `lazy_starts`, when a reader could see it (begin_step); chunked-fs waits.
        """
        if self.lazy_starts:
            with self._lock:
                self._lazy.add(run_id)

    def stop_writers(self, run_id: str) -> None:
        """The run is stopping: from now on only the calling thread may write it (guarantee 5)."""
        with self._lock:
            self._stopper[run_id] = threading.get_ident()

    def _keep_step(self, live: _Live, step_log: StepLog, branch: str | None) -> StepLog:
        begun = self._begun.get(live.log.run_id)
        if begun:  # its start, waiting (begin_step), is replaced by this write; the others' come first
            begun.pop(step_log.internal_name, None)
            if begun:
                self._write_begun(live.log.run_id)
        container = live.log.steps if branch is None else self._branch(live, branch).steps
        existing = live.steps.get(step_log.internal_name)
        stored = _snapshot(step_log, existing.branches if existing is not None else step_log.branches)
        container[stored.internal_name] = stored
        live.steps[stored.internal_name] = stored
        return stored

    def _emit_step(self, run_id: str, stored: StepLog, branch: str | None) -> None:
        if not self.events:  # no one listens (a run without watchers): no event is made, at two per step
            return
        self.events.emit(
            RunEvent(
                kind=STEP_UPDATED,
                run_id=run_id,
                internal_name=stored.internal_name,
                status=stored.status,
                step_log=stored,
                parent=branch,
            )
        )

    def put_branch_log(self, run_id: str, branch_log: BranchLog, step: str) -> None:
        """Add or replace a branch log under the composite step `step` (its step logs are kept)."""
        branch_log = self._mask(run_id, branch_log)
        step = self._mask(run_id, step)
        with self._writing(run_id) as live:
            parent = live.steps.get(step)
            if parent is None:
                raise KeyError(
                    f"no step '{step}' in run '{run_id}' to hold branch '{branch_log.internal_name}'"
                )
            existing = live.branches.get(branch_log.internal_name)
            from magnus_core.models.run_log import BranchLog

            stored = BranchLog(
                internal_name=branch_log.internal_name,
                status=branch_log.status,
                steps=existing.steps if existing is not None else dict(branch_log.steps),
            )
            parent.branches[stored.internal_name] = stored
            live.branches[stored.internal_name] = stored
            for nested in stored.walk():
                live.steps.setdefault(nested.internal_name, nested)
            self._on_branch(run_id, stored, step)
        self.events.emit(
            RunEvent(
                kind=BRANCH_UPDATED,
                run_id=run_id,
                internal_name=stored.internal_name,
                status=stored.status,
                parent=step,
            )
        )

    def attach(self, run_id: str) -> RunLog:
        """Take up writing a run another process created (per-step entry points): load it as live."""
        with self._lock:
            if run_id not in self._live:
                log = self._read(run_id)
                if log is None:
                    raise RunNotFoundError(run_id, self.list_run_ids(), self.where())
                live = _Live(log, {}, {})
                for step in log.walk():
                    live.steps[step.internal_name] = step
                    live.branches.update(step.branches)
                self._live[run_id] = live
            return self._live[run_id].log

    def attach_scope(self, run_id: str, steps: list[str], branches: list[str]) -> RunLog:
        """attach(), reading only what one step of the run needs: its run-level fields and parameters, the
        step logs named in `steps` and the branch logs named in `branches` (the composite steps and branches
        that hold the step, and the steps of its own graph). A store that keeps steps apart reads nothing
        else, so a step's cost does not grow with the run (issue 19); this one reads the whole run."""
        return self.attach(run_id)

    def close(self, run_id: str) -> None:
        """The run is over in this process: persist for good and forget the live copy (even when that last
        write fails: StoreError then says so)."""
        with self._lock:
            if run_id in self._live:
                try:
                    self._finish(run_id)
                except OSError as exc:
                    raise StoreError.from_os_error(exc, self._what()) from exc
                finally:
                    self._forget(run_id)
                    self._stopper.pop(run_id, None)

    def _forget(self, run_id: str) -> None:
        self._live.pop(run_id, None)
        self._maskers.pop(run_id, None)
        self._begun.pop(run_id, None)
        self._lazy.discard(run_id)

    def _writing(self, run_id: str) -> _Writing:
        """One write to a live run: under the lock, refused to threads a stop abandoned, an OSError of the
        store's own writing turned into a StoreError naming the path."""
        return _Writing(self, run_id)

    def _what(self) -> str:
        return f"the {self.service_name} run-log store"

    # -- hooks for stores that write parts separately ---------------------------------------------
    def _create(self, run_id: str) -> None:
        """First write of a new run; stores shared between processes make it atomic (one creator wins)."""
        self._persist(run_id)

    @staticmethod
    def _taken(run_id: str) -> UsageError:
        return UsageError(
            f"a run '{run_id}' already exists in the store; choose another --run-id", field="run_id"
        )

    def _finish(self, run_id: str) -> None:
        """Make every write so far durable (close, flush): nothing changed, only persisted for good. A store
        that knows its last write was durable and nothing changed since may skip it."""
        self._persist(run_id, final=True)

    def _on_run(self, run_id: str, fields: dict[str, Any], *, final: bool) -> None:
        """Run-level `fields` of the live run changed (stores that write parts write only those)."""
        self._persist(run_id, final=final)

    def _on_step(self, run_id: str, step_log: StepLog, branch: str | None) -> None:
        self._persist(run_id)

    def _on_commit(self, run_id: str, step_log: StepLog, branch: str | None, parameters: bool) -> None:
        """Persist a commit: the step log (and the run's parameters if `parameters`) in one write, or the
        step log first (the commit) and the parameters after, in a store of separate parts."""
        self._persist(run_id)

    def _on_branch(self, run_id: str, branch_log: BranchLog, step: str) -> None:
        self._persist(run_id)

    # -- helpers -----------------------------------------------------------------------------------
    def _require_live(self, run_id: str) -> _Live:
        live = self._live.get(run_id)
        if live is None:
            raise KeyError(f"run '{run_id}' is not being written by this process")
        return live

    @staticmethod
    def _branch(live: _Live, name: str) -> BranchLog:
        branch = live.branches.get(name)
        if branch is None:
            raise KeyError(f"no branch '{name}' in run '{live.log.run_id}'")
        return branch
