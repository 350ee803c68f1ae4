"""The output seam: every stream out of magnus passes through here, masked.

    python sys.stdout / sys.stderr ──▶ SeamStream ──┐
    logging handlers on them (any age) ─────────────┤  route of the current run (a context variable):
    fd 1 / fd 2 (os.write, subprocesses) ─▶ FdPump ─┤  its Masker, one StreamMasker per lane,
    a shell step's or a notebook's child ─▶ ChildPipe┘  its Destinations (terminal, --json's stderr, a file)

- `installed(fds=...)` puts the seam in place for a while (reference-counted, so nested and concurrent
  users share it): sys.stdout and sys.stderr become `SeamStream`s, logging handlers writing to the old
  streams are pointed at them, and with `fds=True` file descriptors 1 and 2 become pipes read by a thread
  that masks what any code or child process writes there. The command line asks for `fds=True` (it owns
  its terminal); the workbench cannot (Textual draws on that terminal), see docs/secrets.md.
- `routed(masker, output)` makes the current context (a run's thread, and the branch threads that copy
  its context) write through that run's masker to its destinations. Code outside any route (a thread the
  user started, a handler called after the run) goes through the default route, which masks every value
  of every active run and every value this process has ever masked.
- `Route.child_pipe(stream)` is a pipe for a child process (notebooks' kernels): a thread masks what the
  child writes and passes it on; `Route.child_pipes()` a child's stdout and stderr (shell steps), read by
  one thread, stdout first when both have something, so their order mostly holds (ChildPipes).

This is the one place output capture (per attempt, in the catalog) plugs in: a Route's destinations are
where masked bytes end; wrap them (a tee to the attempt's file) rather than adding another path.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import codecs
import contextlib
import contextvars
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from time import monotonic as _monotonic
from time import sleep as _sleep
from typing import IO, Any, Protocol

from magnus_core.files import STARTING_OWN
from magnus_core.masking import Masker, StreamMasker

READ = 1 << 16  # bytes read from a pipe at a time


class Sink(Protocol):
    """What a lane writes to (a Destination, or the default route's lazy one)."""

    @property
    def line_buffered(self) -> bool: ...

    def write_text(self, text: str) -> None: ...

    def write_bytes(self, data: bytes) -> None: ...

    def flush(self) -> None: ...


# How many runs of branches side by side in threads are under way in this process (executors/local.py:
# from the first branch until what they changed from C is put right). While one is, a step in a branch may
# set SIGPIPE's default action from C (`ctypes.CDLL(None).signal(13, 0)`, a C extension) for the whole
# process, and magnus's first write into a pipe whose reader has gone (`magnus execute ... | head -1`) would
# kill it, the run log unfinished, before the main thread can put SIGPIPE right (stepguard: as that step
# or its branch ends; trial 20 N2: a map item's prints beside the one that set it, exit 141). A Destination
# on a pipe or socket then writes with SIGPIPE blocked in the writing thread (_pipe_held).
BESIDE = [0]
_BESIDE_LOCK = threading.Lock()
# How many python steps run now in this process, one at a time (nodes/task.py, main thread only: no lock):
# while one does, it may set SIGPIPE's default action from C and then print, and magnus's write of that
# line into a pipe whose reader has gone would kill it, the run log unfinished, before the step's end puts
# SIGPIPE right (trial 21: `magnus execute ... | head -1` exit 141, the log PROCESSING). A Destination on a
# pipe writes with SIGPIPE held then too (_pipe_held: about 1 us a write into a pipe, only while a python
# step runs; a terminal, a file or /dev/null costs nothing more).
PYTHON_STEP = [0]
_SIGPIPE = {13}  # (Linux's number, as stepguard's masks are)
_HOLDS_SIGNALS = hasattr(_signal, "pthread_sigmask") and hasattr(_signal, "sigtimedwait")  # (not Windows)


@contextlib.contextmanager
def side_by_side() -> Iterator[None]:
    """While branches run side by side in threads (BESIDE; executors/local.py, nested runs of branches
    counted too): a Destination on a pipe writes with SIGPIPE held (_pipe_held)."""
    with _BESIDE_LOCK:
        BESIDE[0] += 1
    try:
        yield
    finally:
        with _BESIDE_LOCK:
            BESIDE[0] -= 1


def _is_pipe(target: Any) -> bool:
    """Whether `target` writes into a pipe or a socket (where a reader that has gone raises SIGPIPE)."""
    import stat

    try:
        mode = os.fstat(_fileno(target)).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _pipe_held(destination: Destination, write: Any, *what: Any) -> None:
    """`write(*what)` into a pipe while branches run side by side (BESIDE) or a python step runs
    (PYTHON_STEP), with SIGPIPE blocked in this thread: with its default action set from C by a step, a
    reader that has gone makes the
    write fail (EPIPE: the Destination is broken, as with SIGPIPE ignored) instead of killing magnus; the
    SIGPIPE it left pending on this thread is taken before SIGPIPE is let through again. Two
    pthread_sigmask calls (about 1 us) per write of a Destination on a pipe, only then."""
    old = _signal.pthread_sigmask(_signal.SIG_BLOCK, _SIGPIPE)
    if 13 in old:  # (blocked already)
        write(*what)
        return
    try:
        write(*what)
    finally:
        if destination.broken:
            with contextlib.suppress(OSError, ValueError):
                if 13 in _signal.sigpending():
                    _signal.sigtimedwait(_SIGPIPE, 0)  # (taken, not delivered: its action may be to kill)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old)


# whether the last output a step wrote to magnus's stdout ended without a newline (Destination)
_STDOUT_MID_LINE = [False]


def stdout_mid_line() -> bool:
    """Whether the last output a step wrote to the process's stdout (through the seam) ended without a
    newline (`print(..., end="")`): the summary then starts on a line of its own (trial 22: `working on
    'a/b'Run n2: FAIL`). Magnus's own writes to stdout are not counted."""
    return _STDOUT_MID_LINE[0]


class Destination:
    """Where masked output ends: a text stream. Takes text (python writes) and bytes (pipes) in order; a
    destination that fails (closed, broken pipe) drops what follows and never raises into the run. One on
    a pipe writes with SIGPIPE held while branches run side by side (_pipe_held; trial 20 N2) and while a
    python step runs (PYTHON_STEP; trial 21)."""

    def __init__(self, target: IO[str] | None, *, owned: bool = False, stdout: bool = False) -> None:
        self.target: Any = target
        self.owned = owned  # opened by the seam (on a copy of fd 1 or 2): closed with it
        # the process's stdout (fd 1, or the seam's copy of it): whether what was last written to it ended a
        # line is kept for the summary (stdout_mid_line)
        self._stdout = stdout or (target is not None and _fileno(target) == 1)
        self.broken = target is None  # python starts with sys.stdout None when fd 1 is closed (`>&-`)
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._line_buffered = bool(getattr(target, "line_buffering", False)) or _isatty(target)
        self._pipe = target is not None and _HOLDS_SIGNALS and _is_pipe(target)

    @property
    def line_buffered(self) -> bool:
        """True for a terminal: python output is masked and written at each line end, not in batches."""
        return self._line_buffered

    def write_text(self, text: str) -> None:
        if not text or self.broken:
            return
        self._locked(self._write_text, text)

    def _locked(self, write: Callable[..., None], *args: Any) -> None:
        """`write(*args)` with the lock held, and SIGPIPE held too when it goes to a pipe while branches
        run side by side or a python step runs (_pipe_held)."""
        with self._lock:
            if self._pipe and (BESIDE[0] or PYTHON_STEP[0]):
                _pipe_held(self, write, *args)
            else:
                write(*args)

    def _write_text(self, text: str) -> None:
        try:
            self.target.write(text)
        except (OSError, ValueError):
            self.broken = True
        if self._stdout:
            _STDOUT_MID_LINE[0] = text[-1:] != "\n"

    def write_bytes(self, data: bytes) -> None:
        if not data or self.broken:
            return
        self._locked(self._write_bytes, data)

    def _write_bytes(self, data: bytes) -> None:
        try:
            buffer = getattr(self.target, "buffer", None)
            if buffer is not None:
                self.target.flush()  # text written before goes first
                buffer.write(data)
                buffer.flush()
            else:
                self.target.write(self._decoder.decode(data))
        except (OSError, ValueError):
            self.broken = True
        if self._stdout:
            _STDOUT_MID_LINE[0] = data[-1:] != b"\n"

    def flush(self) -> None:
        if self.broken:
            return
        self._locked(self._flush)

    def _flush(self) -> None:
        try:
            self.target.flush()
        except (OSError, ValueError):
            self.broken = True

    def close(self) -> None:
        self.flush()
        if self.owned:
            with contextlib.suppress(OSError, ValueError):
                self.target.close()


def _fileno(stream: Any) -> int:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return -1


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class _Lane:
    """One stream (stdout or stderr) of one route: bytes masked on their way to the destination. Python's
    text reaches it encoded, in blocks, from the route's RouteStream; bytes from sys.stdout.buffer."""

    def __init__(self, masker: Masker, destination: Sink) -> None:
        self.masker = masker
        self.destination = destination
        self._bytes: StreamMasker[bytes] = masker.stream(bytes)
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Text, encoded as the route's streams encode it."""
        self.write_bytes(text.encode("utf-8", "surrogateescape"))

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            if not self._bytes.pending and not self.masker:
                self.destination.write_bytes(data)  # no secret known: straight through
                return
            self.destination.write_bytes(self._bytes.feed(bytes(data)))

    def release(self) -> None:
        """The tail held back (it could still become a secret) is written: the end of a route or of an
        attempt's tap. Nothing is flushed."""
        if self._bytes.pending:
            with self._lock:
                if self._bytes.pending:
                    self.destination.write_bytes(self._bytes.finish())

    def flush(self, *, final: bool = False) -> None:
        """The tail that could still become a secret is kept unless `final`."""
        with self._lock:
            if final and self._bytes.pending:
                self.destination.write_bytes(self._bytes.finish())
        self.destination.flush()


class ChildPipe:
    """A pipe a child process writes to (its stdout or stderr); a thread masks what it reads (in bytes,
    so binary output passes unchanged) and writes it to a destination."""

    def __init__(self, masker: Masker, destination: Sink) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._masker = masker.stream(bytes)
        self._destination = destination
        self._thread = threading.Thread(target=self._pump, name="magnus-output", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._write_fd

    def read_fds(self) -> list[int]:
        """The pipe's end this reads (closed once it is drained): whose process holds the other is asked
        of /proc by it (stepenv._close_pipes)."""
        return [self._read_fd]

    def _pump(self) -> None:
        try:
            while True:
                data = os.read(self._read_fd, READ)
                if not data:
                    break
                self._destination.write_bytes(self._masker.feed(data))
            self._destination.write_bytes(self._masker.finish())
            self._destination.flush()
        finally:
            os.close(self._read_fd)

    def close(self, timeout: float = 5.0) -> None:
        """Close our end (the child's copy closed when it exited) and wait for the rest to be written; a
        background process still holding the pipe is given `timeout` seconds."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
        self._thread.join(timeout=timeout)


class _PipeEnd:
    """The end of a pipe a child writes to, as subprocess takes it (fileno); ChildPipes reads the other."""

    def __init__(self, write_fd: int) -> None:
        self._write_fd = write_fd

    def fileno(self) -> int:
        return self._write_fd


class ChildPipes:
    """A child process's stdout and stderr (a shell step's): two pipes, read by one thread that polls both
    and reads stdout first when both have something, each masked (in bytes) and written to its
    destination. `echo a; echo b >&2` then keeps a before b: with a thread per pipe (ChildPipe) the two
    raced, and b came first in most runs (trial 12 fault 2). Within a moment the kernel may still hand over
    a stderr line before stdout lines written just before it (each pipe is read when poll says so):
    docs/logs.md's "order of stdout against stderr"."""

    def __init__(self, masker: Masker, out: Sink, err: Sink) -> None:
        self._pipes = [os.pipe(), os.pipe()]
        self.out, self.err = (_PipeEnd(write) for _, write in self._pipes)
        self.err_taken = False  # (context.step_output hands err out once, to the child out went to)
        self._maskers = [masker.stream(bytes), masker.stream(bytes)]
        self._destinations = [out, err]
        self._thread = threading.Thread(target=self._pump, name="magnus-output", daemon=True)
        self._thread.start()

    def read_fds(self) -> list[int]:
        """The pipes' ends this reads (ChildPipe.read_fds)."""
        return [read for read, _ in self._pipes]

    def _pump(self) -> None:
        _, poll, pollin = select_as_found()
        reads = {read: index for index, (read, _) in enumerate(self._pipes)}
        poller = poll()
        for read in reads:
            poller.register(read, pollin)
        unended = [_Unended(), _Unended()]  # (a line one stream left unended waits for its end: _Unended)
        wait = int(HOLD * 1000)
        try:
            while reads:
                ready = {fd for fd, _ in poller.poll(wait if unended[0].held or unended[1].held else None)}
                for read, index in sorted(reads.items(), key=lambda item: item[1]):  # stdout first
                    if read not in ready:
                        if unended[index].held and (not ready or unended[index].due()):  # (for a while)
                            self._destinations[index].write_bytes(unended[index].release())
                        continue
                    data = os.read(read, READ)
                    if data:
                        masked = self._maskers[index].feed(data)
                        self._destinations[index].write_bytes(unended[index].whole(masked))
                        continue
                    poller.unregister(read)  # its every writer closed it
                    del reads[read]
                    tail = unended[index].release() + self._maskers[index].finish()
                    self._destinations[index].write_bytes(tail)
                    self._destinations[index].flush()
        finally:
            for read, _ in self._pipes:
                os.close(read)

    def close(self, timeout: float = 5.0) -> None:
        """Close our ends (the child's copies closed when it exited) and wait for the rest to be written; a
        background process still holding a pipe is given `timeout` seconds."""
        for end in (self.out, self.err):
            if end._write_fd >= 0:
                os.close(end._write_fd)
                end._write_fd = -1
        self._thread.join(timeout=timeout)


class _LaneRaw(io.RawIOBase):
    """The raw end of a route's python stream: each block python's C buffer hands over goes to the lane
    as bytes (masked there). Never writes to sys.stdout or sys.stderr itself (that would re-enter)."""

    def __init__(self, lane: _Lane, original: Any) -> None:
        super().__init__()
        self.lane = lane
        self.original = original

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(data)
        if _STARTED:  # what a child wrote to fd 1 and 2 before now goes first (_STARTED)
            SEAM.drain_fds()
        self.lane.write_bytes(data)  # (a memoryview of python's buffer: the lane copies what it keeps)
        return size

    def isatty(self) -> bool:
        return _isatty(self.original)

    def fileno(self) -> int:
        if self.original is None:
            raise io.UnsupportedOperation("fileno")
        return int(self.original.fileno())

    def close(self) -> None:  # never closed under the run: only flushed
        self.lane.flush()


class _ErrRaw(_LaneRaw):
    """The raw end of a route's stderr stream (_ErrStream): the route's stdout stream is flushed before
    each block of stderr goes to the lane, so that a file holding both keeps the order they were written
    in. (Two different buffered objects: holding stderr's while flushing stdout's never re-enters one.)"""

    partner: RouteStream | None = None

    def write(self, data: Any) -> int:
        partner = self.partner
        if partner is not None:
            try:  # noqa: SIM105 - not contextlib.suppress: once per line written to stderr
                partner.flush()
            except (OSError, ValueError):
                pass
        return super().write(data)


class RouteStream(io.TextIOWrapper):
    """A route's sys.stdout or sys.stderr: text buffered and encoded in C, handed to the route's lane in
    blocks (a line at a time when the destination is a terminal, or for stderr, as python does). print()
    costs what it costs on a file. A step calling close() only flushes it: the run goes on writing."""

    # Never closed (close() only flushes), and said so by a class attribute: python's C write() of a
    # TextIOWrapper subclass asks `closed` at every call, which otherwise goes through the buffer to the
    # raw stream's python class (IOBase.closed): 0.125 against 0.071 s per million print()s of a line,
    # half the seam's cost over a file's for a step printing 100 MB (measured with the class attribute).
    closed = False

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.flush()


class _ErrStream(RouteStream):
    """A route's stderr: what its stdout holds goes first, so a file holding both keeps their order. Its
    raw end (_ErrRaw) flushes the stdout stream just before each block of stderr reaches the lane: the
    only moment order can change (stderr's text reaches its lane only when it flushes, at each line's end).
    (Before trial 22 F2 stdout was flushed at every python-level write to stderr: four per
    `print(a, b, file=sys.stderr)`, about a quarter of what a stderr line cost through the seam.)"""


STREAM_BUFFER = 1 << 16  # bytes python's stdout gathers before handing them to its route (not a terminal)
# seconds: a block-buffered route stream is flushed at least this often, and a running attempt's output
# reaches its growing file (capture.SPILL_AFTER): what a step printed leaves the process within about
# 2 x FLUSH_EVERY, so a step killed outright keeps it (trial 12 fault 11; 0.5 s lost up to 0.8 s of it).
# The flush thread's wakes cost nothing a step pays (20 a second, each a few python calls)
FLUSH_EVERY = 0.05


def _route_stream(
    lane: _Lane, original: Any, line_buffered: bool, partner: RouteStream | None
) -> RouteStream:
    raw: _LaneRaw = _LaneRaw(lane, original)
    kind = RouteStream
    if partner is not None:  # stderr's: stdout flushed before each of its blocks reaches the lane
        err = _ErrRaw(lane, original)
        err.partner = partner
        raw, kind = err, _ErrStream
    made = kind(
        io.BufferedWriter(raw, STREAM_BUFFER),
        encoding="utf-8",
        errors="surrogateescape",  # undecodable bytes python read (file names, args) go out as they were
        # (not python -u / PYTHONUNBUFFERED's write-through, which would cost a masked write per print:
        # a block-buffered stream is flushed at least every FLUSH_EVERY seconds instead; a line at a time
        # under those was tried, session 17: a step printing 100 MB went from within 1.5x of a file's write
        # to 42x, so a crash's last 50 ms of stdout are lost when piped, documented in docs/logs.md)
        line_buffering=line_buffered,
    )
    return made


class Route:
    """One run's way out (or one attempt's, see tapped()): its masker, a lane per stream to its
    destinations, and the python streams (RouteStream) that write to the lanes."""

    def __init__(self, masker: Masker, out: Sink, err: Sink) -> None:
        self.masker = masker
        self.lanes = {"stdout": _Lane(masker, out), "stderr": _Lane(masker, err)}
        self._streams: dict[str, RouteStream] = {}
        self._lock = threading.RLock()

    def destination(self, stream: str) -> Sink:
        """Where the lane of `stream` writes now. While an attempt taps the route, its lanes write to the
        route's held Tees, whose copy is switched at each attempt: what is handed out here (to a child's
        pipe, to a pump of fd 1 or 2, which may write after the attempt ended) is a Tee of its own, bound to
        this attempt's copy, so that a late writer never lands in the next attempt's file."""
        found = self.lanes[stream].destination
        if found.__class__ is Tee:
            assert isinstance(found, Tee)
            return Tee(found.first, found.copy)
        return found

    def stream(self, name: str) -> RouteStream:
        """The python stream of `name` (stdout, stderr) for this route, made on first use."""
        found = self._streams.get(name)
        if found is not None:
            return found
        with self._lock:
            if name not in self._streams:
                partner = self.stream("stdout") if name == "stderr" else None
                lane = self.lanes[name]
                line = name == "stderr" or bool(lane.destination.line_buffered)
                self._streams[name] = _route_stream(lane, SEAM.originals.get(name), line, partner)
            return self._streams[name]

    tap: Sink | None = None  # the attempt tapping this route's lanes (tapped(alone=True))
    # the threads alive as the attempt tapping it began (threading's own table, copied: 0.07 us; see
    # _Seam.leave_strays)
    threads: dict[Any, threading.Thread] = {}  # noqa: RUF012 - (replaced per attempt, never changed)
    tees: tuple[Tee, Tee] | None = None  # the lanes' Tees while tapped, kept for the next attempt (_Tap)
    # an attempt's own route's (_own_route): the attempt's token while it runs, None after (see _attempt_of)
    own_attempt: Any = None
    # the threads an attempt's own route's step started (thread_made), looked at as it ends (_own_route)
    started: list[threading.Thread] | None = None

    def flush_streams(self) -> None:
        """What python wrote and its C buffers still hold goes to the lanes."""
        for stream in list(self._streams.values()):
            try:  # noqa: SIM105 - not contextlib.suppress: this runs twice per attempt
                stream.flush()
            except (OSError, ValueError):
                pass

    def child_pipe(self, stream: str = "stdout") -> ChildPipe:
        """A pipe for a child process's `stream`, masked with this route's secrets; close() it when the
        child has exited."""
        return ChildPipe(self.masker, self.destination(stream))

    def child_pipes(self) -> ChildPipes:
        """The stdout and stderr pipes of one child process, read in one thread (ChildPipes), masked with
        this route's secrets; close() it when the child has exited."""
        return ChildPipes(self.masker, self.destination("stdout"), self.destination("stderr"))

    def flush(self, *, final: bool = False) -> None:
        self.flush_streams()
        for lane in self.lanes.values():
            lane.flush(final=final)


_route: contextvars.ContextVar[Route | None] = contextvars.ContextVar("magnus_output_route", default=None)


class SeamStream(io.TextIOBase):
    """What sys.stdout or sys.stderr is while the seam is installed: writes go to the current context's
    route, or, from a thread with none in its context, to the route of the step that started the thread
    while that step runs (thread_route)."""

    def __init__(self, seam: _Seam, name: str, original: IO[str]) -> None:
        super().__init__()
        self._seam = seam
        self._name = name
        self.original = original
        self._buffer = _SeamBuffer(self)

    def _lane(self) -> _Lane:
        return (_route.get() or thread_route()).lanes[self._name]

    def _stream(self) -> RouteStream:
        route = _route.get() or thread_route()
        return route._streams.get(self._name) or route.stream(self._name)

    def write(self, text: str) -> int:  # called for every piece print() writes: kept short
        route = _route.get() or thread_route()
        return (route._streams.get(self._name) or route.stream(self._name)).write(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        stream = self._stream()
        for line in lines:
            stream.write(line)

    def flush(self) -> None:
        self._stream().flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.original, "errors", None)

    @property
    def line_buffering(self) -> bool:
        return bool(getattr(self.original, "line_buffering", False))

    @property
    def buffer(self) -> _SeamBuffer:
        return self._buffer

    def isatty(self) -> bool:
        return _isatty(self.original)

    def fileno(self) -> int:
        return self.original.fileno()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:  # a step closing sys.stdout must not close the terminal under the run
        self.flush()


# The name of magnus's own log handler (cli.setup_logging): while the seam is installed it writes through
# OwnLines, never into a step's captured output
OWN_HANDLER = "magnus"


class OwnLines(io.TextIOBase):
    """Where magnus's own log handler (named OWN_HANDLER) writes while the seam is installed: its lines (a
    warning that a step left SIGCHLD ignored, removed TMPDIR, closed magnus's descriptors) are masked as
    any output and go where the current run's stderr goes (the terminal), never into the attempt a tap
    copies to. They were written while the next step's capture was open, so they became that step's
    output and, when it failed, its recorded `error.stderr`, shown as the reason for its exit code (trial
    19 F6: `sh: shell command exited with code 7 / stderr: magnus: SIGCHLD was ignored ...`). What the
    step printed before is flushed first, so the order on the terminal holds."""

    def __init__(self, seam: _Seam) -> None:
        super().__init__()
        self._seam = seam

    def write(self, text: str) -> int:
        route = _route.get() or self._seam.default
        with contextlib.suppress(OSError, ValueError):
            route.flush_streams()
        destination: Any = route.lanes["stderr"].destination
        while isinstance(destination, Tee):  # (an attempt's tap: the terminal is its first)
            destination = destination.first
        destination.write_text(route.masker.text(text) if route.masker else text)
        destination.flush()
        return len(text)

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True


class _SeamBuffer(io.RawIOBase):
    """sys.stdout.buffer while the seam is installed: bytes written there are masked too."""

    def __init__(self, stream: SeamStream) -> None:
        super().__init__()
        self._stream = stream

    def write(self, data: Any) -> int:
        data = bytes(data)
        stream = self._stream._stream()
        stream.flush()  # text written before goes first
        self._stream._lane().write_bytes(data)
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._stream._stream().flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def close(self) -> None:
        self.flush()


def _pipe_above_std() -> tuple[int, int]:
    """os.pipe(), never on 0, 1 or 2: after a step closed fd 1, a new pipe would take that number."""
    import fcntl

    ends = []
    for fd in os.pipe():
        if fd <= 2:
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = high
        ends.append(fd)
    return ends[0], ends[1]


# The capacity given to a pump's pipe (Linux: F_SETPIPE_SZ), unlike any a pipe has unless set (64 KB), and
# fd 2's unlike fd 1's (a step's os.dup2(2, 1) is told apart): when fd 1 or 2 still has its own at the end
# of an attempt, it still is its pump's pipe (FdPump.taken). A bigger buffer costs nothing until a child
# fills it. Where it cannot be set, the pipe's inode is compared.
PUMP_PIPE = 1 << 18  # fd 1's; fd 2's is twice that
F_GETPIPE_SZ, F_SETPIPE_SZ = 1032, 1031
_FCNTL: list[Any] = []


def _fcntl() -> Any:
    if not _FCNTL:
        import fcntl

        _FCNTL.append(fcntl.fcntl)
    return _FCNTL[0]


def _mark_pipe(fd: int) -> int:
    """Give the pipe on `fd` (1 or 2) its capacity (PUMP_PIPE, twice that for 2); it, or 0 when it cannot
    be set."""
    if not sys.platform.startswith("linux"):
        return 0
    wanted = PUMP_PIPE << (fd - 1)
    try:
        _fcntl()(fd, F_SETPIPE_SZ, wanted)
        size = int(_fcntl()(fd, F_GETPIPE_SZ))
    except OSError:  # a user's pipe quota used up (pipe-user-pages-soft)
        return 0
    return size if size == wanted else 0


def _held(fd: int) -> int:
    """How many bytes the pipe `fd` holds (FIONREAD); 0 when it cannot say (closed)."""
    import fcntl
    import termios

    buffer = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buffer)
    except OSError:
        return 0
    return int.from_bytes(buffer, sys.byteorder, signed=True)


# How long (seconds) a pipe's unended line is held back for the rest of it (_Unended), and how much of it
HOLD = 0.05
HOLD_MAX = 1 << 16


class _Unended:
    """What a pipe passed on last, held back while it ends in the middle of a line: a process writing
    pieces of a line (`print("out", i)` under PYTHONUNBUFFERED: "out", " ", "0", "\\n") to stdout while
    it, or another, writes to stderr had the other stream's line spliced into it in the file and on the
    terminal (`outerr 0` then ` 0`, trial 24 F1). A line end is "\\n" or "\\r" (a progress bar's frame).
    Held at most HOLD seconds and HOLD_MAX bytes, and passed on when an attempt ends, a process starts,
    or this process signals itself (the pumps' drain): a prompt with no newline comes HOLD seconds late;
    a magnus killed with SIGKILL loses what it held as it loses what the pipe held."""

    __slots__ = ("held", "since")

    def __init__(self) -> None:
        self.held = b""
        self.since = 0.0

    def whole(self, data: bytes) -> bytes:
        """What is held and `data`, up to its last line end; the rest is held (all is given when it is too
        long, or was held HOLD seconds)."""
        held = self.held
        if not held and (not data or data[-1:] in b"\n\r"):
            return data  # (the usual chunk: whole lines)
        if held:
            data = held + data
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        if cut == len(data) or len(data) - cut > HOLD_MAX or (held and self.due()):
            self.held = b""
            return data
        if cut or not held:
            self.since = _monotonic()
        self.held = data[cut:]
        return data[:cut]

    def due(self) -> bool:
        """Whether what is held has been for HOLD seconds."""
        return bool(self.held) and _monotonic() - self.since > HOLD

    def release(self) -> bytes:
        held, self.held = self.held, b""
        return held


class _PumpPipe:
    """One pipe of a FdPump: its read end, its masker, its unended line, and where what is read goes
    (`bound[0]`; None: where the seam says, per chunk, see FdPump.hand_over)."""

    __slots__ = ("bound", "inode", "masker", "read_fd", "unended")

    def __init__(self, read_fd: int, inode: int, masker: StreamMasker[bytes]) -> None:
        self.read_fd = read_fd
        self.inode = inode
        self.masker = masker
        self.unended = _Unended()
        self.bound: list[Sink | None] = [None]


class FdPump:
    """File descriptor `fd` (1 or 2) becomes a pipe; a thread masks what is written there (by any code or
    child process of this process) and writes it to the stream fd pointed to before."""

    def __init__(self, seam: _Seam, fd: int, name: str, original: Any) -> None:
        self.fd = fd
        self.name = name
        self._seam = seam
        from magnus_core.files import own_fd

        self.saved = own_fd(os.dup(fd), name)
        self.destination = Destination(
            open(  # noqa: SIM115 - closed by close()
                self.saved,
                "w",
                encoding=getattr(original, "encoding", None) or "utf-8",
                errors=getattr(original, "errors", None) or "strict",
                buffering=1 if _isatty(original) else -1,
                closefd=False,
            ),
            owned=True,
            stdout=fd == 1,
        )
        # the stream python had on this fd writes through the pump only if it really was this fd
        self.backs = original is not None and _fileno(original) == fd
        self._current: _PumpPipe  # its pipe now
        self._inode = -1
        self._size = 0  # its pipe's capacity when set to PUMP_PIPE (see taken())
        self._read_fd = -1
        self._ended = False  # its thread read the pipe's end; the read end is left open (see _pump)
        self._closing = False  # close() was called
        self._processing = threading.Lock()  # held while a chunk read is on its way (see drain)
        # pipes handed over to an attempt (hand_over), with the threads reading them
        self._handed: list[tuple[threading.Thread, _PumpPipe]] = []
        self._stopping = False  # close() found only multiprocessing's helpers holding its pipes (_helpers)
        self._thread = self._open()

    def _open(self) -> threading.Thread:
        """A new pipe on fd, and the thread reading it (the read end of a pipe whose thread ended, at its
        end, is closed here: see _pump)."""
        from magnus_core.files import close_own, own_fd

        read_fd, write_fd = _pipe_above_std()
        own_fd(read_fd, f"{self.name} capture pipe")
        os.dup2(write_fd, self.fd)
        os.close(write_fd)
        self._inode = os.fstat(self.fd).st_ino
        self._size = _mark_pipe(self.fd)
        with self._processing:
            old, ended, self._read_fd, self._ended = self._read_fd, self._ended, read_fd, False
        if ended:
            with contextlib.suppress(OSError):
                close_own(old)
        self._seam.poller = None  # (the attempts' end polls the new pipe)
        pipe = _PumpPipe(read_fd, self._inode, self._seam.default.masker.stream(bytes))
        with self._processing:
            self._current = pipe
        thread = threading.Thread(target=self._pump, args=(pipe,), name=f"magnus-fd{self.fd}", daemon=True)
        thread.start()
        return thread

    def _pump(self, pipe: _PumpPipe) -> None:
        select = select_as_found()[0]
        order = self._seam.fd_order
        read_fd = pipe.read_fd
        try:
            while True:
                ready, _, _ = select([read_fd], [], [], HOLD)
                with order:
                    if ready:
                        if not self._pass_ready(pipe):
                            break
                    elif pipe.unended.held:  # nothing more came for a while: the unended line as it is
                        with self._processing:
                            self._write(pipe, pipe.unended.release())
                    elif self._stopping:  # (held by processes that end only after this one: close())
                        break
            # what the masker still holds (a last line with no newline), only if it holds something: the
            # pipe's end alone (a step's os.close(1)) is no output, and fd_destination counts what it is
            # asked for beside other branches as written there (trial 20 N7: a false UNKEPT note, in both
            # branches' files, whenever the end was read while both attempts ran)
            with order, self._processing:
                self._write(pipe, pipe.unended.release() + pipe.masker.finish())
        finally:
            # The pipe's end (no write end left: a step closed fd, or put another file there): its read end
            # stays open while it is the pump's, so that poll() keeps saying so at each attempt's end
            # (_Seam.fds_busy) until repair() gives fd a new pipe and closes it; one already replaced is
            # closed now.
            with self._processing:
                if read_fd == self._read_fd and not self._closing:
                    self._ended = True
                else:  # (or the pump was closed, and gave up waiting for this thread: a child held the pipe)
                    from magnus_core.files import close_own

                    with contextlib.suppress(OSError):
                        close_own(read_fd)

    def _pass_ready(self, pipe: _PumpPipe) -> bool:
        """What `pipe` (one of this pump's, found readable) holds is passed on, called with the seam's
        fd_order held; False at the pipe's end (no write end left anywhere).

        Both pumps' current pipes are passed on together, whichever pump's thread got there first: the
        count stderr's pipe holds is read first, then stdout's is passed on whole, then that much of
        stderr's. A process that writes a line to stdout, then one to stderr (a python step's child: `echo
        downloading; echo failed >&2`), has by then every byte it wrote to stdout before in stdout's pipe,
        so the file and the terminal keep the two in the order written (20 runs in 20; with a thread per
        pipe passing its own on, the two raced: 16 in 20, trial 24 F1). Lines written many times over
        within a moment, faster than a thread wakes, still come in blocks, each stream's in its order, as
        a shell step's (ChildPipes): docs/logs.md. Never blocks: a pipe found readable may have been passed
        on by the other pump's thread meanwhile (its count is 0 then, and it is not at its end)."""
        out, err = self._seam.pumps.get("stdout"), self._seam.pumps.get("stderr")
        if out is not None and err is not None and self._current is pipe:
            with err._processing:
                err_pipe = err._current
                count = _held(err_pipe.read_fd)
            passed = out._pass_current()
            if count:
                with err._processing:
                    if err._current is err_pipe:
                        err._pass(err_pipe, count)
                        passed = True
            if passed:
                return True
        with self._processing:
            count = _held(pipe.read_fd)
            if count:
                self._pass(pipe, count)
                return True
            # nothing there: the pipe's end, or passed on by the other thread meanwhile (not readable now)
            return not select_as_found()[0]([pipe.read_fd], [], [], 0)[0]

    def _pass_current(self) -> bool:
        """What this pump's current pipe holds now is passed on (fd_order held); whether there was any."""
        with self._processing:
            pipe = self._current
            count = _held(pipe.read_fd)
            if count:
                self._pass(pipe, count)
            return bool(count)

    def _pass(self, pipe: _PumpPipe, size: int) -> None:
        """`size` bytes of `pipe` read, masked and written on, but for an unended line (_Unended):
        _processing and the seam's fd_order held."""
        data = os.read(pipe.read_fd, size)
        if data:
            self._write(pipe, pipe.unended.whole(pipe.masker.feed(data)))

    def _write(self, pipe: _PumpPipe, data: bytes) -> None:
        if data:
            (pipe.bound[0] or self._seam.fd_destination(self.name)).write_bytes(data)

    def drain(self, timeout: float = 2.0) -> None:
        """Wait until what was written to fd before now has been read and passed on (the end of an
        attempt: its file must hold what its subprocesses wrote, however late this thread was scheduled),
        an unended line too."""
        # (time's functions as magnus found them: a step's `time.sleep = ...` left on, a mock, failed the
        # attempts' end, trial 20 N8's neighbour: 3 of 100 map items cut short, the run FAIL)
        deadline = _monotonic() + timeout
        while _monotonic() < deadline:
            with self._processing:
                if _held(self._read_fd) == 0:  # (or the pipe is gone, closed: nothing to wait for)
                    pipe = self._current
                    if pipe.unended.held:
                        self._write(pipe, pipe.unended.release())
                    return
            _sleep(0.001)

    def taken(self) -> bool:
        """True when fd no longer is this pump's pipe (a step closed it, or put another file there). Asked
        at the end of every attempt: the pipe's capacity (see PUMP_PIPE) is one fcntl; else its inode (an
        fstat, whose result python builds field by field: 3-4 times the cost)."""
        try:
            if self._size:
                return bool(_fcntl()(self.fd, F_GETPIPE_SZ) != self._size)
            return os.fstat(self.fd).st_ino != self._inode
        except OSError:
            return True  # closed, or no longer a pipe

    def repair(self) -> None:
        """A step that closed fd 1 (os.close(1)) or pointed it elsewhere (os.dup2) took it from the seam:
        give fd its pipe back, so what later steps' subprocesses write there is masked and kept."""
        if not self.taken():
            return
        with contextlib.suppress(OSError):
            self._thread = self._open()

    def hand_over(self, to: Sink) -> None:
        """The pipe on fd, and the thread reading it, stay with an attempt that ended while a child process
        of its step still holds the pipe (_Seam.hand_over_held): what that child writes from now on goes to
        `to` (the terminal alone), never to a later attempt's file; fd gets a fresh pipe, read by a new
        thread, for what follows."""
        self._current.bound[0] = to
        self._handed = [handed for handed in self._handed if handed[0].is_alive()]
        self._handed.append((self._thread, self._current))
        with contextlib.suppress(OSError):
            self._thread = self._open()

    def close(
        self, deadline: float | None = None, waiting: Callable[[list[str]], None] | None = None
    ) -> None:
        """fd points where it did before; what was written to the pipe is masked and written on. A child
        process still holding the pipe, or one handed over, is given until `deadline` (time.monotonic; 5
        seconds from now by default), `waiting` told the holders once it has waited WAIT_SAID seconds;
        none when the only processes holding them are multiprocessing's helpers, which end only after this
        process (a step that used a spawn Pool made `magnus execute` end 10 s after its run, trial 24)."""
        with self._processing:
            self._closing = True  # (its thread closes the read end at the pipe's end from now on)
        os.dup2(self.saved, self.fd)
        begun = _monotonic()
        deadline = begun + 5.0 if deadline is None else deadline
        threads = [self._thread, *(thread for thread, _ in self._handed)]
        names = {f"pipe:[{pipe.inode}]" for pipe in [self._current, *(pipe for _, pipe in self._handed)]}
        while any(thread.is_alive() for thread in threads) and _monotonic() < deadline:
            holders = _holders(names)  # (looked at again as they end: a child left running for a while)
            if holders is None:
                break  # (no /proc: given the time)
            left = _not_helpers(holders)
            if holders and not left:  # (none seen: a grandchild may hold it, given the time as before)
                self._stopping = True
                break
            if waiting is not None and left and _monotonic() - begun >= WAIT_SAID:
                waiting(left)
                waiting = None
            _sleep(HOLD)
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - _monotonic()))
        self.destination.flush()
        if not any(thread.is_alive() for thread in threads):
            self.destination.close()
            from magnus_core.files import close_own

            close_own(self.saved)
            with self._processing:
                if self._ended:
                    self._ended = False
                    with contextlib.suppress(OSError):
                        close_own(self._read_fd)


# (select.select, select.poll, select.POLLIN) as magnus found them when it first put the seam in place (before
# any step's code or module ran; not at import: --help): what its threads reading pipes and an attempt's
# end use, whatever a step then did to the select module (trial 20 N8: a step's `select.select = ...` killed
# the fd thread, `Error: internal error`, and the step that did it was recorded FAIL; gevent's patch_all
# removes select.poll)
_SELECT: list[tuple[Any, Any, int]] = []


def select_as_found() -> tuple[Any, Any, int]:
    """select.select, select.poll and POLLIN as magnus first found them (_SELECT): what magnus's own threads
    and waits call, never a step's replacement (trial 20 N8)."""
    if not _SELECT:
        import select

        _SELECT.append((select.select, select.poll, select.POLLIN))
    return _SELECT[0]


_WAITID = getattr(os, "waitid", None)
_P_PGID = getattr(os, "P_PGID", 2)
_WAIT_FLAGS = getattr(os, "WEXITED", 4) | os.WNOHANG | getattr(os, "WNOWAIT", 0x01000000)
_GROUP: list[int] = []  # this process's process group, asked once
# /proc/sys/kernel/ns_last_pid: the last process id the kernel gave in this process's pid namespace (to a
# process or a thread, anyone's): it changes whenever a process is made, by any means (os.fork, subprocess's
# fork_exec, posix_spawn, C code), which no python hook sees all of. [its fd (None: not opened yet, -1: not
# readable here), what it said before the last children() that found none (b"": none to trust)]
_NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
_PIDS: list[Any] = [None, b""]


def _last_pid() -> bytes:
    """What /proc/sys/kernel/ns_last_pid says now (one pread of a file kept open), b"" when it cannot be
    read (no /proc, a kernel without it, a step that closed its fd: opened again at the next call)."""
    fd = _PIDS[0]
    if fd is None:
        try:
            fd = os.open(_NS_LAST_PID, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fd = -1
        else:
            from magnus_core.files import own_fd

            own_fd(fd, "ns_last_pid")
        _PIDS[0] = fd
    if fd < 0:
        return b""
    try:
        return os.pread(fd, 32, 0)
    except OSError:  # closed by a step (or its number reused for a pipe): a fd of our own again next time
        _PIDS[0] = None
        return b""


def _holders(pipes: set[str]) -> list[str] | None:
    """The children of this process (of any of its threads) whose fd 1 or 2 is one of `pipes` (readlink
    names, `pipe:[inode]`), each as `pid N: name`; None when /proc cannot say (no /proc, or a kernel
    without /proc/PID/task/TID/children). Asked only when children() found one: a few small reads."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    found: list[str] = []
    for task in tasks:
        try:
            pids = _read(f"/proc/self/task/{task}/children").split()
        except FileNotFoundError:  # a thread that ended meanwhile, or no such file in this kernel
            if task == str(os.getpid()):
                return None
            continue
        except OSError:
            return None
        for pid in pids:
            for fd in (1, 2):
                try:
                    held = os.readlink(f"/proc/{pid.decode()}/fd/{fd}") in pipes
                except OSError:  # (ended meanwhile: a zombie has no file descriptors)
                    break
                if held:
                    try:
                        name = _read(f"/proc/{pid.decode()}/comm").decode(errors="replace").strip()
                    except OSError:
                        name = "?"
                    found.append(f"pid {pid.decode()}: {name}")
                    break
    return found


def _helpers() -> set[str]:
    """The processes multiprocessing starts for itself and keeps for the rest of the process (`pid N`): its
    resource tracker (started by a spawn or forkserver pool, a shared memory block, a semaphore) and its
    fork server. They hold the output pipes of the step that started them but never print (a leaked
    resource's warning as the process ends aside): the step's file does not name them as a process still
    running (trial 24: every step using a spawn Pool ended with that note)."""
    found = set()
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    server = sys.modules.get("multiprocessing.forkserver")
    for pid in (
        getattr(getattr(tracker, "_resource_tracker", None), "_pid", None),
        getattr(getattr(server, "_forkserver", None), "_forkserver_pid", None),
    ):
        if isinstance(pid, int):
            found.add(f"pid {pid}")
    return found


def _not_helpers(holders: list[str]) -> list[str]:
    """`holders` (_holders' `pid N: name`) but multiprocessing's helpers (_helpers)."""
    helpers = _helpers()
    return [holder for holder in holders if holder.split(":")[0] not in helpers]


def _read(path: str) -> bytes:
    """A small file of /proc, read with two system calls (no python file object)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


WAIT_SAID = 0.5  # seconds magnus waits at its end for a process holding its output before it says so
WAITING = (
    "magnus: waiting up to {1:.0f} s more for a process a step left running to end ({0}): it still holds the"
    " run's output\n"
)
HELD = (
    "[magnus: a process still running as this step ended holds its output ({}): what it writes from here on"
    " goes to the terminal only, not to any step's file (docs/logs.md)]\n"
)


def children() -> bool:
    """Whether this process has a child in its own process group not waited for (running, or ended and not
    reaped yet): one waitid(P_PGID, WNOHANG | WNOWAIT), which reaps nothing, about 2-3 us (the
    ChildProcessError made when there is none, the usual case, is most of it). A python step's subprocess
    still running as its attempt ends may hold fd 1 and 2's pipes (_Tap: the pipes are handed over).
    magnus's own long-lived children are not in its group: the output writer process (capture._Writer)
    runs in a session of its own, as do shell steps' commands (processes.run_in_group, waited for). Not
    seen: a child that started a session of its own (start_new_session), a grandchild whose parent has
    ended (a daemon). False where waitid or P_PGID does not exist (not Linux: as before).

    Most attempts start no process: when the kernel has given no process id since a check that found no
    child (_last_pid: one pread, ~1 us), none can have been made since, and waitid is not asked (its
    ChildProcessError was 6.7K instructions of the steps' thread, the largest single cost of an attempt's
    end). Read before waitid: a child made between the two changes it, and the next call asks again."""
    waitid = _WAITID
    if waitid is None:
        return False
    last = _last_pid()
    if last and last == _PIDS[1]:
        return False
    if not _GROUP:
        _GROUP.append(os.getpgrp())
    try:
        waitid(_P_PGID, _GROUP[0], _WAIT_FLAGS)
    except OSError:  # ChildProcessError: none
        _PIDS[1] = last
        return False
    _PIDS[1] = b""
    return True


def _poll() -> Any:
    """A new select.poll object (as magnus found select: _SELECT)."""
    return select_as_found()[1]()


class _Seam:
    """The process's seam (one per process, see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.count = 0
        self.fd_count = 0
        self.known: set[str] = set()  # every value masked in this process (the default route masks them)
        self.known_version = 0
        self.active: list[Route] = []
        self.attempts: list[Route] = []  # attempts being captured (tapped), in any thread
        self.originals: dict[str, IO[str]] = {}
        self.streams: dict[str, SeamStream] = {}
        self.pumps: dict[str, FdPump] = {}
        self.fd_order = threading.Lock()  # held by a pump's thread passing fd 1 and 2 on (FdPump._pass_ready)
        self.poller: Any = None  # select.poll of the pumps' pipes (None: made again at the next use)
        self.suspect = False  # the flush thread saw fd 1 or 2 taken by a step (see repair_fds)
        self.unkept = 0  # chunks fd 1 and 2 received while attempts ran side by side (in no file: UNKEPT)
        self.replaced = 0  # times sys.stdout or sys.stderr was seen replaced while attempts ran side by side
        self.dropped = 0  # times one was seen set to None then, and put back (_put_back_dropped)
        self.strays: list[threading.Thread] = []  # threads a step left running (see leave_strays)
        self.handlers: list[tuple[logging.StreamHandler[Any], Any]] = []
        self.record_factory: Any = logging.getLogRecordFactory()
        self.default = self._default_route()

    # -- the default route: every value of every active run, to the streams as they were -------------
    def _values(self) -> tuple[Any, Any]:
        routes = list(self.active)
        versions = tuple(route.masker.source()[0] for route in routes)
        version = (self.known_version, tuple(id(r) for r in routes), versions)

        def values() -> set[str]:
            found = set(self.known)
            for route in routes:
                found.update(route.masker.values())
            return found

        return version, values

    def _default_route(self) -> Route:
        masker = Masker(self._values)
        return Route(masker, _LazyDestination(self, "stdout"), _LazyDestination(self, "stderr"))

    def original_destination(self, name: str) -> Destination:
        """The stream `name` as it was before the seam (fd 1 or 2's copy while they are pumped)."""
        pump = self.pumps.get(name)
        if pump is not None and pump.backs:
            return pump.destination
        target = self.originals.get(name) or getattr(sys, name)
        if isinstance(target, SeamStream):
            target = target.original
        return _plain(target)

    def fd_destination(self, name: str) -> Sink:
        """Where what fd 1 or 2 receives goes: the only active run's destination (so --json keeps stdout
        clean), through the attempt being captured when it is the only one (its file keeps it too), else
        the stream fd pointed to before."""
        routes = self.active
        if len(routes) == 1:
            attempts = self.attempts
            if len(attempts) > 1:  # whose is it? fd 1 and 2 are the process's, not a branch's
                self.unkept += 1
            return (attempts[0] if len(attempts) == 1 else routes[0]).destination(name)
        return self.original_destination(name)

    def writer(self) -> Route | None:
        """The one route that may own sys.stdout and sys.stderr directly: in a process that owns its
        terminal (fd_count), while one run writes, one step at a time (no attempt with a route of its own,
        see tapped(), and no thread an earlier step left running, see `strays`); None otherwise.

        Never an attempt's own route, even while it runs alone among branches: what a step keeps of
        sys.stderr then (logging.basicConfig's handler, a progress bar) would write to that attempt's
        file whatever thread or branch used it, and to none once the attempt ended (trial 19 F15: a map
        item's basicConfig put the next item's log lines in its file, the others' in none), and a thread
        a branch's step left printing, which has no branch's context, wrote into the file of the branch
        running alone after it (trial 19 F2): through the SeamStreams it reaches the terminal alone."""
        if self.fd_count > 0 and len(self.active) == 1 and not self.attempts and not self.strays:
            return self.active[0]
        return None

    def rebind(self) -> None:
        """Point sys.stdout and sys.stderr at the writer's own streams (print() at the speed of a file),
        or at the SeamStreams, which find each context's route (concurrent branches, the workbench). A
        stream a step put there itself is left alone (nodes/task.py puts the step's back). Leaving the
        writer's streams, logging handlers a step made on them are pointed at the SeamStreams
        (_handlers_to_seam)."""
        with self.lock:
            if not self.streams:
                return
            route = self.writer()
            left = False
            for name in ("stdout", "stderr"):
                current = getattr(sys, name)
                if current is not self.streams[name] and not isinstance(current, RouteStream):
                    continue
                left = left or (route is None and current is not self.streams[name])
                setattr(sys, name, route.stream(name) if route is not None else self.streams[name])
            if left:
                self._handlers_to_seam()

    def _handlers_to_seam(self) -> None:
        """Logging handlers on a route's own stream (`logging.basicConfig()` in a step run one at a time
        made its handler on sys.stderr, then the run's route's stream) write through the SeamStream of
        that name from now on, which finds the route of the context that logs: each branch's records go
        to its own attempt (trial 19 F15: they went to the run's route, the terminal alone, and `magnus
        logs` said the branches printed nothing). Asked only as sys.stdout and sys.stderr leave the
        writer's streams (the first branch attempt of a parallel or map begins, or a step left a thread
        running): one look at every logger's handlers, never per attempt of steps run one at a time.
        They are given back the streams from before the seam when it is removed (_uninstall_streams)."""
        for handler in _stream_handlers():
            stream = getattr(handler, "stream", None)
            if isinstance(stream, RouteStream):
                name = "stderr" if isinstance(stream, _ErrStream) else "stdout"
                _set_stream(handler, self.streams[name])
                self.handlers.append((handler, self.originals.get(name, stream)))

    def repair_fds(self) -> None:
        """fd 1 and 2 are the pumps' pipes again if a step took them (see FdPump.repair): one fcntl per fd
        (FdPump.taken), no lock, unless one was taken. Asked at an attempt's end when fds_busy() said so."""
        self.suspect = False
        for pump in list(self.pumps.values()):
            if pump.taken():
                with self.lock:
                    pump.repair()
        self.poller = None

    def hand_over_held(self, copy: Sink, out: Sink, err: Sink) -> bool:
        """An attempt ended while a child of this process is not waited for (children()): when a child holds
        fd 1 or 2's pipe (or /proc cannot say, see _holders), those pipes stay with the attempt, writing to
        `out` and `err` (the terminal alone; see FdPump.hand_over), fd 1 and 2 get fresh ones (a fd the step
        took is given back with them), and the attempt's `copy` says so (HELD, naming the holders). False,
        and nothing done, when no child holds them (a child with its own output; a pool's worker holding an
        older pipe, already handed over)."""
        holders = _holders({f"pipe:[{pump._inode}]" for pump in self.pumps.values()})
        if holders == []:
            return False
        said = _not_helpers(holders or [])
        if said:
            getattr(copy, "write_marker", copy.write_text)(HELD.format(", ".join(said)))
        self.hand_over_fds(out, err)
        return True

    def hand_over_fds(self, out: Sink, err: Sink) -> None:
        """fd 1 and 2's pipes stay with an attempt that ended (see hand_over_held)."""
        with self.lock:
            for name, pump in list(self.pumps.items()):
                pump.hand_over(out if name == "stdout" else err)
            self.suspect = False
            self.poller = None

    def fds_busy(self) -> bool:
        """Whether fd 1 or 2 may hold something not passed on yet, or may have been taken by a step: asked at
        the end of every attempt, before drain_fds and repair_fds (needed only then). One poll() of the
        pumps' pipes (no system call without pumps): a pipe holding data, or at its end (no write end left
        anywhere: a step closed fd 1, or put another file there with os.dup2; the read end stays open
        until repaired, see FdPump._pump), or closed; a pump passing a chunk on, or holding an unended
        line; or the flush thread saw a fd taken (suspect: a step that took fd 1 while another process, a
        child it started in the background, still holds the pipe's write end leaves no end to see: the
        flush thread checks every FLUSH_EVERY seconds, so fd 1 is given back at the end of the first
        attempt after that)."""
        pumps = self.pumps
        if not pumps:
            return False
        poller = self.poller
        if poller is None:
            with self.lock:
                poller = _poll()
                for pump in pumps.values():
                    poller.register(pump._read_fd, 1)  # POLLIN (POLLHUP, POLLERR, POLLNVAL come anyway)
                self.poller = poller
        try:
            if poller.poll(0) or self.suspect:
                return True
        except (OSError, ValueError):
            return True
        for pump in pumps.values():  # noqa: SIM110 - not any(): no generator made at every attempt's end
            if pump._processing.locked() or pump._current.unended.held:
                return True
        return False

    def drain_fds(self) -> None:
        """What was written to fd 1 and 2 so far has reached its destination (see FdPump.drain). When no
        pipe holds anything and no pump is passing a chunk on (the usual end of an attempt), that is one
        select() for both."""
        pumps = list(self.pumps.values())
        if not pumps:
            return
        try:
            waiting = bool(select_as_found()[0]([pump._read_fd for pump in pumps], [], [], 0)[0])
        except (OSError, ValueError):
            waiting = True  # a pipe gone: each pump says for itself
        for pump in pumps:
            if waiting or pump._processing.locked() or pump._current.unended.held:
                pump.drain()

    def leave_strays(self, copy: Sink, before: dict[Any, threading.Thread], route: Route) -> None:
        """An attempt run alone (tapping `route`) ended with threads alive that were not as it began
        (`before`): those the step started and left running (not magnus's own) are strays. While one
        lives, sys.stdout and sys.stderr are the SeamStreams (writer() is None), through which a thread
        that did not copy a step's context writes for the step that started it (thread_route): into that
        step's file while it runs, to the terminal alone once it has ended, never to a later step's file
        (trial 19 F2: a thread left printing had its lines in the next step's file, which nothing said);
        a thread a later step starts prints into that step's file (trial 20 N9: with tqdm's monitor
        alive, every later step's worker threads printed to the terminal alone, in no file). What a stray
        printed while its step ran is that step's; the step's file ends with a line naming it (STRAY). A
        new thread an earlier step's thread started (thread_made: it is that step's) is a stray unsaid
        here. A thread made without threading.Thread.__init__ (C code) is taken for this step's. Costs
        a copy of threading's table of threads and one comparison per attempt (0.25 us), and a look at
        each thread only when they differ; strays are forgotten as they end (prune_strays, as the next
        attempt begins)."""
        current = threading.current_thread()
        was = set(before.values())
        token = _attempt_of(route)
        found = []
        for thread in threading.enumerate():
            if thread is current or thread in was or thread.name.startswith(_OWN_THREADS):
                continue
            owner = getattr(thread, "_magnus_owner", None)
            if owner is None:  # (not made through threading.Thread.__init__ while a step ran)
                thread._magnus_owner = owner = (route, token)  # type: ignore[attr-defined]
            if thread not in self.strays:
                found.append((thread, owner[1] is token))
        mine = [thread for thread, its in found if its and not _quiet(thread)]
        if mine:
            getattr(copy, "write_marker", copy.write_text)(_stray_note(mine))
        if found:
            with self.lock:
                self.strays.extend(thread for thread, _ in found)
                self.rebind()

    def add_stray(self, thread: threading.Thread) -> None:
        """`thread`, made by a thread whose step has ended (thread_made), is no running step's: a stray
        from its start, unsaid (its maker was said for its step)."""
        with self.lock:
            if thread not in self.strays:
                self.strays.append(thread)
                self.rebind()

    def prune_strays(self) -> None:
        """Threads left running that have ended are forgotten (one not started yet is kept: add_stray);
        with none left, print() goes straight to the run's route again (rebind)."""
        with self.lock:
            self.strays = [thread for thread in self.strays if thread.is_alive() or thread.ident is None]
            if not self.strays:
                self.rebind()

    def see_replaced(self) -> None:
        """Count it (replaced) when sys.stdout or sys.stderr is not the seam's while attempts run side by
        side: a step's contextlib.redirect_stdout (or `sys.stdout = ...`) replaces it for every thread, so
        what the other branches print meanwhile goes there, not to their files (trial 16 F11). Asked by the
        flush thread every FLUSH_EVERY seconds and as such an attempt ends: each attempt running then says
        so in its file (REPLACED). A redirect shorter than that may be missed. One set to None is put
        back at once (_put_back_dropped)."""
        streams = self.streams
        if (len(self.attempts) > 1 and streams) and (
            sys.stdout is not streams.get("stdout") or sys.stderr is not streams.get("stderr")
        ):
            self.replaced += 1
            if sys.stdout is None or sys.stderr is None:
                self._put_back_dropped()

    def _put_back_dropped(self) -> None:
        """A step that set sys.stdout or sys.stderr to None beside other branches (a library silencing
        itself, `sys.stdout = None`) silenced every branch: print() with None writes nothing, so no write
        ever reaches the seam, and the other branches' prints were lost until the branches had ended
        (issue 16 F2: the other branch's file held only magnus's note). The seam's stream is put back as
        soon as it is seen (see_replaced: every FLUSH_EVERY seconds and at each such attempt's end), each
        branch printing through its own route again; what was printed in between is lost, said in the
        files of the attempts running then (DROPPED) and, once per process, in a warning. Seeing it
        sooner would cost every print (print() reads sys.stdout itself)."""
        with self.lock:
            put = [name for name in ("stdout", "stderr") if getattr(sys, name) is None]
            for name in put:
                setattr(sys, name, self.streams[name])
            if not put:
                return
            self.dropped += 1
            first = self.dropped == 1
        if first:
            logging.getLogger("magnus").warning(
                "a step set sys.%s to None beside other branches, which silences every branch; magnus put "
                "its stream back (what was printed until then is lost: docs/logs.md)",
                " and sys.".join(put),
            )

    def _flush_loop(self, stop: threading.Event) -> None:
        """Block-buffered python output (a pipe, a file, the workbench) reaches its destinations and the
        attempts' files at least every FLUSH_EVERY seconds (`magnus logs --follow` sees it)."""
        while not stop.wait(FLUSH_EVERY):
            with self.lock:
                routes = [*self.active, *self.attempts, self.default]
                pumps = list(self.pumps.values())
            self.see_replaced()
            # a fd taken while another process holds its pipe (no end to see: fds_busy): said here, given
            # back at the next attempt's end (not here: the step may have put its own file there for a while)
            if any(pump.taken() for pump in pumps):
                self.suspect = True
            for route in routes:
                # a flush racing the route's end loses nothing: the end flushes everything itself
                with contextlib.suppress(Exception):
                    if route.tap is not None or route in self.attempts:
                        route.flush()  # and the attempt's copy (capture.AttemptFile: its growing file)
                    else:
                        stream = route._streams.get("stdout")
                        if stream is not None and not stream.line_buffering:
                            stream.flush()

    # -- installing -----------------------------------------------------------------------------------
    def install(self, fds: bool) -> None:
        with self.lock:
            if self.count == 0:
                select_as_found()  # (before any step's code: _SELECT)
                self._install_streams()
            self.count += 1
            if fds:
                if self.fd_count == 0:
                    self._install_fds()
                self.fd_count += 1
            self.rebind()

    def uninstall(self, fds: bool) -> None:
        with self.lock:
            if fds:
                self.fd_count -= 1
                if self.fd_count == 0:
                    self.rebind()  # back to the SeamStreams before fd 1 and 2 are given back
                    self._uninstall_fds()
            self.count -= 1
            if self.count == 0:
                self._uninstall_streams()

    def _install_streams(self) -> None:
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            self.originals[name] = current
            stream = SeamStream(self, name, current)
            self.streams[name] = stream
            setattr(sys, name, stream)
        # Handlers made before (a module-level StreamHandler(sys.stderr) in user code, magnus's own) write
        # to the old streams: point them at the seam for as long as it is installed.
        replacements: dict[int, SeamStream] = {
            id(self.originals["stdout"]): self.streams["stdout"],
            id(sys.__stdout__): self.streams["stdout"],
            id(self.originals["stderr"]): self.streams["stderr"],
            id(sys.__stderr__): self.streams["stderr"],
        }
        for handler in _stream_handlers():
            before = getattr(handler, "stream", None)
            replacement = replacements.get(id(before))
            if replacement is not None:
                self.handlers.append((handler, before))
                own = handler.get_name() == OWN_HANDLER and before is not self.originals["stdout"]
                _set_stream(handler, OwnLines(self) if own else replacement)
        # A handler attached later, or writing somewhere else (a file, a socket): its records are masked
        # as they are made, whatever their handler.
        self.record_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_masking_factory(self.record_factory))
        self._stop_flusher = threading.Event()
        threading.Thread(
            target=self._flush_loop, args=(self._stop_flusher,), name="magnus-flush", daemon=True
        ).start()

    def _uninstall_streams(self) -> None:
        self._stop_flusher.set()
        for stream in self.streams.values():
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        self.default.flush(final=True)
        for name, original in self.originals.items():
            current = getattr(sys, name)
            if current is self.streams[name] or isinstance(current, RouteStream):
                setattr(sys, name, original)
        for handler, stream in self.handlers:
            if getattr(handler, "stream", None) in self.streams.values():
                _set_stream(handler, stream)
        self.handlers.clear()
        if getattr(logging.getLogRecordFactory(), "magnus_seam", False):
            logging.setLogRecordFactory(self.record_factory)
        self.originals.clear()
        self.streams.clear()

    def _install_fds(self) -> None:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            try:
                os.fstat(fd)
            except OSError:
                continue  # closed (magnus started with >&-): nothing to redirect
            original = self.originals.get(name)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if original is not None:
                    original.flush()
            self.pumps[name] = FdPump(self, fd, name, original)
        self.poller = None
        if self.pumps and not _AUDITING:
            _AUDITING.append(True)
            with contextlib.suppress(Exception):  # (a hook of the process's may refuse new ones)
                sys.addaudithook(_flush_before_spawn)

    def _uninstall_fds(self) -> None:
        self.poller = None
        for stream in self.streams.values():
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for name in ("stdout", "stderr"):
            original = self.originals.get(name)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if original is not None:
                    original.flush()  # what python buffered for fd 1 goes through the pump first
        self.default.flush(final=True)
        # 5 s in all for processes a step left running to let go of fd 1 and 2's pipes, said once (trial 25:
        # 5 s per pipe, 10 s after the summary for a plain Popen left running, nothing said)
        deadline = _monotonic() + 5.0
        terminal = self.pumps.get("stderr")
        said: list[bool] = []

        def waiting(holders: list[str]) -> None:
            if said or terminal is None:
                return
            said.append(True)
            with contextlib.suppress(Exception):
                terminal.destination.write_text(WAITING.format(", ".join(holders), deadline - _monotonic()))
                terminal.destination.flush()

        for name, pump in list(self.pumps.items()):
            pump.close(deadline, waiting)
            del self.pumps[name]
        self.poller = None

    def remember(self, values: Iterable[str]) -> None:
        with self.lock:
            new = {v for v in values if v} - self.known
            if new:
                self.known.update(new)
                self.known_version += 1


class _LazyDestination:  # a Sink
    """The default route's destination: the stream as it was before the seam (or fd's copy), looked up
    at each write so that installing and removing the seam never leaves it pointing at a stale stream."""

    def __init__(self, seam: _Seam, name: str) -> None:
        self._seam = seam
        self._name = name

    def _target(self) -> Destination:
        return self._seam.original_destination(self._name)

    @property
    def line_buffered(self) -> bool:
        return self._target().line_buffered

    def write_text(self, text: str) -> None:
        self._target().write_text(text)

    def write_bytes(self, data: bytes) -> None:
        self._target().write_bytes(data)

    def flush(self) -> None:
        self._target().flush()


def _masking_factory(make: Any) -> Any:
    """A log record factory: records are made by `make`, then their message and traceback are masked
    with the current route's secrets (before any handler formats them)."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        masker = current_route().masker
        if not masker:
            return record
        try:
            message = record.getMessage()
            masked = masker.text(message)
            if masked is not message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = masker.text(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = masker.text(record.exc_text)
            if record.stack_info:
                record.stack_info = masker.text(record.stack_info)
        except Exception:  # a record whose message cannot be formatted fails in its handler, as before
            pass
        return record

    factory.magnus_seam = True  # type: ignore[attr-defined]
    return factory


_plain_cache: dict[int, Destination] = {}


def _plain(target: IO[str]) -> Destination:
    """One Destination per target stream (so its lock serialises every writer)."""
    found = _plain_cache.get(id(target))
    if found is None or found.target is not target:
        found = Destination(target)
        _plain_cache[id(target)] = found
    return found


def _set_stream(handler: logging.StreamHandler[Any], stream: Any) -> None:
    """handler.setStream(stream), which flushes the stream it had first: one a step closed
    (`sys.__stderr__.close()`) raised ValueError there, and magnus, installing the seam again to run the
    exit functions, exited 1 after a SUCCESS run, nothing said (trial 19 F14)."""
    try:
        handler.setStream(stream)
    except (ValueError, OSError):
        handler.stream = stream


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    found: dict[int, logging.StreamHandler[Any]] = {}
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                found[id(handler)] = handler
    return list(found.values())


SEAM = _Seam()


def _forked() -> None:
    """In a child process forked from this one (multiprocessing's fork start method, a fork Pool's workers,
    os.fork()): python output goes where a subprocess's does, to file descriptors 1 and 2, when the seam
    pumps them (the command line): the parent's pumps mask it and pass it to the attempt being captured and
    the terminal (trial 16 F12: the child kept the parent's route, whose copy of the attempt's file is the
    child's own memory, so its prints reached the terminal only). sys.stdout / sys.stderr (the seam's
    streams, or a route's), the routes' streams (a SeamStream or a stream a step kept writes there) and
    logging handlers on them are given fresh streams on fd 1 and 2: none of the parent's buffers or locks
    (held by a thread of the parent at the fork, they would never be released here). Where fd 1 and 2 are
    not the seam's (the workbench), nothing changes: a subprocess's output is not captured there either.
    Costs nothing but in a forked child (os.register_at_fork); python's own pending output was flushed by
    whoever forked (multiprocessing does), or is written twice, as python does."""
    seam = SEAM
    if not seam.pumps:
        return
    made: dict[str, io.TextIOWrapper] = {}
    for name, pump in seam.pumps.items():
        unbuffered = bool(getattr(seam.originals.get(name), "write_through", False))
        with contextlib.suppress(OSError, ValueError):
            raw = io.FileIO(pump.fd, "w", closefd=False)
            made[name] = io.TextIOWrapper(
                raw if unbuffered else io.BufferedWriter(raw),
                encoding="utf-8",
                errors="surrogateescape",
                # as python's own stream would be: a line at a time on a terminal (stderr always), else in
                # blocks, flushed as the child ends; each write passed on at once under python -u or
                # PYTHONUNBUFFERED (a fork Pool's worker killed by its terminate() loses no line then)
                line_buffering=name == "stderr" or pump.destination.line_buffered,
                write_through=unbuffered,
            )
    if not made:
        return
    seam.lock = threading.RLock()  # (the parent's may have been held at the fork)
    for route in (*seam.active, *seam.attempts, seam.default):
        route._streams = {**route._streams, **made}  # type: ignore[dict-item]
        route._lock = threading.RLock()
    for name, stream in made.items():
        current = getattr(sys, name)
        if current is seam.streams.get(name) or isinstance(current, RouteStream):
            setattr(sys, name, stream)
    for handler in _stream_handlers():
        before = getattr(handler, "stream", None)
        if isinstance(before, SeamStream):
            handler.stream = made.get(before._name, before)
        elif isinstance(before, RouteStream):
            handler.stream = made.get("stderr" if isinstance(before, _ErrStream) else "stdout", before)


os.register_at_fork(after_in_child=_forked)


@contextlib.contextmanager
def installed(*, fds: bool = False) -> Iterator[None]:
    """The seam in place for the block (see the module docstring). `fds=True` also masks file descriptors
    1 and 2: for processes that own their terminal (the command line), never under Textual."""
    SEAM.install(fds)
    try:
        yield
    finally:
        SEAM.uninstall(fds)


def destination_for(output: IO[str] | None, stream: str) -> Destination:
    """Where a run's `stream` goes: `output` when given (the workbench's file, or stderr for --json), else
    the stream as it was before the seam."""
    if output is None:
        return SEAM.original_destination(stream)
    if isinstance(output, SeamStream):
        return SEAM.original_destination(output._name)
    for name, original in SEAM.originals.items():
        if output is original:
            return SEAM.original_destination(name)
    return _plain(output)


@contextlib.contextmanager
def routed(masker: Masker, output: IO[str] | None = None) -> Iterator[Route]:
    """The current context writes through `masker` to `output` (both streams) or to the streams as they
    were; at the end, what was held back is released and the values are remembered by the process."""
    route = Route(masker, destination_for(output, "stdout"), destination_for(output, "stderr"))
    token = _route.set(route)
    with SEAM.lock:
        SEAM.active.append(route)
        SEAM.rebind()
    try:
        yield route
    finally:
        with contextlib.suppress(OSError, ValueError):
            route.flush(final=True)
        _route.reset(token)
        with SEAM.lock:
            SEAM.active.remove(route)
            SEAM.rebind()
            SEAM.remember(masker.values())


class Tee:
    """A Sink writing to two: a route's destination first (the terminal), then `copy` (an attempt's
    file, see capture.py). Both are Sinks; neither may raise (Destination and AttemptFile never do)."""

    __slots__ = ("copy", "first")

    def __init__(self, first: Sink, copy: Sink) -> None:
        self.first = first
        self.copy = copy

    @property
    def line_buffered(self) -> bool:
        return bool(self.first.line_buffered)

    def write_text(self, text: str) -> None:
        self.first.write_text(text)
        self.copy.write_text(text)

    def write_bytes(self, data: bytes) -> None:
        self.first.write_bytes(data)
        self.copy.write_bytes(data)

    def flush(self) -> None:
        self.first.flush()
        self.copy.flush()


def tapped(
    copy: Sink, *, alone: bool = False, err: Sink | None = None
) -> contextlib.AbstractContextManager[Route]:
    """For the block, what the current context writes (python, its child pipes, and fd 1 and 2 when no
    other attempt runs beside it) also goes to `copy`, masked the same way: one attempt's capture. The
    route it yields writes to both; on leaving, everything held is written out (no secret's prefix is
    held back past the attempt's end), and fd 1 and 2 are given back to the seam if the step took them.

    `alone`: no other attempt of the run runs beside this one (steps one at a time, the usual case): the
    run's own route is tapped for the block (its lanes write to a Tee), which costs nothing per attempt
    but the tap (_Tap); otherwise the attempt gets a route of its own, which its context writes through.
    While a route is tapped (`route.tap`), its python streams were flushed on entry and its lanes are
    flushed on leaving, after fd 1 and 2 are drained: what runs inside (context._StepPipes) need not.
    `err`: what the stderr lane copies to instead of `copy` (a Sink that writes to `copy` too:
    capture.StderrTail, which keeps the last lines written to stderr apart)."""
    parent = _route.get() or SEAM.default  # (current_route(), inline: once per attempt)
    if alone and parent is not SEAM.default and parent.tap is None:
        return _Tap(parent, copy, err or copy)
    return _own_route(parent, copy, err or copy)


class _Nowhere:  # a Sink
    """What a route's held Tee copies to between attempts: nothing."""

    line_buffered = False

    def write_text(self, text: str) -> None:
        return None

    def write_bytes(self, data: bytes) -> None:
        return None

    def flush(self) -> None:
        return None


NOWHERE = _Nowhere()


class _Tap:
    """tapped(alone=True): the run's own route tapped for one attempt (a plain object rather than a
    generator: one is made per attempt). Its lanes write to the route's Tees (made once per route, their
    copy switched to this attempt's while it is entered, and to NOWHERE after); setting an attribute is
    atomic, so a thread writing meanwhile writes to one or the other, whole. A writer that may write after
    the attempt (a child's pipe, a pump of fd 1 or 2) is handed a Tee of its own (Route.destination).

    At its end, fd 1 and 2 are drained and checked only when one poll() of the pumps' pipes says something
    is there (data not read yet, or the pipe's end: a step closed fd 1 or put another file there), a pump is
    passing a chunk on, or the seam's flush thread saw a fd taken (SEAM.suspect, see repair_fds): most
    attempts end with that one system call."""

    __slots__ = ("copy", "err", "parent")

    def __init__(self, parent: Route, copy: Sink, err: Sink) -> None:
        self.parent = parent
        self.copy = copy
        self.err = err

    def __enter__(self) -> Route:
        return _tap_on(self.parent, self.copy, self.err)

    def __exit__(self, *exc: object) -> None:
        untap(self.parent, self.copy)


def tap_alone(copy: Sink, err: Sink) -> Route | None:
    """`tapped(copy, alone=True, err=err)` entered, without its object: the current context's route tapped
    for one attempt and returned, to be ended with `untap(route, copy)` (what leaving tapped()'s block does);
    None where tapped() would give the attempt a route of its own (outside a run, or a route another attempt
    taps already): the caller uses tapped() then. One object less per attempt (capture._Captured)."""
    parent = _route.get() or SEAM.default
    if parent is SEAM.default or parent.tap is not None:
        return None
    return _tap_on(parent, copy, err)


def _tap_on(parent: Route, copy: Sink, err: Sink) -> Route:
    """The run's route `parent` tapped: its lanes write to its Tees, copying to `copy` and `err` (_Tap)."""
    if SEAM.strays:
        SEAM.prune_strays()
    parent.threads = _THREADS.copy()
    for stream in parent._streams.values():  # what was printed before the attempt is not the attempt's
        try:  # noqa: SIM105 - (flush_streams, inline: this runs once per attempt)
            stream.flush()
        except (OSError, ValueError):
            pass
    lanes = parent.lanes
    out, err_lane = lanes["stdout"], lanes["stderr"]
    tees = parent.tees
    if tees is None or tees[0].first is not out.destination or tees[1].first is not err_lane.destination:
        tees = parent.tees = Tee(out.destination, NOWHERE), Tee(err_lane.destination, NOWHERE)
    tees[0].copy, tees[1].copy = copy, err
    parent.tap = copy
    out.destination, err_lane.destination = tees
    return parent


def untap(parent: Route, copy: Sink) -> None:
    """The end of the tap of `parent` for `copy` (_tap_on, tap_alone): what fd 1 and 2 and the route's
    python streams hold is written to the attempt's copy, and the lanes write to their destinations alone
    again (_Tap)."""
    lanes = parent.lanes
    tees = parent.tees
    assert tees is not None
    busy = SEAM.fds_busy()
    try:
        if busy:
            SEAM.drain_fds()  # what the step's subprocesses wrote to fd 1 and 2 is the attempt's
        for stream in parent._streams.values():
            try:  # noqa: SIM105 - (flush_streams, inline)
                stream.flush()
            except (OSError, ValueError):
                pass
        # every lane's held tail written, to both (a Destination flushes what it is given as it
        # writes it, and the copy needs no flush here: capture.AttemptFile.finish ends it next)
        lanes["stdout"].release()
        lanes["stderr"].release()
        try:
            same = _THREADS.items() <= parent.threads.items()
        except RuntimeError:  # (a thread began or ended during the comparison: looked at closely)
            same = False
        if not same:  # a thread the step started may still run
            SEAM.leave_strays(copy, parent.threads, parent)
    finally:
        lanes["stdout"].destination, lanes["stderr"].destination = tees[0].first, tees[1].first
        tees[0].copy = tees[1].copy = NOWHERE
        parent.tap = None
        # a child of the step holding fd 1 or 2 may write later: its pipes stay with this attempt
        held = SEAM.pumps and children() and SEAM.hand_over_held(copy, tees[0].first, tees[1].first)
        if not held and (busy or SEAM.suspect):
            SEAM.repair_fds()


UNKEPT = (
    "[magnus: while this step ran beside other branches, a subprocess or C code wrote to file descriptor 1"
    " or 2 (or python to sys.__stdout__ or sys.__stderr__, which are they): that output is on the terminal"
    " only, in no step's file (the branches share those file"
    " descriptors, so magnus cannot tell whose it is; docs/logs.md)]\n"
)


REPLACED = (
    "[magnus: while this step ran beside other branches, a step replaced sys.stdout or sys.stderr"
    " (contextlib.redirect_stdout, sys.stdout = ...): python replaces them for every thread, so what this"
    " step printed meanwhile may have gone there, not to this file (docs/logs.md)]\n"
)


STRAY = (
    "[magnus: a thread still running as this step ended ({}): what it prints from here on goes to the"
    " terminal only, not to this file nor to a later step's (join it in the step to keep all of its"
    " output; docs/logs.md)]\n"
)


# threading's table of the threads alive (ident: Thread), read as each attempt run alone begins and ends
_THREADS: dict[Any, threading.Thread] = threading._active  # type: ignore[attr-defined]

# magnus's own threads (output pumps, writers, the flush thread, branch workers), never a step's stray
_OWN_THREADS = ("magnus", "prompt-fd", "ask-")

STRAY_POOL = (
    "[magnus: a thread pool's thread still running as this step ended ({}): what it prints from here on for"
    " this step's work goes to the terminal only, not to this file nor to a later step's; work a later step"
    " gives the pool prints into that step's file (shut the pool down in the step, `with"
    " ThreadPoolExecutor(...)`, to keep all of this step's output; docs/logs.md)]\n"
)


def _quiet(thread: threading.Thread) -> bool:
    """A thread left running that never prints, which the step's file need not name (it is still followed
    as any stray): tqdm's monitor (`tqdm_monitor`, tqdm._monitor.TMonitor), which every step using tqdm
    leaves behind and which only adjusts the bars' refresh (trial 23 F10: its note took one of the few
    lines a failure shows, and sent the user after a thread that had done nothing)."""
    kind = type(thread)
    return kind.__name__ == "TMonitor" and kind.__module__ == "tqdm._monitor"


def _stray_note(threads: list[threading.Thread]) -> str:
    """The line that ends the file of a step that left `threads` running (STRAY; STRAY_POOL when they are
    all workers of a concurrent.futures pool, whose later work is the step's that gives it)."""
    names = ", ".join(thread.name for thread in threads[:5]) + (", ..." if len(threads) > 5 else "")
    pool = sys.modules.get("concurrent.futures.thread")
    worker = getattr(pool, "_worker", None)
    if worker is not None and all(getattr(thread, "_target", None) is worker for thread in threads):
        return STRAY_POOL.format(names)
    return STRAY.format(names)


def _still_running(threads: list[threading.Thread] | None) -> list[threading.Thread]:
    """Of the threads an attempt's step started (Route.started), those still running, but magnus's own."""
    if not threads:
        return []
    current = threading.current_thread()
    return [
        thread
        for thread in threads
        if thread.is_alive() and thread is not current and not thread.name.startswith(_OWN_THREADS)
    ]


# -- whose is a thread's output: the step's that started it ---------------------------------------------
# A thread made while a step runs (threading.Thread.__init__, which stepguard replaces while steps run) keeps
# who made it as `_magnus_owner`: (the route that step's attempt writes through, the attempt's token,
# _attempt_of). What it prints goes into that step's file while that attempt is the route's, and to the
# terminal alone once it has ended (thread_route).

_get_ident = threading.get_ident


def _attempt_of(route: Route) -> Any:
    """The attempt whose output `route` carries now, as its token (the Sink its stderr copies to, one per
    attempt: capture.StderrTail; `copy` is not, do-nothing's NOWHERE), or None between attempts: the run's
    route tapped by an attempt run alone holds it in its stderr Tee (NOWHERE between attempts: _tap_on,
    untap), so that no store is added per attempt; an attempt's own route in own_attempt (_own_route)."""
    tees = route.tees
    if tees is not None:
        found = tees[1].copy
        if found is not NOWHERE:
            return found
    return route.own_attempt


def owner_here() -> tuple[Route, Any] | None:
    """The attempt the current thread writes for, as (route, token) (see _attempt_of), or None: for a
    step's own thread its context's route, while an attempt taps it or runs through it; for another thread
    what it was given as it was made (thread_made) or, for a pool's worker, by the work it runs
    (_owned_work_item). None outside any attempt (magnus between steps, a module imported before the run)."""
    route = _route.get()
    if route is not None:
        token = _attempt_of(route)
        return None if token is None else (route, token)
    return getattr(_THREADS.get(_get_ident()), "_magnus_owner", None)


# The events python raises (sys.audit) as a process is started or forked. What a step's python streams hold
# goes to its lanes first, so that the kept output (and the terminal) has a step's prints before what the
# child it starts then writes to fd 1 and 2 (trial 23 F2: `print("starting training")` then
# `subprocess.run(...)` was kept after the child's lines, two runs in three: the route's streams are
# block-buffered, flushed every FLUSH_EVERY seconds, where the child writes to the pumps at once).
_SPAWNS = frozenset(("subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"))
_AUDITING: list[bool] = []  # the hook added (once per process: an audit hook cannot be taken away)
# A step started or forked a process while the seam pumped fd 1 and 2: from then on, each block python's
# streams hand to a lane waits for what fd 1 and 2's pipes hold to be passed on first (one select() when
# they hold nothing, ~1 us per block), so that a print made after a child ended comes after the child's
# lines, however late the pumps' threads were scheduled (trial 24 F1). A process that starts none pays
# nothing.
_STARTED: list[bool] = []
# ... and a signal sent to this very process (a step's `os.kill(os.getpid(), signal.SIGKILL)`): what the
# pumps and python hold goes to the attempt's file first, written through to the run's held file, which
# outlives the process (trial 23 F4: a child's line written just before was lost 2 runs in 12)
_KILLS = frozenset(("os.kill", "os.killpg"))


def _at_self(event: str, args: tuple[Any, ...]) -> bool:
    """Whether os.kill or os.killpg (`event`, with its audit `args`: pid or group, signal) targets this
    process: its pid, 0 (its group), its group."""
    try:
        target = int(args[0])
        if event == "os.killpg":
            return target in (0, os.getpgrp())
        return target in (0, os.getpid(), -os.getpgrp())
    except (IndexError, TypeError, ValueError, OSError):
        return False


def _flush_before_spawn(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook (sys.addaudithook, added when the seam first pumps fd 1 and 2: the command line): at
    a process's start or fork, and at a signal sent to this process itself (_KILLS), what fd 1 and 2's
    pipes hold is passed on, then the current route's python streams are flushed. Any other event (every
    `open`, `import`, `sys._getframe` of the process) costs one set lookup; never raises (a hook's
    exception would fail the audited call)."""
    if event not in _SPAWNS and (event not in _KILLS or not _at_self(event, args)):
        return
    if not SEAM.pumps:
        return
    with contextlib.suppress(Exception):  # (nothing may fail the call being audited)
        if not _STARTED and event in _SPAWNS and not STARTING_OWN.on and owner_here() is not None:
            _STARTED.append(True)  # (a step's child: not one of magnus's own, nor one started between steps)
        seam = SEAM
        if seam.fds_busy():  # what an earlier child wrote goes first too (one poll(), as an attempt's end)
            seam.drain_fds()
        route = _route.get() or thread_route()
        route.flush_streams()
        if event in _KILLS:  # the attempt's growing file written too: the process may not outlive this
            for lane in route.lanes.values():
                lane.flush()
                sync = getattr(getattr(lane.destination, "copy", None), "sync", None)
                if sync is not None:
                    sync()


def thread_route() -> Route:
    """Where a thread with no route in its context writes (SeamStream): through the route of the attempt
    that started it while that attempt runs (into its step's file); once the step has ended, or for a
    thread no step started, the default route (the terminal alone). Asked by every write of such a thread
    while sys.stdout is the SeamStream (a stray lives, branches run side by side, the workbench), never by
    a step's own thread, whose context has its route: two dict lookups and an attribute."""
    owner = getattr(_THREADS.get(_get_ident()), "_magnus_owner", None)
    if owner is not None:
        route, token = owner
        tees = route.tees
        if (tees is not None and tees[1].copy is token) or route.own_attempt is token:  # (_attempt_of)
            return route
    return SEAM.default


def thread_made(thread: threading.Thread) -> None:
    """`thread` is being made (called by stepguard's threading.Thread.__init__, in the thread making it): it
    is the step's whose attempt runs there (owner_here), and what it prints goes into that step's file while
    the step runs, to the terminal alone after (thread_route). A thread made by a thread keeps its maker's
    step: one made by a thread an earlier step left is that step's, no later step's (a stray from its start:
    add_stray). Beside other branches it is listed on its attempt's route (Route.started), said as that
    attempt ends (_own_route). The first thread made also has concurrent.futures' pools give each work item
    the step that submitted it (_own_pool_work). magnus's own threads are no step's. Per thread made: a
    few dict lookups."""
    if thread.name.startswith(_OWN_THREADS):
        return
    if _POOL[0] is None:
        _own_pool_work()
    owner = owner_here()
    if owner is None:
        return
    thread._magnus_owner = owner  # type: ignore[attr-defined]
    route, token = owner
    if _attempt_of(route) is not token:
        SEAM.add_stray(thread)
    elif route.started is not None:
        route.started.append(thread)


def threads_of_no_step(before: frozenset[threading.Thread]) -> None:
    """The threads made since `before` (by a step's module, imported before the run: stepguard.guarded_import)
    when no step runs: they are no step's, and strays from their start (add_stray): what they print goes to
    the terminal alone, never into the file of whichever step runs as they print (a heartbeat a module
    starts as it is imported printed into every step's file, and into a failed step's last lines). Inside
    a step (a module imported as it runs) its threads are that step's (thread_made)."""
    if owner_here() is not None:
        return
    for thread in threading.enumerate():
        if thread not in before and thread.is_alive() and not thread.name.startswith(_OWN_THREADS):
            SEAM.add_stray(thread)


# concurrent.futures.thread's _WorkItem as magnus found it, once replaced (None: not yet, or not imported)
_POOL: list[Any] = [None]


def _own_pool_work() -> None:
    """concurrent.futures' thread pools run each work item for the step that submitted it: a pool made, or
    first used, by one step and given work by a later one (a module-level ThreadPoolExecutor, asyncio's
    default executor) prints that work into the later step's file, not to the terminal alone as its
    threads, the first step's, would (trial 20 N9). Done once, when a step first makes a thread with the
    module imported (a pool's first worker is made by its first submit): its _WorkItem is replaced by a
    subclass (_owned_work_item) that takes the submitter's attempt (owner_here) and lends it to the worker
    thread while the item runs. What the work raises is passed on as before (the item's own run catches
    it)."""
    module = sys.modules.get("concurrent.futures.thread")
    base = getattr(module, "_WorkItem", None)
    if base is None or getattr(base, "magnus_owned", False):
        return
    with SEAM.lock:
        if _POOL[0] is None:
            _POOL[0] = base
            module._WorkItem = _owned_work_item(base)  # type: ignore[union-attr]


def _owned_work_item(base: Any) -> Any:
    """A subclass of concurrent.futures.thread._WorkItem, run for the step that submitted it
    (_own_pool_work)."""

    class OwnedWorkItem(base):
        magnus_owned = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.magnus_owner = owner_here()  # (in the thread that submits it)

        def run(self, *args: Any, **kwargs: Any) -> Any:
            owner = self.magnus_owner
            thread = _THREADS.get(_get_ident()) if owner is not None else None
            if thread is None:
                return super().run(*args, **kwargs)
            before = getattr(thread, "_magnus_owner", None)
            thread._magnus_owner = owner  # type: ignore[attr-defined]
            try:
                return super().run(*args, **kwargs)
            finally:
                thread._magnus_owner = before  # type: ignore[attr-defined]

    return OwnedWorkItem


DROPPED = (
    "[magnus: while this step ran beside other branches, a step set sys.stdout or sys.stderr to None: python"
    " then prints nothing, in every thread, so what this step printed until magnus put the stream back"
    " (within 50 ms) is lost (docs/logs.md)]\n"
)


@contextlib.contextmanager
def _own_route(parent: Route, copy: Sink, err: Sink) -> Iterator[Route]:
    """tapped() beside other attempts: the attempt's context writes through a route of its own."""
    parent.flush_streams()  # what was printed before the attempt is not the attempt's
    route = Route(
        parent.masker,
        Tee(parent.destination("stdout"), copy),
        Tee(parent.destination("stderr"), err),
    )
    route.own_attempt = err  # (threads the step starts write through this route while it runs: thread_made)
    route.started = []
    token = _route.set(route)
    with SEAM.lock:
        SEAM.attempts.append(route)
        SEAM.rebind()
        unkept = SEAM.unkept
        replaced = SEAM.replaced
        dropped = SEAM.dropped
    try:
        yield route
    finally:
        SEAM.see_replaced()
        if SEAM.dropped != dropped:  # (issue 16 F2)
            getattr(copy, "write_marker", copy.write_text)(DROPPED)
        if SEAM.replaced - replaced > SEAM.dropped - dropped:  # (trial 16 F11)
            getattr(copy, "write_marker", copy.write_text)(REPLACED)
        alone = len(SEAM.attempts) == 1
        if alone:  # fd 1 and 2 went to this attempt: what they hold is its
            SEAM.drain_fds()
        route.own_attempt = None  # the step's threads write to the terminal alone from now on (thread_route)
        with contextlib.suppress(OSError, ValueError):
            route.flush(final=True)
        if SEAM.unkept != unkept and getattr(copy, "fds", True):  # in its file, as `magnus logs` shows it
            getattr(copy, "write_marker", copy.write_text)(UNKEPT)  # (on a line of its own)
        left = _still_running(route.started)
        if left:  # (trial 20: after the branches, such a thread printed into the next step's file)
            getattr(copy, "write_marker", copy.write_text)(_stray_note(left))
        _route.reset(token)
        with SEAM.lock:
            SEAM.strays.extend(thread for thread in left if thread not in SEAM.strays)
            SEAM.attempts.remove(route)
            SEAM.rebind()
            out, err = parent.destination("stdout"), parent.destination("stderr")
            if not (alone and SEAM.pumps and children() and SEAM.hand_over_held(copy, out, err)):
                SEAM.repair_fds()  # (as _Tap: a child of the step holding fd 1 or 2 may write later)


def current_route() -> Route:
    """The route of the current context (the default route outside any run)."""
    return _route.get() or SEAM.default


def terminal_fd(name: str) -> int:
    """The file descriptor where stream `name` ("stdout" or "stderr") went before the seam pumped fd 1 and
    2 (the pump's copy of it), else fd 1 or 2 itself: for a process that outlives this one and must write
    where the user reads (processes.watch's report_fd; what it writes is not masked: magnus's own words)."""
    pump = SEAM.pumps.get(name)
    return pump.saved if pump is not None else (1 if name == "stdout" else 2)


def mask_known(text: str) -> str:
    """A message printed outside any run (the command line's last error): every value this process has
    masked, masked."""
    return SEAM.default.masker.text(text)


def reaches_terminal(name: str) -> bool:
    """Whether the stream `name` ("stdout" or "stderr") as it was before the seam is a terminal: while fd
    1 and 2 are pumped (the command line) the streams python holds are pipes, and only the copy of the fd
    the seam writes to says where the output ends (a notice coloured on a terminal: failure.say_retry)."""
    with SEAM.lock:
        destination = SEAM.original_destination(name)
    return _isatty(getattr(destination, "target", None))
