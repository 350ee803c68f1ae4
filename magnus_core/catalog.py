"""The data catalog: files a step gets before it runs and puts after, each recorded with its SHA256.

A record's `name` is the file's path relative to the compute data folder, the same in its put and its get
entries; the file is kept at `<catalog_location>/<run_id>/<name>`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets as _random
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from magnus_core.errors import StepError, UsageError
from magnus_core.models.run_log import DataCatalog, RunLog
from magnus_core.registry import load_provider, parse_options

log = logging.getLogger("magnus")

BUILTIN = {
    "do-nothing": "magnus_core.catalog:DoNothingCatalog",
    "file-system": "magnus_core.catalog:FileSystemCatalog",
}
HASH_ALGORITHM = "sha256"


class CatalogError(StepError):
    """A catalog get or put cannot be done as asked; nothing was copied."""


class BaseCatalog:
    service_name = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.ctx: Any = None

    def bind(self, ctx: Any) -> None:
        self.ctx = ctx

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def get_patterns(
        self, patterns: list[str], folder: str | None, *, destination: str | None = None
    ) -> list[DataCatalog]:
        return []

    def put_patterns(self, patterns: list[str], folder: str | None) -> list[DataCatalog]:
        return []

    def put_path(self, filepath: str) -> list[DataCatalog]:
        return []

    def check_original(self, original: RunLog, run_id: str | None = None) -> list[str]:
        """Problems with the original run's catalog files (missing or changed); nothing is written."""
        return []

    def folders(self) -> list[tuple[Path, str]]:
        """The local folders this catalog writes into, with the config key that moves each (checked before
        a run starts)."""
        return []

    def sync_from(self, original: RunLog, run_id: str) -> list[str]:
        """Copy the original run's catalog into run `run_id`'s; returns the names it could not copy."""
        return []


class DoNothingCatalog(BaseCatalog):
    service_name = "do-nothing"


class _FileSystemOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalog_location: str = ".catalog"
    compute_data_folder: str = "data"


def file_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, HASH_ALGORITHM).hexdigest()


def copy_atomic(source: Path, dest: Path) -> str:
    """Copy under a temporary name then rename, so a killed run never leaves a half-copied file under its
    final name; returns the SHA256 of the copy (what the catalog holds, not what the source held)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.magnus-{_random.token_hex(4)}.tmp"
    try:
        shutil.copyfile(source, tmp)  # the kernel copies (sendfile/copy_file_range): faster than read+write
        shutil.copymode(source, tmp)
        digest = file_hash(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def _is_temp(path: Path) -> bool:
    """A copy a killed run left half-done (see copy_atomic): never a catalog file."""
    return path.name.startswith(".") and ".magnus-" in path.name and path.name.endswith(".tmp")


def check_relative(text: str, what: str) -> str:
    """A pattern, name or folder that stays inside its base: relative, no '..'; else UsageError."""
    posix = text.replace("\\", "/")
    if not text.strip():
        raise UsageError(f"{what} must not be empty")
    if posix.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UsageError(f"{what} '{text}' must be relative, not absolute")
    if ".." in PurePosixPath(posix).parts:
        raise UsageError(f"{what} '{text}' must not contain '..' (it would leave its folder)")
    return posix


def _inside(path: Path, base: Path) -> bool:
    try:
        path.resolve().relative_to(base.resolve())
        return True
    except ValueError:
        return False


class FileSystemCatalog(BaseCatalog):
    service_name = "file-system"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(_FileSystemOptions, self.config, "catalog")
        check_relative(self.options.compute_data_folder, "catalog.config.compute_data_folder")
        self.root = Path.cwd()
        # names copied from the original run by a re-run: a step that runs again may replace them (the
        # original's own copies stay in its folder); anything this run put itself is never overwritten
        self.inherited: set[str] = set()
        self._lock = threading.Lock()  # concurrent branches: the overwrite check and the copy go together

    def bind(self, ctx: Any) -> None:
        super().bind(ctx)
        self.root = Path.cwd()

    # -- where things are ---------------------------------------------------------------------------
    def folders(self) -> list[tuple[Path, str]]:
        return [(self.location, "catalog.config.catalog_location")]

    @property
    def location(self) -> Path:
        return self.root / self.options.catalog_location

    def run_folder(self, run_id: str) -> Path:
        return self.location / run_id

    def data_folder(self, folder: str | None) -> Path:
        text = folder or self.options.compute_data_folder
        check_relative(text, "compute_data_folder")
        return self.root / text

    def _record(self, name: str, digest: str, stage: str, run_id: str) -> DataCatalog:
        return DataCatalog(
            name=name,
            data_hash=digest,
            catalog_relative_path=f"{run_id}/{name}",
            catalog_handler_location=self.options.catalog_location,
            stage=stage,
        )

    # -- get ----------------------------------------------------------------------------------------
    def get_patterns(
        self, patterns: list[str], folder: str | None, *, destination: str | None = None
    ) -> list[DataCatalog]:
        """Copy every file of this run's catalog matching the patterns into the data folder."""
        run_id = self.ctx.run_id
        source = self.run_folder(run_id)
        if destination is not None:
            check_relative(destination, "destination folder")
            target = self.root / destination
        else:
            target = self.data_folder(folder)
        plan: dict[str, Path] = {}
        for pattern in patterns:
            check_relative(pattern, "catalog pattern")
            matches = (
                [p for p in sorted(source.glob(pattern)) if p.is_file() and not _is_temp(p)]
                if source.is_dir()
                else []
            )
            if not matches:
                raise CatalogError(
                    f"catalog get: no file in the catalog of run '{run_id}' matches '{pattern}'"
                )
            for path in matches:
                if not _inside(path, source):
                    raise CatalogError(
                        f"catalog get: '{path.relative_to(source).as_posix()}' points outside "
                        "the catalog; nothing was copied"
                    )
                plan[path.relative_to(source).as_posix()] = path
        for name in plan:
            dest = target / name
            if not _inside(dest.parent if not dest.exists() else dest, self.root):
                raise CatalogError(
                    f"catalog get: '{name}' would be written outside the working folder; nothing was copied"
                )
        records = []
        for name, path in plan.items():
            digest = copy_atomic(path, target / name)
            records.append(self._record(name, digest, "get", run_id))
        return records

    # -- put ----------------------------------------------------------------------------------------
    def put_patterns(self, patterns: list[str], folder: str | None) -> list[DataCatalog]:
        """Copy every file of the data folder matching the patterns into this run's catalog."""
        base = self.data_folder(folder)
        plan: dict[str, Path] = {}
        for pattern in patterns:
            check_relative(pattern, "catalog pattern")
            matches = (
                [p for p in sorted(base.glob(pattern)) if p.is_file() and not _is_temp(p)]
                if base.is_dir()
                else []
            )
            if not matches:
                log.warning("catalog put: nothing in '%s' matches '%s'", base.relative_to(self.root), pattern)
            for path in matches:
                name = path.relative_to(base).as_posix()
                if not _inside(path, self.root):
                    raise CatalogError(
                        f"catalog put: '{name}' is a link pointing outside the working folder; "
                        "nothing was copied"
                    )
                plan[name] = path
        return self._put(plan)

    def put_path(self, filepath: str) -> list[DataCatalog]:
        """put_in_catalog(filepath): a file (or glob) relative to the working folder. Inside the compute data
        folder its name is relative to that folder; elsewhere it is the file name, as the original did."""
        posix = check_relative(filepath, "catalog path")
        data_text = PurePosixPath(self.options.compute_data_folder.replace("\\", "/")).as_posix()
        if posix.startswith(data_text.rstrip("/") + "/"):
            return self.put_patterns([posix[len(data_text.rstrip("/")) + 1 :]], None)
        parent, _, pattern = posix.rpartition("/")
        base = self.root / parent if parent else self.root
        plan: dict[str, Path] = {}
        matches = (
            [p for p in sorted(base.glob(pattern)) if p.is_file() and not _is_temp(p)]
            if base.is_dir()
            else []
        )
        if not matches:
            raise CatalogError(f"catalog put: no file matches '{filepath}'")
        for path in matches:
            if not _inside(path, self.root):
                raise CatalogError(
                    f"catalog put: '{path.name}' is a link pointing outside the working folder; "
                    "nothing was copied"
                )
            plan[path.name] = path
        return self._put(plan)

    def _put(self, plan: dict[str, Path]) -> list[DataCatalog]:
        with self._lock:
            return self._put_locked(plan)

    def _put_locked(self, plan: dict[str, Path]) -> list[DataCatalog]:
        run_id = self.ctx.run_id
        dest_root = self.run_folder(run_id)
        # check everything before copying anything; only a name already in the catalog needs hashing twice
        hashes = {
            name: file_hash(path)
            for name, path in plan.items()
            if name not in self.inherited and (dest_root / name).exists()
        }
        for name, digest in hashes.items():
            if file_hash(dest_root / name) != digest:
                raise CatalogError(
                    f"catalog put: '{name}' is already in the catalog of run '{run_id}' with "
                    "different content; a catalog file is never overwritten"
                )
        records = []
        for name, path in plan.items():
            dest = dest_root / name
            digest = hashes[name] if name in hashes else copy_atomic(path, dest)
            self.inherited.discard(name)
            records.append(self._record(name, digest, "put", run_id))
        return records

    # -- re-runs ------------------------------------------------------------------------------------
    def _original_files(self, original: RunLog) -> dict[str, str]:
        """name -> hash of every file the original run put in its catalog, from its run log."""
        files: dict[str, str] = {}
        for step in original.walk():
            for record in step.data_catalog:
                if record.stage == "put":
                    files[record.name] = record.data_hash
        return files

    def check_original(self, original: RunLog, run_id: str | None = None) -> list[str]:
        folder = self.run_folder(original.run_id)
        problems = []
        missing = [n for n in self._original_files(original) if not (folder / n).is_file()]
        if missing:
            problems.append(
                f"catalog files of run '{original.run_id}' are missing from {folder}: "
                + ", ".join(sorted(missing)[:20])
                + (" ..." if len(missing) > 20 else "")
            )
        changed = [
            n
            for n, h in self._original_files(original).items()
            if (folder / n).is_file() and h and file_hash(folder / n) != h
        ]
        if changed:
            problems.append(
                f"catalog files of run '{original.run_id}' changed since it ran (SHA256 differs): "
                + ", ".join(sorted(changed)[:20])
            )
        return problems

    def sync_from(self, original: RunLog, run_id: str) -> list[str]:
        """Copy files only (the original tool globbed folders too and crashed with IsADirectoryError)."""
        source = self.run_folder(original.run_id)
        dest = self.run_folder(run_id)
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file() and _inside(path, source) and not _is_temp(path):
                    name = path.relative_to(source).as_posix()
                    copy_atomic(path, dest / name)
                    self.inherited.add(name)
        return [n for n in self._original_files(original) if not (dest / n).is_file()]


def make_catalog(block: dict[str, Any]) -> BaseCatalog:
    return load_provider("catalog", BUILTIN, block)
