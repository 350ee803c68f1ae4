"""The run context: everything a node needs while a run executes (ids, services, parameters, identity),
and what belongs to the run rather than to any one step: the environment bridge that mirrors parameters
into MAGNUS_* variables, and whether the current branch runs beside others.

    Services.from_config(config)   the four providers a config names (the runner and the per-step entry
                                   point both build them here)
    RunContext(...)                one run in this process; nodes and tasks get it as `ctx`
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from magnus_core.loading import Pipeline
from magnus_core.masking import Masker, masker_of
from magnus_core.models.run_log import (
    SCHEMA_VERSION,
    CodeIdentity,
    DataCatalog,
    RunLog,
    StepLog,
    now,
)
from magnus_core.parameters import MAP_VARIABLE, PRM_PREFIX, TRACK_PREFIX, decode, encode, fold_names
from magnus_core.secrets import BaseSecrets
from magnus_core.stores.base import RunLogStore
from magnus_core.tracking import DoNothingTracker, ExperimentTracker

if TYPE_CHECKING:
    from magnus_core.catalog import BaseCatalog
    from magnus_core.executors.base import Executor

# True inside a branch that may run beside others (threads of the local executor, a Dask worker with more
# than one thread): steps there must not use process-wide state (os.environ) to pass metrics and
# parameters; the step scope carries them instead.
in_concurrent_branch: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "magnus_concurrent", default=False
)

_OURS = (PRM_PREFIX, TRACK_PREFIX, "MAGNUS_RUN_")  # the environment variables a run sets and restores


class EnvBridge:
    """Mirrors parameters into MAGNUS_PRM_* for code that reads the environment, and collects what the
    step set there (MAGNUS_TRACK_*, new or changed MAGNUS_PRM_*). Only values that changed are rewritten.
    One per run (RunContext.env_bridge); `restore` puts the environment back when the run ends."""

    def __init__(self) -> None:
        self.exported: dict[str, str] = {}
        self._saved: dict[str, str | None] = {}  # the MAGNUS_* environment before the run
        # os.environ's encoded items as the last export left them, when they then held no MAGNUS_TRACK_*
        # and every MAGNUS_PRM_* as exported (None: not known): collect() finds nothing to collect in an
        # environment equal to it (one C comparison instead of a look at every variable, once per step)
        self._clean: dict[bytes, bytes] | None = None
        self._run: tuple[str, str] = ("", "")  # MAGNUS_RUN_ID and MAGNUS_RUN_TAG as exported

    def _begin(self) -> None:
        """First write of this run: remember the environment's MAGNUS_* variables."""
        self._saved = {k: v for k, v in os.environ.items() if k.startswith(_OURS)}
        self._saved.setdefault("MAGNUS_RUN_ID", None)
        for stale in [k for k in self._saved if k.startswith(TRACK_PREFIX)]:
            del os.environ[stale]  # set before the run: not a metric of its first step

    def _set(self, name: str, text: str) -> None:
        if not self._saved:
            self._begin()
        os.environ[name] = text

    def export(
        self, params: dict[str, Any], run_id: str, tag: str, map_variable: dict[str, Any] | None = None
    ) -> None:
        """The environment of the step about to run: its parameters as MAGNUS_PRM_<name> (JSON), inside a
        map MAGNUS_PRM_MAP_VARIABLE (every enclosing map's item, as JSON, as the original set it for every
        task type), the run id and tag. What an earlier step had that this one has not (a map's item after
        the map) is taken away."""
        if not self._saved:
            self._begin()
        data = _environ_data()
        # unchanged since the last step's collect(): what this bridge wrote there is still as it wrote it
        clean = data is not None and data == self._clean
        if not clean or self._run != (run_id, tag or ""):
            clean = False
            for name, text in (("MAGNUS_RUN_ID", run_id), ("MAGNUS_RUN_TAG", tag or "")):
                if os.environ.get(name) != text:  # (set once per run: putenv per step is not free)
                    os.environ[name] = text
            self._run = (run_id, tag or "")
        wanted = {f"{PRM_PREFIX}{key}": encode(value) for key, value in params.items()}
        if map_variable:
            wanted[MAP_VARIABLE] = encode(map_variable)
        wrote = False  # (anything written or taken away: the copy of the environment is made again)
        for name in [n for n in self.exported if n not in wanted]:
            os.environ.pop(name, None)
            del self.exported[name]
            wrote = True
        for name, text in wanted.items():
            if self.exported.get(name) != text or (not clean and os.environ.get(name) != text):
                self._set(name, text)
                self.exported[name] = text
                wrote = True
        if not clean or data is None:
            self._clean = None
        elif wrote:
            self._clean = data.copy()
        # (else: the environment is still what the copy holds; no step since changed it)

    def restore(self) -> None:
        """Put the MAGNUS_* environment back as it was before the run, so a second run in this process
        (the workbench, tests) does not start with the first run's parameters."""
        if not self._saved:
            return
        for name in [k for k in os.environ if k.startswith(_OURS)]:
            if name not in self._saved:
                del os.environ[name]
        for name, before in self._saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._saved = {}
        self._clean = None
        self.exported.clear()

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Parameters the step set (decoded) and its MAGNUS_TRACK_ variables (as text, removed)."""
        data = _environ_data()
        if data is not None and data == self._clean:  # the step changed nothing in the environment
            return {}, {}
        changed: list[tuple[str, Any]] = []
        metrics: dict[str, str] = {}
        for name in _names_starting(PRM_PREFIX, TRACK_PREFIX):
            value = os.environ[name]
            if name.startswith(TRACK_PREFIX):
                metrics[name] = value
                del os.environ[name]
            elif name != MAP_VARIABLE and self.exported.get(name) != value:
                changed.append((name[len(PRM_PREFIX) :], decode(value)))
                self.exported[name] = value
        # now no MAGNUS_TRACK_* is left and every MAGNUS_PRM_* is as exported: clean, unless the step changed
        # the run's id or tag (the next export puts them back)
        ours = os.environ.get("MAGNUS_RUN_ID"), os.environ.get("MAGNUS_RUN_TAG")
        self._clean = data.copy() if data is not None and ours == self._run else None
        return fold_names(changed, "the step's environment (MAGNUS_PRM_*)"), metrics


def _environ_data() -> dict[bytes, bytes] | None:
    """os.environ's own mapping of encoded names to values on POSIX (every change made through os.environ
    is there); None elsewhere."""
    data = getattr(os.environ, "_data", None)
    return data if os.name == "posix" and isinstance(data, dict) else None


_PREFIXES_B: dict[tuple[str, ...], tuple[bytes, ...]] = {}


def _names_starting(*prefixes: str) -> list[str]:
    """Names of environment variables that start with one of `prefixes`. Run once per step: on POSIX it
    looks at os.environ's encoded keys, which avoids decoding every variable of the environment."""
    data = getattr(os.environ, "_data", None)
    if os.name != "posix" or not isinstance(data, dict):
        return [k for k in os.environ if k.startswith(prefixes)]
    encoded = _PREFIXES_B.get(prefixes)
    if encoded is None:
        encoded = _PREFIXES_B[prefixes] = tuple(os.fsencode(p) for p in prefixes)
    return [os.fsdecode(k) for k in data if k.startswith(encoded)]


@dataclass
class Services:
    """The providers a run uses, each chosen by its config block's `type`."""

    executor: Executor
    store: RunLogStore
    catalog: BaseCatalog
    secrets: BaseSecrets
    tracker: ExperimentTracker = field(default_factory=DoNothingTracker)

    @classmethod
    def from_config(cls, config: dict[str, dict[str, Any]]) -> Services:
        """Build them from the effective config's blocks (loading.load_config). Raises ConfigError for an
        unknown type or a bad option (its `field` names the block)."""
        from magnus_core.loading import config_source
        from magnus_core.registry import load_provider
        from magnus_core.stores import make_store

        secrets: BaseSecrets = load_provider("secrets", config["secrets"])
        return cls(
            # the postgres store's password may come from the secrets provider
            store=make_store(
                config["run_log_store"],
                source=config_source(config, "run_log_store"),
                secrets=lambda: secrets,
            ),
            executor=load_provider("executor", config["executor"]),
            secrets=secrets,
            catalog=load_provider("catalog", config["catalog"]),
            tracker=load_provider(
                "experiment_tracker", config.get("experiment_tracker") or {"type": "do-nothing", "config": {}}
            ),
        )

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each provider's {"type", "config"} block, as run_config records them; a credential that got
        past the checks where the config is read is masked all the same (credentials.redact)."""
        from magnus_core.credentials import redact

        return {
            "executor": redact(self.executor.describe()),
            "run_log_store": redact(self.store.describe()),
            "catalog": redact(self.catalog.describe()),
            "secrets": redact(self.secrets.describe()),
            "experiment_tracker": redact(self.tracker.describe()),
        }


def run_config(pipeline: Pipeline, services: Services) -> dict[str, Any]:
    """What a run log's run_config records: the services, the dag itself (and the sub-dags of other files,
    relative to the pipeline file), how to read this log, and the process writing it."""
    from magnus_core import __version__
    from magnus_core.runs import process_record

    return {
        **services.describe(),
        "dag": pipeline.dag_block,
        "dag_file": pipeline.file,
        "sub_dags": {
            os.path.relpath(path, Path(pipeline.file).resolve().parent): block
            for path, block in pipeline.sub_dags.items()
        },
        "schema_version": SCHEMA_VERSION,
        "data_hash_algorithm": "sha256",
        "magnus_version": __version__,
        "process": process_record(),  # pid, host and start time: who writes it (runs.process_alive, stop.py)
    }


def service_credentials(ctx: RunContext) -> dict[str, str]:
    """Every credential the run's services use: the environment's (credentials.environment_credentials),
    the store's, the catalog's and the executor's (each `credentials()`), {what: value}."""
    from magnus_core.credentials import environment_credentials

    found = environment_credentials()
    found.update({f"run_log_store {k}": v for k, v in ctx.store.credentials().items()})
    if ctx.catalog is not None:
        found.update({f"catalog {k}": v for k, v in ctx.catalog.credentials(ctx.secrets).items()})
    found.update({f"executor {k}": v for k, v in ctx.executor.credentials().items()})
    return found


@dataclass
class RunContext:
    """One run in this process: its ids, pipeline and services, and the run-wide state nodes share."""

    run_id: str
    tag: str
    pipeline: Pipeline
    store: RunLogStore
    secrets: BaseSecrets
    executor: Executor
    catalog: BaseCatalog | None = None
    code_identity: CodeIdentity = field(default_factory=CodeIdentity)
    original: RunLog | None = None  # the run being re-run, if any
    original_index: dict[str, StepLog] | None = None  # re-run: its step logs by internal name (rerun.py)
    output: IO[str] | None = None  # where step output goes (None: inherit stdout)
    clock: Callable[[], datetime] = now  # aware local time (times carry their UTC offset)
    env_bridge: EnvBridge = field(default_factory=EnvBridge)
    cache_valid: bool = False  # re-run: still copying succeeded steps from the original
    reasons: dict[str, str] = field(default_factory=dict)  # re-run: why each step ran (rerun.py)
    first_run: str = ""  # re-run: the first step that ran instead of being reused
    resume_inside: str = ""  # re-run: a failed composite whose succeeded branches are copied (rerun.py)
    lock: threading.RLock = field(default_factory=threading.RLock)
    errors: list[str] = field(default_factory=list)  # crashes of magnus itself inside branches
    root: Path = field(default_factory=Path.cwd)  # the project folder: steps run in it (nodes/task.py)
    # attempts in progress: internal name -> (branch, attempt number, start); what a stopped run marks
    # INTERRUPTED (runner.execute). Entries of an attempt a signal cut short stay until then.
    running: dict[str, tuple[str | None, int, datetime]] = field(default_factory=dict)
    masker: Masker = field(init=False)
    # Parameters whose value this process knows only masked (read back from a run log by a per-step entry
    # point): still listed as masked when recorded again.
    inherited_masked: list[str] = field(default_factory=list)
    masked_recorded: list[str] = field(default_factory=list)  # the run's masked_parameters as last written

    def __post_init__(self) -> None:
        # the credentials magnus itself uses are masked as secrets are, declared or not (credentials.py)
        self.secrets.add_credentials(service_credentials(self))
        self.masker = masker_of(self.secrets)

    def mask(self, text: str) -> str:
        """A message before it is recorded: every secret value masked (magnus_core.masking)."""
        return self.masker.text(text)

    def mask_data(self, data: Any, *, where: str = "value", strict: bool = True) -> Any:
        """Any recorded value (containers, keys and bytes included) with every secret masked; raises
        MaskCollisionError when two keys of a mapping collide once masked (unless not `strict`)."""
        return self.masker.value(data, where=where, strict=strict)

    def mask_parameters(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Parameters as recorded, and the (masked) names of those masking changed: fed back as they are
        recorded, they would not be what a step returned (see rerun.refuse_masked)."""
        return self.masker.changed(params, where="parameters")

    def recorded_parameters(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Parameters as recorded, and the names whose recorded value is masked (masked now, or known
        only masked already)."""
        masked, names = self.mask_parameters(dict(params))
        names += [n for n in self.inherited_masked if n in masked and n not in names]
        return masked, names

    def keep_parameters(self, params: dict[str, Any]) -> None:
        """Record the run's parameters as they are now (masked, with `masked_parameters`), so a killed run
        still has them."""
        masked, names = self.recorded_parameters(params)
        fields: dict[str, Any] = {"parameters": masked}
        if names != self.masked_recorded:
            self.masked_recorded = names
            fields["masked_parameters"] = names
        self.store.update_run(self.run_id, **fields)

    def step_output(self, stream: str = "stdout") -> IO[str] | None:
        """What a child process (a shell step) gets as its `stream`: inside redirect(), a pipe of the
        output seam that masks what the child writes and passes it to the run's destination."""
        pipes = _step_pipes.get()
        if pipes is None:
            return self.output
        from magnus_core.output import current_route

        pipe = current_route().child_pipe(stream)
        pipes.append(pipe)
        return pipe  # type: ignore[return-value]

    def redirect(self) -> Any:
        """Per step: pipes handed out by step_output() are closed (and drained) when the step ends.
        Python output goes through the run's route of the output seam (runner.execute)."""
        return _StepPipes()

    @property
    def concurrent(self) -> bool:
        """True when the current step runs beside others in this process (see in_concurrent_branch)."""
        return in_concurrent_branch.get()

    # -- the data catalog from user code (get_from_catalog / put_in_catalog) --------------------------
    def catalog_get(self, name: str, destination_folder: str | None = None) -> list[DataCatalog]:
        """get_from_catalog: copy catalog files matching `name` in; they are recorded on the step."""
        records = self._catalog().get_patterns([name], None, destination=destination_folder)
        return self._record(records)

    def catalog_put(self, filepath: str) -> list[DataCatalog]:
        """put_in_catalog: copy the file(s) at `filepath` into the catalog; recorded on the step."""
        return self._record(self._catalog().put_path(filepath))

    def _catalog(self) -> BaseCatalog:
        if self.catalog is None:
            from magnus_core.errors import NotBuiltError

            raise NotBuiltError("this run has no data catalog")
        return self.catalog

    def _record(self, records: list[DataCatalog]) -> list[DataCatalog]:
        from magnus_core.interaction import current_scope

        scope = current_scope()
        if scope is not None:
            scope.catalog_records.extend(records)
        return records


_step_pipes: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "magnus_step_pipes", default=None
)


class _StepPipes:
    """A step's stretch of output: what python batched before it is written first, its children's pipes
    are drained when it ends, then what it printed itself is written (in order, as far as it can be)."""

    def __enter__(self) -> None:
        from magnus_core.output import current_route

        self._route = route = current_route()
        if route.tap is None:  # (a route an attempt tapped was flushed as the tap began: output.tapped)
            route.flush()
        self._token = _step_pipes.set([])

    def __exit__(self, *exc: Any) -> None:
        pipes = _step_pipes.get() or []
        _step_pipes.reset(self._token)
        for pipe in pipes:
            pipe.close()
        if self._route.tap is None:
            self._route.flush()
        else:  # its lanes are flushed as the tap ends, once fd 1 and 2 are drained (output.tapped)
            self._route.flush_streams()
