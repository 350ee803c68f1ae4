"""The run context: everything a node needs while a run executes (ids, services, parameters, identity)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from magnus_core.loading import Pipeline
from magnus_core.masking import Masker, masker_of
from magnus_core.models.run_log import CodeIdentity, RunLog, now
from magnus_core.secrets import BaseSecrets
from magnus_core.stores.base import RunLogStore
from magnus_core.tasks.python import EnvBridge


@dataclass
class RunContext:
    run_id: str
    tag: str
    pipeline: Pipeline
    store: RunLogStore
    secrets: BaseSecrets
    executor: Any
    catalog: Any = None
    code_identity: CodeIdentity = field(default_factory=CodeIdentity)
    original: RunLog | None = None  # the run being re-run, if any
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
    masker: Masker = field(init=False)
    # Parameters whose value this process knows only masked (read back from a run log by a per-step entry
    # point): still listed as masked when recorded again.
    inherited_masked: list[str] = field(default_factory=list)
    masked_recorded: list[str] = field(default_factory=list)  # the run's masked_parameters as last written

    def __post_init__(self) -> None:
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

    # -- the data catalog from user code (get_from_catalog / put_in_catalog) --------------------------
    def catalog_get(self, name: str, destination_folder: str | None = None) -> list[Any]:
        records = self.catalog.get_patterns([name], None, destination=destination_folder)
        return self._record(records)

    def catalog_put(self, filepath: str) -> list[Any]:
        return self._record(self.catalog.put_path(filepath))

    def _record(self, records: list[Any]) -> list[Any]:
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

        self._route = current_route()
        self._route.flush()
        self._token = _step_pipes.set([])

    def __exit__(self, *exc: Any) -> None:
        pipes = _step_pipes.get() or []
        _step_pipes.reset(self._token)
        for pipe in pipes:
            pipe.close()
        self._route.flush()
