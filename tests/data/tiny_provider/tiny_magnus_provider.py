"""A run-log store from outside magnus: the file-system store, writing `<run_id>.tiny.json` files."""

from __future__ import annotations

from pathlib import Path

from magnus_core.stores.base import check_run_id
from magnus_core.stores.file_system import FileSystemRunLogStore


class TinyStore(FileSystemRunLogStore):
    service_name = "tiny"

    def path(self, run_id: str) -> Path:
        return self.folder / f"{check_run_id(run_id)}.tiny.json"

    def list_run_ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.name[: -len(".tiny.json")] for p in self.folder.glob("*.tiny.json")]
