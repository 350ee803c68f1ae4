"""Starting runs from the workbench: each run is a `magnus execute` process of its own.

    launched = launch(request, root=project.root, run_id=rid, answer=ask_user, on_created=..., on_end=...)

The process is the same `magnus execute` a terminal would run (same capture, same store), so following,
stopping and leaving work alike whether a run was started here or elsewhere, and quitting the workbench
never takes a run down with it:
- it runs in a session of its own, with stdin closed and stdout/stderr going to a console file in the
  user's state folder (console_dir), so nothing it prints ever lands on the workbench's screen or, after
  the workbench exits, on the user's shell;
- the secrets it lacks are asked over a socket pair it inherits (--prompt-fd; magnus_core/prompt_channel.py):
  the values typed in the workbench's masked prompt never appear on its command line, in its environment or
  in a file;
- parameters typed in the form go on its command line after `--`, written so that it reads back exactly
  the typed values (parameters.cli_text);
- every write the run makes comes back on that socket as a notice (prompt_channel.event_message): the run
  screen follows a run started here from them (`launched.subscribe`), the moment each is made, instead of
  re-reading the run log (runs from other terminals are followed by polling the store).
No Textual here: the app passes callbacks (they are called from threads).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magnus_core.events import RunEvent
    from magnus_core.runner import RunRequest

EVENTS_LOST = "events-lost"  # a RunEvent kind of the launcher's: notices were dropped, read the store once

CONSOLE_DIR_ENV = "MAGNUS_CONSOLE_DIR"
KEEP_CONSOLES = 30 * 86400  # seconds: console files older than this are removed when a run is started


def console_dir() -> Path:
    """Where the consoles of runs started from the workbench are kept: $MAGNUS_CONSOLE_DIR, else
    $XDG_STATE_HOME/magnus/console, else ~/.local/state/magnus/console (the XDG default for logs)."""
    explicit = os.environ.get(CONSOLE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "magnus" / "console"


@dataclass
class Launched:
    """A run this workbench started: its process, the console file its own output goes to, the secret
    names the user declined, and how it ended (`returncode`, None while it runs)."""

    run_id: str
    process: subprocess.Popen[bytes]
    console: Path
    command: list[str]
    declined: list[str] = field(default_factory=list)
    created: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    returncode: int | None = None
    # the latest notice of each step and branch, and of the run (replayed to a new subscriber), and who
    # listens: callbacks called from the thread that reads the socket
    _latest: dict[str, RunEvent] = field(default_factory=dict, repr=False)
    _listeners: list[Callable[[RunEvent], None]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return not self.ended.is_set()

    def subscribe(self, callback: Callable[[RunEvent], None]) -> Callable[[], None]:
        """Call `callback(event)` (from another thread) for every write the run makes from now on, after
        the latest event of each step, branch and of the run so far (in the order they first came; a
        subscriber that read the run log first gets what is newer than it). Returns the unsubscribe."""
        with self._lock:
            for event in self._latest.values():
                callback(event)
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def received(self, event: RunEvent) -> None:
        """An event read from the run's socket: kept as the latest of its step (branch, run), passed on."""
        from magnus_core.events import BRANCH_UPDATED, STEP_UPDATED

        key = {STEP_UPDATED: "s:", BRANCH_UPDATED: "b:"}.get(event.kind, "run:") + event.internal_name
        with self._lock:
            if event.kind != EVENTS_LOST:
                self._latest[key] = event
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener(event)

    def failure(self) -> str:
        """Why the process ended before its run log existed: its last error line (magnus prints one), or
        the exit code."""
        if self.declined:
            return f"run not started: secret '{self.declined[0]}' was not given"
        lines = []
        with contextlib.suppress(OSError):
            lines = self.console.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [line for line in lines if line.startswith("Error: ")]
        if errors:
            return errors[-1].removeprefix("Error: ")
        tail = [line for line in lines if line.strip()]
        return tail[-1] if tail else f"magnus execute ended with exit code {self.returncode}"


def console_tail(path: Path, count: int = 3, limit: int = 64 * 1024) -> list[str]:
    """The last `count` lines of a run's console file that hold something (at most its last `limit`
    bytes are read); [] when it cannot be read or is empty."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return []
    lines = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-count:]


def died_of(returncode: int | None) -> str:
    """How the process of a run started here ended without ending its run (its log still PROCESSING), from
    its exit status, which the workbench knows and the log cannot say (trial 13 fault 8: the toast said
    `ended: PROCESSING`): `the process died of SIGSEGV (exit -11)`, or `the process exited with code 1`."""
    import signal

    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the process died of {name} (exit {returncode})"
    if returncode is None:
        return "the process ended"
    return f"the process exited with code {returncode} without ending the run"


def command_for(request: RunRequest, run_id: str, prompt_fd: int) -> list[str]:
    """The `magnus execute` command line for `request` (no secret ever goes in it)."""
    from magnus_core.parameters import cli_text

    words = [sys.executable, "-m", "magnus_core", "execute", "--file", request.file, "--run-id", run_id]
    for flag, value in (
        ("--config-file", request.config_file),
        ("--parameters-file", request.parameters_file),
        ("--var-file", request.var_file),
        ("--tag", request.tag),
        ("--use-cached", request.use_cached),
    ):
        if value:
            words += [flag, value]
    if request.strict:
        words.append("--strict")
    words += ["--prompt-fd", str(prompt_fd)]
    parameters = [f"--{name}={cli_text(value)}" for name, value in request.parameters.items()]
    return [*words, "--", *parameters] if parameters else words


def child_environment() -> dict[str, str]:
    """The workbench's environment, with the folder its magnus_core comes from first on PYTHONPATH when that
    is not where the interpreter finds it anyway (a source checkout): the run uses the workbench's code."""
    import sysconfig

    import magnus_core

    env = dict(os.environ)
    home = str(Path(magnus_core.__file__).resolve().parents[1])
    installed = {
        str(Path(p).resolve()) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
    }
    if home not in installed:
        env["PYTHONPATH"] = os.pathsep.join([home, *filter(None, [env.get("PYTHONPATH")])])
    env.pop("MAGNUS_TUI_DEBUG", None)
    return env


def launch(
    request: RunRequest,
    *,
    root: Path,
    run_id: str,
    answer: Callable[[str], str | None],
    on_end: Callable[[Launched], None] | None = None,
) -> Launched:
    """Start `magnus execute` for `request` as run `run_id` in folder `root` (see the module's docstring).

    `answer(name)` is called (from a thread) when the run asks for a secret: the value, or None to decline.
    `on_end(launched)` is called (from a thread) once the process has ended and been reaped. Wait on
    `launched.created` (the run log exists) or `launched.ended`. OSError when the process cannot start."""
    from magnus_core.prompt_channel import channel_pair, message_event, serve

    folder = console_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    console = folder / f"{run_id}.log"
    ours, theirs = channel_pair()
    command = command_for(request, run_id, theirs.fileno())
    try:
        with open(console, "wb") as out:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # the terminal's Ctrl-C, or closing it, never reaches the run
            )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    launched = Launched(run_id, process, console, command)

    def ask(name: str) -> str | None:
        value = None
        # the workbench may be gone (the run was kept in the background): decline, print nothing
        with contextlib.suppress(Exception):
            value = answer(name)
        if value is None:
            launched.declined.append(name)
        return value

    def on_event(message: dict[str, Any]) -> None:
        from magnus_core.events import RunEvent

        if message.get("event") == EVENTS_LOST:
            launched.received(RunEvent(kind=EVENTS_LOST, run_id=run_id))
            return
        event = message_event(message, run_id)
        if event is not None:
            launched.received(event)
        if message.get("event") == "run-created":
            launched.created.set()

    def listen() -> None:
        # the run's first notices are read at once: the step-log model is built (pydantic builds it at first
        # use) while the process starts, not while its first steps wait to be shown
        with contextlib.suppress(Exception):
            message_event({"event": "step-updated", "step": {"name": "-", "internal_name": "-"}}, run_id)
        serve(ours, ask, on_event)

    server = threading.Thread(target=listen, name=f"prompts-{run_id}", daemon=True)

    def reap() -> None:
        launched.returncode = process.wait()  # no zombie: the pid is free once the run has ended
        server.join(5)  # its last notices are read before anyone is told it ended
        launched.ended.set()
        if on_end is not None:
            with contextlib.suppress(Exception):
                on_end(launched)

    server.start()
    threading.Thread(target=reap, name=f"reap-{run_id}", daemon=True).start()
    return launched


def wait_started(launched: Launched, poll: float = 0.02) -> bool:
    """Block until the run log exists (True) or the process has ended without making one (False)."""
    while not launched.created.is_set():
        if launched.ended.wait(poll):
            return launched.created.is_set()
    return True


def _prune(folder: Path) -> None:
    """Remove console files of runs started more than KEEP_CONSOLES seconds ago."""
    cutoff = time.time() - KEEP_CONSOLES
    with contextlib.suppress(OSError):
        for path in folder.glob("*.log"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
