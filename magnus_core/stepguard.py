"""Around one attempt of a python step's command, in the process that runs it: what the command may change
for the whole process and forget (the working folder, sys.stdout, an alarm, os._exit, a fork), the threads
it leaves running, and whether what it returned and tracked fits in a run log. No model and no pydantic: a
step run alone (`magnus execute_single_node`, issue 19) uses these without the run's models; nodes/task.py
runs every attempt through them."""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import builtins
import contextlib
import faulthandler
import io
import logging
import math
import operator
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any, NoReturn

from magnus_core import files, monkeypatch
from magnus_core.errors import StepError, a_or_an
from magnus_core.failure import HardExit, value_message
from magnus_core.output import thread_made, threads_of_no_step
from magnus_core.stepenv import in_concurrent_branch

if TYPE_CHECKING:
    from magnus_core.interaction import StepScope

log = logging.getLogger("magnus")


# Threads a python step (or a step's module as it was imported) started and left running that python would
# wait for at exit (not daemon threads): thread ident -> (who started it: `step s`, or `step s's module
# pkg.steps, as it was imported,`; the thread). cli._leave says so and does not wait for them.
LEFT_RUNNING: dict[int, tuple[Any, threading.Thread]] = {}


def _note_threads(step: str | None, before: frozenset[threading.Thread], who: Any = None) -> None:
    """Remember the non-daemon threads started while the step ran (not in `before`) that are still alive
    (magnus's own are daemons; a thread the workbench runs the run in was there before), as started by
    `step s` (or by `who`: guarded_import's words for a module). Beside other branches, a thread another
    branch's step started (_guarded_thread_init marks it) is that step's."""
    for thread in before.symmetric_difference(threading.enumerate()):  # (in C: usually none, per step)
        if thread in before or thread.daemon or thread.ident is None:
            continue
        if getattr(thread, "_magnus_started_in", None) not in (None, threading.get_ident()):
            continue
        if thread.ident in LEFT_RUNNING and LEFT_RUNNING[thread.ident][1] is thread:
            continue  # (noted as its module's, imported inside the step: guarded_import)
        LEFT_RUNNING[thread.ident] = (who if who is not None else f"step {step}", thread)


def threads_left() -> list[tuple[str, threading.Thread]]:
    """(who, thread) for every thread a python step, or a step's module as it was imported, left that is
    still running (see LEFT_RUNNING): `who` is `step s`, or `step s's module m, as it was imported,`."""
    return [(str(who), thread) for who, thread in LEFT_RUNNING.values() if thread.is_alive()]


_REAL_THREAD_INIT = threading.Thread.__init__


def _guarded_thread_init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    """threading.Thread.__init__ while steps run (put there once per process by _Guard): a thread a step
    starts beside other branches (a parallel or map run by threads, max_workers > 1) that does not say
    whether it is a daemon is not one, as it would not be had the step run in the main thread: python
    makes it a daemon like the branch's own thread, so magnus neither said it was left running nor could
    tell it from one the step made a daemon (trial 17 F17). It is marked with the step's thread, which
    _note_threads notes it for; `daemon=True`, or `.daemon = True` before it starts, still makes it a
    daemon. Anywhere else, python's own (one dict lookup more per thread made). Every thread made is also
    given the step whose attempt runs where it is made, whose file its output goes to while that step runs
    (output.thread_made; trial 20 N9 and F2)."""
    _REAL_THREAD_INIT(self, *args, **kwargs)
    if kwargs.get("daemon") is None and self.daemon and _in_step() and in_concurrent_branch.get():
        self.daemon = False
        self._magnus_started_in = threading.get_ident()  # type: ignore[attr-defined]
    thread_made(self)


# os._exit() as a step's own thread calls it (see _Guard): thread ident -> the process id of the step running
# in that thread, read by _guarded_exit (one dict lookup). Each thread writes its own key only, so no lock.
# _REAL_EXIT: os._exit as magnus found it, what _guarded_exit ends the process with.
_GUARDED: dict[int, int] = {}
_REAL_EXIT = os._exit


_REAL_CLOSE = os.close
_REAL_CLOSERANGE = os.closerange
# what this module's per-step code calls of os, as magnus found them: a step that left them replaced (a mock
# started and never stopped, trial 20 N4) would otherwise fail itself in magnus's code as it ends (os.getpid
# in _Guard) or be said to have removed its folder (os.getcwd in _restore); put back after it, _FUNCTIONS
_getpid = os.getpid
_getcwd = os.getcwd
_chdir = os.chdir
_SAID_CLOSED: set[int] = set()


def _in_step() -> bool:
    """Whether this thread runs a step, in the process that runs it (see _GUARDED)."""
    return _GUARDED.get(threading.get_ident()) == _getpid()


def _kept_open(kept: list[tuple[int, str]]) -> None:
    """Say once, on one line, the descriptors of magnus a step's close left open (those not said before)."""
    new = [(fd, what) for fd, what in kept if fd not in _SAID_CLOSED]
    if not new:
        return
    _SAID_CLOSED.update(fd for fd, _ in new)
    listed = ", ".join(f"{fd} ({what})" for fd, what in new)
    log.warning(
        "a step closed file descriptor%s magnus keeps open for the run, and magnus kept %s open: %s",
        "s" if len(new) > 1 else "",
        "them" if len(new) > 1 else "it",
        listed,
    )


def _guarded_close(fd: int) -> None:
    """os.close while a step runs: magnus's own descriptors (files.OWN_FDS) stay open in a step's thread,
    said once each (trial 17 F1); any other, and any in magnus's own code, is closed as asked."""
    if not _in_step():
        _REAL_CLOSE(fd)
        return
    with files.FD_LOCK:  # (not between magnus's own open and close in another thread: trial 19 F5)
        what = files.owned(fd) if fd in files.OWN_FDS else None
        if what is None:
            _REAL_CLOSE(fd)
            return
    _kept_open([(fd, what)])


def _guarded_closerange(low: int, high: int) -> None:
    """os.closerange while a step runs: every descriptor of the range but magnus's own (_guarded_close)."""
    if not _in_step():
        _REAL_CLOSERANGE(low, high)
        return
    start = low
    kept = []
    with files.FD_LOCK:  # (not between magnus's own open and close in another thread: trial 19 F5)
        for fd in sorted(fd for fd in list(files.OWN_FDS) if low <= fd < high):
            what = files.owned(fd)
            if what is None:
                continue
            _REAL_CLOSERANGE(start, fd)
            kept.append((fd, what))
            start = fd + 1
        _REAL_CLOSERANGE(start, high)
    _kept_open(kept)


def _guarded_exit(status: int) -> NoReturn:
    """os._exit while a step runs: in a thread running a step, in the process that runs it, raises HardExit
    (a SystemExit) for the step's attempt to record; anywhere else (a thread the step started, a forked
    child, magnus's own threads) it ends the process as asked."""
    if _GUARDED.get(threading.get_ident()) == _getpid():
        raise HardExit(status)
    _REAL_EXIT(status)


_REAL_EXECV = os.execv
_REAL_EXECVE = os.execve


class ExecRefused(RuntimeError):
    """An os.exec* function called while a step runs, in the process that runs it: it would replace the
    process of the whole run (magnus's), which then never finishes its run log, prints no summary, and
    exits with the new program's code (trial 23 F1: `os.execvp("sh", ...)` in a step exited 0, the run log
    left PROCESSING, `next` and `on_failure` never run). Raised instead, in the step: the step fails
    where it called it, and the run goes on. Not an OSError, so that os.execvp's search of PATH does not
    take it for a program not found there and try the next folder."""


def _exec_refused(args: Any) -> ExecRefused:
    try:
        program = repr(os.fsdecode(args[0]))
    except (TypeError, IndexError, ValueError):
        program = "a program"
    return ExecRefused(
        f"the step called os.exec* to run {program}: that replaces the process the whole run runs in "
        "(magnus's), ending the run unfinished, so magnus refused it; run the program with subprocess.run "
        "(or as a shell step) instead"
    )


def _exec_in_run() -> bool:
    """Whether a step runs now in this process (any thread: one a step started too)."""
    pid = _getpid()
    return any(owner == pid for owner in list(_GUARDED.values()))


def _guarded_execv(path: Any, args: Any) -> NoReturn:
    """os.execv while a step runs in this process: ExecRefused; otherwise (no step running, a forked child)
    the process is replaced as asked. os.execl, execlp, execvp and execvpe call it."""
    if _exec_in_run():
        raise _exec_refused(args)
    _REAL_EXECV(path, args)
    raise AssertionError("unreachable")  # pragma: no cover - (os.execv returns only by raising)


def _guarded_execve(path: Any, args: Any, env: Any) -> NoReturn:
    """os.execve while a step runs in this process: as _guarded_execv. os.execle, execlpe, execvpe call it."""
    if _exec_in_run():
        raise _exec_refused(args)
    _REAL_EXECVE(path, args, env)
    raise AssertionError("unreachable")  # pragma: no cover - (os.execve returns only by raising)


# Resource limits a step may lower for magnus's own process (resource.setrlimit, resource.prlimit), with
# what each, lowered, does to the run (trial 18: RLIMIT_NOFILE at 12 stopped the run with "Too many open
# files", exit 1, no step named; RLIMIT_FSIZE at 100 bytes left the run log PROCESSING). Other limits
# (RLIMIT_CORE, RLIMIT_MEMLOCK, ...) cannot take the run down and stay as a step sets them.
_LIMIT_USE = {
    "RLIMIT_NOFILE": "magnus cannot open the run log, the steps' output files or a shell step's pipes "
    "(Too many open files)",
    "RLIMIT_FSIZE": "magnus's writes past it fail (File too large): the run log, the steps' output files",
    "RLIMIT_AS": "magnus runs out of memory (MemoryError), writing the run log too",
    "RLIMIT_DATA": "magnus runs out of memory (MemoryError), writing the run log too",
    "RLIMIT_CPU": "SIGXCPU ends magnus once the process has used that much CPU time, the run log unfinished",
    "RLIMIT_NPROC": "shell steps and the processes magnus starts cannot start (Resource temporarily "
    "unavailable)",
    "RLIMIT_STACK": "a deep call in magnus or a later step ends magnus with a segmentation fault",
}
_LIMITS: dict[int, str] = {}  # resource number -> name, for those of _LIMIT_USE this system has
_LIMITS_BEFORE: dict[int, tuple[int, int]] = {}  # a limit changed while steps ran -> before its first change
_LIMITS_SAID: list[str] = []  # warnings given once the step's output is no longer captured (_restore)
_RESOURCE: Any = None  # the resource module once _resource() imported it; False where there is none
_REAL_SETRLIMIT: Any = None
_REAL_PRLIMIT: Any = None
_REAL_GETRLIMIT: Any = None
_FMT_SIZE: Any = None  # table.fmt_size, imported with resource (_limit_words)
_LIMITS_PID = 0  # the process the steps run in (a forked child or preexec_fn changes its own limits only)


def _resource() -> Any:
    """The resource module, imported once (0.5 ms, at the first step), its real setrlimit, prlimit and
    getrlimit kept and _LIMITS filled; False where python has none (Windows)."""
    global _RESOURCE, _REAL_SETRLIMIT, _REAL_PRLIMIT, _REAL_GETRLIMIT, _LIMITS_PID, _FMT_SIZE
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        _RESOURCE = False
        return False
    from magnus_core.table import fmt_size  # (now: under a lowered RLIMIT_NOFILE an import may not open)

    _FMT_SIZE = fmt_size
    _REAL_SETRLIMIT = resource.setrlimit
    _REAL_PRLIMIT = getattr(resource, "prlimit", None)  # (Linux only)
    _REAL_GETRLIMIT = resource.getrlimit
    _LIMITS.update((getattr(resource, name), name) for name in _LIMIT_USE if hasattr(resource, name))
    _LIMITS_PID = _getpid()
    _RESOURCE = resource
    return resource


def _note_limit(which: Any) -> None:
    """Before a limit of magnus's process is first changed while steps run: what it was, for
    _put_limits_back (one getrlimit, 0.4 us, at a step's call only)."""
    if _getpid() != _LIMITS_PID:
        return
    try:
        if which in _LIMITS and which not in _LIMITS_BEFORE:
            _LIMITS_BEFORE[which] = _REAL_GETRLIMIT(which)
    except (TypeError, ValueError, OSError):  # (a wrong argument: the real call says so)
        pass


def _guarded_setrlimit(which: int, limits: tuple[int, int], /) -> None:
    """resource.setrlimit while steps run (put there once per process by _Guard): the limit as it was is
    kept (_note_limit), then it is set as asked; after the step, one it lowered is put back."""
    _note_limit(which)
    _REAL_SETRLIMIT(which, limits)


def _guarded_prlimit(pid: int, which: int, limits: tuple[int, int] | None = None, /) -> tuple[int, int]:
    """resource.prlimit while steps run: as _guarded_setrlimit when it sets a limit of magnus's own process
    (pid 0 or its own); another process's limits, and reading, as python's."""
    if limits is None:
        return _REAL_PRLIMIT(pid, which)
    if pid == 0 or pid == _getpid():
        _note_limit(which)
    return _REAL_PRLIMIT(pid, which, limits)


def _higher(one: int, other: int) -> int:
    """The higher of two limits, RLIM_INFINITY (-1 in python) the highest."""
    infinity: int = _RESOURCE.RLIM_INFINITY
    return infinity if infinity in (one, other) else max(one, other)


def _lower(one: int, other: int) -> int:
    """The lower of two limits, RLIM_INFINITY the highest."""
    return other if _higher(one, other) == one else one


# limits counted in bytes: said as sizes (`200 MB (209715200 bytes)`), not as a bare count (trial 19 F13)
_BYTE_LIMITS = frozenset({"RLIMIT_FSIZE", "RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_STACK"})


def _limit_words(limits: tuple[int, int], name: str = "") -> str:
    """`soft 12, hard 4096` (`unlimited` for RLIM_INFINITY; a limit of _BYTE_LIMITS as a size with its
    byte count, table.fmt_size: `soft 200 MB (209715200 bytes), hard unlimited`; RLIMIT_CPU in seconds).
    Imports nothing: a step may have left RLIMIT_NOFILE too low to open a module's file."""

    def word(value: int) -> str:
        if value == _RESOURCE.RLIM_INFINITY:
            return "unlimited"
        if name in _BYTE_LIMITS:
            return str(_FMT_SIZE(value, exact=True))
        return f"{value} s" if name == "RLIMIT_CPU" else str(value)

    return f"soft {word(limits[0])}, hard {word(limits[1])}"


def _put_limits_back(who: Any = "a step") -> None:
    """After a step (in whichever thread ran it: limits are the whole process's): every limit of _LIMITS a
    step lowered through python (_guarded_setrlimit) is put back to what it was before its first change;
    a raised limit stays. A hard limit lowered cannot be raised again by a process that is not privileged
    (root, CAP_SYS_RESOURCE): the soft limit is raised as far as the hard one lets, and the warning says
    what follows. Each said once, naming the limit and what it would have done to the run (trial 18), when
    the step's output is no longer captured (_LIMITS_SAID, _restore). Costs nothing unless a step changed a
    limit; a change made in C (ctypes' setrlimit, psutil) is not seen."""
    for which in list(_LIMITS_BEFORE):
        was = _LIMITS_BEFORE.pop(which, None)
        if was is None:  # (another branch's thread put it back)
            continue
        try:
            now = _REAL_GETRLIMIT(which)
        except (ValueError, OSError):
            continue
        wanted = (_higher(now[0], was[0]), _higher(now[1], was[1]))
        if wanted == now:  # (raised, or as it was)
            continue
        name = _LIMITS[which]
        lowered = f"{who} lowered {name} to {_limit_words(now, name)} (it was {_limit_words(was, name)})"
        try:
            _REAL_SETRLIMIT(which, wanted)
        except (ValueError, OSError):  # (a hard limit raised by a process that may not)
            got = now
            soft = _lower(wanted[0], now[1])
            if soft != now[0]:
                with contextlib.suppress(ValueError, OSError):
                    _REAL_SETRLIMIT(which, (soft, now[1]))
                    got = (soft, now[1])
            _LIMITS_SAID.append(
                f"{lowered} and did not put it back; only a process with CAP_SYS_RESOURCE (root, unless a "
                f"container took it away) can raise a hard limit again, so magnus could not (it is "
                f"{_limit_words(got, name)} now): at that limit, {_LIMIT_USE[name]}"
            )
            continue
        _LIMITS_SAID.append(f"{lowered} and did not put it back; magnus did: so low, {_LIMIT_USE[name]}")


class _Guard:
    """Around a step's command (one object per attempt, not two generators):

    - os._exit() called by the step's own thread in this process raises HardExit (a SystemExit) instead
      of ending the process with the run log unfinished: the step fails like sys.exit(code). A child
      process (multiprocessing's fork) or another thread (one the step started) still exits as asked.
      Beside other branches too (`concurrent`: a parallel or map run by threads): os._exit is replaced
      once per process by _guarded_exit (left there: outside a step's thread it is os._exit), and each
      step's thread is entered in _GUARDED while its step runs (trial 16 F1: replaced per attempt, it
      could not be undone in order by several threads, so branch threads were left unguarded and one
      os._exit ended magnus, exit 3, with no summary and the run log PROCESSING).
    - os.execv and os.execve (and so every os.exec* function) called while a step runs in this process, in
      any thread, raise ExecRefused (the step fails at the call; trial 23 F1: the exec'd program replaced
      magnus, the run log left PROCESSING and the exit code the program's); a forked child execs as asked.
    - A process the step forked (os.fork()) that returns or raises instead of exiting would go on running
      the rest of the dag beside magnus, writing the same run log and printing a second summary: it ends
      here, flushed, with 0 when it returned and 1 when it raised (what a child process's exit code says).
    - resource.setrlimit and resource.prlimit are replaced once per process (_guarded_setrlimit: a limit's
      value before its first change is kept), and a limit a step lowered is put back as its step ends, here,
      before magnus reads its failure or closes its output (_put_limits_back; trial 18). Per step: two
      identity checks and one dict test, about 0.1 us.
    - threading.Thread.__init__ is replaced once per process: beside other branches a thread a step starts
      without saying daemon= is no daemon, as in the main thread (_guarded_thread_init; F17).
    - gevent's and eventlet's monkey-patching is refused from the first step on (monkeypatch.watch, once per
      process): the step fails at the call, never a hang (trial 20 N8); a gevent patch made past the refusal
      is put back as the step ends and the step fails (monkeypatch.put_back: one dict lookup a step).
    - signal.setitimer and signal.alarm are replaced once per process (_guarded_setitimer: which step
      armed which interval timer), faulthandler.dump_traceback_later and its cancel too (_WATCHDOG), and a
      timer the step left armed is cancelled as it ends, here, in any thread (_cancel_timers; trial 20 N3,
      N6), said by _restore. Per step: one setitimer call when not
      beside other branches (as before), one test otherwise while no timer is armed.
    """

    __slots__ = ("alone", "before", "pid", "thread")

    def __init__(self, concurrent: bool) -> None:  # (every thread is guarded; concurrent: see _cancel_timers)
        self.pid = 0
        self.thread = 0
        self.before: int | None = None
        self.alone = not concurrent

    def __enter__(self) -> None:
        self.pid = pid = _getpid()
        self.thread = thread = threading.get_ident()
        self.before = _GUARDED.get(thread)  # (a step run inside a step's thread: put back after)
        _GUARDED[thread] = pid
        if os._exit is not _guarded_exit:  # once per process (again if a step put its own there)
            os._exit = _guarded_exit
        if os.execv is not _guarded_execv:  # (likewise: exec would replace magnus's process, trial 23 F1)
            os.execv = _guarded_execv
            os.execve = _guarded_execve  # type: ignore[assignment]
        if os.close is not _guarded_close:  # (likewise: magnus's own descriptors stay open, trial 17 F1)
            os.close = _guarded_close
            os.closerange = _guarded_closerange
        if threading.Thread.__init__ is not _guarded_thread_init:  # (likewise: F17, a branch's threads)
            threading.Thread.__init__ = _guarded_thread_init  # type: ignore[method-assign]
        if monkeypatch._PID[0] != pid:  # (likewise: gevent's monkey-patching refused, trial 20 N8)
            monkeypatch.watch()
        if _REAL_SETITIMER is not None and signal.setitimer is not _guarded_setitimer:  # (the timers: N6)
            signal.setitimer = _guarded_setitimer
            signal.alarm = _guarded_alarm
            faulthandler.dump_traceback_later = _guarded_dump_later
            faulthandler.cancel_dump_traceback_later = _guarded_cancel_later
        limits = _RESOURCE if _RESOURCE is not None else _resource()
        if limits and limits.setrlimit is not _guarded_setrlimit:  # (likewise: the limits, trial 18)
            limits.setrlimit = _guarded_setrlimit
            if _REAL_PRLIMIT is not None:
                limits.prlimit = _guarded_prlimit

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if _getpid() != self.pid:  # a forked copy of magnus: it ends here
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            _REAL_EXIT(1 if exc_type is not None else 0)
        if _LIMITS_BEFORE:  # (at once: the step's failure is read, its output file closed, after this)
            _put_limits_back()
        if self.alone or _ARMED:  # (at once too: a timer left ringing in magnus's code is the step's)
            _cancel_timers(self.thread, self.alone)
        if self.before is None:
            _GUARDED.pop(self.thread, None)
        else:
            _GUARDED[self.thread] = self.before
        if "gevent.monkey" in sys.modules:  # (patched past monkeypatch._refuse: put back, the step fails)
            patched = monkeypatch.put_back()
            if patched:
                raise monkeypatch.PatchRefused(
                    f"gevent monkey-patched the standard library ({patched}) and magnus put it back: "
                    f"{monkeypatch.WHY}; {monkeypatch.WHAT}"
                )


# The signals whose disposition magnus's run relies on, with what a step's change did to it:
#   SIGCHLD  ignored (SIG_IGN): the kernel reaps children at once, so a later shell step's exit status is
#            lost (waitpid fails: ECHILD, subprocess reads 0): a failing command read SUCCESS (trial 17 F16)
#   SIGPIPE  the default action: magnus printing to a closed pipe (`| head`) is killed, exit 141 (F5)
#   SIGTERM, SIGINT, SIGHUP: `magnus stop`, Ctrl-C and a closed terminal no longer stop the run (F13)
#   SIGXFSZ  the default action: a write past a file-size limit kills magnus instead of failing the write
_KEPT_SIGNALS = ("SIGCHLD", "SIGPIPE", "SIGTERM", "SIGINT", "SIGHUP", "SIGXFSZ")


# (numbers found once; _signal.getsignal gives the handler as installed: signal.getsignal's conversion to
# an enum cost more than the rest of a step's look at the process, 1.5 us per signal)
_SIGNAL_NUMBERS = tuple((name, int(getattr(signal, name))) for name in _KEPT_SIGNALS if hasattr(signal, name))


def _settings() -> tuple[Any, ...]:
    """The whole-process settings process_settings() compares, read in the main thread (about 1 us)."""
    get = _signal.getsignal
    return (
        tuple([get(number) for _, number in _SIGNAL_NUMBERS]),
        builtins.print,
        logging.root.manager.disable,
        sys.getrecursionlimit(),
        sys.gettrace(),
        sys.getprofile(),
        builtins.open,
        os.open,  # (the two of _FUNCTIONS seen after every step: the rest after some, _put_functions_back)
        subprocess.Popen,
    )


def process_settings() -> tuple[Any, ...]:
    """What a step's command may change for the whole process and leave changed, taken before it runs:
    the handlers of _KEPT_SIGNALS, builtins.print, logging's disable level, the recursion limit, the
    trace and profile functions (sys.gettrace, sys.getprofile), with how many modules are loaded and the
    time (what restore_process_settings reads the kernel's signal mask on): about 1 us. (Resource limits
    a step lowers are seen as it lowers them: _guarded_setrlimit.) Outside the main thread (a branch
    thread), the settings are None, the modules and the time alone taken: a step there cannot change the
    signals from python (signal.signal raises ValueError there), what it changes for the process is
    another branch's too, so nothing is put back but what it changed from C (_after_branch_step)."""
    if threading.current_thread() is not threading.main_thread():
        return (None, len(sys.modules), perf_counter())
    return (_settings(), len(sys.modules), perf_counter())


def restore_process_settings(
    before: tuple[Any, ...] | None, who: Any = "a step", step: str | None = None
) -> None:
    """Put back what process_settings() took (`before`) that the step changed and left changed, each said
    once in a warning naming it and what it would have done to the run (trial 17: F16 SIGCHLD ignored made
    later shell failures read SUCCESS; F5 SIGPIPE's default killed magnus at a closed pipe; F13 a step's
    SIGTERM handler took a later stop; F8 a print replaced for later steps; F21 logging.disable silenced
    magnus's warnings; F19 a low recursion limit made magnus fail with an internal error; F9 a trace
    function left on slowed every later step and magnus). A recursion limit
    the step raised stays (deep recursion in later steps may need it). Then SIGPIPE and SIGXFSZ are made
    ignored by the kernel again, whatever set them in C (_keep_ignored; trial 18), 0.4 us of the 0.8 us
    this added per step. None: nothing to do. `who` begins each warning (guarded_import's words for a
    module changed as it was imported); the standard functions a step left replaced (_put_functions_back:
    os.open and subprocess.Popen looked at every step, the others of _FUNCTIONS after a step that loaded a
    module, ran 10 ms or more or left a mock started; trial 20 N4) are said naming `step`, and so are the
    warnings added since trial 20 (a change from C in a branch thread, a timer armed from C). In a branch
    thread, after a step that loaded a module or ran 10 ms or more: _after_branch_step (what it changed
    from C put right by the main thread before its branch goes on)."""
    if before is None:
        return
    settings, modules, started = before
    slow = len(sys.modules) != modules or perf_counter() - started >= 0.01
    if settings is None:  # (a step in a branch thread)
        if slow:
            _after_branch_step(f"step {step}" if step else who)
        return
    fatal = sys.modules.get("magnus_core.fatal")
    if fatal is not None:  # (faulthandler's file: whether the step changed it cannot be told; 0.3 us)
        fatal.keep_recording()
    now = _settings()
    if now != settings:  # (nearly never)
        _put_back(settings, now, who, step)
    # what the kernel does with SIGPIPE and SIGXFSZ, which a step may have changed from C, unseen above:
    # the kernel's mask is read (5 us: _kernel_masks) after a step that loaded a module or ran 10 ms or more;
    # so are the standard functions magnus relies on (_FUNCTIONS, 2 us), and after a step that left a mock
    # started
    if slow:
        _put_functions_back(f"step {step}" if step else who)
        ignored, caught = _keep_ignored(settings[0], who)
        _timers_from_c(f"step {step}" if step else who, ignored, caught, not in_concurrent_branch.get())
        return
    mock = sys.modules.get("unittest.mock")
    if mock is not None and mock._patch._active_patches:  # (mock.patch(...).start(), never stopped)
        _put_functions_back(f"step {step}" if step else who)
    try:  # (else both are ignored again unsaid, inline: 0.5 us; _keep_ignored says why)
        for number, index in _IGNORED_AGAIN:
            if settings[0][index] == _IGN:
                _set_signal(number, _IGN)
    except (OSError, ValueError):
        pass


def _put_back(
    before: tuple[Any, ...], now: tuple[Any, ...], who: Any = "a step", step: str | None = None
) -> None:
    """restore_process_settings's work when something changed: each setting put back, said."""
    handlers, printer, disabled, limit, trace, profile, opener, *functions = before
    if logging.root.manager.disable != disabled:  # (first: the warnings after it are then heard)
        logging.disable(disabled)
        log.warning("%s turned logging off (logging.disable) and did not turn it back on; magnus did", who)
    for (name, number), was, is_now in zip(_SIGNAL_NUMBERS, handlers, now[0], strict=True):
        if is_now is was or was is None:  # (None: a handler not installed from python: not put back)
            continue
        try:
            signal.signal(number, was)
        except (OSError, ValueError, TypeError):
            continue
        log.warning(
            "%s changed what %s does (to %s) and did not put it back; magnus did: %s",
            who,
            name,
            _handler_words(is_now),
            _SIGNAL_USE[name],
        )
    if builtins.print is not printer:
        builtins.print = printer
        log.warning("%s replaced print (builtins.print) and did not put it back; magnus did", who)
    if builtins.open is not opener:  # (trial 19 F4: magnus's own open failed the next shell step)
        builtins.open = opener
        log.warning("%s replaced open (builtins.open) and did not put it back; magnus did", who)
    if now[7:] != tuple(functions):  # os.open, subprocess.Popen: every one of _FUNCTIONS is looked at
        _put_functions_back(f"step {step}" if step else who)
    if sys.getrecursionlimit() < limit:
        with contextlib.suppress(ValueError, RecursionError):
            sys.setrecursionlimit(limit)
            log.warning("%s lowered the recursion limit and did not put it back; magnus did (%d)", who, limit)
    if sys.gettrace() is not trace:
        sys.settrace(trace)
        log.warning("%s left a trace function (sys.settrace) on for later steps; magnus took it off", who)
    if sys.getprofile() is not profile:
        sys.setprofile(profile)
        log.warning("%s left a profile function (sys.setprofile) on for later steps; magnus took it off", who)


# The standard functions magnus relies on between steps, itself or through the standard library it calls, that
# a step may leave replaced (`mock.patch("subprocess.Popen").start()` never stopped, `os.open = ...`), each as
# it was when magnus was imported (trial 20 N4: subprocess.Popen replaced failed the next shell step, blamed
# on it; os.open replaced stopped magnus at its next write of the run log, `Error: the file-system run-log
# store: cannot write: ...`, the log left PROCESSING; os.path.join, os.getcwd, os.stat, shutil.which,
# tempfile.gettempdir and the rest of these likewise stopped the run or failed a later step). os._exit,
# os.close and os.closerange are magnus's own guards (_Guard), time's clock is bound where magnus reads it.
_FUNCTION_NAMES: dict[Any, str] = {
    os: "open write read writev pipe dup dup2 stat fstat lstat unlink remove rmdir getcwd chdir getpid "
    "waitpid waitstatus_to_exitcode kill killpg fspath fsencode fsdecode set_blocking get_blocking makedirs "
    "mkdir listdir scandir walk rename replace fsync fdopen lseek access isatty utime link symlink readlink "
    "chmod get_terminal_size",
    os.path: "join abspath exists isdir isfile islink lexists dirname basename split splitext realpath "
    "normpath relpath expanduser isabs getsize commonpath",
    subprocess: "Popen run call check_call check_output getoutput getstatusoutput",
    shutil: "which copyfile copy copy2 copyfileobj copymode copystat copytree rmtree move disk_usage "
    "get_terminal_size",
    tempfile: "gettempdir mkstemp mkdtemp mktemp NamedTemporaryFile TemporaryFile TemporaryDirectory "
    "SpooledTemporaryFile",
    io: "open",
    # magnus's catalog finds and copies the files a step puts through these (trial 21: `Path.exists` mocked
    # by one step made the next step's put find nothing, its step a SUCCESS and the step after it failed)
    pathlib.Path: "exists is_file is_dir is_symlink glob rglob iterdir stat lstat open read_text read_bytes "
    "write_text write_bytes mkdir unlink rmdir rename replace resolve absolute touch chmod samefile "
    "expanduser",
}
_STANDARD = frozenset(
    [
        "posix",
        "nt",
        "os",
        "posixpath",
        "ntpath",
        "genericpath",
        "subprocess",
        "shutil",
        "tempfile",
        "io",
        "_io",
        "pathlib",
        "pathlib._local",
    ]
)


def _functions() -> list[tuple[Any, str, Any, tuple[str, ...], tuple[Any, ...]]]:
    """_FUNCTION_NAMES as (module, its name, a getter of those functions, their names, the functions), each
    function the standard library's own (one replaced before magnus was imported, by gevent's monkey
    patching or a debugger, is left as it is)."""
    table = []
    for module, text in _FUNCTION_NAMES.items():
        names = tuple(
            name
            for name in text.split()
            if getattr(getattr(module, name, None), "__module__", None) in _STANDARD
        )
        if names:
            getter = operator.attrgetter(*names)
            found = getter(module)
            label = (
                "os.path"
                if module is os.path
                else f"pathlib.{module.__name__}"
                if isinstance(module, type)
                else module.__name__
            )
            table.append((module, label, getter, names, found if len(names) > 1 else (found,)))
    return table


_FUNCTIONS = _functions()


def _put_functions_back(who: Any = "a step") -> None:
    """Each function of _FUNCTIONS a step replaced and left so is put back as magnus found it, said on one
    line naming them. In the main thread, with no step running: after a step that loaded a module, ran 10
    ms or more, left a mock started, or replaced os.open or subprocess.Popen, looked at after every step
    (restore_process_settings); after the import of a step's module; once branches run by threads have ended
    (after_branches). A getter of each module's functions and one comparison of tuples: about 2 us."""
    replaced = []
    for module, label, getter, names, originals in _FUNCTIONS:
        try:
            now = getter(module)
            same = (now if len(names) > 1 else (now,)) == originals
        except Exception:  # (a function deleted, or a replacement whose == raises)
            same = False
        if same:
            continue
        for name, original in zip(names, originals, strict=True):
            if getattr(module, name, None) is not original:
                with contextlib.suppress(Exception):
                    setattr(module, name, original)
                replaced.append(f"{label}.{name}")
    if replaced:
        log.warning(
            "%s replaced %s (a mock started and never stopped?) and did not put %s back; magnus did: later "
            "steps and magnus itself use the standard library's own",
            who,
            ", ".join(replaced),
            "them" if len(replaced) > 1 else "it",
        )


_SIGNAL_USE = {
    "SIGCHLD": "ignored, it loses the exit status of every later shell step (a failure would read SUCCESS)",
    "SIGPIPE": "its default action kills magnus once a pipe it prints to has closed (| head)",
    "SIGTERM": "magnus stop and kill stop the run through it",
    "SIGINT": "Ctrl-C stops the run through it",
    "SIGHUP": "a closed terminal stops the run through it",
    "SIGXFSZ": "its default action kills magnus at a write past a file-size limit",
}


# The signals python ignores from its start and magnus relies on staying ignored, as (name, number, bit of
# the kernel's SigIgn mask, place in _SIGNAL_NUMBERS): SIGPIPE (else `magnus ... | head` kills magnus, exit
# 141) and SIGXFSZ (else a write past a file-size limit kills it, the run log unfinished) (trial 18).
_IGNORED = tuple(
    (name, number, 1 << (number - 1), index)
    for index, (name, number) in enumerate(_SIGNAL_NUMBERS)
    if name in ("SIGPIPE", "SIGXFSZ")
)
_IGNORED_AGAIN = tuple((number, index) for _, number, _, index in _IGNORED)
_IGN = _signal.SIG_IGN
_DFL = _signal.SIG_DFL
_set_signal = _signal.signal
_SAID_FROM_C: set[str] = set()


# The signals magnus stops the run through, whose python handlers (magnus's, or python's own SIGINT handler)
# a change made in C would bypass: `magnus stop`, Ctrl-C or a closed terminal would then kill magnus with
# the run log unfinished. Seen by the kernel's SigCgt mask, read where _keep_ignored reads SigIgn.
_CAUGHT = tuple(
    (name, number, 1 << (number - 1), index)
    for index, (name, number) in enumerate(_SIGNAL_NUMBERS)
    if name in ("SIGTERM", "SIGINT", "SIGHUP")
)


def _keep_ignored(handlers: tuple[Any, ...], who: Any = "a step", children: bool = False) -> tuple[int, int]:
    """After a python step in the main thread (and, in the main thread, for a step in a branch thread:
    _after_branch_step, _settle_signals): SIGPIPE and SIGXFSZ, where python's table says ignored
    (`handlers`, as _settings() read it before the step and restore_process_settings made it again; python
    ignores both from its start), are ignored by the kernel again. A change made in C (a C extension,
    `ctypes.CDLL(None).signal(13, 0)`) is not in python's table, so restore_process_settings's comparison
    cannot see it. Setting both again costs 0.4 us (a sigaction call each), which restore_process_settings
    does after every step; whether the kernel's own disposition had changed can only be read from
    /proc (5 us: _kernel_masks; ctypes' sigaction 1 us a signal and 7 ms to import), so this, which reads it
    and says a change found, once per signal, runs only after a step that loaded a module (as `import
    ctypes` or a C extension does) or ran 10 ms or more: the read is then small beside it (0.2% at most).
    A step's module is imported before the step runs, so a quick step calling into C is put right unsaid
    (trial 18). The same read shows SIGTERM, SIGINT and SIGHUP no longer caught though python's table has
    a handler for them (_CAUGHT): that handler is installed again, said once; after a quick step it is
    not seen (installing three handlers again every step would cost 0.6 us more). `children` (a branch
    step's change, _after_branch_step): SIGCHLD ignored by the kernel where python's table has its default
    action gets it back, said once (_sigchld_back). The kernel's masks as read are returned."""
    ignored, caught = _kernel_masks()
    if children:
        _sigchld_back(handlers, ignored, who)
    for name, number, bit, index in _IGNORED:
        if handlers[index] != _IGN:  # (a handler of python's, the step's own: not this)
            continue
        try:
            _set_signal(number, _IGN)
        except (OSError, ValueError):
            continue
        if not ignored & bit and name not in _SAID_FROM_C:
            _SAID_FROM_C.add(name)
            log.warning(
                "%s changed what %s does from C (a C extension or ctypes: no longer ignored) and did not "
                "put it back; magnus did: %s",
                who,
                name,
                _SIGNAL_USE[name],
            )
    for name, number, bit, index in _CAUGHT:
        handler = handlers[index]
        if caught & bit or not callable(handler):  # (caught as python says, or no python handler)
            continue
        try:
            _set_signal(number, handler)
        except (OSError, ValueError, TypeError):
            continue
        if name in _SAID_FROM_C:
            continue
        _SAID_FROM_C.add(name)
        log.warning(
            "%s changed what %s does from C (a C extension or ctypes: its handler bypassed, %s) and did "
            "not put it back; magnus did: %s",
            who,
            name,
            "ignored" if ignored & bit else "the default action",
            _SIGNAL_USE[name],
        )
    return ignored, caught


def after_branches() -> None:
    """Once concurrent branches (a parallel or map run by threads, max_workers > 1) have ended, in the main
    thread: what a step in a branch thread changed from C for the whole process (SIGPIPE or SIGXFSZ no
    longer ignored, SIGTERM, SIGINT or SIGHUP's handler bypassed: _keep_ignored) is put right, said once.
    A branch thread cannot call signal.signal, so restore_process_settings never ran for those steps, and
    `magnus execute ... | head -1` was killed at its summary, exit 141, with a successful run (trial 19 F1;
    with a shell step after the parallel, the run log was left PROCESSING). One read of the kernel's masks
    (about 5 us) per composite step. While the branches still run, a change is in force for their output
    (said in docs/logs.md), but for what the main thread puts right as each branch ends, or as a step that
    loaded a module or ran 10 ms or more ends (BranchWait, _after_branch_step: trial 20 N2). So are the
    standard functions of _FUNCTIONS a branch's step replaced (_put_functions_back): a branch thread's step
    is not followed by restore_process_settings."""
    if threading.current_thread() is not threading.main_thread():
        return  # (a nested parallel inside a branch: its outermost one puts it right)
    _keep_ignored(_settings()[0])
    _put_functions_back("a step in a branch")  # (trial 20 N4; while they ran, a replacement was theirs)


# SIGCHLD, its number, its bit in the kernel's masks and its place in _SIGNAL_NUMBERS (None where there is
# none); and how many times magnus gave it its default action back while branches ran (_sigchld_back): a
# shell step beside them whose child ended before that lost its exit status, which tasks/shell.py reads
# here (a success it read then is no success).
_CHILD = next(
    (
        (number, 1 << (number - 1), index)
        for index, (name, number) in enumerate(_SIGNAL_NUMBERS)
        if name == "SIGCHLD"
    ),
    None,
)
SIGCHLD_PUT_BACK = 0


def _sigchld_back(handlers: tuple[Any, ...], ignored: int, who: Any) -> None:
    """In the main thread, for a step in a branch thread that ignored SIGCHLD from C (python's table has its
    default action, the kernel ignores it: every later shell step's exit status would be lost, and those
    beside it and after it in the branches failed, not run): the default action is put back, said once, and
    counted (SIGCHLD_PUT_BACK). A quick step's is seen as its branch ends (_settle_signals), or by the next
    shell step (tasks/shell.py, sigchld_default)."""
    global SIGCHLD_PUT_BACK
    if _CHILD is None or ignored == -1:
        return
    number, bit, index = _CHILD
    if not ignored & bit or handlers[index] != _DFL:
        return
    try:
        _set_signal(number, _DFL)
    except (OSError, ValueError, TypeError):
        return
    SIGCHLD_PUT_BACK += 1
    if "SIGCHLD" not in _SAID_FROM_C:
        _SAID_FROM_C.add("SIGCHLD")
        log.warning(
            "%s changed what SIGCHLD does from C (a C extension or ctypes: ignored) and did not put it back; "
            "magnus did: %s",
            who,
            _SIGNAL_USE["SIGCHLD"],
        )


def sigchld_default() -> bool:
    """SIGCHLD's default action put back, before a shell step that found it ignored in the kernel (tasks/
    shell.py: its exit status would be lost), by the main thread (in_main_thread: at once there; from a
    branch thread, asked of the main thread waiting for the branches, trial 20 N2: such a shell step failed,
    not run, until every branch had ended), counted (SIGCHLD_PUT_BACK). False when it cannot be (the main
    thread does not wait for the branches)."""

    def put_back() -> None:
        global SIGCHLD_PUT_BACK
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        SIGCHLD_PUT_BACK += 1

    return in_main_thread(put_back)


def _changed_from_c(handlers: tuple[Any, ...], ignored: int, caught: int) -> bool:
    """Whether the kernel's masks (`ignored`, `caught`) show a signal of _KEPT_SIGNALS handled otherwise than
    python's table (`handlers`) says: SIGPIPE or SIGXFSZ no longer ignored, SIGTERM, SIGINT or SIGHUP's
    python handler bypassed, SIGCHLD ignored where the table has its default action."""
    if ignored == -1:
        return False
    for _, _, bit, index in _IGNORED:
        if handlers[index] == _IGN and not ignored & bit:
            return True
    for _, _, bit, index in _CAUGHT:
        if callable(handlers[index]) and not caught & bit:
            return True
    return _CHILD is not None and bool(ignored & _CHILD[1]) and handlers[_CHILD[2]] == _DFL


def _after_branch_step(who: Any) -> None:
    """After a python step in a branch thread (a parallel or map run by threads, max_workers > 1) that
    loaded a module or ran 10 ms or more (as _keep_ignored after a step in the main thread): the kernel's
    masks are read (about 5 us) and, when a signal magnus relies on was changed from C (_changed_from_c),
    the main thread, which waits for the branches, is asked to put it right (a branch thread cannot call
    signal.signal) and this branch waits until it has: _keep_ignored there, SIGCHLD too (_sigchld_back),
    said once each naming the step. So the items of a map queued after it, the run's end and a stop run as
    if it had not (trial 20 N2: they ran with it until all branches had ended, and `magnus execute ... |
    head -1` exited 141, a `magnus stop` killed magnus, exit 143, the run log left PROCESSING). A timer it
    armed from C is cancelled here (_timers_from_c). A quick step's change is put right as its branch ends
    (BranchWait.wait: _settle_signals), said there."""
    get = _signal.getsignal
    handlers = tuple([get(number) for _, number in _SIGNAL_NUMBERS])
    ignored, caught = _kernel_masks()
    if _changed_from_c(handlers, ignored, caught):
        in_main_thread(lambda: _keep_ignored(_settings()[0], who, children=True))
    _timers_from_c(who, ignored, caught, not in_concurrent_branch.get())


# The main thread's wait for branches run in threads (executors/local.run_concurrently), while it waits
# (BranchWait.__enter__): what a branch thread asks of the main thread goes to it (in_main_thread).
_WAITING: list[BranchWait] = []


def in_main_thread(call: Any) -> bool:
    """`call()` made by the main thread, which only can set a python signal handler: at once in the main
    thread; from a branch thread while the main thread waits for the branches (BranchWait), which makes
    it as it comes, this thread waiting until it has. False (not made) where the main thread does not wait
    for branches (the workbench runs a run in a thread of its own; a stop ended the wait)."""
    if threading.current_thread() is threading.main_thread():
        call()
        return True
    waiting = _WAITING[-1] if _WAITING else None
    return waiting is not None and waiting.ask(call)


class BranchWait:
    """How a thread that runs branches in threads (executors/local.run_concurrently) waits for them: `wait()`
    returns as one more branch has ended (`ended()`). The main thread's wait makes, meanwhile, the calls a
    branch thread asks of it (in_main_thread: a signal changed from C put right after a step that loaded a
    module or ran 10 ms or more, _after_branch_step, the branch waiting until it is; SIGCHLD's default
    before a shell step, sigchld_default), and as each branch ends it reads the kernel's masks and puts
    right what a step changed from C, said (_settle_signals, about 5 us a branch, in the main thread, which
    waits anyway): a quick step's change, not read as it ends, so is put right as its branch ends, not
    once every branch has (trial 20 N2). A branch another thread starts just then, before the main thread
    is scheduled, may still begin with it."""

    __slots__ = ("calls", "lock", "main", "running", "seen", "wake")

    def __init__(self) -> None:
        self.wake = threading.Semaphore(0)
        self.calls: list[tuple[Any, threading.Event]] = []
        self.lock = threading.Lock()
        self.main = threading.current_thread() is threading.main_thread()
        # the branches running (thread ident: internal name), and those that ran since _settle_signals last
        # looked (the names, in order), for what it says
        self.running: dict[int, Any] = {}
        self.seen: list[Any] = []

    def __enter__(self) -> BranchWait:
        if self.main:
            _WAITING.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.main:
            return
        with self.lock:
            _WAITING.remove(self)
            calls, self.calls = self.calls, []
        for _, done in calls:  # (the wait was interrupted, a stop: nothing put right, the branch goes on)
            done.set()

    def began(self, branch: Any = None) -> None:
        """A branch begins (in the thread that runs it; `branch`: its internal name)."""
        self.running[threading.get_ident()] = branch
        self.seen.append(branch)

    def ended(self) -> None:
        """A branch has ended (in the thread that ran it)."""
        self.running.pop(threading.get_ident(), None)
        self.wake.release()

    def looked(self) -> list[str]:
        """The branches that ran since the last look (a change _settle_signals finds now is one of theirs),
        by internal name; from now on, those running."""
        seen, self.seen = self.seen, list(self.running.values())
        return [str(name) for name in dict.fromkeys([*seen, *self.seen]) if name]

    def wait(self) -> None:
        """Until one more branch has ended (a signal interrupts it in the main thread: KeyboardInterrupt),
        making the calls asked meanwhile."""
        while True:
            self.wake.acquire()
            if not self.calls:
                break
            with self.lock:
                call, done = self.calls.pop(0)
            try:
                call()
            finally:
                done.set()
        if self.main:
            _settle_signals(self)

    def ask(self, call: Any) -> bool:
        """`call` made by the waiting thread (see in_main_thread), from a branch thread."""
        done = threading.Event()
        with self.lock:
            if self not in _WAITING:
                return False
            self.calls.append((call, done))
        self.wake.release()  # (one wake more: wait() makes the call and waits for a branch's end again)
        done.wait()
        return True


def _settle_signals(wait: BranchWait) -> None:
    """In the main thread, as a branch ends while others may still run (BranchWait.wait): the kernel's masks
    read (about 5 us: _kernel_masks) and, when a step in a branch changed from C a signal magnus relies on
    (_changed_from_c), put right and said once (_keep_ignored, SIGCHLD too: _sigchld_back), naming the
    branches that ran since it last looked (the step is in one of them: BranchWait.looked; usually the one
    that ended and one beside it). A quick step's change, which
    its thread does not read (_after_branch_step), so is put right as its branch ends, not once every
    branch has (trial 20 N2)."""
    get = _signal.getsignal
    handlers = tuple([get(number) for _, number in _SIGNAL_NUMBERS])
    ignored, caught = _kernel_masks()
    names = wait.looked()
    if not _changed_from_c(handlers, ignored, caught):
        return
    if not names:
        who = "a step in a branch"
    elif len(names) <= 2:
        who = f"a step in branch {' or '.join(names)}"
    else:
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        who = f"a step in one of the branches {', '.join(names[:3])}{more}"
    _keep_ignored(handlers, who, children=True)


# /proc/self/stat, kept open for _kernel_masks: [the process that opened it, its descriptor (magnus's own:
# files.own_fd, so a step's os.closerange leaves it open), how the file begins (`pid (`)]
_MASKS_FD: list[Any] = []


def _kernel_masks() -> tuple[int, int]:
    """The kernel's masks of the signals this process ignores and catches, bit n-1 for signal n: the
    sigignore and sigcatch fields of /proc/self/stat (signals 1 to 31, every one of _KEPT_SIGNALS), one
    pread of a descriptor kept open, about 5 us, most of it the kernel's (opening and reading
    /proc/self/status each time cost 20 to 40 us); -1 for each (nothing to say) where they cannot be read
    (not Linux). A descriptor closed by a step (from C) or given to another file since is opened again."""
    pid = os.getpid()
    for _ in range(2):
        if not _MASKS_FD or _MASKS_FD[0] != pid:  # (first use, or a forked copy of magnus)
            try:
                fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return -1, -1
            _MASKS_FD[:] = [pid, files.own_fd(fd, "signal masks"), b"%d (" % pid]
        try:
            data = os.pread(_MASKS_FD[1], 4096, 0)
            if data.startswith(_MASKS_FD[2]):  # (fields 33 and 34, counted after the command's name)
                fields = data[data.rindex(b")") + 2 :].split(b" ", 33)
                return int(fields[30]), int(fields[31])
        except (OSError, ValueError, IndexError):
            pass
        _MASKS_FD.clear()
    return -1, -1


def _handler_words(handler: Any) -> str:
    """A signal handler as the warning says it: `ignored`, `the default action`, or the function's name."""
    import signal

    if handler == signal.SIG_IGN:
        return "ignored"
    if handler == signal.SIG_DFL:
        return "the default action"
    return f"the step's {getattr(handler, '__qualname__', None) or type(handler).__name__}"


def _restore(
    folder: str, streams: tuple[Any, Any], ctx: Any, step: str | None = None, who: Any = None
) -> None:
    """What a step may change for the whole process and forget to put back: the working folder (later steps,
    the catalog and a store with a relative folder would work elsewhere: trial 19 F19, `magnus logs` then
    found no run) and sys.stdout / sys.stderr (later output, the summary, would go where the step pointed
    them). Not beside other branches: there another thread's step may be using its own redirection. The
    signals magnus relies on: restore_process_settings. The resource limits a step lowered were put back as
    it ended (_Guard): said here. The warnings name `step` (or begin with `who`: guarded_import's words)."""
    while _LIMITS_SAID:
        try:
            said = _LIMITS_SAID.pop(0)
        except IndexError:  # (another branch's thread said it)
            break
        log.warning(said)
    try:
        now: str | None = _getcwd()
    except OSError:  # the step removed the folder it was in
        now = None
    if now != folder:
        _chdir(folder)
        log.warning(
            "%s changed the working folder (to %s) and did not change it back; magnus did: the steps, the "
            "run log and the catalog stay in %s, where magnus started (a file beside a module is found from "
            "its __file__)",
            who if who is not None else f"step {step}" if step else "a step",
            now if now is not None else "a folder it then removed",
            folder,
        )
    if _CANCELLED:  # (a timer the step left armed, cancelled as it ended: _Guard)
        _say_timers(who if who is not None else f"step {step}" if step else "a step")
    if ctx.concurrent:
        return
    if (sys.stdout, sys.stderr) != streams:
        sys.stdout, sys.stderr = streams


# _restore's ctx for an import: in magnus's main thread or a step not beside other branches; beside them
_ALONE = type("_Alone", (), {"concurrent": False})()
_BESIDE = type("_Beside", (), {"concurrent": True})()


class _ImportGuard(_Guard):
    """_Guard around a module's import (guarded_import): a resource limit it lowered is said as lowered by
    it (`who`)."""

    __slots__ = ("who",)

    def __init__(self, who: Any) -> None:
        super().__init__(in_concurrent_branch.get())
        self.who = who

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if _LIMITS_BEFORE and _getpid() == self.pid:
            _put_limits_back(self.who)
        super().__exit__(exc_type, *exc)


class _ModuleWords:
    """`step s's module pkg.steps, as it was imported,`: who a warning about a module's import names,
    the step found (a walk of the dag) only when something is said."""

    __slots__ = ("module", "step", "text")

    def __init__(self, module: str, step: Any) -> None:
        self.module = module
        self.step = step
        self.text: str | None = None

    def __str__(self) -> str:
        if self.text is None:
            step = self.step() if callable(self.step) else self.step
            owner = f"step {step}'s module" if step else "the module"
            self.text = f"{owner} {self.module}, as it was imported,"
        return self.text


def guarded_import(module: str, step: Any = None) -> Any:
    """importlib.import_module(module) for a python step's command, outside any step (magnus imports every
    step's module before the run, to check it: runner.check_commands): treated as a step's command is
    (nodes/task._run_attempt). What the module's own code does at import for the whole process and leaves
    so is put back and said, naming the step (`step`: its name, or a function that finds it, called only
    to say something) and the module: the working folder (an `os.chdir` to the module's folder at its top
    moved the run log and the catalog there, trial 19 F19; the folder it chose is kept for its steps,
    MODULE_FOLDERS, trial 20 N5), sys.stdout and sys.stderr (None: an internal
    error at the summary), the signals magnus relies on (SIGPIPE's default: `magnus ... | head` exit 141),
    print, logging, the recursion limit, trace functions, an alarm, lowered resource limits; os._exit and
    magnus's descriptors are guarded as in a step (_Guard); a non-daemon thread it starts is said at exit
    and not waited for (_note_threads); imported before the run, a thread it starts is no step's, and what
    it prints goes to the terminal alone (output.threads_of_no_step). A module already imported runs no
    code: imported as it is, no cost added. Inside a step too (the per-step entry point, `magnus
    execute_single_node`, imports there; so does a step whose module changed since): the step's function
    then runs where it would under `magnus execute` (tasks/python.run), and the module is named; beside
    other branches the streams are left to the step's."""
    import importlib

    if module in sys.modules:
        return importlib.import_module(module)
    who = _ModuleWords(module, step)
    folder = _getcwd()
    streams = (sys.stdout, sys.stderr)
    threads = frozenset(threading.enumerate())
    settings = process_settings()
    MODULE_FOLDERS.pop(module, None)  # (read again: its code may no longer change folder)
    imported = False
    try:
        with _ImportGuard(who):
            found = importlib.import_module(module)
        imported = True
        return found
    finally:
        if imported:
            _keep_module_folder(module, folder, who)
        _restore(folder, streams, _BESIDE if in_concurrent_branch.get() else _ALONE, who=who)
        restore_process_settings(settings, who)
        _note_threads(None, threads, who)
        threads_of_no_step(threads)  # (printing as it goes: into no step's file, trial 20 F2)


# The working folder a step's module changed to as it was imported and left (`os.chdir(os.path.dirname(
# os.path.abspath(__file__)))` at its top), by module name: the steps whose function is that module's run in
# it (module_folder), as they would in one python process (trial 20 N5: put back after the import, a step
# reading `open("data.csv")` beside its module failed under magnus and worked under python).
MODULE_FOLDERS: dict[str, str] = {}
_FOLDERS_SAID: set[str] = set()


def _keep_module_folder(module: str, folder: str, who: Any) -> None:
    """After `module` was imported in `folder`: a folder its code changed to (and that still exists) is kept
    in MODULE_FOLDERS for its steps, the working folder put back, and it is said once: magnus's own paths
    (the run log, the catalog, its output files) and the other steps stay where magnus started."""
    try:
        now = _getcwd()
    except OSError:  # (a folder it then removed: _restore says so)
        return
    if now == folder:
        return
    MODULE_FOLDERS[module] = now
    _chdir(folder)
    log.warning(
        "%s changed the working folder to %s: its steps run there, as they would in one python process; the "
        "other steps, the run log and the catalog stay in %s, where magnus started",
        who,
        now,
        folder,
    )


@contextlib.contextmanager
def module_folder(chosen: str, module: str, step: str, concurrent: bool) -> Iterator[None]:
    """Around a python step whose module chose the folder `chosen` as it was imported (MODULE_FOLDERS; what
    tasks/python.run looks up, a dict's truth when no module did): the step runs in it, and the folder it
    ran in is put back after, unsaid (a folder the step changed to itself is _restore's to put back and
    say). Beside other branches (`concurrent`: a parallel or map run by threads) the working folder is the
    whole process's, so no step can have its own: it runs where magnus started, said once per module; so
    it does when `chosen` is gone."""
    back = _getcwd()
    moved = False
    if not concurrent:
        try:
            _chdir(chosen)
            moved = True
        except OSError as exc:
            why = f"that folder cannot be entered now ({exc.strerror or exc})"
    else:
        why = "beside other branches (max_workers > 1) the working folder is the whole process's"
    if not moved and module not in _FOLDERS_SAID:
        _FOLDERS_SAID.add(module)
        log.warning(
            "step %s's module %s changed the working folder to %s as it was imported, but %s: the step runs "
            "in %s, where magnus started",
            step,
            module,
            chosen,
            why,
            back,
        )
    try:
        yield
    finally:
        if moved:
            try:
                now: str | None = _getcwd()
            except OSError:
                now = None
            if now == chosen:
                with contextlib.suppress(OSError):
                    _chdir(back)


# The process's interval timers (setitimer(2)), each with the signal it rings with, as (kind, signal number,
# signal name, how a warning names the call that arms it). A step may leave any of them armed: a timeout
# (signal.alarm) it returned before, a sampling profiler it did not stop (setitimer on ITIMER_PROF or
# ITIMER_VIRTUAL with a handler of its own). With no handler the signal's default action ends magnus
# (exit 142, 154, 155), the run log unfinished; with the step's own handler it rings in later steps and in
# magnus itself, and as python exits (which puts a python handler's signal back to its default action)
# it ends magnus after the summary (trial 19 F16; trial 20 N3: rc 154 or 155 after a run that succeeded, or
# no summary at all).
_TIMERS = tuple(
    (int(getattr(signal, kind)), int(getattr(signal, signame)), signame, words)
    for kind, signame, words in (
        ("ITIMER_REAL", "SIGALRM", "signal.alarm or setitimer"),
        ("ITIMER_VIRTUAL", "SIGVTALRM", "setitimer ITIMER_VIRTUAL"),
        ("ITIMER_PROF", "SIGPROF", "setitimer ITIMER_PROF"),
    )
    if hasattr(signal, kind) and hasattr(signal, signame)
)
_REAL_TIMER = int(getattr(signal, "ITIMER_REAL", 0))
_REAL_SETITIMER: Any = getattr(signal, "setitimer", None)  # (none on Windows: no timer is looked at)
_REAL_ALARM: Any = getattr(signal, "alarm", None)
# Which thread last armed each kind of timer through python (signal.alarm, signal.setitimer) while steps
# ran: timer kind -> thread ident (_guarded_setitimer, _guarded_alarm). Empty, the usual case, costs a step
# one test.
_ARMED: dict[int, int] = {}
# Timers cancelled as a step ended, for _restore to say once the step's output is no longer captured:
# thread ident -> [(timer kind, the handler python's table had for its signal)].
_CANCELLED: dict[int, list[tuple[int, Any]]] = {}
# faulthandler's watchdog (faulthandler.dump_traceback_later: a thread of its own, in C), a timer of another
# kind a step may leave armed (a hang detector around its work, never cancelled): when it rings it writes
# every thread's traceback into the output of whatever step runs then and, with exit=True, ends magnus
# (exit 1, the run log unfinished). In _ARMED as _WATCHDOG; [when it rings (time.monotonic; None: it
# repeats), its exit=] as the last call through python armed it.
_WATCHDOG = -1
_WATCHDOG_ARMED: list[Any] = [None, False]
_REAL_DUMP_LATER = faulthandler.dump_traceback_later
_REAL_CANCEL_LATER = faulthandler.cancel_dump_traceback_later


def _guarded_setitimer(which: int, seconds: float, interval: float = 0.0) -> tuple[float, float]:
    """signal.setitimer while steps run (put there once per process by _Guard): python's, and a timer it
    arms is remembered with the thread that armed it (_ARMED), so that the timer is cancelled as that step
    ends, in whatever thread (_cancel_timers)."""
    before: tuple[float, float] = _REAL_SETITIMER(which, seconds, interval)
    if seconds > 0:
        _ARMED[which] = threading.get_ident()
    return before


def _guarded_alarm(seconds: int) -> int:
    """signal.alarm while steps run (as _guarded_setitimer: the process's ITIMER_REAL)."""
    before: int = _REAL_ALARM(seconds)
    if seconds > 0:
        _ARMED[_REAL_TIMER] = threading.get_ident()
    return before


def _guarded_dump_later(*args: Any, **kwargs: Any) -> None:
    """faulthandler.dump_traceback_later while steps run (put there once per process by _Guard, with
    cancel_dump_traceback_later): faulthandler's, and the watchdog it arms is remembered with the thread
    that armed it (_ARMED[_WATCHDOG]), so that it is cancelled as that step ends (_cancel_timers)."""
    _REAL_DUMP_LATER(*args, **kwargs)
    timeout = args[0] if args else kwargs.get("timeout", 0)
    repeat = args[1] if len(args) > 1 else kwargs.get("repeat", False)
    _WATCHDOG_ARMED[:] = [
        None if repeat else perf_counter() + timeout,
        bool(args[3] if len(args) > 3 else kwargs.get("exit", False)),
    ]
    _ARMED[_WATCHDOG] = threading.get_ident()


def _guarded_cancel_later() -> None:
    """faulthandler.cancel_dump_traceback_later while steps run: faulthandler's, the watchdog forgotten."""
    _REAL_CANCEL_LATER()
    _ARMED.pop(_WATCHDOG, None)


def _cancel_timers(thread: int, alone: bool) -> None:
    """As a step ends (_Guard, in the thread that ran it, before magnus reads its failure): a timer it left
    armed is cancelled and noted for _restore to say (_CANCELLED). Not beside other branches (`alone`):
    ITIMER_REAL, whoever armed it, C code too (one setitimer call a step, as before). Any thread, also a
    branch thread (a parallel or map run by threads): a timer of any kind this step armed through python
    (_ARMED), or a thread that is running no step (one the step started); one another branch's step armed
    is that step's to cancel as it ends (trial 20 N6: an alarm armed in a branch beside a longer branch was
    cancelled only once the branches had ended, and ended magnus first, exit 142, the run log PROCESSING).
    One armed from C beside other branches, or on ITIMER_VIRTUAL or ITIMER_PROF, is seen after a step
    that loaded a module or ran 10 ms or more (_timers_from_c). faulthandler's watchdog too, armed through
    python and not rung yet (or repeating: _WATCHDOG)."""
    cancelled = None
    if alone and _REAL_SETITIMER is not None:
        remaining, interval = _REAL_SETITIMER(_REAL_TIMER, 0)
        if remaining or interval:
            cancelled = [_REAL_TIMER]
    if _ARMED:
        for kind, armed_by in list(_ARMED.items()):
            if armed_by != thread and armed_by in _GUARDED:
                continue  # (another branch's step, still running: cancelled as it ends)
            if _ARMED.get(kind) == armed_by:
                _ARMED.pop(kind, None)
            if cancelled is not None and kind in cancelled:
                continue
            if kind == _WATCHDOG:
                _REAL_CANCEL_LATER()
                ring = _WATCHDOG_ARMED[0]
                if ring is None or perf_counter() < ring:
                    _CANCELLED.setdefault(thread, []).append((_WATCHDOG, _WATCHDOG_ARMED[1]))
                continue
            remaining, interval = _REAL_SETITIMER(kind, 0)
            if remaining or interval:
                cancelled = [*(cancelled or ()), kind]
    if cancelled is not None:
        _CANCELLED.setdefault(thread, []).extend(
            (kind, _signal.getsignal(number)) for kind, number, _, _ in _TIMERS if kind in cancelled
        )


def _say_timers(who: Any) -> None:
    """The timers _cancel_timers cancelled as this thread's step ended, each said in a warning beginning
    with `who` (`step s`) and naming what would have happened: with no handler, the signal would have ended
    magnus; with the step's own, it would have rung in a later step (and, on ITIMER_VIRTUAL or ITIMER_PROF,
    in magnus itself, and ended it as python exits). One ignored is cancelled unsaid."""
    for kind, handler in _CANCELLED.pop(threading.get_ident(), ()):
        _say_timer(who, kind, handler)


def _say_timer(who: Any, kind: int, handler: Any) -> None:
    """One timer cancelled, said (see _say_timers); for faulthandler's watchdog, `handler` is its exit=."""
    if kind == _WATCHDOG:
        log.warning(
            "%s left faulthandler's watchdog running (faulthandler.dump_traceback_later%s); magnus cancelled "
            "it: it would have %s",
            who,
            ", exit=True" if handler else "",
            "ended magnus (exit 1, the run log unfinished)"
            if handler
            else "written every thread's traceback into a later step's output",
        )
        return
    words, signame = next((words, signame) for k, _, signame, words in _TIMERS if k == kind)
    if handler == signal.SIG_IGN:
        return
    if handler in (signal.SIG_DFL, None):
        if kind == _REAL_TIMER:
            log.warning(
                "%s left an alarm (%s) that would have ended magnus (SIGALRM, the run log unfinished); "
                "magnus cancelled it",
                who,
                words,
            )
            return
        log.warning(
            "%s left a timer running (%s) with no handler: its %s would have ended magnus, the run log "
            "unfinished; magnus cancelled it",
            who,
            words,
            signame,
        )
        return
    later = (
        "it would have rung in a later step"
        if kind == _REAL_TIMER
        else "it would have rung in later steps and in magnus, and ended magnus as python exits "
        f"({signame}'s default action)"
    )
    log.warning(
        "%s left a timer running (%s) with its own handler (%s); magnus cancelled it: %s",
        who,
        words,
        _handler_words(handler).removeprefix("the step's "),
        later,
    )


def _timers_from_c(who: Any, ignored: int, caught: int, alone: bool) -> None:
    """After a step that loaded a module or ran 10 ms or more, where the kernel's signal masks were read
    (`ignored`, `caught`): a timer still armed that _cancel_timers did not see (armed from C, or through a
    setitimer bound before magnus replaced it) is cancelled and said, as one armed through python: every
    kind but ITIMER_REAL alone (cancelled after every such step already) and but one another branch's
    step armed. A timer whose signal a C handler catches (a C profiler, vmprof: python's table has no
    function for it) is left: it cannot end magnus. One getitimer call a kind (0.5 us)."""
    if _REAL_SETITIMER is None:
        return
    for kind, number, _, _ in _TIMERS:
        if (kind == _REAL_TIMER and alone) or _ARMED.get(kind, 0) in _GUARDED:
            continue
        if signal.getitimer(kind) == (0.0, 0.0):
            continue
        bit = 1 << (number - 1)
        handler = _signal.getsignal(number)
        if caught != -1 and caught & bit and not callable(handler):
            continue  # (a handler set in C)
        _REAL_SETITIMER(kind, 0)
        _say_timer(who, kind, signal.SIG_IGN if ignored != -1 and ignored & bit else handler)


def _warn_non_finite(step: str, scope: StepScope) -> None:
    """A metric or returned parameter holding NaN or an infinity (a diverged loss) is kept as null: a run
    log is JSON, which has no such numbers. Said once per metric (a series of NaN points is one warning) and
    per parameter, naming the step. A mapping key that was not text (`1`, `(2, 3)`), which the run log and
    so the next steps hold as its text, is said too (trial 16 F6: both were silent for parameters)."""
    for name in dict.fromkeys([*scope.metrics, *scope.history]) if scope.metrics or scope.history else ():
        found = _non_finite(scope.metrics.get(name))
        if found is None:
            for point in scope.history.get(name, ()):
                found = _non_finite(point["value"])
                if found is not None:
                    break
        if found is not None:
            log.warning(
                "step %s: metric '%s' is %s, which a run log (JSON) cannot hold: it is kept as null",
                step,
                name,
                found,
            )
    for name, value in scope.params_out.items() if scope.params_out else ():
        found = _non_finite(value)
        if found is not None:
            log.warning(
                "step %s: returned parameter '%s' is %s, which a run log (JSON) cannot hold: it is kept as "
                "null",
                step,
                name,
                found,
            )
    for (what, name), keys in scope.text_keys.items() if scope.text_keys else ():
        if what == "returned name":
            log.warning(
                "step %s: returned a parameter named %r (%s): a run log (JSON) names parameters by text, so "
                "it is the parameter '%s'",
                step,
                keys[0],
                a_or_an(type(keys[0]).__name__),
                name,
            )
            continue
        shown = "; ".join(f"{key!r}, {a_or_an(type(key).__name__)}" for key in keys[:3])
        more = f"; and {len(keys) - 3} more" if len(keys) > 3 else ""
        log.warning(
            "step %s: %s '%s' has mapping keys that are not text (%s%s): a run log (JSON) keeps them as "
            "text (%s), which is what the steps after it get",
            step,
            what,
            name,
            shown,
            more,
            ", ".join(repr(str(key)) for key in keys[:3]),
        )


def _non_finite(value: Any) -> str | None:
    """'nan', 'inf' or '-inf' for the first such float in `value` (lists, tuples, mappings walked, level by
    level: a value nested deeper than python's recursion limit is walked too)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or item.__class__ is int or item.__class__ is str:
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return repr(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return None


def check_returned(scope: StepScope, command: str, root: Any) -> None:
    """_check_outputs for a step run by `magnus execute` or the per-step entry point alike; where a value
    does not fit, a python step's failure (`command`: its function, "" for any other step) is located at
    its function's `def` (failure.defined_at: no traceback has the place; trial 22), else raised as it is.
    Raises CommandFailed (located) or StepError."""
    try:
        _check_outputs(scope)
    except StepError as exc:
        from magnus_core.failure import CommandFailed, defined_at  # (only on a failure: the plain path
        from magnus_core.models.run_log import AttemptError  # of a step process imports no pydantic)

        frame = defined_at(command, root) if command else None
        if frame is None:
            raise
        raise CommandFailed(str(exc), AttemptError(type="", message=str(exc), frames=[frame])) from None


def _check_outputs(scope: StepScope) -> None:
    """What a step returned and tracked must fit in a run log: else the attempt fails naming the value, its
    type and what to do, instead of the run log failing to be written (failure.value_message)."""
    for what, values in (("returned parameter", scope.params_out), ("metric", scope.metrics)):
        for key, value in values.items():
            problem = value_message(what, key, value)
            if problem:
                raise StepError(problem)
    for key, points in scope.history.items():
        for point in points:
            problem = value_message("metric", f"{key} (step {point['step']})", point["value"])
            if problem:
                raise StepError(problem)
