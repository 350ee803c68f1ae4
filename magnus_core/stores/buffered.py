"""The buffered store: run logs in memory only, gone when the process ends."""

from __future__ import annotations

from magnus_core.models.run_log import RunLog
from magnus_core.stores.base import RunLogStore


class BufferedRunLogStore(RunLogStore):
    service_name = "buffered"
    keeps_runs = False

    def location(self, run_id: str) -> str:
        return "not kept (the buffered store holds runs in memory only; --json prints the run log)"

    def _persist(self, run_id: str, *, final: bool = False) -> None:
        pass

    def _forget(self, run_id: str) -> None:
        # Keep finished runs readable for the life of the process.
        self._finished = getattr(self, "_finished", {})
        self._finished[run_id] = self._live.pop(run_id).log

    def _read(self, run_id: str) -> RunLog | None:
        return getattr(self, "_finished", {}).get(run_id)

    def list_run_ids(self) -> list[str]:
        return list(self._live) + list(getattr(self, "_finished", {}))
