"""Each attempt's output, captured: what a step writes to stdout and stderr, masked, kept in the catalog.

    with capture.attempt(ctx, "train", 0) as kept:     # around one attempt of a command
        ...                                             # python prints, logging, shell and notebook output
    record = kept.record                                # AttemptOutput: name, size, sha256, written

The output seam (magnus_core/output.py) masks every stream; during an attempt the current context's route
writes to a tee: the run's destination (the terminal, --json's stderr) and this attempt's `AttemptFile`. A
child process (a shell step, a notebook's kernel) writes through the seam's pipes of that route, and file
descriptors 1 and 2 (a python step's subprocess, C code) reach the file of the one attempt running when no
other runs beside it. Nothing unmasked is ever written to the file.

Most steps print little: their output is held in memory (hashed once, at the end) and, when the attempt
ends, handed to the writer thread that creates its file in a folder catalog (`put_output(later=...)`:
the step goes on while the kernel creates the file), or to the keeper thread that uploads it to an object
store while the next step runs; settled() (the run's end) waits for both. Output past SPOOL_AT bytes, or
of an attempt running past SPILL_AFTER seconds, goes to a growing file where the catalog says
(`BaseCatalog.output_spool`: in place for a folder, so `magnus logs --follow` reads it from another
process; else a temporary file), written by a spool thread and hashed by another beside the step, and
renamed (or uploaded) into place when the attempt ends (`keep_spool`). No file is made for a step
printing nothing. At most `cap` bytes are kept (MAGNUS_OUTPUT_CAP or the catalog's `output_cap`, default
100 MB): what follows is counted, not kept, and a marker says where it was cut. Memory stays flat.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.errors import MagnusError, UsageError
from magnus_core.fatal import hold
from magnus_core.files import temp_file_in_tmpdir
from magnus_core.models.run_log import (
    AttemptOutput,
    _new,
    _set_extra,
    _set_fields_set,
    _set_private,
    assembled,
    fields_as_listed,
    made,
)
from magnus_core.models.run_log import _set as _set_dict
from magnus_core.settings import parse_size as parse_size

if TYPE_CHECKING:
    from magnus_core.catalog import BaseCatalog
    from magnus_core.context import RunContext

DEFAULT_CAP = 100 * 2**20  # bytes kept per attempt
CAP_VARIABLE = "MAGNUS_OUTPUT_CAP"
CAP_BYTES = CAP_VARIABLE.encode()


def output_cap(catalog: BaseCatalog | None = None) -> int:
    """Bytes of output kept per attempt: MAGNUS_OUTPUT_CAP, else the catalog's `output_cap`, else 100 MB.
    Read at each attempt (a step may set the variable for the next); the last answer is kept with the value
    and the catalog it came from, so an attempt reads one dict entry (the variable as os.environ holds it).
    A bad value a step set keeps the cap in force, said once (trial 17 F7: magnus exited 2 mid-run, its run
    log unfinished)."""
    environ = os.environ
    data = _ENVIRON_DATA[1] if environ is _ENVIRON_DATA[0] else _environ_data(environ)
    found: Any = data.get(CAP_BYTES) if data is not None else environ.get(CAP_VARIABLE)
    last = _LAST_CAP
    if last[1] is catalog and last[0] == found:
        return int(last[2])
    raw = (os.fsdecode(found) if data is not None else found) if found else None
    if raw:
        try:
            cap = parse_size(raw, CAP_VARIABLE)
        except UsageError as exc:  # set while the run ran (settings.check refused it before): by a step
            from magnus_core.table import fmt_size

            cap = int(last[2]) if last[2] else DEFAULT_CAP
            log.warning("%s, set while the run ran (by a step?); magnus keeps %s", exc, fmt_size(cap))
    else:
        configured = catalog.output_cap() if catalog is not None else None
        cap = configured if configured is not None else DEFAULT_CAP
    _LAST_CAP[:] = [found, catalog, cap]
    return cap


# (the variable as os.environ holds it, the catalog, the cap; nothing asked yet: a value no variable holds)
_LAST_CAP: list[Any] = [object(), None, 0]


def _environ_data(environ: Any) -> dict[bytes, bytes] | None:
    """os.environ's own dict of bytes (posix; os.environ.get encodes the name and decodes the value at each
    call), remembered for as long as os.environ is that object; None where there is none."""
    data = getattr(environ, "_data", None)
    found = data if isinstance(data, dict) and os.name == "posix" else None
    _ENVIRON_DATA[:] = [environ, found]
    return found


_ENVIRON_DATA: list[Any] = [None, None]  # (os.environ, its dict of bytes)


def _record(
    written: int,
    size: int = 0,
    error: str = "",
    *,
    name: str = "",
    where: tuple[str, str] = ("", ""),
    sha256: str = "",
) -> AttemptOutput:
    """An attempt's record: `AttemptOutput(...)` of the non-empty of these fields, the same object (the same
    fields, the same fields given), made without pydantic when each is the int or str it should be (one
    per attempt: about half of validating it, a fifth to a tenth of models.run_log.made, which asks the
    model for each default); else through `made`."""
    fields = {
        "name": name,
        "catalog_relative_path": where[0],
        "catalog_handler_location": where[1],
        "size": size,
        "sha256": sha256,
        "written": written,
        "error": error,
    }
    # the keywords AttemptOutput(...) was given here before: the same fields count as given
    given = _GIVEN[0 if name else 1 if error else 2]
    # (ints from len(), strings made here; where the catalog keeps it is checked: a catalog's own values)
    if where[0].__class__ is not str or where[1].__class__ is not str or not fields_as_listed():
        return made(AttemptOutput, **{key: fields[key] for key in given})
    # every record made here shares its set of fields given: AttemptOutput is frozen (nothing adds to it),
    # and a copy (model_copy) gets a set of its own
    return assembled(AttemptOutput, fields, given)


def _kept_record(written: int, size: int, name: str, where: tuple[str, str], sha256: str) -> AttemptOutput:
    """`_record(written, size, name=name, where=where, sha256=sha256)`, the record of an output kept (one
    per printing attempt), the same object: its arguments by position (keywords cost a dict per call) and
    the models' check asked once (10.1K -> 8.9K instructions, callgrind)."""
    if not _LISTED:
        _LISTED.append(fields_as_listed())
    path, location = where
    if path.__class__ is not str or location.__class__ is not str or not _LISTED[0]:
        return _record(written, size, name=name, where=where, sha256=sha256)
    fields = {
        "name": name,
        "catalog_relative_path": path,
        "catalog_handler_location": location,
        "size": size,
        "sha256": sha256,
        "written": written,
        "error": "",
    }
    return assembled(AttemptOutput, fields, _GIVEN[0])


_LISTED: list[bool] = []  # [models.run_log.fields_as_listed()], asked at the first record


# the fields given of a kept output, an error, and output not kept (printed nothing): one set each, shared
_GIVEN = (
    {"name", "catalog_relative_path", "catalog_handler_location", "size", "sha256", "written"},
    {"size", "written", "error"},
    {"written"},
)


def _bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")  # undecodable bytes python read come back as they were
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


# os.open flags of an output file: made or emptied, never through a link planted where it goes (ELOOP)
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)

SPOOL_AT = 1 << 18  # bytes an attempt's output is held in memory before it goes to its growing file
# seconds: a running attempt's output held in memory goes to its growing file by then, at the seam's next
# flush (output.FLUSH_EVERY), so what a step printed leaves the process within about 0.1 s and survives its
# death (SIGKILL, the OOM killer, a segfault: the kernel has the file's bytes). It was 0.5 s, with a flush
# every 0.5 s: a step killed up to 0.8 s after it printed lost that output (trial 12 fault 11). A step
# ending sooner (most steps printing a line) is never spilled: its output is written once, as it ends.
SPILL_AFTER = 0.05
QUEUE = 64  # finished outputs waiting to be handed to the catalog (then a finishing attempt waits)
SPOOL_BLOCK = 1 << 20  # bytes gathered before they are handed to the spool thread (see _Spool)
SPOOL_BLOCKS = 4  # blocks an attempt's growing file goes round with (then the step waits: 4 MB held)

log = logging.getLogger("magnus")


def _small_sha256() -> Callable[[bytes | bytearray], Any]:
    """The SHA256 of an output held in memory (at most SPOOL_AT bytes, most often one line): python's own
    implementation (`_sha256` in 3.11, `_sha2` from 3.12), whose object is made without an OpenSSL context
    and digest lookup: 4.8K instructions for a line against hashlib.sha256's 6.5K (callgrind), the same
    digest. hashlib's where neither module exists. A growing file's bytes go to hashlib's (OpenSSL's is
    several times faster per byte)."""
    for module in ("_sha2", "_sha256"):
        try:
            return __import__(module).sha256
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


SMALL_SHA256 = _small_sha256()


class _Keeper:
    """One thread per process that hands finished attempts' output to their catalog (a rename, a write,
    an upload), so a step does not wait for it; settled() waits until everything handed over is kept (the
    run's end, the per-step entry point's). A full queue makes the next attempt wait: memory stays flat."""

    def __init__(self) -> None:
        self.forked()

    def forked(self) -> None:
        """Nothing handed over (also in a forked child: see _Writer.forked)."""
        self._queue: queue.Queue[Callable[[], object]] = queue.Queue(maxsize=QUEUE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], object]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="magnus-keep-output", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                job()
            except (
                Exception
            ) as exc:  # a catalog that cannot take it (disk full, bucket gone): said, not fatal
                from magnus_core.failure import describe

                with contextlib.suppress(Exception):
                    log.warning("a step's output could not be kept: %s", describe(exc))
            finally:
                self._queue.task_done()

    def settle(self) -> None:
        """Wait until every output handed over is in its catalog."""
        self._queue.join()


KEEPER = _Keeper()
os.register_at_fork(after_in_child=KEEPER.forked)

WRITER_HOLDS = 8 << 20  # bytes of small outputs waiting for the writer thread, at most (then written inline)
WRITER_BATCH = 64  # files that wake the writer thread at once (else it gathers for WRITER_WAIT)
WRITER_WAIT = 0.02  # seconds the writer thread gathers files after the first before writing them
WRITER_HELD_BYTES = 1 << 18  # bytes of frames gathered for the writer process before they are written
# seconds after the first frame the steps' thread gathered for the writer process that the thread writes
# them, if the steps have not by then (they do at the next hand-over WRITER_WAIT seconds after the first, or
# at WRITER_BATCH frames): longer than WRITER_WAIT, so that under load, where steps take a millisecond,
# the thread is woken once per 50 steps, not per 20 (each wake hands python's GIL back and forth)
WRITER_HELD_WAIT = 0.05
# files a process's writer thread creates itself before it starts its writer process (see _Writer): a
# process that keeps few outputs (the per-step entry point, a short run) never starts one
WRITER_PROCESS_AFTER = 64

# The writer process: reads frames from stdin (<II: path length, data length; the path; the data) and creates
# each file as catalog._write_new does; a frame with no path is a sync (its data a token, echoed back on
# stdout once every file before it is written). What it cannot write is said on stdout (b"e" frames), never
# blocking on it (a parent that does not read loses the messages, not the files). It ends at the end of
# stdin: when every process holding its pipe has ended, magnus killed outright included, having written
# every whole frame it was given. It reads its pipe without blocking and naps between reads (2 ms while
# frames come, up to 50 ms when none do): a reader blocked in read() is woken by every write, and on a
# machine with one core free the kernel ran it at once on the writing core, preempting the steps' thread
# for as long as it took to create the file (64 us a printing step, measured). A file is created within
# 50 ms of being handed over; a sync waits as long.
_WRITER_CHILD = r"""
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
os.set_blocking(1, False)
def say(kind, payload):
    try:
        os.write(1, kind + len(payload).to_bytes(4, "little") + payload)
    except BlockingIOError:
        pass
    except OSError:
        raise SystemExit(0)
os.set_blocking(0, False)
buf, nap = b"", 0.002
while True:
    try:
        chunk = os.read(0, 1 << 20)
    except BlockingIOError:
        time.sleep(nap)
        nap = min(nap * 2, 0.05)
        continue
    except OSError:
        break
    if not chunk:
        break
    nap = 0.002
    buf = buf + chunk if buf else chunk
    at, size = 0, len(buf)
    while size - at >= 8:
        lp, ld = int.from_bytes(buf[at:at + 4], "little"), int.from_bytes(buf[at + 4:at + 8], "little")
        end = at + 8 + lp + ld
        if end > size:
            break
        if not lp:
            os.set_blocking(1, True)
            say(b"k", buf[at + 8:end])
            os.set_blocking(1, False)
        else:
            path = buf[at + 8:at + 8 + lp]
            try:
                fd = os.open(path, flags, 0o666)
                try:
                    view = memoryview(buf)[at + 8 + lp:end]
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
            except OSError as exc:
                say(b"e", path + b"\0" + str(exc.strerror or exc).encode("utf-8", "replace"))
        at = end
    buf = buf[at:]
"""


class _Writer:
    """One thread per process that creates the small output files of a folder catalog, so that the step's
    thread never waits for the file system to create a file. Creating a file is the kernel's work (the
    directory entry, the inode): 12-30 us on a quiet local disk, up to a millisecond on a disk other
    processes keep busy, a round trip to the server on a network file system.

    The thread is woken once per batch, not per file: it sleeps until a file is handed over, gathers for
    WRITER_WAIT seconds (or until WRITER_BATCH files wait, or settled() asks), then hands them all on.
    Waking a thread costs both threads a context switch and a hand-over of the GIL; once per file it cost
    a step printing a line more than creating its file (see bench/RESULTS.md).

    Creating the files of a batch is three system calls per file, and a thread re-takes python's GIL after
    each: on a machine with a free core, where the thread runs beside the steps, each of those hand-overs
    preempted the steps' thread (about 6 context switches per printing step). So once the thread has
    created WRITER_PROCESS_AFTER files itself (a short run, the per-step entry point: never), it starts a
    writer process (python -I -S, no GIL shared, its own session); from then on submit() gathers each
    file's frame on the caller's thread and writes them to it in one write per batch (see _direct), the
    thread woken at most once per batch; the process creates the files. A process that cannot be started,
    or that ends, leaves the thread
    to create them as before (a batch it had and had not written is missing, as of any file lost in a
    crash). settled() waits for the process to have written everything handed over.

    Nothing of the step's waits for the thread but settled() (the run's end). At most WRITER_HOLDS bytes
    wait: past that the file is written by the step (memory stays flat). A file that cannot be written (a
    full disk) is said in a warning; `magnus logs` says it is missing. The step's commit may name a file not
    written yet (for at most WRITER_WAIT seconds and the time to write the batch): a run killed outright
    (SIGKILL) in that moment keeps a record whose file is missing, said so by `magnus logs`, as of any file
    lost in a crash (the writer process, once given a batch, writes it even then)."""

    def __init__(self) -> None:
        self._pid = 0
        self._pipe = -1
        self._replies = -1
        self.forked()

    def forked(self) -> None:
        """Nothing handed over (also in a child process forked from this one: none of the parent's thread,
        lock, files or writer process; the lock may have been held by the parent's thread at the fork, and
        what waits is the parent's to write)."""
        if self._pipe >= 0:  # the parent's writer process: its pipe closed here, so that it sees its end
            from magnus_core.files import close_own

            with contextlib.suppress(OSError):
                close_own(self._pipe)
            with contextlib.suppress(OSError):
                close_own(self._replies)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the thread: files wait (or settle() asks)
        self._done = threading.Condition(self._lock)  # settle(): everything handed over is written
        self._files: list[tuple[str, bytes | bytearray]] = []
        self._thread: threading.Thread | None = None
        self._busy = False  # the thread is writing a batch
        self._hurry = 0  # settle() calls waiting: write what waits now
        self.waiting = 0  # bytes handed over and not written yet
        self.made = 0  # files the thread created itself
        self._pid = 0  # the writer process (0: none)
        self._pipe = -1  # its stdin
        self._replies = -1  # its stdout (non-blocking)
        self._unread = b""  # replies read and not whole yet
        self._sync = 0  # the last sync token sent
        self._synced = 0  # the last sync token it answered
        self._pipe_lock = threading.Lock()  # one frame at a time on its pipe, one reader of its replies
        self._no_process = False  # it could not be started, or it ended
        self._direct_frames = 0  # frames the steps' threads handed to it themselves (see _direct)
        self._held = bytearray()  # frames gathered for the process, not written to its pipe yet (_direct)
        self._held_count = 0
        self._held_since = 0.0  # time.monotonic() of the first of them
        self._timed = False  # the thread is asked to write them WRITER_WAIT seconds from now

    def submit(self, path: str, data: bytes | bytearray) -> bool:
        """Hand `data` over to be written to `path` (a new file: catalog._write_new); False when too much
        waits already (the caller writes it)."""
        if self._pid and self._direct(path, data):
            return True
        with self._lock:
            if self.waiting + len(data) > WRITER_HOLDS:
                return False
            self.waiting += len(data)
            files = self._files
            files.append((path, data))
            if len(files) == 1:  # the first of a batch
                self._running()
                self._wake.notify()
            elif len(files) == WRITER_BATCH:
                self._wake.notify()
        return True

    def _loop(self) -> None:
        with self._lock:
            while True:
                while not self._files and not self._timed:
                    self._wake.wait()
                if len(self._files) < WRITER_BATCH and not self._hurry:
                    # gather: the steps go on meanwhile (frames the steps gather: see WRITER_HELD_WAIT)
                    self._wake.wait(WRITER_WAIT if self._files else WRITER_HELD_WAIT)
                if self._timed:  # frames the steps gathered for the process (_direct): written by now
                    self._timed = False
                    self._lock.release()
                    try:
                        self.hand_over()
                    finally:
                        self._lock.acquire()
                    if not self._files:
                        continue
                batch, self._files = self._files, []
                self._busy = True
                self._lock.release()
                try:
                    if not self._hand_on(batch):
                        self._create(batch)
                finally:
                    self._lock.acquire()
                    self.waiting -= sum(len(data) for _, data in batch)
                    self._busy = False
                    if not self._files:
                        self._done.notify_all()

    def _direct(self, path: str, data: bytes | bytearray) -> bool:
        """Hand one file to the running writer process from the caller's thread; False when the process is
        gone (the thread takes the file). Its frame is gathered with others and written to the process's
        pipe in one write once WRITER_BATCH are gathered, or WRITER_WAIT seconds after the first (at the
        next file handed over; else by the thread WRITER_HELD_WAIT seconds after it, asked once per batch),
        or at settle(): a write per file
        was most of what handing one over cost (3 of 4 us an attempt, load 17).

        Once the process runs, the thread does not create files and is woken at most once per batch: a
        python thread that works beside the steps waits for the GIL and is woken again at each of the
        steps' thread's system calls (each releases the GIL), a context switch and a futex call each time:
        measured quiet, about one a step and +70 us a printing step on the steps' thread when it was woken
        for every batch to write it (sixth sitting, bench/output.py). A pipe write does not wake the process
        (it naps between reads) and shares no GIL. A run killed outright loses the frames gathered and not
        written yet (WRITER_WAIT seconds at most, as when the thread gathered them): their records name
        files `magnus logs` says are missing."""
        name = path.encode(_FS_ENCODING, "surrogateescape")  # (os.fsencode, inline)
        header = (len(name) | len(data) << 32).to_bytes(8, "little")
        first = False
        try:
            with self._pipe_lock:
                if self._pipe < 0:
                    return False
                held = self._held  # (the frame added in place: no bytes made of its parts)
                held += header
                held += name
                held += data
                count = self._held_count = self._held_count + 1
                self._direct_frames += 1
                if count == 1:
                    self._held_since = time.monotonic()
                    first = True
                elif (
                    count >= WRITER_BATCH
                    or len(self._held) >= WRITER_HELD_BYTES
                    or time.monotonic() - self._held_since >= WRITER_WAIT
                ):
                    self._write_held()
        except OSError:  # the process ended (killed, out of memory): the thread writes from now on
            self._ended()
            return True  # (the frames gathered, this one included, were given to the thread: _ended)
        if first and not self._timed:  # the thread writes them in WRITER_WAIT seconds unless done before
            with self._lock:
                self._timed = True
                self._running()
                self._wake.notify()
        return True

    def _running(self) -> None:
        """The thread is there (with _lock held; a forked child has none)."""
        if self._thread is None or not self._thread.is_alive():
            thread = threading.Thread(target=self._loop, name="magnus-write-output", daemon=True)
            self._thread = thread
            thread.start()

    def _write_held(self) -> None:
        """Write the gathered frames to the process's pipe (with _pipe_lock held; OSError when it ended,
        the frames still held), and read what it said meanwhile."""
        held = self._held
        if held:
            _write_all(self._pipe, held)
            self._held = bytearray()
            self._held_count = 0
            self._read_replies()

    def hand_over(self) -> None:
        """The gathered frames written now (the thread, or settle())."""
        try:
            with self._pipe_lock:
                if self._pipe >= 0:
                    self._write_held()
        except OSError:
            self._ended()

    def _create(self, batch: list[tuple[str, bytes | bytearray]]) -> None:
        """Create the batch's files on this thread."""
        from magnus_core.catalog import _write_new
        from magnus_core.files import FD_LOCK

        for path, data in batch:
            try:
                with FD_LOCK:  # (a step's closerange in a branch thread waits: trial 19 F5)
                    _write_new(path, data)
            except Exception as exc:  # a full disk, a folder gone: said, the rest written
                with contextlib.suppress(Exception):
                    why = getattr(exc, "strerror", None) or exc
                    log.warning("a step's output could not be kept in %s: %s", path, why)
        self.made += len(batch)

    def _hand_on(self, batch: list[tuple[str, bytes | bytearray]]) -> bool:
        """Hand the batch to the writer process in one pipe write (started after WRITER_PROCESS_AFTER
        files); False when there is none (the thread creates them)."""
        if not self._pid and (self.made < WRITER_PROCESS_AFTER or self._no_process or not self._start()):
            return False
        parts = [_frame(path, data) for path, data in batch]
        try:
            with self._pipe_lock:
                _write_all(self._pipe, b"".join(parts))
                self._read_replies()
        except OSError:  # the process ended (killed, out of memory): the thread writes from now on
            self._ended()
            return False
        return True

    def _start(self) -> bool:
        """Start the writer process; False when it cannot be (said at debug level: the thread writes). Its
        pipes are made, handed over and owned with files.FD_LOCK held: a step's os.closerange in a branch
        thread waits meanwhile (CI: it closed a pipe end between os.pipe and its close, the writer thread
        died with `Bad file descriptor` and the run failed, about 1 run in 3 of test_closerange_branches)."""
        from magnus_core.files import FD_LOCK

        with FD_LOCK:
            return self._start_locked()

    def _start_locked(self) -> bool:
        to_child = from_child = (-1, -1)
        try:
            if not sys.executable:
                raise OSError("no python executable to start")
            to_child, from_child = os.pipe(), os.pipe()
            with contextlib.suppress(OSError, AttributeError):
                import fcntl

                fcntl.fcntl(to_child[1], 1031, 1 << 20)  # F_SETPIPE_SZ: a batch is one write, not several
            actions = [
                (os.POSIX_SPAWN_DUP2, to_child[0], 0),
                (os.POSIX_SPAWN_DUP2, from_child[1], 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ]
            argv = [sys.executable, "-I", "-S", "-c", _WRITER_CHILD]
            from magnus_core.files import starting_own

            with starting_own():
                self._pid = os.posix_spawn(
                    sys.executable, argv, os.environ, file_actions=actions, setsid=True
                )
        except (OSError, AttributeError, ValueError) as exc:
            log.debug("no output writer process (the writer thread creates the files): %s", exc)
            for fd in (*to_child, *from_child):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._no_process = True
            return False
        os.close(to_child[0])
        os.close(from_child[1])
        os.set_blocking(from_child[0], False)
        from magnus_core.files import own_fd

        self._pipe = own_fd(to_child[1], "output writer pipe")
        self._replies = own_fd(from_child[0], "output writer pipe")
        if self is WRITER:
            import atexit

            atexit.register(self.close)
        return True

    def _read_replies(self, until: int = 0) -> None:
        """Read what the writer process said (with _pipe_lock held): each file it could not write is a
        warning. With `until`, wait for its answer to that sync (as long as it runs: a slow disk)."""
        while True:
            try:
                chunk = os.read(self._replies, 1 << 16)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                raise BrokenPipeError("the output writer process ended")
            if chunk:
                self._unread += chunk
                self._said()
            if not until or self._synced >= until:
                return
            if chunk is None:  # (select as magnus found it, not a step's replacement: trial 20 N8)
                from magnus_core.output import select_as_found

                quiet = not select_as_found()[0]([self._replies], [], [], 1.0)[0]
            else:
                quiet = False
            if quiet and os.waitpid(self._pid, os.WNOHANG)[0]:  # (it answers once its disk does)
                raise BrokenPipeError("the output writer process ended")

    def _said(self) -> None:
        data = self._unread
        at = 0
        while len(data) - at >= 5:
            size = int.from_bytes(data[at + 1 : at + 5], "little")
            if len(data) - at - 5 < size:
                break
            kind, payload = data[at : at + 1], data[at + 5 : at + 5 + size]
            at += 5 + size
            if kind == b"k":
                self._synced = max(self._synced, int.from_bytes(payload, "little"))
            else:
                path, _, why = payload.partition(b"\0")
                with contextlib.suppress(Exception):
                    log.warning(
                        "a step's output could not be kept in %s: %s",
                        os.fsdecode(path),
                        why.decode("utf-8", "replace"),
                    )
        self._unread = data[at:]

    def _ended(self) -> None:
        """The writer process is gone (or does not answer): no more of it in this process. The frames
        gathered and not written to it are the thread's to write (a frame it read and had not written yet
        is lost with it, as any file in a crash)."""
        from magnus_core.files import close_own

        with self._pipe_lock:
            for fd in (self._pipe, self._replies):
                with contextlib.suppress(OSError):
                    close_own(fd)
            self._pipe = self._replies = -1
            pid, self._pid = self._pid, 0
            self._no_process = True
            held, self._held, self._held_count = self._held, bytearray(), 0
        for path, data in _unframed(held):
            self.submit(path, data)
        if pid:
            _reap(pid, 1.0)
            log.warning("the output writer process ended: files it had not written yet are missing")

    def settle(self) -> None:
        """Wait until every file handed over is written."""
        self._thread_settled()
        if self._pid:
            try:
                with self._pipe_lock:
                    if self._pipe >= 0:
                        self._write_held()
                    self._sync += 1
                    token = self._sync.to_bytes(8, "little")
                    _write_all(self._pipe, (0).to_bytes(4, "little") + (8).to_bytes(4, "little") + token)
                    self._read_replies(until=self._sync)
            except OSError:
                self._ended()  # (what was gathered for it is the thread's now)
                self._thread_settled()

    def _thread_settled(self) -> None:
        """Wait until the thread has written every file handed to it."""
        with self._lock:
            self._hurry += 1
            try:
                while (self._files or self._busy) and self._thread is not None and self._thread.is_alive():
                    self._wake.notify()
                    self._done.wait(1.0)
            finally:
                self._hurry -= 1

    def close(self) -> None:
        """End the writer process once it has written everything (at exit: its files are there when
        magnus has ended)."""
        self.settle()
        pid = self._pid
        if not pid:
            return
        from magnus_core.files import close_own

        with self._pipe_lock:
            for fd in (self._pipe, self._replies):
                with contextlib.suppress(OSError):
                    close_own(fd)
            self._pipe = self._replies = -1
            self._pid = 0
        _reap(pid, 5.0)


def _reap(pid: int, seconds: float) -> None:
    """Wait up to `seconds` for child process `pid` to end (it ends at the end of its pipe), and reap it."""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while not os.waitpid(pid, os.WNOHANG)[0] and time.monotonic() < deadline:
            time.sleep(0.005)


_FS_ENCODING = sys.getfilesystemencoding()


def _frame(path: str, data: bytes | bytearray) -> bytes:
    """One file's frame for the writer process (_WRITER_CHILD): <II path length, data length; path; data
    (_direct makes it inline)."""
    name = os.fsencode(path)
    return b"".join((len(name).to_bytes(4, "little") + len(data).to_bytes(4, "little"), name, data))


def _unframed(frames: bytes | bytearray) -> list[tuple[str, bytes]]:
    """The (path, data) of each whole frame in `frames` (see _frame)."""
    files, at = [], 0
    while len(frames) - at >= 8:
        head = int.from_bytes(frames[at : at + 8], "little")
        size, length = head & 0xFFFFFFFF, head >> 32
        end = at + 8 + size + length
        if end > len(frames):
            break
        files.append((os.fsdecode(bytes(frames[at + 8 : at + 8 + size])), bytes(frames[at + 8 + size : end])))
        at = end
    return files


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


WRITER = _Writer()
os.register_at_fork(after_in_child=WRITER.forked)


def settled() -> None:
    """Every finished attempt's output is in its catalog (call before a run's log is final)."""
    WRITER.settle()
    KEEPER.settle()


def _above_std(fd: int) -> int:
    """`fd` moved to a number above 2 (close-on-exec, as os.open makes it), and the low one closed. A file
    magnus opens while a step runs takes the lowest free number: after the step's os.close(1) that is 1,
    and the seam, giving fd 1 its pipe back at the attempt's end (output.FdPump.repair), would then point
    the file's descriptor at the pipe, and closing the file would close fd 1 again for the next step (trial
    14 fault 12: the step's later prints left its file for the terminal, twice, and the next step's
    os.write(1) failed with EBADF). Only asked when the number is 0, 1 or 2: a step that closes none
    costs one comparison."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return high


class _Spool:
    """An attempt's growing file: a thread writes the blocks handed to it and a second one hashes them, so
    that the write and the SHA256 run beside the step and beside each other (file writes and hashlib
    release the GIL): on two cores a step printing 100 MB, once its own print()s cost less than a file's,
    was bound by one thread writing and hashing every block (0.14-0.18 s of CPU against the step's
    0.12-0.14 s).

    What the step writes is copied into blocks of SPOOL_BLOCK bytes, handed over when full (or flushed):
    one write and one hash call per megabyte, not per 64 KB piece python hands over. SPOOL_BLOCKS blocks
    are made once and go round, step -> writer -> hasher -> step: nothing is allocated per block, the hash
    takes the blocks in the order they were written, and a step writing faster than the disk waits for a
    free one (memory stays flat: SPOOL_BLOCKS x SPOOL_BLOCK bytes at most)."""

    def __init__(self, path: Path, digest: Any, held: bytes = b"") -> None:
        self.path = path
        self.digest = digest  # `held` was hashed already
        self.error = ""
        fd = os.open(path, NEW_FILE, 0o666)
        if fd <= 2:  # the step closed fd 1 or 2 (os.close(1)): never take its number (_above_std)
            fd = _above_std(fd)
        self._file = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by its thread
        view = memoryview(held)
        while view:
            view = view[self._file.write(view) :]
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(SPOOL_BLOCKS - 1):
            self._free.put(bytearray(SPOOL_BLOCK))
        self._block = bytearray(SPOOL_BLOCK)
        self._filled = 0
        # blocks to write; None: the end; an Event: set once every block before it is written (sync)
        self._full: queue.SimpleQueue[tuple[bytearray, int] | threading.Event | None] = queue.SimpleQueue()
        self._written: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="magnus-output-spool", daemon=True)
        self._thread.start()
        self._hasher = threading.Thread(target=self._hash, name="magnus-output-hash", daemon=True)
        self._hasher.start()

    def put(self, data: bytes | memoryview) -> None:
        """Copy `data` (it may be a view of python's buffer) into blocks; full ones go to the thread."""
        view = memoryview(data).cast("B")
        while view:
            room = SPOOL_BLOCK - self._filled
            piece = view[:room]
            self._block[self._filled : self._filled + len(piece)] = piece
            self._filled += len(piece)
            view = view[len(piece) :]
            if self._filled == SPOOL_BLOCK:
                self.flush()

    def flush(self) -> None:
        """Hand what is gathered to the thread (`magnus logs --follow` sees it once written); waits for a
        free block when every block is with the thread."""
        if self._filled:
            self._full.put((self._block, self._filled))
            os.sched_yield()  # gives up the GIL: the thread takes the block now, even when the step makes
            # no system call of its own for a while (its terminal closed: python would hold the GIL 5 ms)
            self._block, self._filled = self._free.get(), 0

    def sync(self, timeout: float = 2.0) -> None:
        """What the step wrote so far is in the file (written, not yet hashed) before this returns, or
        `timeout` seconds have passed: before a signal the step sends its own process (output's audit
        hook), which the spool thread would not outlive."""
        self.flush()
        written = threading.Event()
        self._full.put(written)
        written.wait(timeout)

    def _run(self) -> None:
        try:
            while (item := self._full.get()) is not None:
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                block, size = item
                if not self.error:
                    try:
                        view = memoryview(block)[:size]
                        while view:
                            view = view[self._file.write(view) :]
                    except OSError as exc:
                        self.error = f"writing {self.path} failed: {exc.strerror or exc}"
                self._written.put(item)
        finally:
            with contextlib.suppress(OSError):
                self._file.close()
            self._written.put(None)

    def _hash(self) -> None:
        while (item := self._written.get()) is not None:
            block, size = item
            if not self.error:
                self.digest.update(memoryview(block)[:size])
            self._free.put(block)

    def close(self) -> str:
        """Wait for every block to be written; why writing failed ("" when it did not)."""
        if self._filled:
            self._full.put((self._block, self._filled))
            self._filled = 0
        self._full.put(None)
        self._thread.join()
        self._hasher.join()
        return self.error


STDERR_RING = 4096  # bytes of an attempt's stderr kept apart, for its failure record (StderrTail)
STDERR_LINES = 5  # last lines on stderr a failure records


class StderrTail:
    """The last bytes an attempt wrote to stderr (masked, at most STDERR_RING), a Sink beside its file:
    the stderr lane writes to both (output.tapped's `err`). A child's stdout and stderr are two pipes pumped
    apart, so in the kept output a line written to stderr just before exiting may come before the stdout
    lines written earlier (docs/logs.md); kept here, the failure record says what the step wrote to stderr
    last, whatever the pipes' timing (trial 6). Thread-safe enough: a bytearray changed under the GIL."""

    __slots__ = ("_ring", "file")
    line_buffered = False

    def __init__(self, file: AttemptFile | Any) -> None:
        self.file = file  # the attempt's file, or output.NOWHERE (a catalog keeping no output: _StderrKept)
        self._ring = bytearray()

    def write_bytes(self, data: bytes) -> None:
        if data:
            ring = self._ring
            ring += data[-STDERR_RING:]
            if len(ring) > 2 * STDERR_RING:
                del ring[:-STDERR_RING]
        self.file.write_bytes(data)

    def write_text(self, text: str) -> None:
        if text:
            self.write_bytes(_bytes(text))

    def flush(self) -> None:
        self.file.flush()

    def lines(self, count: int = STDERR_LINES) -> list[str]:
        """The last `count` non-blank lines written to stderr, as text (each at most 500 characters), a
        line holding carriage returns as its last frame (logs.last_frame: a progress bar's frames are one
        line on a terminal; split apart, four frames of one bar were "the last lines", trial 12)."""
        text = bytes(self._ring[-STDERR_RING:]).decode("utf-8", errors="replace")
        lines = [frame.rstrip() for line in text.split("\n") if (frame := _last_frame(line)).strip()]
        if len(self._ring) >= STDERR_RING and lines:  # (the first may be cut: it is kept only if all there)
            lines = lines[1:]
        return [line if len(line) <= 500 else f"{line[:500]}..." for line in lines[-count:]]


class AttemptFile:
    """One attempt's output: a Sink of the output seam (write_text, write_bytes, flush) that keeps masked
    bytes, at most `cap` of them, and their SHA256 (of held bytes once, at the end; of a growing file's as
    they go). They are held in memory up to SPOOL_AT bytes (most
    steps print little: no file is made while the step runs), then written to the catalog's growing file
    (output_spool) by a _Spool, as they are once the attempt has run SPILL_AFTER seconds (`magnus logs
    --follow`). When the attempt ends they are put in place (a folder catalog: now; an object store: by
    the keeper thread). Thread-safe (a shell step's stdout and stderr pumps, and python threads, write at
    once)."""

    __slots__ = (
        "_closed", "_hash", "_last", "_lock", "_memory", "_spool", "_started", "cap", "catalog", "error",
        "fds", "kept", "name", "run_id", "spool", "written",
    )  # fmt: skip
    line_buffered = False

    def __init__(self, catalog: BaseCatalog, run_id: str, name: str, cap: int) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.name = name
        self.cap = cap
        self.written = 0  # bytes the step wrote
        self.kept = 0  # bytes kept (in memory or in the file)
        self.error = ""  # why the output could not be written
        self.spool: Path | None = None
        self._memory = bytearray()
        self._spool: _Spool | None = None
        self._hash: Any = None  # what the growing file holds, hashed as it goes (held bytes: at the end)
        self._lock = threading.Lock()
        self._closed = False
        self._started = time.monotonic()
        self._last = b"\n"  # the last byte the step wrote (a newline before it wrote any)
        # whether what fd 1 and 2 receive may be this attempt's: not a shell step's, whose command writes to
        # pipes of its own (output's UNKEPT note beside other branches is not said in its file: trial 25)
        self.fds = True

    def _open(self) -> None:
        """Start the growing file, with what memory held (hashed here: held bytes are hashed only when
        they go to a file)."""
        path = self.catalog.output_spool(self.run_id, self.name)
        if path is None:
            fd, text = temp_file_in_tmpdir("magnus-output-", ".log")
            os.close(fd)
            path = Path(text)
        self.spool = path
        self._hash = hashlib.sha256(self._memory)
        self._spool = _Spool(path, self._hash, bytes(self._memory))
        self._memory = bytearray()

    def write_bytes(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._closed:
                return
            size = len(data)
            self.written += size
            self._last = data[-1:]
            if (
                self._spool is None
                and not self.error
                and self.kept + size <= self.cap
                and len(self._memory) + size <= SPOOL_AT
            ):  # the usual case: held in memory, whole
                self._memory += data
                self.kept += size
                hold(self.name, data)  # and written through: a crash does not lose it (fatal.py)
                return
            room = self.cap - self.kept
            if room <= 0 or self.error:
                return
            part = data if len(data) <= room else data[:room]
            try:
                if self._spool is None and len(self._memory) + len(part) <= SPOOL_AT:
                    self._memory += part
                    hold(self.name, part)
                else:
                    if self._spool is None:
                        self._open()
                    assert self._spool is not None
                    self._spool.put(part)
            except (OSError, MagnusError) as exc:  # a full disk; a link planted where the file goes
                self._failed(exc)
                return
            self.kept += len(part)

    def write_text(self, text: str) -> None:
        if text:
            self.write_bytes(_bytes(text))

    def write_marker(self, text: str) -> None:
        """Add `text` (a traceback, a `[magnus: ...]` line) on a line of its own: after a newline when what
        the step wrote did not end with one (`print(..., end="")`, trial 11), so that `grep ^Traceback`
        finds it. What the step wrote is kept as written."""
        if text:
            self.write_text(text if self._last == b"\n" else "\n" + text)

    def flush(self) -> None:
        """Called by the seam as output comes and every FLUSH_EVERY seconds (output.py's flush thread): an
        attempt that has run SPILL_AFTER seconds gets its growing file, what memory held written to it at
        once, and what is handed to the spool later reaches it at the next call (the `.live` file a killed
        run leaves: `magnus logs` shows it)."""
        if self._spool is None and time.monotonic() - self._started < SPILL_AFTER:
            return  # (the usual case, twice per attempt at its end: nothing to do, no lock taken)
        with self._lock:
            if self._spool is not None and not self._closed:
                self._spool.flush()
                return
            if self._closed or self.error or self._spool is not None or not self._memory:
                return
            if time.monotonic() - self._started < SPILL_AFTER:
                return
            try:
                self._open()
            except (OSError, MagnusError) as exc:
                self._failed(exc)

    def sync(self) -> None:
        """What was written so far is where a killed process leaves it: held output is written through
        already (fatal.hold); a growing file's blocks are written now (_Spool.sync)."""
        spool = self._spool
        if spool is not None and not self._closed:
            with self._lock:
                if self._spool is not None and not self._closed:
                    self._spool.sync()

    def _failed(self, exc: OSError | MagnusError) -> None:
        """Writing failed: the step goes on, what follows is counted, not kept, and the record says why."""
        why = getattr(exc, "strerror", None) or exc
        self.error = f"writing {self.spool or 'the output file'} failed: {why}"

    def finish(self) -> AttemptOutput:
        """Mark where the output was cut, finish the growing file and put it in place (a folder catalog:
        renamed now, or a small output handed to the writer thread; an object store: by the keeper), the
        attempt's record. Every file is in the catalog once settled()."""
        with self._lock:
            self._closed = True
            spool, self._spool = self._spool, None
            # the usual attempt: what it wrote held whole in memory (nothing spilled, cut, or failed)
            whole = spool is None and self.written == self.kept and not self.error
            if whole:
                pass
            elif self.written > self.kept and not self.error:
                from magnus_core.table import fmt_size

                marker = _bytes(  # (on a line of its own: after what was kept, alone at a cap of 0)
                    ("\n" if self.kept else "")
                    + f"[magnus: output cut here at {fmt_size(self.cap, exact=True)}; the step wrote "
                    f"{fmt_size(self.written, exact=True)} (the cap is {CAP_VARIABLE} or the catalog's "
                    "output_cap)]\n"
                )
                self.kept += len(marker)
                if spool is None:
                    self._memory += marker
                else:
                    spool.put(marker)
        if whole and self.kept and self.catalog.output_nearby:
            record = self._kept_quickly()
            if record is not None:
                return record
        if spool is not None:
            self.error = self.error or spool.close()
        if not self.kept and not self.error:  # nothing was written: no file
            return _record(self.written)
        if self.error:
            if self.spool is not None:
                self.spool.unlink(missing_ok=True)
            return _record(self.written, self.kept, self.error)
        catalog, run_id, name, path = self.catalog, self.run_id, self.name, self.spool
        data, self._memory = self._memory, bytearray()  # (not copied: nothing writes to it any more)
        digest = (self._hash or SMALL_SHA256(data)).hexdigest()
        if catalog.output_nearby:  # a folder on this disk: written (or renamed) into place now
            try:
                if path is not None:
                    where = catalog.keep_spool(path, name, digest, run_id)
                    place = where.catalog_relative_path, where.catalog_handler_location
                else:
                    place = catalog.put_output(name, data, run_id, digest, later=WRITER.submit)
            except (OSError, MagnusError) as exc:
                from magnus_core.failure import describe

                if path is not None:
                    path.unlink(missing_ok=True)
                error = f"keeping the output failed: {describe(exc)}"
                return _record(self.written, self.kept, error)
        else:  # an object store: uploaded by the keeper thread while the next step runs
            where = catalog.file_record(name, digest, run_id)
            place = where.catalog_relative_path, where.catalog_handler_location
            if path is not None:
                KEEPER.submit(lambda: catalog.keep_spool(path, name, digest, run_id))
            else:
                KEEPER.submit(lambda: catalog.put_bytes(name, data, run_id, digest=digest))
        return _kept_record(self.written, self.kept, self.name, place, digest)

    def _kept_quickly(self) -> AttemptOutput | None:
        """finish() of an output held whole in memory, in an output folder this process made for the run
        (catalog.fresh_outputs: its path known, every name in it new), the usual printing attempt: the
        file handed to the writer (or written now when too much waits) and its record, without the
        catalog's put_output (which checks the name again: output_name made it a plain file name in that
        folder). None where that does not hold: finish() goes on as for any output."""
        catalog, run_id, name = self.catalog, self.run_id, self.name
        fresh = _FRESH
        if fresh[0] is catalog and fresh[1] == run_id and fresh[2][0] is getattr(catalog, "root", None):
            place = fresh[2]
        else:
            found = catalog.fresh_outputs(run_id)
            if found is None:
                return None
            _FRESH[:] = [catalog, run_id, found]
            place = found
        prefix = _SEAM[2]
        if not name.startswith(prefix) or not _LISTED or not _LISTED[0]:
            return None  # (the models' fields not as listed: _kept_record asks them once, finish() does)
        data = self._memory
        digest = SMALL_SHA256(data).hexdigest()
        path = place[1] + name[len(prefix) :]
        writer = WRITER
        try:
            if not (writer._pid and writer._direct(path, data)) and not writer.submit(path, data):
                _SEAM[3](path, data)
        except (OSError, MagnusError) as exc:  # (written now: a full disk, a link planted there)
            from magnus_core.failure import describe

            return _record(self.written, self.kept, f"keeping the output failed: {describe(exc)}")
        # _kept_record's AttemptOutput, made here (a call less per printing attempt): run_log.assembled
        record: Any = _new(AttemptOutput)
        _set_dict(
            record,
            "__dict__",
            {
                "name": name,
                "catalog_relative_path": place[2] + name,
                "catalog_handler_location": place[3],
                "size": self.kept,
                "sha256": digest,
                "written": self.written,
                "error": "",
            },
        )
        _set_fields_set(record, _GIVEN[0])
        _set_extra(record, {})
        _set_private(record, None)
        return record


# (catalog, run id, catalog.fresh_outputs(run id)) of the last output kept quickly (_kept_quickly)
_FRESH: list[Any] = [None, "", (None,)]


class Kept:
    """What `attempt()` yields: the attempt's file while it runs, its record once it ended."""

    __slots__ = ("file", "record", "route", "stderr")

    def __init__(self, file: AttemptFile | None) -> None:
        self.file = file
        self.route: Any = None  # the attempt's route of the output seam
        self.record: AttemptOutput | None = None
        self.stderr = StderrTail(file) if file is not None else None  # what the stderr lane writes to

    def stderr_lines(self) -> list[str]:
        """The last lines the attempt wrote to stderr (masked; [] when output is not captured)."""
        return self.stderr.lines() if self.stderr is not None else []

    def write_text(self, text: str) -> None:
        """Add text (already masked) to the attempt's file only, after all the step wrote, on a line of its
        own (AttemptFile.write_marker): the traceback of a failure, which the terminal does not show (the
        summary says where it was raised)."""
        if self.file is None:
            return
        if self.route is not None:
            if _SEAM:  # what the step's children wrote to fd 1 and 2 goes before it (trial 23 F3: a child's
                seam = _SEAM[0].SEAM  # line, read late by the pump under load, came after the traceback)
                if seam.fds_busy():
                    seam.drain_fds()
            with contextlib.suppress(OSError, ValueError):
                self.route.flush()
        self.file.write_marker(text)


def attempt(ctx: RunContext, internal_name: str, number: int) -> contextlib.AbstractContextManager[Kept]:
    """Capture one attempt's output (see the module's doc): `with attempt(...) as kept`, and `kept.record`
    once the block is left. With a catalog that keeps no output (do-nothing, or none), output only streams
    as before and `record` stays None. (Plain objects rather than a generator: one is made per attempt.)"""
    catalog = ctx.catalog
    if catalog is None:
        return _Uncaptured()
    if not catalog.keeps_output:  # do-nothing: only the last stderr lines, for the run log (_StderrKept)
        return _StderrKept(ctx)
    return _Captured(ctx, catalog, internal_name, number)


class _Uncaptured:
    __slots__ = ()

    def __enter__(self) -> Kept:
        return Kept(None)

    def __exit__(self, *exc: object) -> None:
        return None


class _Captured(Kept):
    """attempt() with a catalog that keeps output: the attempt's Kept, which taps the run's route itself
    when the attempt runs alone, the usual case (output.tap_alone and untap: no object but this one per
    attempt), and enters output.tapped() beside other attempts (`tap`)."""

    __slots__ = ("tap",)

    def __init__(self, ctx: RunContext, catalog: BaseCatalog, internal_name: str, number: int) -> None:
        if not _SEAM:
            _load_seam()
        seam, output_name = _SEAM[0], _SEAM[1]
        self.file = file = AttemptFile(
            catalog, ctx.run_id, output_name(internal_name, number), output_cap(catalog)
        )
        self.route = None
        self.record = None
        self.stderr = err = StderrTail(file)  # (Kept.__init__, inline: one per attempt)
        # alone (no attempt beside it): tapped by __enter__ without a tap object when tap_alone can
        self.tap = None if not ctx.concurrent else seam.tapped(file, alone=False, err=err)

    def __enter__(self) -> Kept:
        try:
            if self.tap is None:
                seam = _SEAM[0]
                assert self.file is not None and self.stderr is not None
                self.route = seam.tap_alone(self.file, self.stderr)
                if self.route is not None:
                    return self
                # outside a run's route, or beside an attempt tapping it: a route of its own (tapped())
                self.tap = seam.tapped(self.file, alone=False, err=self.stderr)
            self.route = self.tap.__enter__()
        except BaseException:
            assert self.file is not None
            self.record = self.file.finish()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.file is not None
        try:
            if self.tap is None:
                _SEAM[0].untap(self.route, self.file)
            else:
                self.tap.__exit__(*exc)
        finally:
            self.record = self.file.finish()


class _StderrKept(Kept):
    """attempt() with a catalog that keeps no output (do-nothing): no file, but the last lines the attempt
    writes to stderr, which its failure record keeps (`error.stderr`: the run log's, not the catalog's;
    trial 14 fault 14: a shell step's `fatal: out of memory` and a sys.exit(1) step's last stderr line were
    recorded with the folder catalog and lost with do-nothing, the catalog of the usual Argo pod). The
    run's route is tapped as for a kept output (_Captured), its copy going nowhere; at the end fd 1 and 2
    are drained and given back as for any attempt. `record` stays None. The cost of a tap per attempt,
    as a kept output's, without its file."""

    __slots__ = ("tap",)

    def __init__(self, ctx: RunContext) -> None:
        if not _SEAM:
            _load_seam()
        seam = _SEAM[0]
        self.file = None
        self.route = None
        self.record = None
        self.stderr = err = StderrTail(seam.NOWHERE)
        self.tap = None if not ctx.concurrent else seam.tapped(seam.NOWHERE, alone=False, err=err)

    def __enter__(self) -> Kept:
        seam = _SEAM[0]
        if self.tap is None:
            self.route = seam.tap_alone(seam.NOWHERE, self.stderr)
            if self.route is not None:
                return self
            self.tap = seam.tapped(seam.NOWHERE, alone=False, err=self.stderr)
        self.route = self.tap.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tap is None:
            _SEAM[0].untap(self.route, _SEAM[0].NOWHERE)
        else:
            self.tap.__exit__(*exc)


# (output module, catalog.output_name, the output folder's prefix of names, catalog._write_new), imported on
# the first attempt captured (catalog imports this module)
_SEAM: list[Any] = []


def _load_seam() -> None:
    from magnus_core import output
    from magnus_core.catalog import _OUTPUT_PREFIX, _write_new, output_name

    _SEAM[:] = [output, output_name, _OUTPUT_PREFIX, _write_new]


def _last_frame(line: str) -> str:
    """logs.last_frame (imported on use: logs is not imported by a step's capture otherwise)."""
    if "\r" not in line:
        return line
    from magnus_core.logs import last_frame

    return last_frame(line)
