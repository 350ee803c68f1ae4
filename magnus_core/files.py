"""Writing files so that readers never see half of one: a temporary file beside the target, then a rename.

Every temporary file magnus makes beside a target is named `.<name>.magnus-<random>.tmp` (`temp_file`), so
that one test, `is_temp`, recognises what a killed process left behind (the catalog never lists it, a
store never reads it).

    atomic_write(path, data)     replace `path` with `data`
    atomic_write_stream(path, s) replace `path` with what stream `s` yields; its SHA256
    atomic_copy(source, dest)    replace `dest` with a copy of `source`; the copy's SHA256
    create_exclusive(path, data) create `path` with `data` unless it exists (FileExistsError)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# os.replace, os.fsync and tempfile.mkstemp as they were when magnus was imported: a python step runs in
# magnus's own process, and one that replaced them (to raise, say) ended magnus in an internal error at its
# next write of the run log, the log unfinished (issue 16, point 4)
_replace = os.replace
_fsync = os.fsync
_mkstemp = tempfile.mkstemp

TEMP_MARK = ".magnus-"
TEMP_SUFFIX = ".tmp"
HASH_ALGORITHM = "sha256"


def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """os.replace as magnus found it at import (see _replace): every rename of magnus's own goes through
    this, never through a replacement a step left in `os` (CI, session 15: a spilled output's rename into
    the catalog raised the step's RuntimeError, an internal error after the run had succeeded). Raises
    OSError as os.replace does."""
    _replace(source, target)


def is_temp(path: Path) -> bool:
    """A temporary file of `temp_file` (a write or copy a killed process did not finish)."""
    name = path.name
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def temp_name(name: str) -> str:
    """The name of a temporary file for target `name` (what `is_temp` recognises), for a write that does
    not go through `temp_file` (a file system reached through fsspec)."""
    return f".{name[:40]}{TEMP_MARK}{secrets.token_hex(4)}{TEMP_SUFFIX}"


@contextlib.contextmanager
def temp_file(target: Path) -> Iterator[tuple[int, Path]]:
    """A new temporary file beside `target` (its folder is created), as (open descriptor, path): the
    caller writes it and renames or links it into place. It is removed if it still exists on exit.
    Like tempfile.mkstemp, it is readable and writable by its owner only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = _mkstemp(dir=target.parent, prefix=f".{target.name[:40]}{TEMP_MARK}", suffix=TEMP_SUFFIX)
    tmp = Path(name)
    try:
        yield fd, tmp
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def naming(target: Path | str) -> Iterator[None]:
    """An OSError of the system inside names `target`, the file as its writer knows it, when it named no
    file (a full disk fails the write itself) or a temporary file of ours (a read-only folder, permission
    denied)."""
    try:
        yield
    except OSError as exc:
        named = [Path(str(f)) for f in (exc.filename, exc.filename2) if f is not None]
        if exc.errno is not None and (not named or any(is_temp(f) for f in named)):
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise


def _write(fd: int, data: bytes | list[bytes], durable: bool) -> None:
    if isinstance(data, list):  # parts written one after the other, never joined in memory
        _write_parts(fd, data)
        if durable:
            _fsync(fd)
        return
    with os.fdopen(os.dup(fd), "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            _fsync(handle.fileno())


def _write_parts(fd: int, parts: list[bytes]) -> None:
    """os.writev of `parts` to `fd`, whole (a short write goes on where it stopped), 1,024 parts a call."""
    pending = [memoryview(part) for part in parts if part]
    while pending:
        done = os.writev(fd, pending[:1024])
        while pending and done >= len(pending[0]):
            done -= len(pending[0])
            pending.pop(0)
        if done:
            pending[0] = pending[0][done:]


def atomic_write(
    path: Path, text: str | bytes | list[bytes], *, durable: bool = False, root: Path | None = None
) -> None:
    """Replace `path` with `text` (UTF-8 when a str; a list of bytes is written part after part, as their
    concatenation): readers see the old content or the new, never half.
    durable=True also fsyncs the data before the rename (a crash right after still finds it).

    The rename replaces a symlink at `path` itself, never the file it points to. With `root`, the folder
    written into must resolve inside `root` (symlinks followed, as paths.inside), else UsageError and
    nothing is written: a link planted as a sub-folder of a store cannot redirect the write elsewhere."""
    if root is not None:
        path = _kept_inside(Path(path), Path(root))
    data = text.encode("utf-8") if isinstance(text, str) else text
    with FD_LOCK, naming(path), temp_file(path) as (fd, tmp):
        _write(fd, data, durable)
        _replace(tmp, path)


def replace_in(folder: str, name: str, data: bytes, *, durable: bool = False) -> None:
    """atomic_write of file `name` in `folder`, a folder the caller has already checked (it exists, and is
    where it should be: chunked-fs checks its run's folders once and then by one lstat per write): no
    folder is resolved or created here. The temporary file is made without following a link (O_EXCL,
    O_NOFOLLOW), written whole, and renamed over `name`; it is removed if anything fails. An OSError names
    the target, as atomic_write's does. A few system calls per part: a run writes two parts per step."""
    target = os.path.join(folder, name)
    tmp = os.path.join(folder, temp_name(name))
    with FD_LOCK, naming(target):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    _fsync(fd)
            finally:
                os.close(fd)
            _replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def kept_inside(folder: Path, root: Path) -> Path:
    """`folder` resolved, which must be `root` (resolved) or below it: what atomic_write(root=...) checks
    of the folder it writes into (UsageError otherwise)."""
    return _kept_inside(folder / "_", root).parent


def _kept_inside(path: Path, root: Path) -> Path:
    """`path` with its folder resolved, which must be `root` (resolved) or below it; UsageError otherwise.
    Both are taken relative to the working folder."""
    from magnus_core.errors import UsageError

    top = root.absolute().resolve()
    try:
        folder = path.parent.absolute().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UsageError(f"folder '{path.parent}' cannot be resolved ({exc})") from None
    if folder != top and top not in folder.parents:
        raise UsageError(
            f"folder '{path.parent}' is outside {top} (refused: it would read or write files that are not "
            "the project's; a symbolic link on the way leads out?)"
        )
    return folder / path.name


def atomic_write_stream(path: Path, stream: BinaryIO, chunk: int = 1 << 20) -> str:
    """Replace `path` with what `stream` yields, read `chunk` bytes at a time (never all in memory), as
    atomic_write does; returns the SHA256 of what was written."""
    digest = hashlib.new(HASH_ALGORITHM)
    with naming(path), temp_file(path) as (fd, tmp):
        with os.fdopen(os.dup(fd), "wb") as handle:
            while data := stream.read(chunk):
                digest.update(data)
                handle.write(data)
        _replace(tmp, path)
    return digest.hexdigest()


def create_exclusive(path: Path, text: str | bytes | list[bytes]) -> None:
    """Create `path` with `text`, complete from the first moment, unless it exists: of two processes
    creating one path at once exactly one succeeds. Raises FileExistsError for the other."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with temp_file(path) as (fd, tmp):
        _write(fd, data, False)
        os.link(tmp, path)


def file_hash(path: Path) -> str:
    """The SHA256 of a file's content, hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, HASH_ALGORITHM).hexdigest()


def atomic_copy(source: Path, dest: Path) -> str:
    """Copy under a temporary name then rename, so a killed run never leaves a half-copied file under its
    final name; returns the SHA256 of the copy (what was written, not what the source held). The copy
    keeps the source's permission bits. An OSError names `dest` unless it is about `source`."""
    with naming(dest), temp_file(dest) as (_, tmp):
        shutil.copyfile(source, tmp)  # the kernel copies (sendfile/copy_file_range): faster than read+write
        shutil.copymode(source, tmp)
        digest = file_hash(tmp)
        _replace(tmp, dest)
    return digest


# -- magnus's own file descriptors -------------------------------------------------------------------------
# The descriptors magnus keeps open while a run runs (the terminal it prints to, the run's fatal and held
# files, the pipes to its writer and watcher processes): fd -> (st_dev, st_ino, what it is). A step's
# os.closerange(3, 21), as daemon-making code does, closed them all: magnus lost its terminal and exited 2,
# and the pipe's number, taken by the step's next file, got the watcher's lines (trial 17 F1). While a step
# runs, os.close and os.closerange leave these open (stepguard._guarded_close), said once each.
OWN_FDS: dict[int, tuple[int, int, str]] = {}

# Taken around magnus's short-lived descriptors that a run cannot do without (the run log's journal line,
# the store's whole-file write: open, write, close) and around a step's os.close/os.closerange
# (stepguard): a step in one branch thread closing descriptors it did not open (`os.closerange(3, 100)`)
# closed the journal's between its open and its write in another branch's thread, and the run stopped on
# "Bad file descriptor", blaming the innocent branch (trial 19 F5, about 1 run in 4). Reentrant: magnus's
# own close inside is the guarded one.
FD_LOCK = threading.RLock()


class _Starting(threading.local):
    on = False


# Set while magnus starts a process of its own (the output writer, the watcher, a shell step's command),
# in the thread starting it: output's audit hook tells those from the children a step starts, whose output
# reaches fd 1 and 2 (output._STARTED)
STARTING_OWN = _Starting()


@contextlib.contextmanager
def starting_own() -> Iterator[None]:
    """The block starts a process of magnus's own (STARTING_OWN)."""
    before, STARTING_OWN.on = STARTING_OWN.on, True
    try:
        yield
    finally:
        STARTING_OWN.on = before


HELD = -1  # OWN_FDS's (st_dev, st_ino) of a descriptor registered by hold_own, not looked at


def hold_own(fd: int, what: str) -> None:
    """Register `fd`, which its holder closes with close_own, as one of magnus's own without looking at it
    (own_fd's fstat: half a microsecond, here once a step: the journal's held descriptor)."""
    OWN_FDS[fd] = (HELD, HELD, what)


def own_fd(fd: int, what: str) -> int:
    """Register `fd` as one of magnus's own (OWN_FDS), `what` naming its kind in the warning a step's close
    of it gets (`stdout`, `watcher pipe`: a few words, as that one line lists every descriptor
    kept; issue 16 F5 found it 535 characters long); returns `fd`. One that cannot be looked at is not
    kept."""
    try:
        found = os.fstat(fd)
    except OSError:
        return fd
    OWN_FDS[fd] = (found.st_dev, found.st_ino, what)
    return fd


def owned(fd: int) -> str | None:
    """What magnus's own descriptor `fd` is, or None when it is not one (not registered, or the number now
    names another file: magnus closed its own and the number was given again)."""
    known = OWN_FDS.get(fd)
    if known is None:
        return None
    if known[0] == HELD:  # (hold_own: its holder unregisters it as it closes it)
        return known[2]
    try:
        found = os.fstat(fd)
    except OSError:
        OWN_FDS.pop(fd, None)
        return None
    if (found.st_dev, found.st_ino) != known[:2]:
        OWN_FDS.pop(fd, None)
        return None
    return known[2]


def close_own(fd: int) -> None:
    """Close magnus's own descriptor `fd` (no longer registered; OSError as os.close raises it)."""
    OWN_FDS.pop(fd, None)
    _REAL_CLOSE(fd)


_REAL_CLOSE = os.close


def temp_file_in_tmpdir(prefix: str, suffix: str = "") -> tuple[int, str]:
    """tempfile.mkstemp(prefix=..., suffix=...) in the temporary folder (TMPDIR), made again when a step
    removed it (trial 17 F15: `shutil.rmtree(os.environ["TMPDIR"])` in one step failed every later shell
    step with magnus's own FileNotFoundError, blamed on the step), said once in a warning. When something
    else stands where it was (a file a step left at that path) or it cannot be made again, magnus uses a
    folder of its own instead for the rest of the process (_own_temp_folder; issue 16 F3: every later
    shell step failed with magnus's own NotADirectoryError). Raises what mkstemp raises otherwise."""
    try:
        return _mkstemp(prefix=prefix, suffix=suffix)
    except (FileNotFoundError, NotADirectoryError):
        folder = tempfile.gettempdir()
        if os.path.isdir(folder):
            raise
    import logging

    said = logging.getLogger("magnus")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:  # (FileExistsError: a file, or a link to one, where the folder was)
        found = _what_is_at(folder)
        own = _own_temp_folder(folder)
        said.warning(
            "the temporary folder %s (TMPDIR) is %s now, not a folder (a step's doing, or beside the run); "
            "magnus's temporary files and python's (tempfile) go to %s for the rest of the run",
            folder,
            found,
            own,
        )
    else:
        said.warning(
            "the temporary folder %s (TMPDIR) was removed, by a step or beside the run; magnus made it again",
            folder,
        )
    return _mkstemp(prefix=prefix, suffix=suffix)


def _what_is_at(path: str) -> str:
    """What stands at `path`, as a warning says it: `a file (12 bytes)`, `a symbolic link to /x`, ..."""
    import stat

    try:
        found = os.lstat(path)
    except OSError:
        return "missing and cannot be made again"
    if stat.S_ISLNK(found.st_mode):
        with contextlib.suppress(OSError):
            return f"a symbolic link to {os.readlink(path)}"
        return "a symbolic link"
    if stat.S_ISREG(found.st_mode):
        return f"a file ({found.st_size} bytes)"
    return "something that is not a folder"


def _own_temp_folder(instead_of: str) -> str:
    """A new folder (mode 0700) for temporary files, made beside `instead_of` (the TMPDIR that is no
    folder), else in the first of python's usual places that takes it (/tmp, /var/tmp, /usr/tmp, the
    working folder), made python's temporary folder (tempfile.tempdir) and removed at exit if empty.
    Raises OSError if none takes it."""
    import atexit

    error: OSError | None = None
    for base in (os.path.dirname(instead_of) or ".", "/tmp", "/var/tmp", "/usr/tmp", os.getcwd()):
        try:
            made = tempfile.mkdtemp(prefix=f"{os.path.basename(instead_of) or 'tmp'}.magnus-", dir=base)
        except OSError as exc:
            error = error or exc
            continue
        tempfile.tempdir = made
        atexit.register(_remove_if_empty, made)
        return made
    assert error is not None
    raise error


def _remove_if_empty(folder: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(folder)
