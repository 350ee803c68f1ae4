"""The errors magnus raises on purpose.

MagnusError                      every error we raise; str() is one clear line
 ├── UsageError                  bad CLI flags, files, config, parameters (exit code 2)
 │    ├── PipelineError          the pipeline file breaks a rule (file, step, field)
 │    ├── ConfigError            a config block is wrong
 │    └── RunLogError            a run log is unreadable or not a run log
 ├── RunNotFoundError            no run with that id in the store (lists the nearest ids)
 ├── StepError                   a step's command failed (recorded in its attempt)
 ├── StoreError                  the run-log store cannot be written (disk full, read-only, removed)
 ├── SecretNotFoundError         a secret is unknown (never carries the value)
 └── NotBuiltError               a feature that a later issue builds
Terminated (a KeyboardInterrupt) SIGTERM: a run stops as on Ctrl-C (INTERRUPTED), exit code 143
"""

from __future__ import annotations


class MagnusError(Exception):
    """Base of every error magnus raises on purpose; exit code 2 unless said otherwise."""

    exit_code = 2

    # the line of `file` the problem is at, when known (set by who finds it: loading.locate_config_error)
    line: int | None = None

    # lines printed under the error's one line (cli.run_guarded), e.g. the user's traceback of a module
    # that failed to import (tasks/python.py); "" for nearly every error
    detail: str = ""

    def __init__(
        self, message: str, *, file: str | None = None, step: str | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.step = step
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
            if self.line:
                where.append(f"line {self.line}")
        if self.step:
            where.append(f"step '{self.step}'")
        if self.field:  # a command-line option or argument is named as such, a file's field as a field
            if self.field.startswith("-"):
                where.append(f"option '{self.field}'")
            elif self.field.isupper() and not self.file:
                where.append(f"argument {self.field}")
            else:
                where.append(f"field '{self.field}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(MagnusError):
    """The user asked for something that cannot be done as asked."""


class PipelineError(UsageError):
    """The pipeline file breaks a rule; may carry several problems at once."""

    def __init__(self, problems: list[str], *, file: str | None = None) -> None:
        self.problems = problems
        text = problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(problems)
        super().__init__(text, file=file)


class ConfigError(UsageError):
    """A configuration block (executor, run_log_store, catalog, secrets) is wrong."""


class RunLogError(UsageError):
    """A run log cannot be read, or is not a run log."""


class RunNotFoundError(UsageError):
    """No run with that id in the run-log store."""

    def __init__(self, run_id: str, known: list[str], where: str) -> None:
        import difflib  # here: `magnus --help` imports this module and never needs it

        near = difflib.get_close_matches(run_id, known, n=3, cutoff=0.4)
        if near:
            hint = f" (nearest: {', '.join(near)})"
        elif known:  # nothing alike: where to find the ids there are
            hint = f" (no id like it among its {len(known):,} runs: `magnus runs` lists them)"
        else:
            hint = " (the store is empty)"
        super().__init__(f"no run '{run_id}' in {where}{hint}")
        self.run_id = run_id
        self.nearest = near


class StepError(MagnusError):
    """A step's command failed; the message goes into the attempt log."""

    exit_code = 1


class StoreError(MagnusError):
    """The run-log store could not write (disk full, a read-only or removed folder, permission denied):
    the message names the path and the reason. The run stops (exit code 1); what the store wrote before is
    intact, so the run can be re-run with --use-cached once the cause is fixed."""

    exit_code = 1

    @classmethod
    def from_os_error(cls, exc: OSError, what: str) -> StoreError:
        """'<what>: cannot write <path>: <reason>' from an OSError (its errno text, not a traceback)."""
        where = f" {exc.filename}" if exc.filename else ""
        return cls(f"{what}: cannot write{where}: {exc.strerror or exc}")


class SecretNotFoundError(MagnusError):
    """A secret is unknown to the provider; the message names it, never a value."""


def install_extra(extra: str) -> str:
    """How to install one of magnus's extras (pyproject.toml's optional-dependencies), for the one-line
    'needs' message of a module that imports it: both ways, since README's first command installs from a
    clone with constraints.txt's pins and others install the package (issue: the message named only the
    package, which in a clone installs whatever the index has, unpinned)."""
    return (
        f"install magnus's {extra} extra (in magnus's clone: pip install -e '.[{extra}]' -c constraints.txt; "
        f"from the package index: pip install 'magnus[{extra}]')"
    )


def missing(*modules: str) -> bool:
    """True when any of `modules` (top-level names) cannot be imported, found without importing it (a
    process that never needs it pays no import: an Argo pod checks nothing, a run with notebooks only
    looks papermill up)."""
    import importlib.util

    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                return True
        except (ImportError, ValueError):  # (ValueError: a module set to None in sys.modules: blocked)
            return True
    return False


def explain_os_error(exc: OSError) -> str:
    """One line for an OSError that reached the command line: what the system refused, on which file, and
    which setting moves magnus's own folders (`cannot write '.run_log_store/x.json': Permission denied`)."""
    import errno

    target = exc.filename or ""
    if exc.filename2:
        target = f"{target}' -> '{exc.filename2}"
    reason = exc.strerror or exc.__class__.__name__
    verb = "use"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        verb = "write" if exc.errno != errno.EACCES else "read or write"
    text = f"cannot {verb} '{target}': {reason}" if target else f"{reason} ({exc.__class__.__name__})"
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = (
            "; magnus writes runs to run_log_store.config.log_folder and files to "
            "catalog.config.catalog_location (set them in magnus-config.yaml or a --config-file)"
        )
    return text + hint


class NotBuiltError(MagnusError, NotImplementedError):
    """A feature of the spec that a later issue builds."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop like Ctrl-C, exit 143 (a run being executed is marked INTERRUPTED; a command that only
    reads stops quietly). Raised by the command line's SIGTERM handler in the main thread."""


class HungUp(Terminated):
    """SIGHUP: the run's terminal closed (an ssh session dropped, a tmux window killed): stop as on SIGTERM
    (INTERRUPTED, the resume hint), exit 129 (128 + 1). Trial 15 N9: magnus died of the signal's default
    action unrecorded, and every view read it as a crash (the OOM killer's). Not raised when SIGHUP was
    ignored as magnus started (`nohup magnus execute ...` keeps running). Raised by the command line's
    SIGHUP handler in the main thread."""


def stop_exit_code(interrupt: BaseException) -> int:
    """The exit code of a command a signal stopped: 129 SIGHUP (HungUp), 143 SIGTERM (Terminated), 130
    Ctrl-C (128 + the signal's number, as a shell reports it)."""
    return 129 if isinstance(interrupt, HungUp) else 143 if isinstance(interrupt, Terminated) else 130


def say_when_stopped(interrupt: BaseException, line: str, *, replace: bool = False) -> BaseException:
    """Give a Ctrl-C or SIGTERM (a KeyboardInterrupt) the one line the command line says as it exits 130
    or 143 (cli.run_guarded), and return it to be raised again. Only the code that knows what the stop did
    says it: the run's end marked INTERRUPTED (runner.execute), a step's attempt (the per-step entry point),
    `stopped following R (the run goes on)` (`magnus logs --follow`). A stop nobody named says nothing: a
    command that only reads (`magnus show`, `magnus logs`) changed nothing (trial 14 fault 18: every
    command said "the run is marked INTERRUPTED", and the run it read went on). The first line given is
    kept unless `replace` (a whole run's end, said instead of its step's)."""
    if replace or not getattr(interrupt, "stopped_line", ""):
        interrupt.stopped_line = line  # type: ignore[attr-defined]
    return interrupt


def stopped_line(interrupt: BaseException) -> str:
    """The line say_when_stopped gave `interrupt`, or ''."""
    return getattr(interrupt, "stopped_line", "") or ""


def signal_name(interrupt: BaseException) -> str:
    """'SIGHUP' for a HungUp, 'SIGTERM' for a Terminated, else 'SIGINT' (Ctrl-C): what stopped a run, as
    its log says it."""
    if isinstance(interrupt, HungUp):
        return "SIGHUP"
    return "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"


# what sends each signal, in the words of the one who sent it (stopped_by)
SENT_BY = {
    "SIGINT": "Ctrl-C (SIGINT)",
    "SIGTERM": "SIGTERM (magnus stop, x in the workbench, or kill)",
    "SIGHUP": "SIGHUP (the run's terminal closed)",
}


def stopped_by(interrupt: BaseException) -> str:
    """`the run was stopped by SIGTERM (magnus stop, x in the workbench, or kill)`: what stopped a run, in
    the user's words (SENT_BY; signal_name). The line that ends a python step's traceback when a stop
    interrupted it (failure.stopped_traceback), in place of python's `magnus_core.errors.Terminated`."""
    return f"the run was stopped by {SENT_BY[signal_name(interrupt)]}"


def a_or_an(word: str) -> str:
    """`word` with its indefinite article for a message: 'an object', 'an int', 'a dict', 'a numpy.ndarray'
    (by the first letter: a vowel takes 'an')."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
