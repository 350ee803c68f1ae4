"""The data catalog: files a step gets before it runs and puts after, each recorded with its SHA256.

A record's `name` is the file's path relative to the compute data folder, the same in its put and its get
entries; the file is kept at `<catalog_location>/<run_id>/<name>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator

from magnus_core import jsonio as json
from magnus_core.capture import DEFAULT_CAP, NEW_FILE, parse_size
from magnus_core.errors import ConfigError, StepError, UsageError
from magnus_core.files import atomic_copy, atomic_write_stream, file_hash, is_temp, replace
from magnus_core.models.run_log import DataCatalog, RunLog
from magnus_core.paths import check_no_nul, check_relative, check_run_id, inside, is_within, own_folder
from magnus_core.registry import load_provider, parse_options

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.secrets import BaseSecrets

# opens, for reading, what a catalog holds of a file still being written (BaseCatalog.live_output)
LiveOpener = Callable[[], contextlib.AbstractContextManager[BinaryIO]]

log = logging.getLogger("magnus")


class CatalogError(StepError):
    """A catalog get or put cannot be done as asked; nothing was copied."""


class BaseCatalog:
    service_name = "base"
    # record the names a step is about to put before copying them: where a killed step is retried in the
    # same run (the per-step entry point turns it on), so the retry may replace what the killed try put
    write_ahead = False

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.ctx: RunContext | None = None

    def bind(self, ctx: RunContext) -> None:
        """Attach the catalog to the run it copies files for (its run id names the catalog folder)."""
        self.ctx = ctx

    @property
    def run_id(self) -> str:
        """The run the catalog is bound to; only a bound catalog copies files."""
        assert self.ctx is not None, "bind(ctx) comes before any get or put"
        return self.ctx.run_id

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def use_secrets(self, provider: Callable[[], Any]) -> None:
        """Outside a run (reading a run's captured output: logs.catalog_of), a catalog that takes a
        credential from the secrets provider makes it with `provider()` when it first needs it. A folder
        needs none: the default does nothing."""
        return None

    def credentials(self, secrets: BaseSecrets | None = None) -> dict[str, str]:
        """{what: value} of the credentials this catalog uses to reach its storage (`secrets`: the run's
        provider, for credentials named in the config): masked in everything a run writes. A folder: {}."""
        return {}

    def output_cap(self) -> int | None:
        """Bytes of a step's output kept per attempt as this catalog's config sets them (`output_cap`);
        None: not set here (capture.output_cap then uses MAGNUS_OUTPUT_CAP or its default)."""
        return None

    def check(self, secrets: BaseSecrets | None = None) -> None:
        """Before a run writes anything: the catalog's place can be reached with these credentials.
        Raises ConfigError naming the config field at fault. A local folder has nothing to check here
        (`folders` are checked for writing by the runner)."""

    def get_patterns(
        self, patterns: list[str], folder: str | None, *, destination: str | None = None
    ) -> list[DataCatalog]:
        return []

    def put_patterns(
        self, patterns: list[str], folder: str | None, *, branch: str | None = None, step: str = ""
    ) -> list[DataCatalog]:
        """Copy the data folder's files matching `patterns` into the run's catalog; `branch`: the internal
        name of the branch the putting step runs in (None: the top level); `step`: the putting step's
        internal name (a retry of that step may replace what a killed earlier try of it put)."""
        return []

    def put_path(self, filepath: str, *, branch: str | None = None) -> list[DataCatalog]:
        return []

    def conflicts_under(self, step: str) -> list[str]:
        """Messages for catalog names two branches of composite step `step` both put (its fan-in fails
        the step with them); a catalog that copies nothing has none."""
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
    # Whether its own files are on this machine's disk (a folder): an attempt's output is then written in
    # place as the attempt ends (tens of microseconds: capture.AttemptFile.finish), not handed to the
    # background keeper thread that uploads to an object store while the next step runs.
    output_nearby = False

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

    def put_bytes(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str | None = None,
        *,
        digest: str | None = None,
        later: Callable[[str, bytes | bytearray], bool] | None = None,
    ) -> DataCatalog:
        """Store `data` (a step's output held in memory) as `name` in a run's catalog (put_stream of it);
        `digest`: its SHA256 when the caller has it (capture hashed the bytes); `later`: see the
        file-system catalog's (a catalog elsewhere ignores it)."""
        import io

        return self.put_stream(name, io.BytesIO(data), run_id)

    def put_output(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str,
        digest: str,
        *,
        later: Callable[[str, bytes | bytearray], bool] | None = None,
    ) -> tuple[str, str]:
        """put_bytes of an attempt's output (capture.AttemptFile.finish), whose record is the attempt's,
        not a data catalog record: (catalog_relative_path, catalog_handler_location) of the file."""
        where = self.put_bytes(name, data, run_id, digest=digest, later=later)
        return where.catalog_relative_path, where.catalog_handler_location

    def fresh_outputs(self, run_id: str) -> tuple[object, str, str, str] | None:
        """Where run `run_id`'s output files go when this process made their folder (every name in it is
        new: nothing to look up, nothing to check but that a name is a plain file name, as output_name
        makes them): (what the catalog is bound to, checked by the caller as the same still; the folder's
        path and a separator; `<run_id>/`, what a record's catalog_relative_path begins with; the
        record's catalog_handler_location). None otherwise (no such folder, a catalog that is no folder):
        put_output then. capture.AttemptFile keeps the usual attempt's output so (session 11)."""
        return None

    def file_record(self, name: str, digest: str, run_id: str) -> DataCatalog:
        """The record of catalog file `name` of run `run_id` whose SHA256 is `digest` (where it is kept),
        without touching the file. CatalogError when this catalog keeps nothing."""
        raise CatalogError(f"the {self.service_name} catalog keeps no files")

    def open_file(self, run_id: str, name: str) -> BinaryIO:
        """A catalog file opened for reading (binary); CatalogError when there is none by that name."""
        raise CatalogError(f"the {self.service_name} catalog keeps no files")

    def live_file(self, run_id: str, name: str) -> Path | None:
        """The growing spool of catalog file `name` while it is written (None: none, or not visible here)."""
        return None

    def live_output(self, run_id: str, name: str, *, within: float = 0.0) -> LiveOpener | None:
        """What a catalog that cannot show the growing spool (live_file) holds of it while it is written:
        an opener of what reached the catalog so far, as one binary file from its start (an object store:
        the pieces its writer pushed, catalog_fsspec._Pusher); None when it holds nothing of it. `within`:
        seconds for which what this process found last may be given again instead of asking the catalog."""
        return None

    def sync_from(self, original: RunLog, run_id: str) -> list[str]:
        """Copy the original run's catalog into run `run_id`'s; returns the names it could not copy."""
        return []


class DoNothingCatalog(BaseCatalog):
    service_name = "do-nothing"


class OutputOptions(BaseModel):
    """The option of every catalog that keeps steps' output: `output_cap`, the bytes kept per attempt
    (capture.py; `100MB`, `512KB`, a number; MAGNUS_OUTPUT_CAP wins over it)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)
    output_cap: int = DEFAULT_CAP

    @field_validator("output_cap", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        try:
            return parse_size(value, "output_cap")
        except UsageError:
            raise ValueError(f"expected a size such as 100MB, 512KB or 1048576, got {value!r}") from None


class _FileSystemOptions(OutputOptions):
    catalog_location: str = ".catalog"
    compute_data_folder: str = "data"


def checked_destination(location: Path, run_id: str, name: str) -> Path:
    """`location/run_id/name` resolved, for writing catalog file `name` of run `run_id` into a local catalog
    at `location` (the file-system catalog, the fsspec catalog on a local path). `location/run_id` must be
    a folder of its own (paths.own_folder: not a link, not even to another run's folder) and `name` must
    resolve inside it, links followed; otherwise CatalogError (the step fails, nothing is copied).
    `location` itself may be a link (a catalog kept on another disk)."""
    folder = own_folder(
        location, check_run_id(run_id), what=f"catalog folder of run '{run_id}'", error=CatalogError
    )
    dest = inside(folder / name, folder, what=f"catalog file '{name}'", error=CatalogError)
    if dest == folder:
        raise CatalogError(f"catalog file '{name}' names the run's catalog folder itself")
    return dest


def refuse_secret_names(names: Iterable[str], ctx: RunContext | None) -> None:
    """A file whose name holds a secret value is not put in the catalog: its name would be a file name in
    the catalog and a record in the run log, and masking it would break every later get. CatalogError
    (the step fails) naming it masked; nothing is copied. An unbound catalog (no run) knows no secret."""
    if ctx is None:
        return
    for name in names:
        shown = ctx.mask(name)
        if shown != name:
            raise CatalogError(
                f"catalog put: the file name '{shown}' holds a secret value; a catalog file's name is "
                "kept in the run log and the catalog, so rename the file; nothing was copied"
            )


# Names under this folder of a run's catalog are magnus's own files (the steps' captured output): never a
# data file, never matched by a catalog pattern, never put or got by a step, never copied by a re-run.
RESERVED = ".magnus"


LIVE = ".live"  # suffix of an output file still being written (see BaseCatalog.output_spool)
OUTPUT_FOLDER = f"{RESERVED}/output"  # where output_name puts every attempt's output, one folder per run
_OUTPUT_PREFIX = f"{OUTPUT_FOLDER}/"
_OUTPUT_PREFIX_SIZE = len(_OUTPUT_PREFIX)
CHUNK = 1 << 20  # bytes copied at a time by put_stream


def output_name(internal_name: str, attempt: int) -> str:
    """The catalog name of one attempt's captured output: `.magnus/output/<step>.<attempt>.log`, the step's
    internal name escaped so that any name (map items hold any text) is one exact file name (one folder for
    every step: no folder is made per step). Asked once per attempt, each time for a name not asked before:
    not cached (an lru_cache missed every time, and kept two objects per attempt for the garbage collector
    to walk)."""
    if _UNESCAPED.fullmatch(internal_name) and internal_name not in (".", ".."):
        return f"{_OUTPUT_PREFIX}{internal_name}.{attempt}.log"
    return f"{_OUTPUT_PREFIX}{_quoted(internal_name)}.{attempt}.log"


def _intent_name(step: str) -> str:
    """`.magnus/puts/<step>.json` in a run's catalog: the names `step` puts, written before it copies them.
    A try of the step killed between its put and its commit (crash safety: its results are not committed)
    leaves files no committed record names; a retry of the same step in the same run (the per-step entry
    point, retried by an engine) replaces them, whatever their content. Files any other step or the user
    put stay protected. Only with `write_ahead` (single.py sets it: a run in one process is never retried
    in place; a re-run is a new run)."""
    return f"{RESERVED}/puts/{_escaped(step)}.json"


_UNESCAPED = re.compile(r"[A-Za-z0-9_.\-]{1,200}")  # names quote() below leaves as they are


def _escaped(internal_name: str) -> str:
    if _UNESCAPED.fullmatch(internal_name) and internal_name not in (".", ".."):
        return internal_name  # (most step names: asked once per attempt, quote() is the cost)
    return _quoted(internal_name)


def _quoted(internal_name: str) -> str:
    escaped = quote(internal_name, safe="-_.").replace("~", "%7E")
    if len(escaped) > 200 or escaped in (".", ".."):  # file-name limits; the hash keeps it exact
        digest = hashlib.sha1(internal_name.encode("utf-8")).hexdigest()
        escaped = f"{escaped[:150]}~{digest}"
    return escaped


def _plain_file_name(name: str) -> bool:
    """One file name that stays in its folder: not empty, not '.' or '..', no slash, no NUL."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _write_new(path: str, data: bytes | bytearray) -> None:
    """`path` holds `data` (created or truncated). A link planted at `path` is not followed (OSError
    ELOOP): magnus's own files are written only where magnus put them."""
    fd = os.open(path, NEW_FILE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def is_reserved(name: str) -> bool:
    """A catalog name (posix, relative to the run's folder) of magnus's own files (see RESERVED)."""
    return name == RESERVED or name.startswith(RESERVED + "/")


def _data_files(paths: list[Path], base: Path) -> list[Path]:
    """Files a catalog pattern may match: not a half-done copy, not under the reserved folder."""
    return [
        p for p in paths if p.is_file() and not is_temp(p) and not is_reserved(p.relative_to(base).as_posix())
    ]


class FileSystemCatalog(BaseCatalog):
    service_name = "file-system"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(_FileSystemOptions, self.config, "catalog")
        check_relative(self.options.compute_data_folder, "catalog.config.compute_data_folder")
        check_no_nul(
            self.options.compute_data_folder,
            what="compute_data_folder",
            field="catalog.config.compute_data_folder",
            error=ConfigError,
        )
        self._init_state()

    def _init_state(self) -> None:
        """What a catalog keeps while a run goes on (the fsspec catalog, a subclass, shares it)."""
        self.root = Path.cwd()
        # names copied from the original run by a re-run: a step that runs again may replace them (the
        # original's own copies stay in its folder); anything this run put itself is never overwritten
        self.inherited: set[str] = set()
        self._lock = threading.Lock()  # concurrent branches: the overwrite check and the copy go together
        self._made: set[Path] = set()  # folders of magnus's own files made by this process
        self._outputs: dict[tuple[Path, str], str] = {}  # (root, run) -> its checked output folder
        self._new_outputs: set[str] = set()  # output folders this process made: no file in them but its own
        # run -> (root, the output folder this process made with its separator, the run id with its slash)
        self._fresh: dict[str, tuple[Path, str, str]] = {}
        self.owners: dict[str, str | None] = {}  # name -> the branch that put it first (None: top level)
        self.conflicts: list[tuple[str, str, str]] = []  # (name, branch, branch) put by sibling branches

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.root = Path.cwd()

    # -- where things are ---------------------------------------------------------------------------
    def folders(self) -> list[tuple[Path, str]]:
        return [(self.location, "catalog.config.catalog_location")]

    @property
    def location(self) -> Path:
        return self.root / self.options.catalog_location

    def output_cap(self) -> int | None:
        return self.options.output_cap

    def run_folder(self, run_id: str) -> Path:
        """`<catalog_location>/<run_id>` (the run id is checked: a run log read from disk names it)."""
        return self.location / check_run_id(run_id)

    def destination(self, run_id: str, name: str) -> Path:
        """Where catalog file `name` of run `run_id` is written, resolved: inside the run's catalog folder
        (symlinks followed), which is a folder of its own in the catalog location, not a link. A link
        planted as the run's folder, or as a sub-folder of it, leading elsewhere is refused (CatalogError:
        the step fails, nothing is copied). The catalog location itself may be a link (a catalog kept on
        another disk)."""
        return checked_destination(self.location, run_id, name)

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
        run_id = self.run_id
        if destination is not None:
            check_relative(destination, "destination folder")
            target = self.root / destination
        else:
            target = self.data_folder(folder)
        plan: list[str] = []
        for pattern in patterns:
            check_relative(pattern, "catalog pattern")
            matches = self._matches(run_id, pattern)
            if not matches:
                raise CatalogError(
                    f"catalog get: no file in the catalog of run '{run_id}' matches '{pattern}'"
                )
            plan.extend(name for name in matches if name not in plan)
        for name in plan:
            dest = target / name
            if not is_within(dest.parent if not dest.exists() else dest, self.root):
                raise CatalogError(
                    f"catalog get: '{name}' would be written outside the working folder; nothing was copied"
                )
        records = []
        for name in plan:
            try:
                digest = self._fetch(run_id, name, target / name)
            except OSError as exc:
                raise _copy_error(
                    "get",
                    exc,
                    "the step's catalog.compute_data_folder or catalog.config.compute_data_folder",
                    name,
                    (target / name).parent,
                    self.run_folder(run_id) / name,
                ) from None
            records.append(self._record(name, digest, "get", run_id))
        return records

    # -- what the catalog holds (the fsspec catalog keeps the same things elsewhere) -------------------
    def _matches(self, run_id: str, pattern: str) -> list[str]:
        """Names of the data files of run `run_id`'s catalog matching `pattern`, sorted; CatalogError for a
        match that leaves the catalog (a link pointing outside)."""
        source = self.run_folder(run_id)
        names = []
        for path in self.glob(source, pattern, put=False):
            if not is_within(path, source):
                raise CatalogError(
                    f"catalog get: '{path.relative_to(source).as_posix()}' points outside "
                    "the catalog; nothing was copied"
                )
            names.append(path.relative_to(source).as_posix())
        return names

    def _fetch(self, run_id: str, name: str, dest: Path) -> str:
        """Copy a catalog file to `dest` (whole or not at all); the SHA256 of what was copied."""
        return atomic_copy(self.run_folder(run_id) / name, dest)

    def _stored_hash(self, run_id: str, name: str) -> str | None:
        """The SHA256 of a file in the catalog, or None if there is none by that name."""
        path = self.destination(run_id, name)  # where a put would write: checked before anything is copied
        if (path.exists() or path.is_symlink()) and not path.is_file():  # a FIFO would block the hash
            raise CatalogError(
                f"catalog put: '{name}' in the catalog is not a regular file; nothing was copied"
            )
        return file_hash(path) if path.is_file() else None

    def _store(self, source: Path, run_id: str, name: str) -> str:
        """Copy a file into the catalog (whole or not at all); the SHA256 of what the catalog holds."""
        return atomic_copy(source, self.destination(run_id, name))

    def _names(self, run_id: str) -> list[str]:
        """Every data file in run `run_id`'s catalog (not magnus's own, not half-done copies)."""
        source = self.run_folder(run_id)
        if not source.is_dir():
            return []
        paths = [p for p in sorted(source.rglob("*")) if is_within(p, source)]
        return [p.relative_to(source).as_posix() for p in _data_files(paths, source)]

    def _copy(self, from_run: str, to_run: str, name: str) -> None:
        atomic_copy(self.run_folder(from_run) / name, self.destination(to_run, name))

    def _where(self, run_id: str) -> str:
        return str(self.run_folder(run_id))

    # -- put ----------------------------------------------------------------------------------------
    def put_patterns(
        self, patterns: list[str], folder: str | None, *, branch: str | None = None, step: str = ""
    ) -> list[DataCatalog]:
        """Copy every file of the data folder matching the patterns into this run's catalog. `branch`: the
        branch the putting step runs in (None: the top level, or the current step's scope); `step`: the
        putting step (default: the current step's scope)."""
        base = self.data_folder(folder)
        plan: dict[str, Path] = {}
        for pattern in patterns:
            check_relative(pattern, "catalog pattern")
            matches = self.glob(base, pattern)
            self._refuse_own(base, pattern, matches, "put")
            if not matches:
                log.warning("catalog put: nothing in '%s' matches '%s'", base.relative_to(self.root), pattern)
            for path in matches:
                name = path.relative_to(base).as_posix()
                if not is_within(path, self.root):
                    raise CatalogError(
                        f"catalog put: '{name}' is a link pointing outside the working folder; "
                        "nothing was copied"
                    )
                plan[name] = path
        return self._put(plan, branch, step)

    def put_path(self, filepath: str, *, branch: str | None = None) -> list[DataCatalog]:
        """put_in_catalog(filepath): a file (or glob) relative to the working folder. Inside the compute data
        folder its name is relative to that folder; elsewhere it is the file name, as the original did."""
        posix = check_relative(filepath, "catalog path")
        data_text = PurePosixPath(self.options.compute_data_folder.replace("\\", "/")).as_posix()
        if posix.startswith(data_text.rstrip("/") + "/"):
            return self.put_patterns([posix[len(data_text.rstrip("/")) + 1 :]], None, branch=branch)
        parent, _, pattern = posix.rpartition("/")
        base = self.root / parent if parent else self.root
        plan: dict[str, Path] = {}
        matches = self.glob(base, pattern)
        self._refuse_own(base, pattern, matches, "put")
        if not matches:
            raise CatalogError(f"catalog put: no file matches '{filepath}'")
        for path in matches:
            if not is_within(path, self.root):
                raise CatalogError(
                    f"catalog put: '{path.name}' is a link pointing outside the working folder; "
                    "nothing was copied"
                )
            plan[path.name] = path
        return self._put(plan, branch)

    # -- magnus's own files ---------------------------------------------------------------------------
    keeps_output = True
    output_nearby = True

    def _writable(self, run_id: str, name: str) -> str:
        """Where magnus's own file `name` of run `run_id` is written, its folder made. A step's output
        (`.magnus/output/<file>`, one plain file name: output_name) costs a dictionary look-up: the run's
        output folder is checked (checked_destination: a folder of its own, no link leading out of the
        run's folder) and made once per run, not at every attempt, and the file itself is opened without
        following a link (_write_new). Any other name is checked in full (_own_path)."""
        folder, _, file = name.rpartition("/")
        if folder == OUTPUT_FOLDER and _plain_file_name(file):
            key = (self.root, run_id)
            made = self._outputs.get(key)
            if made is None:
                checked = checked_destination(self.location, run_id, OUTPUT_FOLDER)
                checked.parent.mkdir(parents=True, exist_ok=True)
                try:
                    checked.mkdir()
                    self._new_outputs.add(str(checked))
                    self._fresh[run_id] = (self.root, f"{checked}{os.sep}", f"{run_id}/")
                except FileExistsError:  # an earlier process of the run (the per-step entry point)
                    pass
                made = self._outputs[key] = str(checked)
            return f"{made}{os.sep}{file}"
        path = self._own_path(run_id, name)
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        return str(path)

    def output_spool(self, run_id: str, name: str) -> Path | None:
        return Path(self._writable(run_id, name + LIVE))

    def file_record(self, name: str, digest: str, run_id: str) -> DataCatalog:
        return self._record(name, digest, "put", run_id)

    def put_bytes(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str | None = None,
        *,
        digest: str | None = None,
        later: Callable[[str, bytes | bytearray], bool] | None = None,
    ) -> DataCatalog:
        """Written in place, in one go (no temporary name: for a few bytes the rename would cost as much as
        the write; a file cut short by a kill differs from its attempt's recorded size and SHA256).

        `later(path, data)`, when given, may take the write over (capture's writer thread: True) for a file
        that is not there yet; a name already taken (a retried step's file, a link planted there) is written
        now, so that what refuses it (ELOOP: a link is never followed) is raised here, to the caller. In an
        output folder this process made, every name is new (one per attempt): nothing is looked up."""
        run_id = run_id or self.run_id
        self._put_new(name, data, run_id, later)
        return self._record(name, digest or hashlib.sha256(data).hexdigest(), "put", run_id)

    def fresh_outputs(self, run_id: str) -> tuple[object, str, str, str] | None:
        fresh = self._fresh.get(run_id)
        if fresh is None or fresh[0] is not self.root:
            return None
        return fresh[0], fresh[1], fresh[2], self.options.catalog_location

    def put_output(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str,
        digest: str,
        *,
        later: Callable[[str, bytes | bytearray], bool] | None = None,
    ) -> tuple[str, str]:
        # (no DataCatalog made: a validated model per attempt; once per printing attempt, so no string is
        # split or formatted but the file's path and the record's)
        fresh = self._fresh.get(run_id)
        if fresh is not None and fresh[0] is self.root and name.startswith(_OUTPUT_PREFIX):
            file = name[_OUTPUT_PREFIX_SIZE:]
            if "/" not in file and "\\" not in file and "\0" not in file and file not in ("", ".", ".."):
                # an output folder this process made (checked then): every name in it is new, nothing to
                # look up (_plain_file_name, inline)
                path = fresh[1] + file
                if later is None or not later(path, data):
                    _write_new(path, data)
                return fresh[2] + name, self.options.catalog_location
        self._put_new(name, data, run_id, later)
        return f"{run_id}/{name}", self.options.catalog_location

    def _put_new(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str,
        later: Callable[[str, bytes | bytearray], bool] | None,
    ) -> None:
        path = self._writable(run_id, name)
        if (
            later is None
            or (path.rpartition(os.sep)[0] not in self._new_outputs and os.path.lexists(path))
            or not later(path, data)
        ):
            _write_new(path, data)

    def keep_spool(self, spool: Path, name: str, digest: str, run_id: str) -> DataCatalog:
        dest = self._writable(run_id, name)
        if os.path.dirname(spool) == os.path.dirname(dest):  # written in place: a rename, not a copy
            replace(spool, dest)
            return self._record(name, digest, "put", run_id)
        return super().keep_spool(spool, name, digest, run_id)

    def put_stream(self, name: str, stream: BinaryIO, run_id: str | None = None) -> DataCatalog:
        run_id = run_id or self.run_id
        digest = atomic_write_stream(self._own_path(run_id, name), stream, CHUNK)
        return self._record(name, digest, "put", run_id)

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
        return self.destination(run_id, check_relative(name, "catalog name"))

    def _put(self, plan: dict[str, Path], branch: str | None = None, step: str = "") -> list[DataCatalog]:
        owner = branch if branch is not None else _scope_branch()
        with self._lock:
            self._claim(plan, owner)
            try:
                return self._put_locked(plan, step or _scope_step())
            except OSError as exc:
                raise _copy_error("put", exc, "catalog.config.catalog_location") from None

    # -- which branch owns a name -------------------------------------------------------------------
    def _claim(self, plan: dict[str, Path], owner: str | None) -> None:
        """A catalog name belongs to one branch: put again from a sibling branch (two branches of a parallel
        step, two items of a map), it is refused whatever the content, so the outcome is the same whether the
        branches ran one after the other or at the same time (they share the data folder, so a put's content
        may be the other branch's file). Put again on the same path of the graph (the top level then inside a
        branch, or two steps of one branch), the content rule of _put_locked decides."""
        for name in plan:
            first = self.owners.get(name, owner)
            if first != owner and not (_contains(first, owner) or _contains(owner, first)):
                pair = sorted([first or "(top level)", owner or "(top level)"])
                self.conflicts.append((name, pair[0], pair[1]))
                other = first or "(top level)"
                raise CatalogError(
                    f"catalog put: '{name}' is also put by branch '{other}'; two branches of one parallel "
                    "or map step must not put the same name (name each branch's files apart, e.g. "
                    "put_in_catalog(f'data/out_{item}.csv'))"
                )
        for name in plan:
            self.owners.setdefault(name, owner)

    def conflicts_under(self, step: str) -> list[str]:
        """Messages for names two branches of composite step `step` both put (for its fan-in: the same
        message whichever branch came second)."""
        prefix = f"{step}."
        return sorted(
            {
                f"'{name}' put by branches '{a}' and '{b}'"
                for name, a, b in self.conflicts
                if a.startswith(prefix) and b.startswith(prefix)
            }
        )

    # -- matching files -----------------------------------------------------------------------------
    def own_folders(self) -> set[Path]:
        """magnus's own folders, never matched by a put or get pattern: this catalog's location, the run-log
        store's folders (and both default names, which earlier runs may have left)."""
        folders = {self.location, self.root / ".catalog", self.root / ".run_log_store"}
        if self.ctx is not None:
            folders.update(Path(folder) for folder, _ in self.ctx.store.folders())
        resolved = set()
        for folder in folders:
            with contextlib.suppress(OSError, RuntimeError):
                resolved.add((folder if folder.is_absolute() else self.root / folder).resolve())
        return resolved

    def glob(self, base: Path, pattern: str, *, put: bool = True) -> list[Path]:
        """Files under `base` matching `pattern` (pathlib's glob; `**` any depth), sorted, never inside
        magnus's own folders (own_folders), a `.git` folder or a virtual environment (a folder holding
        pyvenv.cfg), and never a copy a killed run left half-done. Those folders are not even walked. For a
        put, a `base` that is itself in one of them matches nothing (a get reads from the catalog)."""
        if not base.is_dir():
            return []
        own = self.own_folders()
        if put and _is_or_in_own(base, own, self.root):
            return []
        if "**" not in pattern:
            found = _data_files(sorted(base.glob(pattern)), base)
            return [p for p in found if not _in_own_folder(p, base, own)]
        regex = _glob_regex(pattern)
        out = []
        for folder, dirs, files in os.walk(base):
            here = Path(folder)
            rel = here.relative_to(base).as_posix()
            # magnus's own files of a run (its steps' output) are not even walked
            dirs[:] = sorted(
                d for d in dirs if not _own_folder(here / d, own) and not (rel == "." and d == RESERVED)
            )
            for name in files:
                path = here / name
                if regex.fullmatch(name if rel == "." else f"{rel}/{name}"):
                    out.append(path)
        return _data_files(sorted(out), base)

    def _refuse_own(self, base: Path, pattern: str, matches: list[Path], what: str) -> None:
        """A pattern naming one file (no wildcard) inside magnus's own folders is refused, not ignored."""
        if matches or any(ch in pattern for ch in "*?["):
            return
        path = base / pattern
        own = self.own_folders()
        if path.is_file() and (_is_or_in_own(base, own, self.root) or _in_own_folder(path, base, own)):
            raise CatalogError(
                f"catalog {what}: '{pattern}' is inside one of magnus's own folders (the catalog, the "
                "run-log store, .git or a virtual environment), which the catalog never copies"
            )

    def _put_locked(self, plan: dict[str, Path], step: str = "") -> list[DataCatalog]:
        run_id = self.run_id
        refuse_secret_names(plan, self.ctx)
        # what an earlier try of this step (killed between its put and its commit) may have left
        own = self._intent(run_id, step)
        # check everything before copying anything (every destination stays in the run's catalog folder,
        # links included: _stored_hash); only a name already in the catalog needs hashing twice
        hashes: dict[str, str] = {}
        for name, path in plan.items():
            if name in self.inherited or name in own:
                continue
            stored = self._stored_hash(run_id, name)
            if stored is None:
                continue
            if stored != file_hash(path):
                raise CatalogError(
                    f"catalog put: '{name}' is already in the catalog of run '{run_id}' with "
                    "different content; a catalog file is never overwritten"
                )
            hashes[name] = stored
        if self.write_ahead and step and plan and not set(plan) <= own:  # a retry may replace them
            names = json.dumps(sorted(own | set(plan))).encode("utf-8")
            self.put_stream(_intent_name(step), io.BytesIO(names), run_id)
        records = []
        for name, path in plan.items():
            try:
                digest = hashes[name] if name in hashes else self._store(path, run_id, name)
            except OSError as exc:  # the system refused the copy: name the file and the folder it went to
                folder = self.destination(run_id, name).parent
                raise _copy_error("put", exc, "catalog.config.catalog_location", name, folder, path) from None
            self.inherited.discard(name)
            records.append(self._record(name, digest, "put", run_id))
        return records

    def _intent(self, run_id: str, step: str) -> set[str]:
        """The names a try of `step` in this run said it was about to put (see _intent_name)."""
        if not (self.write_ahead and step):
            return set()
        try:
            with self.open_file(run_id, _intent_name(step)) as handle:
                return set(json.load(handle))
        except (CatalogError, OSError, ValueError, TypeError):
            return set()

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
        files = self._original_files(original)
        held = set(self._names(original.run_id))
        problems = []
        missing = [n for n in files if n not in held]
        if missing:
            problems.append(
                f"catalog files of run '{original.run_id}' are missing from {self._where(original.run_id)}: "
                + ", ".join(sorted(missing)[:20])
                + (" ..." if len(missing) > 20 else "")
            )
        changed = [
            n for n, h in files.items() if n in held and h and self._stored_hash(original.run_id, n) != h
        ]
        if changed:
            problems.append(
                f"catalog files of run '{original.run_id}' changed since it ran (SHA256 differs): "
                + ", ".join(sorted(changed)[:20])
            )
        return problems

    def sync_from(self, original: RunLog, run_id: str) -> list[str]:
        """Copy files only (the original tool globbed folders too and crashed with IsADirectoryError)."""
        for name in self._names(original.run_id):
            try:
                self._copy(original.run_id, run_id, name)
            except OSError as exc:  # permission denied, a full disk: the re-run stops naming file and folder
                raise _copy_error(
                    f"copy from run '{original.run_id}'",
                    exc,
                    "catalog.config.catalog_location",
                    name,
                    self.destination(run_id, name).parent,
                    self.run_folder(original.run_id) / name,
                ) from None
            self.inherited.add(name)
        held = set(self._names(run_id))
        return [n for n in self._original_files(original) if n not in held]


def _own_folder(folder: Path, own: set[Path]) -> bool:
    if folder.name == ".git" or (folder / "pyvenv.cfg").is_file():
        return True
    with contextlib.suppress(OSError, RuntimeError):
        return folder.resolve() in own
    return False


def _is_or_in_own(folder: Path, own: set[Path], root: Path) -> bool:
    """Is `folder` one of magnus's own folders or inside one, or inside a .git folder or a virtual
    environment below the working folder `root`?"""
    with contextlib.suppress(OSError, RuntimeError):
        resolved, top = folder.resolve(), root.resolve()
        below = [f for f in (resolved, *resolved.parents) if top in f.parents]
        if any(f.name == ".git" or (f / "pyvenv.cfg").is_file() for f in below):
            return True
        return any(root_ == resolved or root_ in resolved.parents for root_ in own)
    return False


def _in_own_folder(path: Path, base: Path, own: set[Path]) -> bool:
    """Is `path` (a file under `base`) inside a folder below `base` that the catalog never copies? (A get
    reads from the run's folder inside the catalog: only what lies below `base` counts.)"""
    folder = path.parent
    while folder != base and base in folder.parents:
        if _own_folder(folder, own):
            return True
        folder = folder.parent
    with contextlib.suppress(OSError, RuntimeError):
        resolved, top = path.resolve(), base.resolve()
        return any(root in resolved.parents and top in root.parents for root in own)
    return False


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob with `**` as a regex on '/'-separated relative paths: `*` and `?` stay within one name,
    `**/` is any number of folders, a final `**` everything below."""
    parts = pattern.strip("/").split("/")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_name_regex(part) + ("" if last else "/"))
    return re.compile("".join(out), re.S)


def _name_regex(part: str) -> str:
    """One path component of a glob: `*`, `?` and `[...]` (`[!...]` negated) within a name."""
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        end = part.find("]", i + 2) if ch == "[" else -1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif end != -1:
            body = part[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _scope_step() -> str:
    """The internal name of the step whose command is running now ("" outside one)."""
    from magnus_core.interaction import current_scope

    scope = current_scope()
    return getattr(scope, "internal_name", "") if scope is not None else ""


def _scope_branch() -> str | None:
    from magnus_core.interaction import current_scope

    scope = current_scope()
    return scope.branch if scope is not None else None


def _contains(outer: str | None, inner: str | None) -> bool:
    """Is branch `inner` the same as, or nested in, branch `outer` (None: the top level holds all)?"""
    if outer is None:
        return True
    return inner is not None and (inner == outer or inner.startswith(f"{outer}."))


def _copy_error(
    stage: str,
    exc: OSError,
    key: str,
    name: str | None = None,
    folder: Path | None = None,
    source: Path | None = None,
) -> CatalogError:
    """A copy the system refused (permission denied, a read-only file system, a full disk), as one line for
    the step's error: the catalog file `name`, the `folder` it was being written into (relative to the
    working folder when inside it), the system's reason and the setting that moves the folder; when it was
    reading `source` that failed, that path instead. Nothing half-written is left under the file's final
    name (copies go through a temporary name), so the run can be re-run with --use-cached once the folder
    is fixed."""
    reason = exc.strerror or exc.__class__.__name__
    failed = Path(str(exc.filename)) if exc.filename else None
    if name is None or folder is None:
        return CatalogError(f"catalog {stage}: cannot write '{failed or ''}': {reason} (set {key})")
    if source is not None and failed is not None and failed == source:
        return CatalogError(f"catalog {stage}: cannot read '{_shown(source)}' for '{name}': {reason}")
    return CatalogError(
        f"catalog {stage}: cannot write '{name}' into the folder '{_shown(folder)}': {reason} (fix the "
        f"folder's permissions or set {key}; nothing was written under that name)"
    )


def _shown(folder: Path) -> str:
    """`folder` relative to the working folder when inside it, else as it is."""
    with contextlib.suppress(ValueError):
        return str(folder.relative_to(Path.cwd())) or "."
    return str(folder)


def make_catalog(block: dict[str, Any]) -> BaseCatalog:
    """The catalog a config block names (entry-point group `magnus.catalog`); ConfigError if unknown."""
    catalog: BaseCatalog = load_provider("catalog", block)
    return catalog
