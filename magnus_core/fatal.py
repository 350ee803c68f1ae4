"""A fatal signal in a step, located (session 9, trial 13 fault 4).

A python step that segfaults (a C extension's bad pointer, `ctypes.string_at(0)`) kills the run's process at
once: no exception, no record, and what python's faulthandler would print went to fd 2, which magnus captures
into a pipe whose reader dies with the process. So a run enables faulthandler (stdlib: it writes with no
allocation, straight to a file descriptor, for every thread) into a file of the run's catalog that survives
the process, `.magnus/fatal.log` in the run's catalog folder (a file-system catalog), opened once when the run
starts and removed at a normal end when empty. A step run by the per-step entry point keeps its process's own
(`.magnus/steps/<step>.<pid>.fatal.log`: step_fatal_file). Readers (`magnus show`, `magnus logs`, the
failure lines of magnus_core.logs) parse it (crash_of): `crashed (Segmentation fault) at
mlproj/crashy.py:10 in train`.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import logging
import mmap
import os
import re
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from magnus_core import jsonio as json

if TYPE_CHECKING:
    from magnus_core.catalog import BaseCatalog
    from magnus_core.models.run_log import RunLog

NAME = ".magnus/fatal.log"  # catalog name of a run's faulthandler file
# catalog name of a run's held output: what attempts hold in memory (capture.AttemptFile: an attempt's first
# 50 ms, a finished short attempt's file not written yet), written through as it comes (hold), so that a
# fatal signal or a SIGKILL does not lose it (session 10, trial 13 fault 5: a line printed just before a
# segfault, and the quick steps before it, were lost). Read back by magnus_core.logs (held_output).
HELD = ".magnus/held.log"
# catalog name of what the watcher stopped when the run's process died at once (magnus_core/watcher.py's
# Stopping writes it, magnus_core/stopped.py reads it; trial 15 N4: no view said what was stopped)
STOPPED = ".magnus/stopped.json"
HELD_MAX = 16 << 20  # bytes of the held file: then it starts again (what it held reached its files)
# the held file's first bytes (its format: binary frames in a file of HELD_MAX bytes mapped into memory; a
# held file of sessions 10-11 begins with a frame's text header, read as it was written: _held_text)
HELD_MAGIC = b"MGNHELD1"
MAX_READ = 64 * 1024  # bytes of the file read: faulthandler writes at most 100 frames per thread, 100 threads

_FATAL = re.compile(r"^Fatal Python error: (.+?)\s*$")
_CURRENT = re.compile(r"^(Current thread 0x[0-9a-fA-F]+|Stack) \(most recent call first\):\s*$")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.+?)\s*$')
_THREAD_ID = re.compile(r"^Current thread (0x[0-9a-fA-F]+)")
# a step begun in a branch thread: `magnus: thread 0x00007f... runs "fan.crashy.s"` (note_thread), so that
# the crashing thread faulthandler names (`Current thread 0x...`) says which branch crashed (trial 13 f. 4)
_RUNS = re.compile(r'^magnus: thread (0x[0-9a-fA-F]+) runs (".*")\s*$')

log = logging.getLogger("magnus")

_fd: int | None = None  # the fatal file of the run running in this process (recorded), for note_thread
_held_map: mmap.mmap | None = None  # the held output file of that run, mapped (hold)
_held_at = 0  # where hold writes its next frame in it
_held_fd = -1  # its file, open while mapped: space is reserved in it ahead of what hold writes (_reserve)
_held_room = 0  # bytes of it (from its start) whose space the file system has given (_reserve)
_held_gave_up = ""  # the output whose frame found no room in it (_room): none held from then on
HELD_RESERVE = 1 << 20  # bytes reserved at a time (one system call per this many bytes held)
_held_lock = threading.Lock()  # one frame at a time (branches' threads hold at once)


def _forked() -> None:
    """A child forked from the run's process does not write into the parent's held file (its frames would
    land where the parent's next go): what a forked child holds was never the parent's output anyway. Nor
    into the run's fatal file: a fatal signal in the child (a fork Pool's or DataLoader's worker that
    segfaults, which the step may see as an exit code and go on from) is the child's, and its traceback
    goes to the child's stderr, so into the step's output (trial 25: it stayed in the run's fatal file, and
    when the run's process died later, of a SIGKILL or a crash of its own, that was read as the run's crash,
    at the child's line, blamed on the step running then)."""
    global _held_map, _held_lock, _held_fd, _fd
    _held_map = None
    _held_fd = -1  # (the parent's: closed with the map by the parent; the child's copy is left to its exit)
    _held_lock = threading.Lock()
    if _fd is not None:
        _fd = None
        try:
            faulthandler.enable(2, all_threads=True)
        except (ValueError, OSError):  # (no fd 2)
            faulthandler.disable()


os.register_at_fork(after_in_child=_forked)


def fatal_file(catalog: BaseCatalog | None, run_id: str) -> Path | None:
    """Where run `run_id`'s faulthandler file is: `<catalog_location>/<run_id>/.magnus/fatal.log` for a
    file-system catalog, None for any other (nothing local to write to at a crash)."""
    from magnus_core.catalog import FileSystemCatalog

    if not isinstance(catalog, FileSystemCatalog) or catalog.service_name != "file-system":
        return None  # an fsspec catalog (a subclass) may be remote
    try:
        # checked as every catalog write is (FileSystemCatalog.destination): a link planted as the run's
        # folder or its .magnus refuses it, so nothing is written outside the catalog (test_symlinks)
        return catalog.destination(run_id, NAME)
    except Exception:  # such a link, or a run id a run log names that is no folder name: no file
        return None


STEPS = ".magnus/steps"  # a step run one per process (execute_single_node): its process's files, per pid


def step_fatal_file(catalog: BaseCatalog | None, run_id: str, step: str, pid: int) -> Path | None:
    """Where the per-step entry point's process `pid`, running step `step` (an internal name), keeps its
    fatal file: `.magnus/steps/<step>.<pid>.fatal.log` of the run's catalog (file-system catalog only;
    its held output beside it, `<step>.<pid>.held.log`). One per process, so that the run's other steps'
    processes (an engine's pods, at once or later) never truncate nor remove it (cut10's left item: a
    segfault in a per-step run was located nowhere)."""
    from magnus_core.catalog import FileSystemCatalog, _escaped

    if not isinstance(catalog, FileSystemCatalog) or catalog.service_name != "file-system":
        return None
    try:
        return catalog.destination(run_id, f"{STEPS}/{_escaped(step)}.{pid}.fatal.log")
    except Exception:  # (as fatal_file)
        return None


def _held_beside(path: Path) -> Path:
    """The held output file beside fatal file `path` (`held.log`; a step's `<step>.<pid>.held.log`)."""
    if path.name == Path(NAME).name:
        return path.with_name(Path(HELD).name)
    return path.with_name(path.name.removesuffix(".fatal.log") + ".held.log")


@contextmanager
def recorded(catalog: BaseCatalog | None, run_id: str, step: str = "") -> Iterator[None]:
    """While the run runs, a fatal signal (SIGSEGV, SIGFPE, SIGABRT, SIGBUS, SIGILL) writes python's
    traceback of every thread into the run's fatal file (fatal_file; truncated at start: a re-run's copy
    of its original's catalog does not count). At a normal end (any exception included: the process lives)
    faulthandler is put back as it was (the user's PYTHONFAULTHANDLER or -X faulthandler: into stderr
    again; else disabled) and the file removed when empty. No file-system catalog, or a file that cannot be
    opened: nothing changes. `step` (the per-step entry point, which runs that one step): this process's
    own files (step_fatal_file), and no record of what the watcher stops."""
    path = fatal_file(catalog, run_id) if not step else step_fatal_file(catalog, run_id, step, os.getpid())
    if path is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError:
        yield
        return
    from magnus_core.files import close_own, own_fd

    own_fd(fd, "fatal file")
    was_enabled = faulthandler.is_enabled()
    faulthandler.enable(fd, all_threads=True)
    global _fd, _held_map, _held_at
    _fd = fd
    held = _held_beside(path)
    stopped = path.with_name(Path(STOPPED).name)
    from magnus_core.processes import record_stops

    if not step:
        with contextlib.suppress(OSError):  # (a re-run's copy of its original's catalog, an earlier try's)
            stopped.unlink()
        record_stops(str(stopped))  # should this process die at once, the watcher says there what it stopped
    opened = _held_file(held)
    held_map, held_fd = opened if opened is not None else (None, -1)
    if held_fd >= 0:
        own_fd(held_fd, "held output file")
    global _held_fd, _held_room, _held_gave_up
    with _held_lock:
        _held_map, _held_at, _held_fd = held_map, len(HELD_MAGIC), held_fd
        _held_room = min(HELD_RESERVE, HELD_MAX)
        _held_gave_up = ""
    try:
        yield
    finally:
        if not step:
            record_stops("")  # the process lives: nothing for the watcher to say
        _fd = None
        with _held_lock:
            _held_map, _held_fd = None, -1
        if _held_gave_up:
            log.warning(
                "no space was left for the run's held output file (what a crash keeps of the last output) "
                "from %s on: output was still kept in the catalog as each attempt ended",
                _held_gave_up,
            )
        if held_map is not None:
            with contextlib.suppress(BufferError, OSError):
                held_map.close()
            with contextlib.suppress(OSError):
                close_own(held_fd)
            with contextlib.suppress(OSError):
                held.unlink()
        try:
            if was_enabled and sys.stderr is not None:
                faulthandler.enable(sys.stderr, all_threads=True)
            else:
                faulthandler.disable()
        except (ValueError, OSError, AttributeError):  # a stderr with no fd: leave it off
            faulthandler.disable()
        close_own(fd)
        with contextlib.suppress(OSError):  # (the process lives: no fatal signal came; note_thread's
            path.unlink()  # lines alone say nothing)


def keep_recording() -> None:
    """After a python step in the main thread: faulthandler writes into the run's fatal file again (recorded),
    whatever the step did with it. A step that called faulthandler.disable() left every later crash
    unlocated, and one that called faulthandler.enable() sent it to its own stderr, not the file magnus
    reads (trial 17 F12). The first is said once, in a warning; about 0.3 us. Nothing while no fatal file
    is kept (no run, no file-system catalog)."""
    fd = _fd
    if fd is None:
        return
    if not faulthandler.is_enabled():
        log.warning(
            "a step turned faulthandler off (faulthandler.disable); magnus turned it back on for the run's "
            "fatal file, which locates a crash"
        )
    with contextlib.suppress(ValueError, OSError):
        faulthandler.enable(fd, all_threads=True)


def _held_file(path: Path) -> tuple[mmap.mmap, int] | None:
    """Run `path` as a held file: made (emptied), HELD_MAX bytes long (sparse: the file system keeps only
    what is written), its first HELD_RESERVE bytes' space reserved (_reserve), HELD_MAGIC first, mapped
    into memory (shared: what is written to the map is the file's, in the kernel's page cache); the map and
    the file's descriptor (kept open for hold's further reservations). None when it cannot be (a link
    planted there, a file system that cannot map files, no space left): nothing is written through then."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return None
    try:
        os.ftruncate(fd, HELD_MAX)
        if not _reserve(fd, 0, min(HELD_RESERVE, HELD_MAX)):  # (never past its size: it would grow)
            raise OSError("no space for the held file")
        held_map = mmap.mmap(fd, HELD_MAX, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        return None
    held_map[: len(HELD_MAGIC)] = HELD_MAGIC
    return held_map, fd


def _reserve(fd: int, start: int, size: int) -> bool:
    """The file system's space for bytes [start, start + size) of held file `fd`, given now, so that
    writing them through the map later cannot fail: a page of a mapped file that the file system cannot
    find room for is a SIGBUS, which killed magnus mid-run on a full disk (session 12, trial 17 F11), where
    a write says ENOSPC. posix_fallocate; zeros written where the file system does not do it (EOPNOTSUPP).
    False when there is no room (or the file cannot be written): hold stops holding."""
    try:
        os.posix_fallocate(fd, start, size)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            return False
    zeros = bytes(min(size, 1 << 16))
    try:
        at = start
        while at < start + size:
            at += os.pwrite(fd, zeros[: start + size - at], at)
    except OSError:
        return False
    return True


def hold(name: str, data: bytes) -> None:
    """`data`, written by the attempt whose output is catalog file `name` and held in memory for now
    (capture.AttemptFile), also goes to the run's held file at once, which the kernel keeps whatever kills
    the process: a frame (8 bytes: the name's length and the data's, little-endian uint32 each; the name
    in UTF-8; the data) copied into the file's map, its header last, so that a frame cut short by a death
    reads as the end. No system call: this runs once per printing attempt, and a `write` to the file was
    a tenth of what capturing a line cost (session 11, issue 16's speed). Nothing when no run records one
    (no file-system catalog). Past HELD_MAX bytes the file starts again (emptied by the kernel): what it
    held then reached its files (a held attempt's file is written within 50 ms of its end). Frames are
    at most capture.SPOOL_AT bytes of data."""
    global _held_at
    if _held_map is None:
        return
    label = name.encode("utf-8", "surrogateescape")
    body = label + data
    size = 8 + len(body)
    with _held_lock:
        held_map = _held_map
        if held_map is None:  # (the run's end, meanwhile)
            return
        at = _held_at
        if at + size > HELD_MAX:
            if size > HELD_MAX - len(HELD_MAGIC) or not _restart(held_map):
                return
            at = len(HELD_MAGIC)
        if at + size > _held_room and not _room(at + size, name):
            return
        held_map[at + 8 : at + size] = body
        held_map[at : at + 8] = (len(label) | len(data) << 32).to_bytes(8, "little")
        _held_at = at + size


def _room(end: int, name: str) -> bool:
    """Space reserved in the held file up to `end` at least (with _held_lock held), HELD_RESERVE bytes at a
    time; False when the file system has none left: the held file is given up (hold writes nothing more;
    the output itself still goes to its files, which say a full disk as any write does), from the output
    `name` on, said once the run ends (recorded: a warning here would be output written inside output)."""
    global _held_map, _held_room, _held_gave_up
    start = _held_room - _held_room % mmap.PAGESIZE
    size = max(end - start, HELD_RESERVE)
    size = min(size + (-size) % mmap.PAGESIZE, HELD_MAX - start)
    if _held_fd >= 0 and _reserve(_held_fd, start, size):
        _held_room = start + size
        return True
    _held_map = None
    _held_gave_up = name
    return False


def _restart(held_map: mmap.mmap) -> bool:
    """The held file emptied after its magic (with _held_lock held): its pages given back to the file
    system (MADV_REMOVE: zeros read there from now on, and space to reserve again: _room), else written
    over with zeros. False if neither."""
    global _held_room
    start = mmap.PAGESIZE
    try:
        held_map[len(HELD_MAGIC) : start] = bytes(start - len(HELD_MAGIC))
        remove = getattr(mmap, "MADV_REMOVE", None)
        if remove is not None:
            try:
                held_map.madvise(remove, start, HELD_MAX - start)
                _held_room = start
                return True
            except OSError:
                pass
        chunk = bytes(1 << 20)
        for at in range(start, HELD_MAX, len(chunk)):
            piece = min(len(chunk), HELD_MAX - at)
            held_map[at : at + piece] = chunk[:piece]
    except (OSError, ValueError):
        return False
    return True


def held_output(catalog: BaseCatalog | None, run_id: str, fatal: Path | None = None) -> dict[str, bytes]:
    """What run `run_id`'s attempts held in memory when its process died, by catalog name (hold's frames,
    each attempt's joined in order; a frame cut short by the death left out), from its held file (the one
    beside `fatal`, a per-step process's fatal file, when given); {} when there is none (the run ended:
    removed; no file-system catalog)."""
    path = fatal if fatal is not None else fatal_file(catalog, run_id)
    if path is None:
        return {}
    try:
        with open(_held_beside(path), "rb") as handle:
            data = handle.read(HELD_MAX * 2)
    except OSError:
        return {}
    if not data.startswith(HELD_MAGIC):
        return _held_text(data)
    found: dict[str, bytearray] = {}
    at = len(HELD_MAGIC)
    while at + 8 <= len(data):
        header = int.from_bytes(data[at : at + 8], "little")
        named, size = header & 0xFFFFFFFF, header >> 32
        start = at + 8
        if not named or start + named + size > len(data):
            break  # (the end: zeros, or a frame cut short)
        name = data[start : start + named].decode("utf-8", "replace")
        found.setdefault(name, bytearray()).extend(data[start + named : start + named + size])
        at = start + named + size
    return {name: bytes(held) for name, held in found.items()}


def _held_text(data: bytes) -> dict[str, bytes]:
    """held_output of a held file as sessions 10-11 wrote it (a crashed run of then): frames of a text
    header (`<length of name> <length of data>\n`), the name, the data, appended."""
    found: dict[str, bytearray] = {}
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            break
        try:
            size_name, size_data = (int(part) for part in data[at:end].split(b" "))
        except ValueError:
            break
        start = end + 1
        if start + size_name + size_data > len(data):
            break  # (the last frame, cut short)
        name = data[start : start + size_name].decode("utf-8", "replace")
        found.setdefault(name, bytearray()).extend(data[start + size_name : start + size_name + size_data])
        at = start + size_name + size_data
    return {name: bytes(held) for name, held in found.items()}


def note_thread(internal_name: str) -> None:
    """Step `internal_name` begins in this thread beside others (a branch of a parallel or map run by
    threads): one line in the run's fatal file, `magnus: thread 0x00007f3a... runs "fan.crashy.s"`, so
    that a fatal signal's `Current thread 0x...` says which branch crashed (parse: Crash.step; session 9
    left it unknown). Written with faulthandler's own descriptor (O_APPEND: its text comes after), one
    write of about 80 bytes per step begun in a branch thread; nothing when no fatal file is recorded (no
    file-system catalog) or the write fails. The id is python's threading.get_ident(), the pthread id
    faulthandler prints."""
    fd = _fd
    if fd is None:
        return
    line = f"magnus: thread 0x{threading.get_ident():016x} runs {json.dumps(internal_name)}\n"
    with contextlib.suppress(OSError):
        os.write(fd, line.encode())


@dataclass(frozen=True)
class Crash:
    """A fatal signal as faulthandler wrote it: `reason` (`Segmentation fault`), `where` the user's code was
    (`mlproj/crashy.py:10 in train`, "" when no frame of the user's is on the crashing thread), the
    whole `text` faulthandler wrote (every thread), `current` (its `Fatal Python error:` line and the
    crashing thread's block only: what `magnus logs` prints), `step` (the internal name of the step the
    crashing thread ran when it began in a branch thread, note_thread; "" when not recorded: a step of
    the main thread, the only one begun) and `file` (where the whole text is; set by crash_of)."""

    reason: str
    where: str
    text: str
    current: str = ""
    step: str = ""
    file: str = ""

    def said(self) -> str:
        """`crashed (Segmentation fault) at mlproj/crashy.py:10 in train`."""
        return f"crashed ({self.reason})" + (f" at {self.where}" if self.where else "")

    def as_json(self, step: str = "", attempt: int | None = None) -> dict[str, object]:
        """What `magnus show --json` and `magnus logs --json` say of it (`crash`): the step and attempt it
        crashed in ("" and null when not known: several begun, none recorded), reason, where, file."""
        return {
            "step": step,
            "attempt": attempt,
            "reason": self.reason,
            "where": self.where,
            "file": self.file,
        }


def _library(filename: str) -> bool:
    """A frame of magnus, of python's importer, or of the standard library (ctypes' string_at is not where
    the user's code crashed), or of an installed package."""
    from magnus_core.failure import _own

    if _own(filename):
        return True
    paths = sysconfig.get_paths()
    roots = {paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(root and filename.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def parse(text: str, root: Path | None = None) -> Crash | None:
    """The Crash in faulthandler's `text` (None when there is no `Fatal Python error:` line): the reason on
    that line, and the innermost frame of the crashing thread (`Current thread 0x...`, or `Stack` when
    one thread was dumped) that is not a library's (_library; else the innermost one not magnus's), named
    relative to `root` (the current folder) as failures are."""
    from magnus_core.failure import _own, _shown

    lines = text.splitlines()
    reason = ""
    for line in lines:
        found = _FATAL.match(line)
        if found:
            reason = found.group(1)
            break
    if not reason:
        return None
    frames: list[tuple[str, str, str]] = []
    inside = False
    block: list[str] = []  # the crashing thread's block, as faulthandler wrote it
    thread = ""
    for line in lines:
        if _CURRENT.match(line):
            inside = True
            block.append(line)
            ident = _THREAD_ID.match(line)
            thread = ident.group(1) if ident else ""
            continue
        if inside:
            found = _FRAME.match(line)
            if not found:
                if frames:
                    break
                continue
            block.append(line)
            frames.append((found.group(1), found.group(2), found.group(3)))
    step = ""
    if thread:  # the last step that thread began (note_thread): the branch that crashed
        for line in lines:
            began = _RUNS.match(line)
            if began and int(began.group(1), 16) == int(thread, 16):
                try:
                    step = str(json.loads(began.group(2)))
                except ValueError:
                    continue
    chosen = next((f for f in frames if not _library(f[0])), None) or next(
        (f for f in frames if not _own(f[0])), None
    )
    where = ""
    if chosen is not None:
        where = f"{_shown(chosen[0], (root or Path.cwd()).resolve())}:{chosen[1]} in {chosen[2]}"
    fatal_line = f"Fatal Python error: {reason}"
    current = "\n".join([fatal_line, "", *block]) if block else fatal_line
    shown = "\n".join(line for line in lines if not _RUNS.match(line)).strip("\n")
    return Crash(reason=reason, where=where, text=shown, current=current, step=step)


def crash_of(run_log: RunLog) -> Crash | None:
    """The fatal signal that ended run `run_log`'s process, from its fatal file (parse); None when there is
    none (the run ended normally, was killed by SIGKILL, or its catalog is not a file system's)."""
    from magnus_core.logs import catalog_of

    return _crash_at(fatal_file(catalog_of(run_log), run_log.run_id))


def crash_in(run_config: object, run_id: str) -> Crash | None:
    """crash_of for a run known by its run_config and id (the workbench's run view holds no RunLog)."""
    from magnus_core.logs import catalog_in

    return _crash_at(fatal_file(catalog_in(run_config), run_id))


def step_crash(catalog: BaseCatalog | None, run_id: str, step: str, pid: int) -> Crash | None:
    """The fatal signal that ended per-step process `pid` running `step`, from its own fatal file."""
    return _crash_at(step_fatal_file(catalog, run_id, step, pid))


def _crash_at(path: Path | None) -> Crash | None:
    """The Crash written in fatal file `path` (parse), its `file` said as the views say it; None for none."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_READ)
    except OSError:
        return None
    crash = parse(data.decode("utf-8", "replace")) if data else None
    if crash is None:
        return None
    from dataclasses import replace

    return replace(crash, file=_shown_path(path))


def _shown_path(path: Path) -> str:
    """`path` relative to the current folder when inside it (`.catalog/R/.magnus/fatal.log`), else whole."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
