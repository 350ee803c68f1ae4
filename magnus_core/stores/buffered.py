"""The buffered store: run logs in memory only, gone when the process ends."""

from __future__ import annotations

from typing import Any

from magnus_core.models.run_log import RunLog
from magnus_core.stores.base import RunLogStore


class BufferedRunLogStore(RunLogStore):
    service_name = "buffered"
    keeps_runs = False
    lazy_starts = True  # nothing is written: a step's start is made when the run is read (begin_step)

    def location(self, run_id: str) -> str:
        return "not kept (the buffered store holds runs in memory only; --json prints the run log)"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self._finished: dict[str, RunLog] = {}  # runs closed in this process, readable while it lives

    def _persist(self, run_id: str, *, final: bool = False) -> None:
        pass

    def _forget(self, run_id: str) -> None:
        # Keep finished runs readable for the life of the process.
        self._finished[run_id] = self.get_run(run_id)
        super()._forget(run_id)

    def _read(self, run_id: str) -> RunLog | None:
        return self._finished.get(run_id)

    def list_run_ids(self) -> list[str]:
        return list(self._live) + list(self._finished)
