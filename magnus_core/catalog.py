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
from typing import Any, BinaryIO
from urllib.parse import quote

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

    # -- magnus's own files (captured output), under the reserved folder ------------------------------
    keeps_output = False  # whether steps' output is kept in this catalog (the do-nothing catalog: no)

    def output_spool(self, run_id: str, name: str) -> Path | None:
        """A local file where a stream bound to become catalog file `name` of run `run_id` is written while it
        is produced, which other processes may read as it grows (`magnus logs --follow`); None when this
        catalog has no such place (the stream is written to a temporary file, then put_stream)."""
        return None

    def keep_spool(self, spool: Path, name: str, digest: str, run_id: str) -> DataCatalog:
        """Make a finished spool file (see output_spool, or any local file) catalog file `name`, whose SHA256
        is `digest`; the spool is gone afterwards. Generic: put_stream from the file."""
        with open(spool, "rb") as handle:
            record = self.put_stream(name, handle, run_id)
        spool.unlink(missing_ok=True)
        return record

    def put_stream(self, name: str, stream: BinaryIO, run_id: str | None = None) -> DataCatalog:
        """Store what `stream` yields (read in chunks) as `name` in a run's catalog (this run's by default);
        the put record. CatalogError when this catalog keeps nothing."""
        raise CatalogError(f"the {self.service_name} catalog keeps no files")

    def open_file(self, run_id: str, name: str) -> BinaryIO:
        """A catalog file opened for reading (binary); CatalogError when there is none by that name."""
        raise CatalogError(f"the {self.service_name} catalog keeps no files")

    def live_file(self, run_id: str, name: str) -> Path | None:
        """The growing spool of catalog file `name` while it is written (None: none, or not visible here)."""
        return None

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


# Names under this folder of a run's catalog are magnus's own files (the steps' captured output): never a
# data file, never matched by a catalog pattern, never put or got by a step, never copied by a re-run.
RESERVED = ".magnus"


LIVE = ".live"  # suffix of an output file still being written (see BaseCatalog.output_spool)
CHUNK = 1 << 20  # bytes copied at a time by put_stream


def output_name(internal_name: str, attempt: int) -> str:
    """The catalog name of one attempt's captured output: `.magnus/output/<step>/<attempt>.log`, the step's
    internal name escaped so that any name (map items hold any text) is one exact file name."""
    escaped = quote(internal_name, safe="-_.").replace("~", "%7E")
    if len(escaped) > 200 or escaped in (".", ".."):  # file-name limits; the hash keeps it exact
        digest = hashlib.sha1(internal_name.encode("utf-8")).hexdigest()
        escaped = f"{escaped[:150]}~{digest}"
    return f"{RESERVED}/output/{escaped}/{attempt}.log"


def is_reserved(name: str) -> bool:
    """A catalog name (posix, relative to the run's folder) of magnus's own files (see RESERVED)."""
    return name == RESERVED or name.startswith(RESERVED + "/")


def _data_files(paths: list[Path], base: Path) -> list[Path]:
    """Files a catalog pattern may match: not a half-done copy, not under the reserved folder."""
    return [
        p
        for p in paths
        if p.is_file() and not _is_temp(p) and not is_reserved(p.relative_to(base).as_posix())
    ]


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
            matches = _data_files(sorted(source.glob(pattern)), source) if source.is_dir() else []
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
            matches = _data_files(sorted(base.glob(pattern)), base) if base.is_dir() else []
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
        matches = _data_files(sorted(base.glob(pattern)), base) if base.is_dir() else []
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

    # -- magnus's own files ---------------------------------------------------------------------------
    keeps_output = True

    def output_spool(self, run_id: str, name: str) -> Path | None:
        path = self._own_path(run_id, name + LIVE)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def keep_spool(self, spool: Path, name: str, digest: str, run_id: str) -> DataCatalog:
        dest = self._own_path(run_id, name)
        if spool.parent == dest.parent:  # written in place: a rename, not a copy
            os.replace(spool, dest)
            return self._record(name, digest, "put", run_id)
        return super().keep_spool(spool, name, digest, run_id)

    def put_stream(self, name: str, stream: BinaryIO, run_id: str | None = None) -> DataCatalog:
        run_id = run_id or self.ctx.run_id
        dest = self._own_path(run_id, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.magnus-{_random.token_hex(4)}.tmp"
        digest = hashlib.new(HASH_ALGORITHM)
        try:
            with open(tmp, "wb") as handle:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self._record(name, digest.hexdigest(), "put", run_id)

    def open_file(self, run_id: str, name: str) -> BinaryIO:
        path = self._own_path(run_id, name)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise CatalogError(f"no file '{name}' in the catalog of run '{run_id}' ({path})") from None
        except OSError as exc:
            raise CatalogError(f"cannot read '{path}': {exc.strerror or exc.__class__.__name__}") from None

    def live_file(self, run_id: str, name: str) -> Path | None:
        path = self._own_path(run_id, name + LIVE)
        return path if path.is_file() else None

    def _own_path(self, run_id: str, name: str) -> Path:
        """Where catalog file `name` of run `run_id` is (run id and name checked: they come from run logs)."""
        from magnus_core.stores.base import check_run_id

        check_run_id(run_id)
        return self.run_folder(run_id) / check_relative(name, "catalog name")

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
                if path in _data_files([path], source) and _inside(path, source):
                    name = path.relative_to(source).as_posix()
                    copy_atomic(path, dest / name)
                    self.inherited.add(name)
        return [n for n in self._original_files(original) if not (dest / n).is_file()]


def make_catalog(block: dict[str, Any]) -> BaseCatalog:
    return load_provider("catalog", BUILTIN, block)
