"""What a step's command runs inside, in the process that runs it: the environment bridge (MAGNUS_PRM_* and
MAGNUS_TRACK_* for code that reads the environment), whether the step runs beside others (threads), and a
step's stretch of output (its children's pipes drained, python's output flushed). No model and no pydantic:
a step run alone (`magnus execute_single_node`, issue 19) uses these without the run's models
(magnus_core/context.py re-exports them for the engine)."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

from magnus_core.parameters import MAP_VARIABLE, PRM_PREFIX, TRACK_PREFIX, decode, encode, fold_names

# True inside a branch that may run beside others (threads of the local executor, a Dask worker with more
# than one thread): steps there must not use process-wide state (os.environ) to pass metrics and
# parameters; the step scope carries them instead.
in_concurrent_branch: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "magnus_concurrent", default=False
)

_OURS = (PRM_PREFIX, TRACK_PREFIX, "MAGNUS_RUN_")  # the environment variables a run sets and restores


class EnvBridge:
    """Mirrors parameters into MAGNUS_PRM_* for code that reads the environment, and collects what the
    step set there (MAGNUS_TRACK_*, new or changed MAGNUS_PRM_*). Only values that changed are rewritten.
    One per run (RunContext.env_bridge); `restore` puts the environment back when the run ends."""

    def __init__(self) -> None:
        self.exported: dict[str, str] = {}
        self._saved: dict[str, str | None] = {}  # the MAGNUS_* environment before the run
        # os.environ's encoded items as the last export left them, when they then held no MAGNUS_TRACK_*
        # and every MAGNUS_PRM_* as exported (None: not known): collect() finds nothing to collect in an
        # environment equal to it (one C comparison instead of a look at every variable, once per step)
        self._clean: dict[bytes, bytes] | None = None
        self._run: tuple[str, str] = ("", "")  # MAGNUS_RUN_ID and MAGNUS_RUN_TAG as exported

    def _begin(self) -> None:
        """First write of this run: remember the environment's MAGNUS_* variables."""
        self._saved = {k: v for k, v in os.environ.items() if k.startswith(_OURS)}
        self._saved.setdefault("MAGNUS_RUN_ID", None)
        for stale in [k for k in self._saved if k.startswith(TRACK_PREFIX)]:
            del os.environ[stale]  # set before the run: not a metric of its first step

    def _set(self, name: str, text: str) -> None:
        if not self._saved:
            self._begin()
        os.environ[name] = text

    def export(
        self, params: dict[str, Any], run_id: str, tag: str, map_variable: dict[str, Any] | None = None
    ) -> None:
        """The environment of the step about to run: its parameters as MAGNUS_PRM_<name> (JSON), inside a
        map MAGNUS_PRM_MAP_VARIABLE (every enclosing map's item, as JSON, as the original set it for every
        task type), the run id and tag. What an earlier step had that this one has not (a map's item after
        the map) is taken away."""
        if not self._saved:
            self._begin()
        data = _environ_data()
        # unchanged since the last step's collect(): what this bridge wrote there is still as it wrote it
        clean = data is not None and data == self._clean
        if not clean or self._run != (run_id, tag or ""):
            clean = False
            for name, text in (("MAGNUS_RUN_ID", run_id), ("MAGNUS_RUN_TAG", tag or "")):
                if os.environ.get(name) != text:  # (set once per run: putenv per step is not free)
                    os.environ[name] = text
            self._run = (run_id, tag or "")
        wanted = {f"{PRM_PREFIX}{key}": encode(value) for key, value in params.items()}
        if map_variable:
            wanted[MAP_VARIABLE] = encode(map_variable)
        wrote = False  # (anything written or taken away: the copy of the environment is made again)
        for name in [n for n in self.exported if n not in wanted]:
            os.environ.pop(name, None)
            del self.exported[name]
            wrote = True
        for name, text in wanted.items():
            if self.exported.get(name) != text or (not clean and os.environ.get(name) != text):
                self._set(name, text)
                self.exported[name] = text
                wrote = True
        if not clean or data is None:
            self._clean = None
        elif wrote:
            self._clean = data.copy()
        # (else: the environment is still what the copy holds; no step since changed it)

    def restore(self) -> None:
        """Put the MAGNUS_* environment back as it was before the run, so a second run in this process
        (the workbench, tests) does not start with the first run's parameters."""
        if not self._saved:
            return
        for name in [k for k in os.environ if k.startswith(_OURS)]:
            if name not in self._saved:
                del os.environ[name]
        for name, before in self._saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._saved = {}
        self._clean = None
        self.exported.clear()

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Parameters the step set (decoded) and its MAGNUS_TRACK_ variables (as text, removed)."""
        data = _environ_data()
        if data is not None and data == self._clean:  # the step changed nothing in the environment
            return {}, {}
        changed: list[tuple[str, Any]] = []
        metrics: dict[str, str] = {}
        for name in _names_starting(PRM_PREFIX, TRACK_PREFIX):
            value = os.environ[name]
            if name.startswith(TRACK_PREFIX):
                metrics[name] = value
                del os.environ[name]
            elif name != MAP_VARIABLE and self.exported.get(name) != value:
                changed.append((name[len(PRM_PREFIX) :], decode(value)))
                self.exported[name] = value
        # now no MAGNUS_TRACK_* is left and every MAGNUS_PRM_* is as exported: clean, unless the step changed
        # the run's id or tag (the next export puts them back)
        ours = os.environ.get("MAGNUS_RUN_ID"), os.environ.get("MAGNUS_RUN_TAG")
        self._clean = data.copy() if data is not None and ours == self._run else None
        return fold_names(changed, "the step's environment (MAGNUS_PRM_*)"), metrics


def _environ_data() -> dict[bytes, bytes] | None:
    """os.environ's own mapping of encoded names to values on POSIX (every change made through os.environ
    is there); None elsewhere."""
    data = getattr(os.environ, "_data", None)
    return data if os.name == "posix" and isinstance(data, dict) else None


_PREFIXES_B: dict[tuple[str, ...], tuple[bytes, ...]] = {}


def _names_starting(*prefixes: str) -> list[str]:
    """Names of environment variables that start with one of `prefixes`. Run once per step: on POSIX it
    looks at os.environ's encoded keys, which avoids decoding every variable of the environment."""
    data = getattr(os.environ, "_data", None)
    if os.name != "posix" or not isinstance(data, dict):
        return [k for k in os.environ if k.startswith(prefixes)]
    encoded = _PREFIXES_B.get(prefixes)
    if encoded is None:
        encoded = _PREFIXES_B[prefixes] = tuple(os.fsencode(p) for p in prefixes)
    return [os.fsdecode(k) for k in data if k.startswith(encoded)]


_step_pipes: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "magnus_step_pipes", default=None
)


class _StepPipes:
    """A step's stretch of output: what python batched before it is written first, its children's pipes
    are drained when it ends, then what it printed itself is written (in order, as far as it can be)."""

    def __enter__(self) -> None:
        from magnus_core.output import current_route

        self._route = route = current_route()
        if route.tap is None:  # (a route an attempt tapped was flushed as the tap began: output.tapped)
            route.flush()
        self._token = _step_pipes.set([])

    def __exit__(self, *exc: Any) -> None:
        pipes = _step_pipes.get() or []
        _step_pipes.reset(self._token)
        if pipes:
            _close_pipes(pipes, self._route)
        if self._route.tap is None:
            self._route.flush()
        else:  # its lanes are flushed as the tap ends, once fd 1 and 2 are drained (output.tapped)
            self._route.flush_streams()


CHILD_WAIT = 5.0  # seconds a step's background jobs still holding its output are waited for, in all

LATE = (
    "[magnus: a background job still running {} s after this step's command ended holds its output ({}):"
    " what it writes from here on goes to the terminal only, not to any step's file (docs/logs.md)]\n"
)


def _close_pipes(pipes: list[Any], route: Any) -> None:
    """Close a step's child pipes (output.ChildPipes: a shell's stdout and stderr), waiting CHILD_WAIT seconds
    in all, not per pipe, for background jobs (`cmd &`) that still hold them (trial 14 fault 19: 5 s per
    pipe, so 10 s, where docs/logs.md says up to 5), then say in the step's file which job still held them,
    as output.HELD says it for a python step's child: what it writes later reaches the terminal only."""
    import time

    deadline = time.monotonic() + CHILD_WAIT
    for pipe in pipes:
        pipe.close(timeout=max(0.0, deadline - time.monotonic()))
    held = [pipe for pipe in pipes if pipe._thread.is_alive()]
    if not held:
        return
    copy = route.tap if route.tap is not None else getattr(route.lanes["stdout"].destination, "copy", None)
    if copy is None:
        return
    reads = [fd for pipe in held for fd in pipe.read_fds() if _open(fd)]
    holders = _holders({f"pipe:[{os.fstat(fd).st_ino}]" for fd in reads})
    text = LATE.format(f"{CHILD_WAIT:g}", ", ".join(holders) if holders else "its process is not known")
    with contextlib.suppress(OSError, ValueError):
        getattr(copy, "write_marker", copy.write_text)(text)


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _holders(pipes: set[str]) -> list[str]:
    """Each process whose fd 1 or 2 is one of `pipes` (`pipe:[inode]`), as `pid N: name` (a shell's
    background job is no child of magnus: re-parented when its shell ended); [] without /proc. Asked only
    for a job that outlived the wait: one look at every process."""
    found = []
    try:
        pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
    except OSError:
        return []
    for pid in pids:
        for fd in (1, 2):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") not in pipes:
                    continue
                with open(f"/proc/{pid}/comm") as handle:
                    name = handle.read().strip()
            except OSError:
                continue
            found.append(f"pid {pid}: {name}")
            break
    return found


@contextlib.contextmanager
def own_environment() -> Iterator[None]:
    """MAGNUS_PRM_/MAGNUS_TRACK_ variables a step sets stay with it, as if it had its own process
    (a Dask worker runs many steps; left-overs would read as the next step's parameters)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith((PRM_PREFIX, TRACK_PREFIX))}
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith((PRM_PREFIX, TRACK_PREFIX))]:
            del os.environ[key]
        os.environ.update(saved)
