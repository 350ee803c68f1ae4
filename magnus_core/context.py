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
    lock: threading.RLock = field(default_factory=threading.RLock)
    errors: list[str] = field(default_factory=list)  # crashes of magnus itself inside branches
    root: Path = field(default_factory=Path.cwd)  # the project folder: steps run in it (nodes/task.py)

    def mask(self, text: str) -> str:
        """Hide every secret value the provider holds from a message before it is recorded."""
        from magnus_core.secrets import mask_text

        return mask_text(text, self.secrets.values())

    def mask_data(self, data: Any) -> Any:
        """Metrics or parameters as recorded: secret values masked in every string."""
        from magnus_core.secrets import mask_values

        return mask_values(data, self.secrets.values())

    def step_output(self) -> IO[str] | None:
        """The stream a step's own output goes to (stderr when stdout carries --json). Inside redirect(),
        with secrets in play, a pipe that masks them (a child process writes to its file descriptor)."""
        pipes = _step_pipes.get()
        if pipes is None or not self.secrets.masks():
            return self.output
        from magnus_core.secrets import MaskingPipe

        pipe = MaskingPipe(self.output, self.secrets.masks)
        pipes.append(pipe)
        return pipe  # type: ignore[return-value]

    def redirect(self) -> Any:
        """Per step: pipes handed out by step_output() are closed (and drained) when the step ends.
        Python output is masked for the whole run by runner.execute (a per-step redirect_stdout is not
        thread-safe when branches run concurrently)."""
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
    def __enter__(self) -> None:
        self._token = _step_pipes.set([])

    def __exit__(self, *exc: Any) -> None:
        pipes = _step_pipes.get() or []
        _step_pipes.reset(self._token)
        for pipe in pipes:
            pipe.close()
