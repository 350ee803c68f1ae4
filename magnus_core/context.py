"""The run context: everything a node needs while a run executes (ids, services, parameters, identity),
and what belongs to the run rather than to any one step: the environment bridge that mirrors parameters
into MAGNUS_* variables, and whether the current branch runs beside others.

    Services.from_config(config)   the four providers a config names (the runner and the per-step entry
                                   point both build them here)
    RunContext(...)                one run in this process; nodes and tasks get it as `ctx`
"""

from __future__ import annotations

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
from magnus_core.secrets import BaseSecrets
from magnus_core.stepenv import (
    EnvBridge,
    _step_pipes,
    _StepPipes,
    in_concurrent_branch,
)
from magnus_core.stores.base import RunLogStore
from magnus_core.tracking import DoNothingTracker, ExperimentTracker

if TYPE_CHECKING:
    from magnus_core.catalog import BaseCatalog
    from magnus_core.executors.base import Executor


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
    # attempts in progress: internal name -> (branch, attempt number, start, command type); what a stopped
    # run marks INTERRUPTED (runner.execute). Entries of an attempt a signal cut short stay until then.
    running: dict[str, tuple[str | None, int, datetime, str]] = field(default_factory=dict)
    # once a run is stopping (runner._stop), the attempts that ended since: internal name -> (attempt
    # number, where its output was kept), so that the stop records a branch's shell step with its output
    # (its thread's own record is refused then: trial 12 fault 12). None while the run is not stopping.
    stopped: dict[str, tuple[int, Any]] | None = None
    masker: Masker = field(init=False)
    # Parameters whose value this process knows only masked (read back from a run log by a per-step entry
    # point): still listed as masked when recorded again.
    inherited_masked: list[str] = field(default_factory=list)
    masked_recorded: list[str] = field(default_factory=list)  # the run's masked_parameters as last written
    # A step run again in the same run by the per-step entry point (`magnus execute_single_node`, a pod the
    # engine runs again): internal name -> the attempts it already has, kept before its new ones, which are
    # numbered after them (trial 14 F5: running a failed step again replaced its attempts and their output).
    attempts_before: dict[str, list[Any]] | None = None
    # the per-step entry point: this process, {pid, host, start_time}, recorded in each step log it begins
    # (StepLog.process: a reader on this host can tell the attempt was cut short once it is gone)
    step_process: dict[str, Any] | None = None

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
        from magnus_core.output import ChildPipes, current_route

        last = pipes[-1] if pipes else None
        if stream == "stderr" and isinstance(last, ChildPipes) and not last.err_taken:
            last.err_taken = True  # the stderr of the child whose stdout was asked for just before: one
            return last.err  # type: ignore[return-value]  # thread reads both (trial 12 fault 2)
        if stream == "stdout":
            pair = current_route().child_pipes()
            pipes.append(pair)
            return pair.out  # type: ignore[return-value]
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
