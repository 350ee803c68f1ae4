"""The data catalog: files a step gets before it runs and puts after, each recorded with its SHA256."""

from __future__ import annotations

from typing import Any

from magnus_core.registry import load_provider

BUILTIN = {
    "do-nothing": "magnus_core.catalog:DoNothingCatalog",
    "file-system": "magnus_core.catalog:FileSystemCatalog",
}


class BaseCatalog:
    service_name = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.ctx: Any = None

    def bind(self, ctx: Any) -> None:
        self.ctx = ctx

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def get_patterns(self, patterns: list[str], folder: str | None) -> list[Any]:
        return []

    def put_patterns(self, patterns: list[str], folder: str | None) -> list[Any]:
        return []


class DoNothingCatalog(BaseCatalog):
    service_name = "do-nothing"


class FileSystemCatalog(BaseCatalog):
    service_name = "file-system"


def make_catalog(block: dict[str, Any]) -> BaseCatalog:
    return load_provider("catalog", BUILTIN, block)
