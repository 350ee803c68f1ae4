"""The run context: everything a node needs while a run executes (ids, services, parameters, identity)."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Callable

from magnus_core.loading import Pipeline
from magnus_core.models.run_log import CodeIdentity, RunLog
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
    clock: Callable[[], datetime] = datetime.now
    env_bridge: EnvBridge = field(default_factory=EnvBridge)
    cache_valid: bool = False  # re-run: still copying succeeded steps from the original
    lock: threading.RLock = field(default_factory=threading.RLock)
    errors: list[str] = field(default_factory=list)  # crashes of magnus itself inside branches

    def mask(self, text: str) -> str:
        """Hide every secret value the provider holds from a message before it is recorded."""
        for value in sorted(self.secrets.values(), key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, "*****")
        return text

    def step_output(self) -> IO[str] | None:
        """The stream a step's own output goes to (stderr when stdout carries --json)."""
        return self.output

    def redirect(self) -> Any:
        """Per-step redirection hook; stdout is already redirected for the whole run by runner.execute
        (a per-step redirect_stdout is not thread-safe when branches run concurrently)."""
        import contextlib

        return contextlib.nullcontext()
