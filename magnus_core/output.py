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
- `Route.child_pipe(stream)` is a pipe for a child process (shell steps, notebooks' kernels): a thread
  masks what the child writes and passes it on.

This is the one place output capture (per attempt, in the catalog) plugs in: a Route's destinations are
where masked bytes end; wrap them (a tee to the attempt's file) rather than adding another path.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import io
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from magnus_core.masking import Masker, StreamMasker

BATCH = 1 << 13  # python writes are masked in batches of this many characters (or at a line end on a tty)
READ = 1 << 16  # bytes read from a pipe at a time


class Sink(Protocol):
    """What a lane writes to (a Destination, or the default route's lazy one)."""

    @property
    def line_buffered(self) -> bool: ...

    def write_text(self, text: str) -> None: ...

    def write_bytes(self, data: bytes) -> None: ...

    def flush(self) -> None: ...


class Destination:
    """Where masked output ends: a text stream. Takes text (python writes) and bytes (pipes) in order; a
    destination that fails (closed, broken pipe) drops what follows and never raises into the run."""

    def __init__(self, target: IO[str], *, owned: bool = False) -> None:
        self.target = target
        self.owned = owned  # opened by the seam (on a copy of fd 1 or 2): closed with it
        self.broken = False
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._line_buffered = bool(getattr(target, "line_buffering", False)) or _isatty(target)

    @property
    def line_buffered(self) -> bool:
        """True for a terminal: python output is masked and written at each line end, not in batches."""
        return self._line_buffered

    def write_text(self, text: str) -> None:
        if not text or self.broken:
            return
        with self._lock:
            try:
                self.target.write(text)
            except (OSError, ValueError):
                self.broken = True

    def write_bytes(self, data: bytes) -> None:
        if not data or self.broken:
            return
        with self._lock:
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

    def flush(self) -> None:
        if self.broken:
            return
        with self._lock:
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
    """One stream (stdout or stderr) of one route: python text batched and masked, or bytes masked.

    A write only appends to the batch (the cost of print() must stay near python's own); the batch is
    masked and written when it reaches BATCH characters, at a line end when the destination is a
    terminal, and at every flush (python's own buffering behaves the same way)."""

    def __init__(self, masker: Masker, destination: Sink) -> None:
        self.masker = masker
        self.destination = destination
        self._text: StreamMasker[str] = masker.stream(str)
        self._bytes: StreamMasker[bytes] = masker.stream(bytes)
        self.batch: list[str] = []
        self.size = 0
        self.lock = threading.Lock()
        self.line_buffered = destination.line_buffered

    def write(self, text: str) -> None:
        with self.lock:
            self.batch.append(text)
            self.size += len(text)
            if self.size >= BATCH or (self.line_buffered and "\n" in text):
                self.drain(final=False)

    def write_bytes(self, data: bytes) -> None:
        with self.lock:
            self.drain(final=True)  # text before bytes, in order
            self.destination.write_bytes(self._bytes.feed(data))

    def drain(self, *, final: bool) -> None:
        """Mask and write the batch (the caller holds the lock)."""
        if self.batch:
            text = "".join(self.batch)
            self.batch.clear()
            self.size = 0
            self.destination.write_text(self._text.feed(text, final=final))
        elif final and self._text.pending:
            self.destination.write_text(self._text.finish())
        if final and self._bytes.pending:
            self.destination.write_bytes(self._bytes.finish())
        self.line_buffered = self.destination.line_buffered

    def flush(self, *, final: bool = False) -> None:
        """Write what is batched; the tail that could still become a secret is kept unless `final`."""
        with self.lock:
            self.drain(final=final)
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


class Route:
    """One run's way out: its masker, and a lane per stream to its destinations."""

    def __init__(self, masker: Masker, out: Sink, err: Sink) -> None:
        self.masker = masker
        self.lanes = {"stdout": _Lane(masker, out), "stderr": _Lane(masker, err)}

    def destination(self, stream: str) -> Sink:
        return self.lanes[stream].destination

    def child_pipe(self, stream: str = "stdout") -> ChildPipe:
        """A pipe for a child process's `stream`, masked with this route's secrets; close() it when the
        child has exited."""
        return ChildPipe(self.masker, self.destination(stream))

    def flush(self, *, final: bool = False) -> None:
        for lane in self.lanes.values():
            lane.flush(final=final)


_route: contextvars.ContextVar[Route | None] = contextvars.ContextVar("magnus_output_route", default=None)
_get_route = _route.get


class SeamStream(io.TextIOBase):
    """What sys.stdout or sys.stderr is while the seam is installed: writes go to the current route."""

    def __init__(self, seam: _Seam, name: str, original: IO[str]) -> None:
        super().__init__()
        self._seam = seam
        self._name = name
        self.original = original
        self._buffer = _SeamBuffer(self)
        self._default_lanes = seam.default.lanes

    def _lane(self) -> _Lane:
        route = _route.get()
        return (route or self._seam.default).lanes[self._name]

    def write(self, text: str) -> int:
        # print() calls this twice a line: one frame, the lane's batching inlined
        if type(text) is not str and not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        route = _get_route()
        lane = route.lanes[self._name] if route is not None else self._default_lanes[self._name]
        with lane.lock:
            lane.batch.append(text)
            lane.size += len(text)
            if lane.size >= BATCH or (lane.line_buffered and "\n" in text):
                lane.drain(final=False)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._lane().flush()

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


class _SeamBuffer(io.RawIOBase):
    """sys.stdout.buffer while the seam is installed: bytes written there are masked too."""

    def __init__(self, stream: SeamStream) -> None:
        super().__init__()
        self._stream = stream

    def write(self, data: Any) -> int:
        data = bytes(data)
        self._stream._lane().write_bytes(data)
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._stream._lane().flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def close(self) -> None:
        self.flush()


class FdPump:
    """File descriptor `fd` (1 or 2) becomes a pipe; a thread masks what is written there (by any code or
    child process of this process) and writes it to the stream fd pointed to before."""

    def __init__(self, seam: _Seam, fd: int, name: str, original: Any) -> None:
        self.fd = fd
        self.name = name
        self._seam = seam
        self.saved = os.dup(fd)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, fd)
        os.close(write_fd)
        self._read_fd = read_fd
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
        )
        # the stream python had on this fd writes through the pump only if it really was this fd
        self.backs = original is not None and _fileno(original) == fd
        self._masker: StreamMasker[bytes] | None = None
        self._thread = threading.Thread(target=self._pump, name=f"magnus-fd{fd}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        masker = self._seam.default.masker.stream(bytes)
        try:
            while True:
                data = os.read(self._read_fd, READ)
                if not data:
                    break
                self._seam.fd_destination(self.name).write_bytes(masker.feed(data))
            self._seam.fd_destination(self.name).write_bytes(masker.finish())
        finally:
            os.close(self._read_fd)

    def close(self, timeout: float = 5.0) -> None:
        """fd points where it did before; what was written to the pipe is masked and written on (a child
        process still holding the pipe is given `timeout` seconds)."""
        os.dup2(self.saved, self.fd)
        self._thread.join(timeout=timeout)
        self.destination.flush()
        if not self._thread.is_alive():
            self.destination.close()
            os.close(self.saved)


class _Seam:
    """The process's seam (one per process, see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.count = 0
        self.fd_count = 0
        self.known: set[str] = set()  # every value masked in this process (the default route masks them)
        self.known_version = 0
        self.active: list[Route] = []
        self.originals: dict[str, IO[str]] = {}
        self.streams: dict[str, SeamStream] = {}
        self.pumps: dict[str, FdPump] = {}
        self.handlers: list[tuple[logging.StreamHandler[Any], Any]] = []
        self.record_factory: Any = logging.getLogRecordFactory()
        self.default = self._default_route()

    # -- the default route: every value of every active run, to the streams as they were -------------
    def _values(self) -> tuple[Any, Iterable[str]]:
        routes = list(self.active)
        parts = [route.masker.source() for route in routes]
        version = (self.known_version, tuple(id(r) for r in routes), tuple(v for v, _ in parts))
        values = set(self.known)
        for _, vals in parts:
            values.update(vals)
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
        clean), else the stream fd pointed to before."""
        routes = self.active
        if len(routes) == 1:
            return routes[0].destination(name)
        return self.original_destination(name)

    # -- installing -----------------------------------------------------------------------------------
    def install(self, fds: bool) -> None:
        with self.lock:
            if self.count == 0:
                self._install_streams()
            self.count += 1
            if fds:
                if self.fd_count == 0:
                    self._install_fds()
                self.fd_count += 1

    def uninstall(self, fds: bool) -> None:
        with self.lock:
            if fds:
                self.fd_count -= 1
                if self.fd_count == 0:
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
                handler.setStream(replacement)
        # A handler attached later, or writing somewhere else (a file, a socket): its records are masked
        # as they are made, whatever their handler.
        self.record_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_masking_factory(self.record_factory))

    def _uninstall_streams(self) -> None:
        for stream in self.streams.values():
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        self.default.flush(final=True)
        for name, original in self.originals.items():
            if getattr(sys, name) is self.streams[name]:
                setattr(sys, name, original)
        for handler, stream in self.handlers:
            if getattr(handler, "stream", None) in self.streams.values():
                handler.setStream(stream)
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

    def _uninstall_fds(self) -> None:
        for stream in self.streams.values():
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for name in ("stdout", "stderr"):
            original = self.originals.get(name)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if original is not None:
                    original.flush()  # what python buffered for fd 1 goes through the pump first
        self.default.flush(final=True)
        for name, pump in list(self.pumps.items()):
            pump.close()
            del self.pumps[name]

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
    try:
        yield route
    finally:
        with contextlib.suppress(OSError, ValueError):
            route.flush(final=True)
        _route.reset(token)
        with SEAM.lock:
            SEAM.active.remove(route)
            SEAM.remember(masker.source()[1])


def current_route() -> Route:
    """The route of the current context (the default route outside any run)."""
    return _route.get() or SEAM.default


def mask_known(text: str) -> str:
    """A message printed outside any run (the command line's last error): every value this process has
    masked, masked."""
    return SEAM.default.masker.text(text)
