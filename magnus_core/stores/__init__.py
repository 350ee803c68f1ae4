"""Run-log stores: where run logs live. Chosen by the config's `run_log_store.type`."""

from __future__ import annotations

from typing import Any

from magnus_core.registry import load_provider
from magnus_core.stores.base import RunLogStore

BUILTIN = {
    "buffered": "magnus_core.stores.buffered:BufferedRunLogStore",
    "file-system": "magnus_core.stores.file_system:FileSystemRunLogStore",
    "chunked-fs": "magnus_core.stores.chunked:ChunkedFileSystemRunLogStore",
    "postgres": "magnus_core.stores.postgres:PostgresRunLogStore",
}


def make_store(block: dict[str, Any]) -> RunLogStore:
    """The store a config block names, e.g. {"type": "file-system", "config": {"log_folder": "logs"}}."""
    return load_provider("run_log_store", BUILTIN, block)
