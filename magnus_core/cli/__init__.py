"""The `magnus` command line. Thin: parse, call the core, print. Heavy modules are imported inside commands
so that `magnus --help` stays fast, and a command line imports only the module of the command it names
(COMMANDS): `magnus execute_single_node`, what every Argo pod runs, loads none of the others, and
`magnus --help` lists the commands from that table without importing any (issue 19). A plain
`magnus execute_single_node RUN STEP [options]` is not even parsed by click (cli/_step.py): the click group,
`cli`, lives in cli/_group.py and is imported on first use of `magnus_core.cli.cli`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from magnus_core.errors import HungUp, Terminated, stop_exit_code

if TYPE_CHECKING:
    from magnus_core.cli._group import MagnusGroup as MagnusGroup
    from magnus_core.cli._group import cli as cli

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def setup_logging(level: str) -> None:
    """magnus's log on stderr at `level` (one of LOG_LEVELS). At the default level (WARNING) and above, a
    record reads as magnus's other messages do (`magnus: run r exists already: ...`); with --log-level
    INFO or DEBUG, each line carries its time, level and logger, as a log read afterwards needs (trial 9:
    one warning among the per-step path's `magnus: ...` lines read `2026-11-30 21:10:40,161 WARNING ...`)."""
    import logging  # here, not at the top: `magnus --help` never logs

    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("magnus")  # (output.OWN_HANDLER: its lines are never a step's captured output)
    detailed = logging.getLevelName(level) < logging.WARNING
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s" if detailed else "magnus: %(message)s"
        )
    )
    logger = logging.getLogger("magnus")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def stdout_reader_gone() -> bool:
    """True when stdout is a pipe whose reading end was closed (`magnus diff A B | head -1` after head
    exits). Linux and macOS report that as POLLERR on the writing end; a terminal or a file never does."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or stdout has no descriptor
        return False


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that nothing more fails writing to a pipe nobody reads (neither a
    later print nor the interpreter's last flush): the advice of Python's docs on SIGPIPE."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def printing() -> Iterator[None]:
    """Around the printing of a command's data: a reader that stops reading (`| head -1`) ends the printing
    quietly and the command goes on to exit with its own code (`diff --exit-code`). Any other failure to
    write (a full disk behind `> file`, a broken pipe of magnus's own) is raised: data a user asked for is
    never lost without a word. (`unprintable` below swallows every failure: for a run's summary, whose run
    log holds it all.)"""
    try:
        yield
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        quiet_stdout()


def data_console() -> Any:
    """A rich Console on stdout for a command's data: as wide as the terminal, unbounded when piped
    (`table.rich_width`); a reader that closes the pipe raises BrokenPipeError (rich's own default
    is SystemExit(1), which would report a failure nobody had). With NO_COLOR or TERM=dumb no escape at
    all, bold and dim included, as the run summary and `magnus show` print (rich alone keeps them)."""
    import errno

    from rich.console import Console

    from magnus_core.table import rich_width

    class _DataConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    plain = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    return _DataConsole(width=rich_width(), color_system=None if plain else "auto")


def _debug_traceback() -> None:
    """With --log-level DEBUG, the traceback of the error being handled, secret values masked."""
    import logging

    if logging.getLogger("magnus").isEnabledFor(logging.DEBUG):
        import traceback

        from magnus_core.output import mask_known

        sys.stderr.write(mask_known(traceback.format_exc()))


def note(text: str) -> None:
    """A message for the user on stderr (a note, a hint, a warning, an error), as click.echo writes it,
    wrapped to the terminal's width at word boundaries (table.wrap_note; imported when a note is said, not
    for `--help`)."""
    from magnus_core.table import echo_note

    echo_note(text)


_say = note


def _asks_help() -> bool:
    """The command line asks for help (`-h`/`--help`): help is printed whatever the MAGNUS_* settings hold,
    and without importing what checks them (tests/test_headless.py: what `--help` loads)."""
    return any(arg in ("-h", "--help") for arg in sys.argv[1:])


def run_guarded(call: Callable[[], Any], passthrough: tuple[type[BaseException], ...] = ()) -> int | None:
    """Run a command's body: None when it returns; the exit code when it fails, our errors said in one line
    on stderr (masked). Exceptions of the types in `passthrough` are raised as they are (click's own). The
    one handler of every command line, whether click parsed it (MagnusGroup.invoke) or not (cli/_step.py)."""
    from magnus_core.errors import MagnusError

    try:
        if not _asks_help():
            from magnus_core.settings import check

            check()  # a bad MAGNUS_* setting: one line, exit 2, before the command does anything
        call()
        return None
    except passthrough:
        raise
    except MagnusError as exc:
        from magnus_core.output import mask_known

        if exc.file and exc.field and exc.line is None:  # a config field, from any command: its line
            from magnus_core.loading import locate_config_error

            locate_config_error(exc)
        with unprintable():  # stderr's reader gone (`2>&1 | head -1`): the exit code still says it
            _debug_traceback()
            _say(mask_known(f"Error: {exc}"))
            if exc.detail:  # as written (a traceback's layout), never wrapped
                sys.stderr.write(mask_known(exc.detail.rstrip("\n") + "\n"))
        return exc.exit_code
    except BrokenPipeError:
        if not stdout_reader_gone():  # a pipe of magnus's own (a step's process) broke: a real error
            raise
        quiet_stdout()  # `magnus runs | head -1`: the reader has what it wanted, as git exits quietly
        return 0
    except OSError as exc:  # a file or folder the system refused: the user's to fix, not magnus's bug
        from magnus_core.errors import explain_os_error

        with unprintable():
            _say(f"Error: {explain_os_error(exc)}")
        return 2
    except Exception as exc:
        from magnus_core.output import mask_known

        with unprintable():
            _debug_traceback()
            _say(
                mask_known(
                    f"Error: internal error ({exc.__class__.__name__}: {exc}); "
                    "run with --log-level DEBUG to see the traceback"
                )
            )
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: said only by what knows what it stopped
        from magnus_core.errors import stopped_line

        _stop_children()
        with unprintable():
            line = stopped_line(exc)  # errors.say_when_stopped: a run or step marked, a follow left
            if line:
                _say(line)
            hint = getattr(exc, "resume_hint", "")  # set by `magnus execute` (cli/execute.py)
            if hint and line:
                _say(hint)
        return stop_exit_code(exc)


def __getattr__(name: str) -> Any:
    """`cli` and `MagnusGroup` (cli/_group.py), imported on first use: click is loaded with them."""
    if name in ("cli", "MagnusGroup"):
        from magnus_core.cli import _group

        return getattr(_group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CommandModuleError(Exception):
    """A module of magnus_core/cli that defines commands could not be imported: a broken install, never a
    command to leave out quietly."""


class CommandInfo(NamedTuple):
    """Where a command is defined (a module of this package) and the first paragraph of its help."""

    module: str
    summary: str


# Each command, the module of this package that defines it, and its help's first paragraph: a command line
# imports only the module of the command it names, and `magnus --help` none. tests/test_headless.py checks
# this table against what every module registers and says.
COMMANDS: dict[str, CommandInfo] = {
    "compare": CommandInfo(
        "compare",
        "Compare runs: one row per run, one column per parameter or metric that differs between them.",
    ),
    "completion": CommandInfo(
        "complete",
        "Print the shell-completion script for SHELL (bash, zsh or fish): commands, options, run ids, step "
        "names, tags and pipeline files complete with Tab.",
    ),
    "diff": CommandInfo(
        "diff", "Compare run A (before) with run B (after): dag, code, data, parameters, metrics and steps."
    ),
    "execute": CommandInfo("execute", "Run a pipeline and write its run log."),
    "execute_single_node": CommandInfo(
        "nodes", "Run exactly one step of run RUN_ID (for orchestrators such as Argo and Dask)."
    ),
    "fan": CommandInfo("nodes", "Fan out (-m out) or fan in (-m in) the composite step STEP of run RUN_ID."),
    "logs": CommandInfo(
        "logs", "Print what a run's steps wrote to stdout and stderr (masked), as kept in the run's catalog."
    ),
    "runs": CommandInfo(
        "runs", "List the runs kept in the run-log store: id, status, tag, start, duration, steps, re-run of."
    ),
    "show": CommandInfo(
        "show",
        "Print a run's summary: its status, its steps, and each failed step's error and last output lines.",
    ),
    "stop": CommandInfo(
        "stop",
        "Stop a running run: the steps in progress are recorded INTERRUPTED, the run ends INTERRUPTED with "
        "what it had done kept, and `magnus execute --use-cached RUN` resumes it.",
    ),
    "store": CommandInfo(
        "store",
        "Work on run-log stores as a whole (copy runs from one store to another; the run index's files).",
    ),
    "tui": CommandInfo("tui", "Open the terminal workbench: browse, watch, start and compare runs."),
}


def command_modules() -> list[str]:
    """Every module of this package that defines commands (all but those starting with '_')."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _load(name: str) -> None:
    """Import the command module `name` (it registers its commands on `cli`). CommandModuleError naming
    the module when it fails to import, and why."""
    import importlib

    module = f"{__name__}.{name}"
    if module in sys.modules and sys.modules[module] is not None:
        return
    try:
        importlib.import_module(module)
    except Exception as exc:
        raise CommandModuleError(
            f"the commands of {module} cannot be loaded ({exc.__class__.__name__}: {exc}); "
            "the installation is broken: reinstall magnus"
        ) from exc


def _register() -> None:
    """Import every command module (each registers its commands on `cli`). Raises CommandModuleError
    naming the module that fails to import and why."""
    for name in command_modules():
        _load(name)


_MAIN_PID = os.getpid()


def _on_sigterm(signum: int, frame: Any) -> None:
    if os.getpid() != _MAIN_PID:  # a process a step forked (multiprocessing): it dies as SIGTERM says
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    from magnus_core.interrupts import note_signal

    note_signal()  # a step's attempt tells this stop from its own code raising (interrupts.from_signal)
    raise Terminated()


# The signals whose python handlers (_on_sigterm, _on_sighup) a forked child inherits, and each forking
# thread's signal mask before the fork (by thread ident: the child's thread keeps it). See _fork_before.
_FORK_MASKS: dict[int, Any] = {}
_FORK_HOOKED: list[bool] = []  # the hooks are registered (once per process: main() may run again in tests)


def _fork_signals() -> set[int]:
    import signal

    return {signal.SIGTERM, signal.SIGHUP}


def _fork_before() -> None:
    """SIGTERM and SIGHUP are held back in the forking thread across a fork. A child (a fork Pool's worker)
    inherits magnus's python handlers, and python drops a signal that arrives before its after-fork code
    reset the handlers' flags: a `Pool.terminate()` (which `with Pool(...)` calls) reaching a worker still
    starting was lost, the worker never ended and the step hung for ever, about one run in ten. Held back,
    the signal waits in the child until _fork_child has put the default action back: it ends it."""
    import signal
    import threading

    with contextlib.suppress(OSError, ValueError):
        _FORK_MASKS[threading.get_ident()] = signal.pthread_sigmask(signal.SIG_BLOCK, _fork_signals())


def _fork_parent() -> None:
    import signal
    import threading

    old = _FORK_MASKS.pop(threading.get_ident(), None)
    if old is not None:
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _fork_child() -> None:
    """In a forked child: magnus's SIGTERM and SIGHUP handlers give way to the default action (what they do
    in a child anyway: _on_sigterm), then the signals held back across the fork are let in."""
    import signal
    import threading

    for number, handler in ((signal.SIGTERM, _on_sigterm), (signal.SIGHUP, _on_sighup)):
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(number) is handler:
                signal.signal(number, signal.SIG_DFL)
    old = _FORK_MASKS.pop(threading.get_ident(), None)
    _FORK_MASKS.clear()
    if old is not None:
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _on_sighup(signum: int, frame: Any) -> None:
    """SIGHUP (the terminal closed): a stop as SIGTERM's, said as SIGHUP, exit 129 (errors.HungUp)."""
    if os.getpid() != _MAIN_PID:  # a process a step forked: it dies as SIGHUP says
        import signal

        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGHUP)
        return
    from magnus_core.interrupts import note_signal

    note_signal()
    raise HungUp()


def _stop_again(unraisable: Any) -> None:
    """sys.unraisablehook. Python runs a signal handler wherever the main thread is, and when that is a
    finalizer (GitPython's Repo.__del__ run by the garbage collector, say) the KeyboardInterrupt it raises
    is swallowed ("Exception ignored in ...") and the run goes on. Send the same signal to the main thread
    again a moment later, from another thread, so it lands outside the finalizer and stops the run as the
    first one should have; a real signal, so a main thread blocked in a system call wakes too. Each time
    one lands in a finalizer again this repeats, so the run stops once the collector is done. Anything
    else goes to Python's own hook."""
    import signal
    import threading

    exc = unraisable.exc_value
    if not isinstance(exc, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
        return
    if sys.is_finalizing():  # exiting already: nothing left to stop
        return
    sig = (
        signal.SIGHUP
        if isinstance(exc, HungUp)
        else signal.SIGTERM
        if isinstance(exc, Terminated)
        else signal.SIGINT
    )
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    again = threading.Timer(0.01, signal.pthread_kill, args=(main_thread, sig))
    again.daemon = True
    again.name = "magnus-signal-again"
    again.start()


def _stop_children() -> None:
    """No process a command started outlives it (a run stops its own first: runner.execute)."""
    processes = sys.modules.get("magnus_core.processes")
    if processes is not None:
        processes.stop_children()


# What a command keeps until the process ends (hold_until_exit); None outside main(): a command called in
# process (click's CliRunner, the workbench) frees what it made as usual.
_HELD: list[Any] | None = None


def one_process_per_command() -> bool:
    """True when this process runs one command and ends (main(), the command line); False when a command
    is called in a process that goes on (click's CliRunner in tests, the workbench)."""
    return _HELD is not None


def hold_until_exit(*values: Any) -> None:
    """Keep `values` alive until the process ends, and end it without freeing them, once the command's
    output is flushed and the atexit functions have run (`_leave`). Freeing is not free: the two run logs
    of a 10,000-step `magnus diff` are about a million objects, and handing them back one by one took
    0.25 s CPU of a 1.2 s command, after the answer was printed. Only when run as the command line
    (main()); in process, nothing is held."""
    if _HELD is not None:
        _HELD.extend(values)


def _leave(code: int) -> None:
    """Exit with `code`. Branch threads a stopped run abandoned may still be running python code: then
    the process ends at once (output flushed), as their work is recorded as interrupted and they must not
    run into the interpreter's shutdown. So does a process where a python step left a thread running that
    python would wait for (not a daemon thread: a forgotten worker, an un-joined upload): the run and its
    log are complete, so magnus says which step left it and exits instead of hanging (docs/logs.md)."""
    import threading

    guard = sys.modules.get("magnus_core.stepguard")  # (only a process that ran steps has it)
    left = guard.threads_left() if guard is not None else []
    if left or any(t.name.startswith("magnus-branch") and t.is_alive() for t in threading.enumerate()):
        import logging

        from magnus_core.output import mask_known

        for who, thread in left:  # (`step s`, or `step s's module m, as it was imported,`)
            logging.getLogger("magnus").warning(
                mask_known(
                    f"{who} left a thread running ({thread.name!r}); magnus exits without waiting "
                    "for it (join the threads a step starts, or make them daemon threads)"
                )
            )
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        logging.shutdown()
        os._exit(code)
    if _HELD:  # (hold_until_exit) what python would do at exit, except freeing every object
        _run_exit_handlers(code)
        settle_streams()
        os._exit(code)
    if _HELD is not None and guard is not None:  # steps ran: their exit functions run guarded, now; then
        _run_exit_handlers(code)  # python's own exit (what the steps left open, a file never closed, is
        settle_streams()  # flushed as python flushes it: an os._exit here lost it)
    sys.exit(code)


# True once the command's answer (a --json document) is on stdout (answered_on_stdout)
_ANSWERED: list[bool] = []


def answered_on_stdout() -> None:
    """Say that stdout now holds the command's whole answer (`magnus execute --json`'s run log): what the
    exit functions the steps registered print at the end goes to stderr, masked (_run_exit_handlers), so
    stdout stays one JSON document (issue 16: an atexit print after it broke json.loads)."""
    _ANSWERED.append(True)


def _run_exit_handlers(code: int) -> None:
    """What python runs at exit (the atexit functions, newest first), in a process where steps ran:
    magnus's own output writer first (every output file written), then the rest in a daemon thread given
    the stop grace (MAGNUS_STOP_GRACE, default 5 s: what a stopped run's processes get to end), in which
    os._exit raises (stepguard's guard: the function fails, said in one warning) instead of ending the
    process. A function a step registered decided magnus's exit code (`os._exit(7)`: exit 7 after a
    SUCCESS run) or hung it for ever (`time.sleep(3600)`; trial 17 F2); now the code is the run's
    (`code`) and magnus exits once the wait is over, saying so. What they print passes through the output
    seam, masked (a secret a step gave one was printed as it was), and, once stdout holds the command's
    answer (answered_on_stdout: --json), goes to stderr. Where no step ran, python's own way."""
    import atexit

    guard = sys.modules.get("magnus_core.stepguard")
    if guard is None:
        atexit._run_exitfuncs()
        return
    import logging
    import threading

    capture = sys.modules.get("magnus_core.capture")
    if capture is not None:  # (its files are the run's: never behind a step's handler that may hang)
        atexit.unregister(capture.WRITER.close)
        with contextlib.suppress(Exception):
            capture.WRITER.close()
    said = logging.getLogger("magnus")
    from magnus_core import output

    if _ANSWERED:  # stdout holds the command's whole answer (--json): what follows goes to stderr
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout = sys.stderr
        with contextlib.suppress(OSError):
            os.dup2(2, 1)  # (an exit function's subprocess or C code writing to fd 1 too)

    def run() -> None:
        guard._GUARDED[threading.get_ident()] = os.getpid()  # os._exit here raises HardExit
        if os._exit is not guard._guarded_exit:
            os._exit = guard._guarded_exit
        before = sys.unraisablehook

        def ignored(unraisable: Any) -> None:  # atexit reports what a function raised through it
            exc = unraisable.exc_value
            if isinstance(exc, SystemExit):
                name = getattr(unraisable.object, "__qualname__", None) or repr(unraisable.object)
                if unraisable.object is guard._guarded_exit:  # (atexit.register(os._exit, 7): the name
                    name = "os._exit"  # the step wrote, not magnus's guard's, trial 19 F13)
                said.warning(
                    "an exit function (%s) asked to exit with %s; magnus exits with the run's code, %s",
                    name,
                    exc.code,
                    code,
                )
                return
            before(unraisable)

        sys.unraisablehook = ignored
        try:
            atexit._run_exitfuncs()
        finally:
            sys.unraisablehook = before

    from magnus_core.settings import DEFAULT_STOP_GRACE, lenient, stop_grace

    grace = lenient(stop_grace, DEFAULT_STOP_GRACE)
    thread = threading.Thread(target=run, name="magnus-exit-functions", daemon=True)
    with output.installed():  # what they print is masked (every value this process masked), as a step's
        thread.start()
        thread.join(grace)
    if thread.is_alive():
        atexit._clear()  # (python's own exit would call them again, the one that hangs among them)
        said.warning(
            "an exit function (atexit, registered by a step or a library it used) has not returned after "
            "%g s (MAGNUS_STOP_GRACE); magnus exits without waiting for it",
            grace,
        )
        logging.shutdown()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import signal

    global _HELD
    _HELD = []
    _ANSWERED.clear()

    signal.signal(signal.SIGTERM, _on_sigterm)
    if not _FORK_HOOKED:
        _FORK_HOOKED.append(True)
        os.register_at_fork(before=_fork_before, after_in_parent=_fork_parent, after_in_child=_fork_child)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # (`nohup magnus ...` keeps it ignored)
        signal.signal(signal.SIGHUP, _on_sighup)
    from magnus_core.interrupts import on_sigint

    # even when started with SIGINT ignored; counted, so a step raising KeyboardInterrupt itself is told
    # apart from Ctrl-C (interrupts.py)
    signal.signal(signal.SIGINT, on_sigint)
    sys.unraisablehook = _stop_again  # a Ctrl-C swallowed by a finalizer still stops the run
    if os.environ.get("NO_COLOR"):
        os.environ.setdefault("TERM_NO_COLOR", "1")
    _open_closed_streams()
    args = sys.argv[1:] if argv is None else list(argv)
    step = None
    if args[:1] == ["execute_single_node"]:
        from magnus_core.cli._step import parse

        step = parse(args)
    if step is not None:  # `magnus execute_single_node RUN STEP [options]`: no click (cli/_step.py)
        codes: list[int] = []
        try:
            failed = run_guarded(lambda: codes.append(step()))
        except KeyboardInterrupt as exc:  # (only before the step's own handler is in place)
            _stop_children()
            _say("Interrupted.")
            _leave(stop_exit_code(exc))
        settle_streams()
        _leave(codes[0] if failed is None else failed)
    import click

    from magnus_core.cli._group import cli

    if args[:1] == ["help"]:  # `magnus help [COMMAND]`, as git and pip take it: `magnus [COMMAND] --help`
        argv = [*args[1:], "--help"]
    try:
        code = cli.main(args=argv, prog_name="magnus", standalone_mode=False)
    except CommandModuleError as exc:  # a command's module (or, to list them, any) cannot be imported
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:  # Ctrl-C before a command started (click turns it into Abort)
        click.echo("Interrupted.", err=True)
        _leave(130)
    except click.exceptions.ClickException as exc:  # (a usage error: exit 2, said or not)
        if _help_despite(exc, args if argv is None else list(argv)):
            settle_streams()
            sys.exit(0)
        if isinstance(exc, click.exceptions.NoSuchOption):
            _explain_option(exc, args)
        with unprintable():  # stderr's reader gone (`2>&1 | head -1`): exit 1 of a broken pipe, it was
            exc.show()
        settle_streams()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _stop_children()
        click.echo("Interrupted.", err=True)
        _leave(stop_exit_code(exc))
    except SystemExit as exc:
        # click ends with exit 1 on a broken pipe outside a command (`magnus --help | head -1`)
        if exc.code == 1 and stdout_reader_gone():
            quiet_stdout()
            sys.exit(0)
        raise
    settle_streams()
    _leave(code if isinstance(code, int) else 0)


def _help_despite(exc: Any, args: list[str]) -> bool:
    """When a command line that failed to parse also asks for help (`magnus logs --bad --help`, `-h` before
    an option's missing value): print the help of the command it names and return True, as git and kubectl
    show the help whenever --help is given. click parses every option before acting on --help, so it would
    say the first usage error instead. Words after `--` are parameters, not options. A command that does
    not exist (`magnus lgs --help`) keeps its error: its "Did you mean" is the help there is."""
    import click

    words = args[: args.index("--")] if "--" in args else args
    if not any(word in ("-h", "--help") for word in words):
        return False
    if not isinstance(exc, click.exceptions.UsageError) or isinstance(exc, click.exceptions.NoSuchCommand):
        return False
    ctx = exc.ctx or _parsed_leniently(words)  # (click's parser raises some errors with no context)
    if ctx is None:
        return False
    with printing():
        click.echo(ctx.get_help())
    return True


def _parsed_leniently(args: list[str]) -> Any:
    """The click context of the command `args` name (the words after `magnus`), parsed as completion does:
    errors ignored and no option acted on (--help prints nothing). None when no such command."""
    import warnings

    import click

    from magnus_core.cli._group import cli

    try:
        ctx = cli.make_context("magnus", list(args), resilient_parsing=True)
        with warnings.catch_warnings():  # click 8.2 renamed it _protected_args; 8.1 has only this
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*getattr(ctx, "_protected_args", ctx.protected_args), *ctx.args]
        if not rest:
            return ctx
        name, command, more = cli.resolve_command(ctx, rest)
        if command is None or name is None:
            return ctx
        return command.make_context(name, more, parent=ctx, resilient_parsing=True)
    except (click.exceptions.ClickException, CommandModuleError):  # its error is said instead
        return None


# options a newcomer reaches for that magnus has in another form (session 9, fault 5: `--no-color` was
# refused with no word of NO_COLOR, `--last` offered `Did you mean '--wait'?`)
_COLOUR_OPTIONS = frozenset({"--no-color", "--no-colour", "--nocolor", "--color", "--colour", "--no-ansi"})
_NEWEST_OPTIONS = frozenset({"--last", "--latest", "--newest"})


def _explain_option(exc: Any, args: list[str]) -> None:
    """A click NoSuchOption for an option magnus has in another form says that form, with the command line
    `args` (the words after `magnus`) as it works, instead of a close name: a colour switch (`NO_COLOR=1`,
    docs/cli.md: `NO_COLOR=1 magnus show R`), or `--last` given to a command taking a run id (the newest
    run is the id `last`: `magnus logs last train`; `magnus diff A last`), runs to compare (`magnus
    compare`: its ids, a tag or a filter, and `magnus runs --limit N` for the newest ids) or a --limit
    (`magnus runs --limit 1`). Other options are left as click words them."""
    import shlex

    name = exc.option_name.partition("=")[0]
    ctx = exc.ctx
    given = [arg for arg in args if arg.partition("=")[0] != name]
    if name in _COLOUR_OPTIONS:
        command = "NO_COLOR=1 " + shlex.join(["magnus", *given])
        exc.message = (
            f"No such option '{name}': colours follow the terminal; NO_COLOR=1 turns them off: {command}"
        )
        exc.possibilities = None
    elif name in _NEWEST_OPTIONS and ctx is not None and any(p.name == "run_id" for p in ctx.command.params):
        at = given.index(ctx.info_name) + 1 if ctx.info_name in given else len(given)
        command = shlex.join(["magnus", *given[:at], "last", *given[at:]])
        exc.message = f"No such option '{name}': the newest run is the run id `last`: {command}"
        exc.possibilities = None
    elif name in _NEWEST_OPTIONS and ctx is not None and any(p.name == "run_b" for p in ctx.command.params):
        # `magnus diff A --last`: the newest run in the place --last was typed (click said no more)
        at = next((i for i, arg in enumerate(args) if arg.partition("=")[0] == name), len(args))
        words = [*args[:at], "last", *args[at + 1 :]]
        ids = (
            [w for w in words[words.index(ctx.info_name) + 1 :] if not w.startswith("-")]
            if ctx.info_name in words
            else []
        )
        if len(ids) < 2:  # (one run named: it is compared with the newest, older first)
            words.insert(words.index("last"), "RUN")
        exc.message = (
            f"No such option '{name}': the newest run is the run id `last`: {shlex.join(['magnus', *words])}"
        )
        exc.possibilities = None
    elif name in _NEWEST_OPTIONS and ctx is not None and any(p.name == "run_ids" for p in ctx.command.params):
        # `magnus compare --last 3`: click offered '--best' and '--plot' (small10's left item): compare takes
        # the runs as ids (`last` among them), a tag or a filter; `magnus runs --limit N` lists the newest
        count, _ = _newest_count(name, args)
        count = max(count, 2)
        exc.message = (
            f"No such option '{name}': compare takes the runs to compare as run ids (the newest is `last`), "
            f"--tag TAG or --where FILTER; the ids of the newest {count} runs: magnus runs --limit {count}"
        )
        exc.possibilities = None
    elif name in _NEWEST_OPTIONS and ctx is not None and any(p.name == "limit" for p in ctx.command.params):
        # `magnus runs --last`: click offered `--limit` with no word of how many (core9)
        count, words = _newest_count(name, args)
        command = shlex.join(["magnus", *words, "--limit", str(count)])
        exc.message = (
            f"No such option '{name}': runs are listed newest first; the newest run's summary is "
            f"`magnus show last`, the newest {'run alone' if count == 1 else f'{count} runs'}: {command}"
        )
        exc.possibilities = None


def _newest_count(name: str, args: list[str]) -> tuple[int, list[str]]:
    """For the option `name` (`--last`, typed as `--last`, `--last 3` or `--last=3`) given to a command with
    --limit: how many runs it asks for (1 when no number follows) and the other words of `args`."""
    at = next((i for i, arg in enumerate(args) if arg.partition("=")[0] == name), len(args))
    value = args[at].partition("=")[2] if at < len(args) else ""
    words = args[:at] + args[at + 1 :]
    if not value and at + 1 < len(args) and args[at + 1].isdigit():
        value = args[at + 1]
        words = args[:at] + args[at + 2 :]
    return (int(value) if value.isdigit() and int(value) > 0 else 1), words


def _open_closed_streams() -> None:
    """Started with stdout or stderr closed (`magnus runs >&-`): Python then sets sys.stdout to None and
    every print fails (AttributeError). Point the closed descriptor at /dev/null, as a closed stdout is
    treated everywhere else (`unprintable`): the command does its work, prints nowhere and exits with its
    own code. Taking the descriptor also keeps a file opened later from landing on 1 or 2."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name, None) is not None:
            continue
        try:
            os.fstat(fd)
            continue  # open after all (Python saw it closed at start-up): leave it alone
        except OSError:
            pass
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115 (kept for the process)
        except OSError:
            continue


def unprintable() -> contextlib.suppress:
    """Printing that may fail without consequence: a closed stdout (`>&-`, a step's os.close(1)) or a reader
    that went away (`| head`). The failure (BrokenPipeError, EBADF; ValueError: I/O on a closed file) is
    swallowed; settle_streams() keeps the exit code honest."""
    return contextlib.suppress(OSError, ValueError)


def settle_streams() -> None:
    """Before exiting: flush stdout and stderr, and point one that cannot be written (a broken pipe, a
    closed file descriptor) at /dev/null, so Python's own flush at exit cannot fail and turn the exit code
    into 120 (what python's docs recommend for BrokenPipeError)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                setattr(sys, name, None)
