"""Monkey-patching of the standard library for the whole process inside magnus's own process, which runs
python steps beside threads of its own: gevent's (`from gevent import monkey; monkey.patch_all()`, or one
module's: `monkey.patch_socket()`) and eventlet's (`eventlet.monkey_patch()`), called by a step, by a step's
module as it is imported, or by a library either imports (locust, grequests, some HTTP, database and grpc
set-ups; eventlet: Flask-SocketIO, older Celery pools).

A patch replaces threading's locks, `get_ident` and thread start (a thread magnus starts from then on is a
greenlet, run only when the step's thread yields to the hub), `queue`, `time.sleep`, `select` (gevent removes
select.poll), `socket`, `subprocess`, `signal`, and is never undone. magnus's threads (the output capture's,
the run log's writes) then stopped: trial 20 N8, magnus hung for ever after such a step, `magnus stop` and
SIGTERM did nothing, the run log PROCESSING, the step's output file never written; as a module's import,
magnus exited 2 blaming the module for `cannot release un-acquired lock`.

A patch in magnus's process is refused as it is asked for, before anything is patched (watch(): gevent tells
the subscribers of `zope.event` first, where _refuse raises PatchRefused; eventlet's monkey_patch is wrapped
as eventlet.patcher is imported, _Finder): the call raises, so the step fails at it, located, one line
saying why and what to do (a process of its own), and the run goes on to `on_failure`; a module that
patches as it is imported is refused the same way (magnus exits 2 before the run, the module and its line
named). A process of the step's own (a forked child, a subprocess) may patch. A gevent patch made past its
subscribers (gevent.monkey.patch_item, the subscribers list emptied) is found as the step ends (put_back,
from stepguard._Guard: one dict lookup a step): the standard library is put back from what gevent kept
(`gevent.monkey.saved`) and the step fails, saying so."""

from __future__ import annotations

import _thread
import os
import sys
import threading
from typing import Any

from magnus_core.errors import StepError

# what the step is told: one line, why and what to do
WHY = (
    "magnus runs python steps in its own process, beside threads of its own that patching stops (the run "
    "would hang)"
)
WHAT = (
    'run this code in a process of its own: a shell step (python -c "import mod; mod.fn()") or '
    "subprocess.run([sys.executable, ...]) in the step"
)

# gevent's names of the events it sends before it patches (gevent.events: ENTRY_POINT_NAME)
_WILL_PATCH = ("gevent.plugins.monkey.will_patch_all", "gevent.plugins.monkey.will_patch_module")
_SETTINGS = "_gevent_saved_patch_all_module_settings"  # (not a module: what patch_all was asked, in saved)

_PID = [0]  # the process magnus runs steps in (watch); another (a step's forked child) may patch

# as magnus found them: what put_back gives the threads back
_MAIN = threading.main_thread()
_MAIN_IDENT = _MAIN.ident or 0
_GET_IDENT = _thread.get_ident


class PatchRefused(StepError):
    """gevent's or eventlet's monkey-patching asked for in magnus's process (module docstring): the step
    fails at the call (a module's import fails: exit 2 before the run); or, raised by stepguard._Guard, a
    gevent patch made past the refusal and put back (put_back)."""


class _Finder:
    """An entry of sys.meta_path (a string comparison or two per module imported while steps run): as
    gevent.monkey is first imported it subscribes _refuse to gevent's events; eventlet.patcher is found as
    python would find it, and loaded by _Refusing."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        if name == "gevent.monkey":
            _subscribe()
        elif name == "eventlet.patcher":
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec(name, path, target)
            if spec is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _Refusing(spec.loader)  # type: ignore[assignment]
                return spec
        return None


class _Refusing:
    """eventlet.patcher's loader: the module loaded as ever, then its monkey_patch refused (_refuse_eventlet;
    eventlet's package takes `eventlet.monkey_patch` from it after)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        _refuse_eventlet(module)

    def __getattr__(self, name: str) -> Any:  # (get_source for tracebacks, ...: the real loader's)
        return getattr(self.loader, name)


_FINDER = _Finder()


def watch() -> None:
    """From the first step (or step module's import) on, in this process (stepguard._Guard; again in a
    forked child that runs steps): gevent's and eventlet's monkey-patching is refused (_refuse,
    _refuse_eventlet), whether they are imported already or later."""
    _PID[0] = os.getpid()
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    if "gevent.monkey" in sys.modules or "zope.event" in sys.modules:
        _subscribe()
    for name in ("eventlet.patcher", "eventlet"):
        if name in sys.modules:
            _refuse_eventlet(sys.modules[name])


def _refuse_eventlet(module: Any) -> None:
    """`module.monkey_patch` (eventlet.patcher's, or the eventlet package's) raises PatchRefused in magnus's
    process, before anything is patched; in another (a step's forked child) it is eventlet's."""
    original = getattr(module, "monkey_patch", None)
    if original is None or getattr(original, "_magnus_refuses", False):
        return

    def monkey_patch(**on: Any) -> Any:
        if os.getpid() == _PID[0]:
            raise PatchRefused(f"eventlet's monkey_patch() refused: {WHY}; {WHAT}")
        return original(**on)

    monkey_patch.__doc__ = original.__doc__
    monkey_patch._magnus_refuses = True  # type: ignore[attr-defined]
    module.monkey_patch = monkey_patch


def _subscribe() -> None:
    """_refuse among zope.event's subscribers (gevent's events go there: gevent.events.notify)."""
    try:
        import zope.event  # (gevent's own dependency)
    except ImportError:
        return
    if _refuse not in zope.event.subscribers:
        zope.event.subscribers.append(_refuse)


def _refuse(event: Any) -> None:
    """A zope.event subscriber: gevent about to monkey-patch (patch_all, or one module: patch_socket, ...)
    in magnus's process raises PatchRefused, before anything is patched; what patch_all noted it was asked
    is forgotten, so a later call is refused again rather than skipped as done. Other events, and a
    process of the step's own (a forked child), pass."""
    if getattr(event, "ENTRY_POINT_NAME", None) not in _WILL_PATCH or os.getpid() != _PID[0]:
        return
    monkey = sys.modules.get("gevent.monkey")
    saved = getattr(monkey, "saved", None)
    if isinstance(saved, dict):
        saved.pop(_SETTINGS, None)
    every = event.ENTRY_POINT_NAME == "gevent.plugins.monkey.will_patch_all"
    what = "monkey.patch_all()" if every else _module_call(event)
    raise PatchRefused(f"gevent's {what} refused: {WHY}; {WHAT}")


def _module_call(event: Any) -> str:
    """`monkey.patch_socket()`, ...: the call that patches the event's module, as gevent names it."""
    name = str(getattr(event, "module_name", "") or "")
    return f"monkey-patching of {name}" if name else "monkey-patching"


def put_back() -> str:
    """After a step, in its thread (stepguard._Guard): when gevent patched the standard library anyway (past
    _refuse: gevent.monkey.patch_item, its subscribers emptied), what it replaced is put back from what it
    kept (`gevent.monkey.saved`), the main thread made itself again (patch_all gives it a greenlet's ident
    and a lock of gevent's), and the modules it had patched are returned, for the step's failure to name;
    "" when nothing was patched (one dict lookup after a step that did not import gevent.monkey)."""
    monkey = sys.modules.get("gevent.monkey")
    saved = getattr(monkey, "saved", None) if monkey is not None else None
    if not saved or not isinstance(saved, dict):
        return ""
    names = sorted(name for name in saved if name != _SETTINGS and saved[name])
    if not names:
        return ""
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr, original in list(saved[name].items()):
            try:
                setattr(module, attr, original)
            except (AttributeError, TypeError):  # (a module that refuses: left as gevent made it)
                continue
    saved.clear()
    _threads_back()
    return ", ".join(names)


def _threads_back() -> None:
    """What patching threading did past its `saved` table: the main thread's ident (a greenlet's, so
    threading._active held it under that key) and its state lock, the `join` gevent gave every thread
    alive, and the lock of every logging handler (gevent's, made at the patch)."""
    active: dict[int, threading.Thread] = threading._active  # type: ignore[attr-defined]
    main: Any = _MAIN
    if main.ident != _MAIN_IDENT:
        for ident, thread in list(active.items()):
            if thread is main:
                del active[ident]
        main._ident = _MAIN_IDENT
        active[_MAIN_IDENT] = main
    real = getattr(main, "_gevent_real_tstate_lock", None)
    if real is not None:
        main._tstate_lock = real
        main._gevent_real_tstate_lock = None
    alive = sys._current_frames()  # (the threads there are: a greenlet's entry, made while patched, goes)
    for ident, thread in list(active.items()):
        if ident not in alive:
            active.pop(ident, None)
            continue
        vars(thread).pop("join", None)
    _quiet_fork_hooks()
    import logging

    lock_type = type(threading.RLock())
    for ref in list(getattr(logging, "_handlerList", ())):
        handler = ref() if callable(ref) else ref
        old = getattr(handler, "lock", None)
        if old is None or type(old) is lock_type or not old.acquire(False):
            continue  # (one held now: left as it is)
        handler.lock = threading.RLock()
        old.release()


_FORK_HOOKS: list[Any] = []  # gevent.threading, once its fork hooks were made to see threading as it is


def _quiet_fork_hooks() -> None:
    """gevent's patch_all registers fork hooks it never takes away (os.register_at_fork): in a child forked
    later (a step's os.fork, multiprocessing's fork) they check that the main thread's ident is a
    greenlet's, which with threading put back it no longer is: `Exception ignored in ... after_fork_in_child
    ... AssertionError` on the child's stderr. Around each fork, while threading is not patched, gevent's
    own get_ident is threading's (hooks of magnus's, registered after gevent's: run before them at the fork,
    after them in the parent and the child)."""
    module: Any = sys.modules.get("gevent.threading")
    if module is None or _FORK_HOOKS or not hasattr(module, "_fork_hooks"):
        return
    _FORK_HOOKS.append(module)
    green = module.get_ident
    swapped = [False]

    def before() -> None:
        if threading.get_ident is _GET_IDENT and module.get_ident is green:
            module.get_ident = _GET_IDENT
            swapped[0] = True

    def after() -> None:
        if swapped[0]:
            module.get_ident = green
            swapped[0] = False

    os.register_at_fork(before=before, after_in_parent=after, after_in_child=after)
