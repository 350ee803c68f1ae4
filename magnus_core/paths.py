"""Paths magnus reads from and writes into: never trusted. Names that become paths stay inside the folder
they are relative to.

relative_problem(text, what)   lexical: relative and without '..' (a pattern or folder in a file)
is_within(path, root)          on disk: `path`, symlinks followed, is `root` or under it
inside(path, root, what=...)   is_within, or an error naming the path (a planted link is refused)
own_folder(root, name)         `root/name` is a folder of its own, not a link
read_regular_file(path, limit) a file the user named, refusing what is not a regular file (a FIFO would
                               block forever, /dev/zero never ends) before opening it in a way that could
                               block, reading at most `limit` bytes whatever `stat` says
check_writable(folder)         a folder magnus will write into is a folder (or can become one) it may write
check_no_nul(value)            NUL cannot reach the operating system (paths, commands, environment)
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from magnus_core.errors import MagnusError, UsageError

_RUN_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")


def check_run_id(run_id: str, field: str = "run_id") -> str:
    """Run ids become file and folder names: letters, digits, '-', '_' and '.', no leading '.', at most 128.
    Returns it; UsageError otherwise, naming `field`: the run log's field by default, the command line's
    option or argument where one gave it (`--run-id`, `RUN_ID`: MagnusError names each as such)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise UsageError(
            f"run id {run_id!r} is not allowed: use letters, digits, '-', '_' and '.', "
            "not starting with '.', at most 128 characters",
            field=field,
        )
    return run_id


def relative_problem(text: str, what: str) -> str | None:
    """What is wrong with `text` as a path relative to some base folder, or None: it must not be empty,
    absolute (`/x`, `\\x`, `C:x`) or contain a '..' part (with either slash)."""
    if not text.strip():
        return f"{what} must not be empty"
    if text.startswith(("/", "\\")) or PureWindowsPath(text).drive:
        return f"{what} '{text}' must be relative, not absolute"
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        return f"{what} '{text}' must not contain '..' (it would leave its folder)"
    return None


def check_relative(text: str, what: str) -> str:
    """`text` with forward slashes, if it is a relative path without '..'; else UsageError saying why."""
    problem = relative_problem(text, what)
    if problem is not None:
        raise UsageError(problem)
    return text.replace("\\", "/")


def is_within(path: str | PurePath, root: str | PurePath, *, resolve: bool = True) -> bool:
    """Whether `path` is `root` or inside it. Both are resolved first (symlinks followed, so a link
    pointing out of `root` is outside; a relative path is relative to the working folder, as open() takes
    it). resolve=False compares them as written, for paths on another machine (a pod's mounts): then
    give normalised pure paths."""
    if resolve:
        path, root = Path(path).resolve(), Path(root).resolve()
    else:
        path, root = PurePath(path), PurePath(root)
    return path == root or root in path.parents


def inside(
    path: str | Path,
    root: str | Path,
    *,
    what: str,
    field: str | None = None,
    file: str | None = None,
    step: str | None = None,
    error: type[MagnusError] = UsageError,
) -> Path:
    """`path` (relative to `root`, or absolute) resolved, symlinks followed; the part that does not exist
    yet is kept as written. Raises `error` (UsageError by default) if the result leaves `root` (resolved
    too: the root folder itself may be a link, e.g. a catalog on another disk; what is beneath it may not
    lead out of it). A path equal to `root` is inside it.
    """
    root_resolved = Path(root).resolve()
    candidate = Path(path)
    try:
        resolved = (candidate if candidate.is_absolute() else root_resolved / candidate).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        raise _error(error, f"{what} '{path}' cannot be resolved ({exc})", file, step, field) from None
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise _error(
            error,
            f"{what} '{path}' is outside {root_resolved} (refused: it would read or write files that are "
            "not the project's; a symbolic link on the way leads out?)",
            file,
            step,
            field,
        )
    return resolved


def own_folder(root: str | Path, name: str, *, what: str, error: type[MagnusError] = UsageError) -> Path:
    """`root/name` resolved, which must be exactly that: a folder of its own directly inside `root` (as
    resolved), not a symbolic link to another place, even one inside `root` (a run's folder linked to
    another run's). Raises `error` otherwise. The folder need not exist yet."""
    expected = Path(root).resolve() / name
    try:
        actual = expected.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise _error(error, f"{what} '{expected}' cannot be resolved ({exc})", None, None, None) from None
    if actual != expected:
        raise _error(
            error,
            f"{what} '{expected}' is a symbolic link to '{actual}' (refused: magnus writes only into "
            "folders of its own)",
            None,
            None,
            None,
        )
    return expected


def _error(
    error: type[MagnusError], message: str, file: str | None, step: str | None, field: str | None
) -> MagnusError:
    return error(message, file=file, step=step, field=field)


# -- reading files the user named -------------------------------------------------------------------------
def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: 'a FIFO (named pipe)', 'a character device', ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(
    path: str | Path,
    *,
    limit: int,
    what: str = "file",
    error: type[MagnusError] = UsageError,
    head: bool = False,
    limit_hint: str = "",
) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), at most `limit` of them.

    Refused with `error` (one line naming the file): a missing file, a folder, a FIFO, a device or a socket
    (checked with stat on the path, and again with fstat on the opened descriptor, which is opened with
    O_NONBLOCK so a FIFO swapped in between cannot block), an unreadable file, and a file longer than
    `limit` bytes: refused unread when st_size says so, and otherwise found by reading at most limit + 1
    bytes (a file growing while read, or a size the kernel reports wrongly, cannot get past it). With
    `head=True` a longer file is not an error: its first `limit` bytes are returned. `limit_hint` is
    appended to the too-large message (e.g. which variable raises the limit).
    """
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _error(error, f"{what} not found", name, None, None) from None
    except (OSError, ValueError) as exc:
        raise _error(error, f"cannot read {what}: {_reason(exc)}", name, None, None) from None
    if not stat.S_ISREG(st.st_mode):
        raise _error(error, _not_regular(what, st.st_mode), name, None, None)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _error(error, f"cannot read {what}: {_reason(exc)}", name, None, None) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise _error(error, _not_regular(what, st.st_mode), name, None, None)
        if st.st_size > limit and not head:  # a regular file this large is refused unread; a small st_size
            raise _too_large(error, what, limit, limit_hint, name)  # proves nothing, the read below does
        chunks: list[bytes] = []
        total = 0
        # st_size only sizes the first read; the cap is enforced on what is actually read.
        want = min(max(st.st_size, 0) + 1, limit + 1)
        while total <= limit:
            chunk = os.read(fd, max(min(want, limit + 1 - total), 1))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = 1 << 20
    except OSError as exc:
        raise _error(error, f"cannot read {what}: {_reason(exc)}", name, None, None) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if head:
            return data[:limit]
        raise _too_large(error, what, limit, limit_hint, name)
    return data


def _too_large(error: type[MagnusError], what: str, limit: int, hint: str, name: str) -> MagnusError:
    return _error(error, f"{what} is larger than the {_size(limit)} allowed{hint}", name, None, None)


def _not_regular(what: str, mode: int) -> str:
    kind = file_kind(mode)
    if kind == "a folder":
        return f"{what} is a folder, expected a file"
    return f"{what} is {kind}, not a regular file (refused: reading it could block or never end)"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _size(limit: int) -> str:
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MB"
    return f"{limit} bytes"


# -- folders magnus writes into ---------------------------------------------------------------------------
def check_writable(folder: str | Path, *, what: str, key: str, file: str | None = None) -> None:
    """Raise a UsageError naming `folder` and the config `key` that moves it when magnus could not create or
    write it (no permission, a read-only file system, a file or a device in the way: /dev/null, /dev/null/x,
    a NUL in the name). Nothing is created: a missing folder is judged by its nearest existing parent.
    os.access asks the system, so this holds for root on a read-only mount as for an unprivileged user; a
    folder that still refuses the first write (/proc/self) is reported then, by the store."""
    import contextlib

    check_no_nul(str(folder), what=what, field=key)
    path = Path(folder)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    problem = ""
    mode = os.stat(probe).st_mode if probe.exists() else stat.S_IFDIR
    if not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else file_kind(mode)
        problem = f"'{probe}' is {kind}, not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        readonly = False
        with contextlib.suppress(OSError, AttributeError):  # statvfs: POSIX only
            readonly = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        problem = f"'{probe.resolve()}' is " + ("on a read-only file system" if readonly else "not writable")
    if problem:
        shown = path
        with contextlib.suppress(ValueError):
            shown = path.resolve().relative_to(Path.cwd().resolve()) if path.is_absolute() else path
        raise UsageError(
            f"cannot write the {what} '{shown}': {problem}; move it with {key} "
            "(in magnus-config.yaml or a --config-file), or run where you may write",
            file=file,
            field=key,
        )


# -- NUL bytes -------------------------------------------------------------------------------------------
def check_no_nul(
    value: str, *, what: str, field: str | None = None, error: type[MagnusError] = UsageError
) -> str:
    """`value` unchanged, or `error` if it holds a NUL character (no path, command or environment
    variable can: the operating system reads NUL as the end of the string)."""
    if "\0" in value:
        raise _error(error, f"{what} must not contain a NUL character (\\0)", None, None, field)
    return value


def find_nul(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The key path to the first string (or key) holding a NUL character in nested data, or None."""
    for where, item in _walk_strings(value, path):
        if "\0" in item:
            return where
    return None


def _walk_strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                if isinstance(key, str):
                    yield (*where, key), key
                stack.append(((*where, key), sub))
        elif isinstance(item, list):
            for index in range(len(item) - 1, -1, -1):
                stack.append(((*where, index), item[index]))


def in_project(file: str) -> bool:
    """Is a frame's `file` one of the project's: a relative path, not an installed package (Frame.in_project;
    plain logs' frames, magnus_core/diff.py; here so that plain readers need no pydantic)."""
    name = file.replace("\\", "/")
    absolute = name.startswith(("/", "<")) or name[1:3] == ":/"
    return not absolute and "site-packages/" not in name and "dist-packages/" not in name
