"""A step's failure, located and safe to record.

    error_of(exc, root, mask)        AttemptError: type, message, frames of the user's code (masked)
    exit_outcome(exc)                sys.exit() inside a step: (success?, message, AttemptError | None)
    describe(exc)                    "KeyError: 'z'": one line, whatever the exception's __str__ does
    json_problem(value)              why a returned parameter or a metric cannot be kept in a run log
    clean_text(text)                 text a run log can hold (no lone surrogates, at most MAX_MESSAGE chars)
    import_failed(module, exc, root) ImportFailed: a step's module raised while imported, located
    import_exit(exc, root, mask)     a step's SystemExit raised by a module it imported: its message, error

Everything here is defensive: an exception whose `__str__` raises, a message of lone surrogates or of a
hundred megabytes, a traceback ten thousand frames deep all become something the run log can hold, so the
failure of a step never becomes a failure to record it.
"""

from __future__ import annotations

import importlib
import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from magnus_core.errors import StepError, UsageError, a_or_an

if TYPE_CHECKING:  # (made only for a failure: a step that succeeds imports no model, issue 19)
    from magnus_core.models.run_log import AttemptError, Frame

MAX_MESSAGE = 4000  # characters of an error message kept in the run log (the whole text is in the output)
MAX_FRAMES = 60  # frames kept per failure: the innermost ones (a RecursionError has a thousand)
MAX_CAUSES = 5  # exceptions of a chain (`raise X from e`) kept under a failure's error, outermost first
MAX_CAUSE_FRAMES = 20  # frames kept per cause: the innermost ones

_OWN = (
    *(
        str(Path(__file__).resolve().parents[index] / name) + os.sep
        for index, name in ((1, "magnus_core"), (1, "magnus"))
    ),
    # python's importer (importlib.import_module, by which magnus imports a step's module), as python's own
    # tracebacks leave out its frozen frames (trial 12 fault 4)
    os.path.dirname(importlib.__file__) + os.sep,
)


def clean_text(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` as a run log can hold it: lone surrogates (undecodable bytes python kept) as `\\udcff` escapes,
    and at most `limit` characters, with a marker saying how many were left out."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def message_of(exc: BaseException) -> str:
    """str(exc), or a note when its __str__ raises (user code may define any exception). A SyntaxError
    (IndentationError, TabError) of a file is its words alone (`invalid syntax`, python's `exc.msg`): its
    str() adds `(bad.py, line 5)`, the place every view gives separately from the frame _syntax_place
    makes (`at mlproj/bad.py:5`; session 11: `SyntaxError: invalid syntax (bad.py, line 1)` above `at
    mlproj/bad.py:1`, said twice). One compiled from no file (`<string>`) keeps it: nothing else says it."""
    if isinstance(exc, SyntaxError) and _syntax_located(exc) and isinstance(exc.msg, str) and exc.msg:
        return clean_text(exc.msg)
    try:
        return clean_text(str(exc))
    except Exception as inner:  # any failure of user code's __str__
        return f"<the exception's message could not be read: {inner.__class__.__name__}>"


def describe(exc: BaseException) -> str:
    """`KeyError: 'z'` (the type alone when the message is empty): one line for the attempt's message."""
    text = message_of(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _own(filename: str) -> bool:
    """A frame of magnus itself (its engine, or the package user code imports) or of python's importer."""
    return filename.startswith(_OWN) or filename.startswith("<frozen ")


def _shown(filename: str, root: Path) -> str:
    """A file as a frame records it: relative to the project folder when inside it, else as python gave it."""
    try:
        return Path(filename).resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return filename


def _innermost(frames: list[traceback.FrameSummary], root: Path) -> list[traceback.FrameSummary]:
    """The innermost MAX_FRAMES of `frames` (outermost first); when those are all outside the project
    folder `root` (resolved) while a frame left out is in it, the innermost such frame is kept first, in
    place of the outermost kept: a RecursionError deep in a library (`copy.deepcopy` of a cyclic object)
    was located in copy.py, the step's own line in neither the run log nor its output (trial 27)."""
    if len(frames) <= MAX_FRAMES:
        return frames
    kept = frames[-MAX_FRAMES:]
    if any(_shown(fs.filename, root) != fs.filename for fs in kept):
        return kept
    for fs in reversed(frames[:-MAX_FRAMES]):
        if _shown(fs.filename, root) != fs.filename:
            return [fs, *kept[1:]]
    return kept


def frames_of(tb: TracebackType | None, root: Path, mask: Callable[[str], str] = str) -> list[Frame]:
    """The frames of a traceback that are not magnus's, outermost first, the innermost MAX_FRAMES of them;
    file names relative to `root` when inside it, source lines masked. [] when every frame is magnus's
    (an error magnus raised itself, not in the user's code)."""
    from magnus_core.models.run_log import Frame

    summary = traceback.extract_tb(tb)
    root = root.resolve()
    kept = _innermost([fs for fs in summary if not _own(fs.filename)], root)
    return [
        Frame(
            file=clean_text(_shown(fs.filename, root), 500),
            line=fs.lineno or 0,
            function=clean_text(fs.name or "", 200),
            text=clean_text(mask((fs.line or "").strip()), 500),
        )
        for fs in kept
    ]


def _frames(exc: BaseException, root: Path, mask: Callable[[str], str]) -> list[Frame]:
    """frames_of `exc`'s traceback, and for a SyntaxError (IndentationError, TabError) of a file, the place
    of the code python could not compile as the innermost frame (its file, line and source line; no
    function), as python prints it last (`File "mlproj/bad.py", line 5`): that place is in no frame of the
    traceback, so a SyntaxError at import was located at the import, or nowhere (session 9, fail9)."""
    frames = frames_of(exc.__traceback__, root, mask)
    place = _syntax_place(exc, root, mask)
    return frames if place is None else [*frames, place][-MAX_FRAMES:]


def _syntax_place(exc: BaseException, root: Path, mask: Callable[[str], str]) -> Frame | None:
    """The place a SyntaxError gives (filename, lineno, text) as a Frame; None for any other exception, or
    one compiled from no file (`<string>` of eval and exec, `<unknown>`)."""
    from magnus_core.models.run_log import Frame

    if not isinstance(exc, SyntaxError) or not _syntax_located(exc):
        return None
    name, line = exc.filename, exc.lineno
    assert isinstance(name, str) and isinstance(line, int)  # (_syntax_located)
    text = exc.text if isinstance(exc.text, str) else ""
    return Frame(
        file=clean_text(_shown(name, root.resolve()), 500),
        line=line,
        text=clean_text(mask(text.strip()), 500),
    )


def _syntax_located(exc: SyntaxError) -> bool:
    """Whether a SyntaxError names the file and line it was compiled from (not `<string>`, `<unknown>`)."""
    name, line = exc.filename, exc.lineno
    return isinstance(name, str) and bool(name) and not name.startswith("<") and isinstance(line, int)


# The cause a process pool gives the exception it raises again in the parent: the worker's traceback as text
# (multiprocessing.pool.RemoteTraceback, concurrent.futures.process._RemoteTraceback; joblib's loky too)
_REMOTE_TYPES = ("RemoteTraceback", "_RemoteTraceback")
# the lines quoting the worker's traceback in that text: python's pools use three double quotes, some
# others three single ones (trial 24 met one: `caused by ''':`, the quote read as the type); one
# closing the last line (no line's end before it) is taken off it
_QUOTES = frozenset(("", '"""', "'''"))
_REMOTE_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')


def _remote(
    exc: BaseException, root: Path, mask: Callable[[str], str]
) -> tuple[str, str, list[Frame]] | None:
    """A process pool's remote traceback (its text, `\n\"\"\"\nTraceback ...\n\"\"\"`) read as the worker's
    exception: its type, its message (said to be raised in a worker process) and its frames, outermost first,
    magnus's own left out (trial 23 F6: `caused by RemoteTraceback` with an empty message and no frame;
    the worker's file and line were only in the kept output, as an absolute path). None for any other
    exception, or a text that is no traceback."""
    from magnus_core.models.run_log import Frame

    if type(exc).__name__ not in _REMOTE_TYPES:
        return None
    try:
        text = str(exc)
    except Exception:
        return None
    lines = [line for line in text.splitlines() if line.strip() not in _QUOTES]
    block = max(
        (i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")), default=-1
    )
    if block < 0:
        return None
    frames: list[Frame] = []
    last = ""
    rows = lines[block + 1 :]
    for i, line in enumerate(rows):
        found = _REMOTE_FRAME.match(line)
        if found is not None:
            if _own(found["file"]):
                continue
            source = rows[i + 1].strip() if i + 1 < len(rows) and rows[i + 1].startswith("    ") else ""
            frames.append(
                Frame(
                    file=clean_text(_shown(found["file"], root.resolve()), 500),
                    line=int(found["line"]),
                    function=clean_text(found["function"], 200),
                    text=clean_text(mask(source), 500),
                )
            )
        elif not line.startswith(" "):
            last = line.rstrip().removesuffix('"""').removesuffix("'''")
    if not last:
        return None
    kind, _, message = last.partition(": ")
    kind = kind.rsplit(".", 1)[-1]
    said = f"{message} (raised in a worker process)" if message else "(raised in a worker process)"
    return clean_text(kind, 200), clean_text(mask(said)), frames[-MAX_FRAMES:]


def error_of(
    exc: BaseException, root: Path | None = None, mask: Callable[[str], str] = str, **fields: Any
) -> AttemptError:
    """The AttemptError of an exception: its type name, masked message and frames (see frames_of), and the
    chain of its causes as python prints it (`__cause__`, else `__context__` unless suppressed: `implicit`),
    up to MAX_CAUSES of them with their MAX_CAUSE_FRAMES innermost frames each. `fields` (exit_code, cell)
    are set as given."""
    from magnus_core.models.run_log import AttemptError

    root = root or Path.cwd()
    error = AttemptError(
        type=type_name(exc),
        message=mask(message_of(exc)),
        frames=_frames(exc, root, mask),
        **fields,
    )
    outer, seen = error, {id(exc)}
    for _ in range(MAX_CAUSES):  # the chain of causes, each with its frames (trial 12 fault 16)
        implicit = exc.__cause__ is None
        following = exc.__cause__ if not implicit else (None if exc.__suppress_context__ else exc.__context__)
        if following is None or id(following) in seen:
            break
        seen.add(id(following))
        remote = _remote(following, root, mask)
        outer.cause = AttemptError(
            type=remote[0] if remote else type_name(following),
            message=remote[1] if remote else mask(message_of(following)),
            frames=(remote[2] if remote else _frames(following, root, mask))[-MAX_CAUSE_FRAMES:],
            implicit=implicit,
        )
        exc, outer = following, outer.cause
    return error


def traceback_text(exc: BaseException, root: Path | None = None) -> str:
    """The traceback python would print for `exc` (its causes and contexts too), magnus's own frames left
    out and the project's files named relative to `root`: what ends a failed step's kept output. An
    os._exit magnus guarded (HardExit) ends it as `SystemExit: 4`, the type it records (type_name)."""
    root = (root or Path.cwd()).resolve()
    kind = SystemExit if isinstance(exc, HardExit) else type(exc)
    shown = traceback.TracebackException(kind, exc, exc.__traceback__, capture_locals=False)
    seen: set[int] = set()
    queue = [shown]
    while queue:
        item = queue.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        frames = _innermost([fs for fs in item.stack if not _own(fs.filename)], root)
        for fs in frames:
            fs.filename = _shown(fs.filename, root)
        item.stack = traceback.StackSummary.from_list(frames)
        if isinstance(getattr(item, "filename", None), str):  # a SyntaxError's own place (_syntax_place)
            item.filename = _shown(item.filename, root)
        queue += [x for x in (item.__cause__, item.__context__) if x is not None]
    try:
        # at most 1 MB (a message of many megabytes: its marker counts what the step's exception held, the
        # line end not among them, as the error's own count: trial 14 F15)
        return clean_text("".join(shown.format()).rstrip("\n"), 1 << 20) + "\n"
    except Exception:  # an exception whose message cannot be read, formatted by hand
        return f"{type(exc).__name__}: {message_of(exc)}\n"


def stopped_traceback(interrupt: BaseException, root: Path | None = None) -> str:
    """traceback_text of a Ctrl-C or SIGTERM that stopped a python step (a KeyboardInterrupt, or magnus's
    Terminated, HungUp), its last line in the user's words: `Terminated: the run was stopped by SIGTERM
    (magnus stop, x in the workbench, or kill)` (errors.stopped_by), where python's own read
    `magnus_core.errors.Terminated`, a name of magnus's internals (session 12, ui11's 'Seen and left
    alone'). A line the exception's own message makes (a step's `raise KeyboardInterrupt("...")`) is kept."""
    from magnus_core.errors import stopped_by

    text = traceback_text(interrupt, root)
    lines = text.rstrip("\n").split("\n")
    own = "".join(traceback.format_exception_only(type(interrupt), interrupt)).strip()
    if lines and lines[-1] == own and not message_of(interrupt):
        lines[-1] = f"{type(interrupt).__name__}: {stopped_by(interrupt)}"
    return "\n".join(lines) + "\n"


class HardExit(SystemExit):
    """os._exit(code) called by a step's own code in magnus's process: turned into this exception (see
    nodes/task.py), so that it ends the step like sys.exit(code) instead of the process and its run log.
    Recorded as a `SystemExit` (type_name): its message says os._exit."""


def type_name(exc: BaseException) -> str:
    """The type an attempt's error records for `exc`: its class's name, `SystemExit` for a HardExit (an
    os._exit the step called), as every text view words it and docs/run-log.md lists it (trial 14 fault 8:
    the JSON said `HardExit`, a type no doc names, where the text said SystemExit)."""
    return "SystemExit" if isinstance(exc, HardExit) else type(exc).__name__


def exit_outcome(exc: SystemExit) -> tuple[bool, str, int]:
    """What sys.exit() inside a step means, as for a script: code 0 or None is a success; an int is a failure
    with that exit code; anything else (a message) is a failure with code 1, the message printed as python
    would. A bool is the int it is, as for python (`sys.exit(False)` ends a script with status 0: trial 26
    saw it fail the step). Returns (succeeded, message for the attempt, exit code)."""
    code = exc.code
    if code is None or (isinstance(code, int) and code == 0):
        return True, "", 0
    if isinstance(code, int):
        called = "os._exit" if isinstance(exc, HardExit) else "sys.exit"
        return False, f"SystemExit: the step called {called}({code})", int(code)
    try:
        text = clean_text(str(code))
    except Exception:  # a message object whose __str__ raises
        text = f"<{type(code).__name__}>"
    return False, f"SystemExit: {text}", 1


def imported_by(exc: BaseException) -> str | None:
    """The module whose code raised `exc` as it was being imported, or None: the outermost frame of its
    traceback that is a module's top level (`<module>`) run by an import (its `__spec__` names it, so not
    a script run by runpy or exec). A step's SystemExit from there is a module the step imported exiting at
    its top (trial 20 N1: `import mlproj.cli` whose argparse saw magnus's command line): read only once an
    attempt has failed."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "<module>":
            space = frame.f_globals
            name = space.get("__name__")
            if isinstance(name, str) and getattr(space.get("__spec__"), "name", None) == name:
                return name
        tb = tb.tb_next
    return None


# What follows the place of a SystemExit raised by a module's code as it was imported (import_words)
_EXIT_HINT = (
    '; a module that exits as it is imported cannot be a step\'s (exit under if __name__ == "__main__":)'
)
_ARGV_HINT = (
    "; a module that parses the command line as it is imported sees magnus's arguments (parse them under "
    'if __name__ == "__main__": a step\'s function gets its parameters as arguments)'
)


def import_words(exc: BaseException) -> tuple[str, str]:
    """What a module's import raised, as the one line of its failure says it, and the words that follow the
    place (`; a module that ...`, or ''). For a SystemExit (sys.exit, `raise SystemExit`, os._exit guarded
    as HardExit, argparse or click refusing the command line it found: magnus's own), its code and, for a
    parser, the parser's own message, which it printed above: `SystemExit: 2 (argparse: unrecognized
    arguments: execute --file p.yaml)` (trial 20 N1: it ended magnus with that code, silently). Anything
    else: describe(exc)."""
    if not isinstance(exc, SystemExit):
        return describe(exc), ""
    code = exc.code
    if isinstance(exc, HardExit):
        return f"SystemExit: the module called os._exit({code})", _EXIT_HINT
    parser = _parser_message(exc)
    if parser is not None:
        return f"SystemExit: {code} ({parser})", _ARGV_HINT
    text = "" if code is None else message_of(exc)
    return (f"SystemExit: {text}" if text else "SystemExit"), _EXIT_HINT


def _parser_message(exc: SystemExit) -> str | None:
    """`argparse: unrecognized arguments: ...` when argparse's ArgumentParser.error raised `exc` (its
    `message`, read from the traceback's frame), `click: No such option: --file` when click's standalone
    main did (the ClickException it handled); else None."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "error" and os.path.basename(frame.f_code.co_filename) == "argparse.py":
            message = frame.f_locals.get("message")
            if isinstance(message, str):
                return f"argparse: {clean_text(message, 300)}"
        tb = tb.tb_next
    context = exc.__context__
    if context is not None and type(context).__module__.startswith("click."):
        try:
            return f"click: {clean_text(str(context.format_message()), 300)}"  # type: ignore[attr-defined]
        except Exception:
            return None
    return None


def import_exit(
    exc: SystemExit, root: Path, mask: Callable[[str], str] = str
) -> tuple[str, AttemptError] | None:
    """A step's SystemExit raised by a module's code as the step imported it (imported_by), as the attempt
    records it: (its message, its located error), or None when the step's own code exited. The step fails,
    whatever the code (sys.exit(0) there is no success: the step's code never got past its import), naming
    the module (`importing module 'mlproj.cli' failed: SystemExit: 2 (argparse: ...)`, import_words)."""
    module = imported_by(exc)
    if module is None:
        return None
    said, hint = import_words(exc)
    code = exc.code
    fields = {"exit_code": code} if isinstance(code, int) and not isinstance(code, bool) and code else {}
    located = error_of(exc, root, mask, **fields)
    return mask(clean_text(f"importing module {module!r} failed: {said}{hint}")), located


# -- what a run log can hold ------------------------------------------------------------------------


_SAFE_INT_BITS = 14_000  # ints this short have fewer than 4,300 digits (Python's limit for reading them back)


def json_problem(value: Any) -> tuple[str, Any] | None:
    """Why `value` cannot be written into a run log (as the stores write it: pydantic's JSON serialiser) and
    read back, or None. Returns where inside the value the refused element is (`['model']`, '' for the
    value itself) and that element."""
    kind = type(value)
    if (  # what steps return and track nearly always: nothing to check (a step's cost, bench/steps.py)
        value is None
        or kind is bool
        or kind is float
        or (kind is int and value.bit_length() < _SAFE_INT_BITS)
        or (kind is str and value.isascii())
    ):
        return None
    import pydantic_core

    from magnus_core import jsonio as json

    try:
        written = pydantic_core.to_json(value)
        json.loads(written)  # written, and read back (an int of 5000 digits is not)
        # bytes anywhere in it: the serialiser writes UTF-8 bytes as text, so the next step would get a
        # str where a bytes was returned (trial 12 fault 17; the original's json.dumps refused them): two
        # writings that differ only in how bytes are written tell (b"" alone is written alike, as "")
        if kind is str or written == pydantic_core.to_json(value, bytes_mode="hex"):
            return None
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError, RecursionError):
        pass
    return _find(value)


def _find(value: Any) -> tuple[str, Any]:
    """The first element of `value` the serialiser refuses (iterative: any depth)."""
    import pydantic_core

    from magnus_core import jsonio as json

    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        children: list[tuple[str, Any]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str | int | float | bool) and key is not None:
                    children.append((f"{path} (a key)", key))
                children.append((f"{path}[{key!r}]", child))
        elif isinstance(item, list | tuple | set | frozenset):
            children = [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        if children:
            stack.extend(reversed(children))
            continue
        if isinstance(item, bytes | bytearray):  # (written as text when UTF-8: refused all the same)
            return path, item
        try:
            json.loads(pydantic_core.to_json(item))
        except (pydantic_core.PydanticSerializationError, ValueError, TypeError, RecursionError):
            return path, item
    return "", value


def _what(item: Any) -> str:
    if isinstance(item, bytes | bytearray):
        return "bytes" if isinstance(item, bytes) else "a bytearray"
    if isinstance(item, str):
        return "text that is not valid Unicode (a lone surrogate)"
    if isinstance(item, int):
        return "a number too long to write"
    kind = type(item)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return a_or_an(name)


def value_message(what: str, name: str, value: Any) -> str | None:
    """The failure message for a returned parameter or a metric the run log cannot hold, or None.

    `what` is `returned parameter` or `metric`. Names the value, the type of what cannot be written and where
    it is inside the value, and says what to do: a plain value, or the catalog for objects. Values nested
    deeper than parameters.MAX_VALUE_DEPTH are refused too (parameters.nesting_problem): a run log holding
    them, inside the deepest pipeline allowed, would be deeper than its readers accept."""
    kind = type(value)
    if (  # what steps return and track nearly always (json_problem's first test, asked first)
        value is None
        or kind is bool
        or kind is float
        or (kind is int and value.bit_length() < _SAFE_INT_BITS)
    ):
        return None
    from magnus_core.parameters import cycle_in, nesting_problem

    deep = nesting_problem(value)
    if deep is not None:
        if what == "parameter":  # (given before the run: a file's or the command line's)
            return f"{what} '{name}' {deep}"
        catalog = "save it to a file put in the catalog (put_in_catalog, or the step's `catalog: put`)"
        loop = cycle_in(value) if deep.startswith("is nested") else None
        if loop is not None:  # trial 16 F5: a bare RecursionError, no parameter named
            path, item = loop
            at = f" (at {name}{path})" if path else ""
            return (
                f"{what} '{name}' holds {_what(item)} that contains itself{at}, which a run log cannot hold "
                f"as JSON: return plain values, or {catalog}"
            )
        return (
            f"{what} '{name}' {deep} ({_what(value)}), which a run log cannot hold: flatten it, or {catalog}"
        )
    problem = json_problem(value)
    if problem is None:
        return None
    path, item = problem
    at = f" at {name}{path}" if path else ""
    if hasattr(item, "dtype") and hasattr(item, "item") and getattr(item, "ndim", 1) == 0:
        hint = "convert it to a plain number with .item()"
    elif isinstance(item, bytes | bytearray):
        hint = (
            "return text (.decode() it, or base64 it) or save the bytes to a file put in the catalog "
            "(put_in_catalog, or the step's `catalog: put`)"
        )
    elif isinstance(item, str | int):
        hint = "keep values a run log can hold (UTF-8 text, numbers of up to 4300 digits)"
    else:
        hint = (
            "return plain values (numbers, text, lists, mappings), and save objects to a file put in the "
            "catalog (put_in_catalog, or the step's `catalog: put`)"
        )
    return f"{what} '{name}' holds {_what(item)}{at}, which a run log cannot hold as JSON: {hint}"


class ImportFailed(UsageError):
    """A step's module raised while it was imported (module-level code: `x = CFG["b"]`, an environment
    variable read at import): a UsageError (exit 2 when found before the run, runner.check_commands) whose
    one line says where (`..., at mlproj/broken2.py:2 in <module>`), `detail` the traceback of the user's
    frames (printed under the error, cli.run_guarded), `error` the located AttemptError a step records when
    the import happens as it runs (nodes/task.py: the per-step entry point, a worker). Trial 12 fault 4:
    the message named no file or line, and --log-level DEBUG showed only magnus's frames."""

    def __init__(
        self, message: str, error: AttemptError, traceback: str, place: str = "", after: str = ""
    ) -> None:
        super().__init__(f"{message}{place}{after}", field="command")
        self.unplaced = f"{message}{after}"  # without the place, which a step's record keeps in `error`
        self.error = error
        self.traceback = traceback
        self.detail = "".join(f"  {line}\n" for line in traceback.splitlines())


def import_failed(module_name: str, exc: BaseException, root: Path, text: str = "") -> ImportFailed:
    """The ImportFailed of `exc`, raised while importing `module_name` from the project folder `root`: its
    frames are the user's (the importer's and magnus's left out, frames_of), the place the innermost frame
    in the project folder (AttemptError.location); a SyntaxError, whose place is no frame, says its own
    file and line in its message already. `text` replaces the message's words before the place. A
    SystemExit or KeyboardInterrupt the module's code raised is said as import_words says it, followed by
    what to do (trial 20 N1)."""
    error = error_of(exc, root)
    place = error.location()
    at = f", at {place.where()}" if place is not None else ""
    said, after = import_words(exc)
    message = text or f"importing module {module_name!r} failed: {said}"
    shown = _exit_traceback(exc, root) if isinstance(exc, SystemExit) else traceback_text(exc, root)
    return ImportFailed(message, error, shown, at, after)


def _exit_traceback(exc: SystemExit, root: Path) -> str:
    """The traceback under the refusal of a module that exits as it is imported (import_failed): only the
    frames in the project's own files (the module's line that called the parser or sys.exit), without the
    exceptions it was raised while handling. Its message says the parser's words already (import_words);
    click's chain of three tracebacks through its own parser, about 30 lines, buried them (trial 21)."""
    resolved = root.resolve()
    shown = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=False)
    shown.__cause__ = shown.__context__ = None
    frames = [
        fs
        for fs in shown.stack
        if not _own(fs.filename)
        and not (fs.filename or "").startswith("<")
        and _shown(fs.filename, resolved) != fs.filename
        and "site-packages" not in fs.filename
    ]
    for fs in frames:
        fs.filename = _shown(fs.filename, resolved)
    shown.stack = traceback.StackSummary.from_list(frames[-MAX_FRAMES:])
    try:
        return clean_text("".join(shown.format()).rstrip("\n"), 1 << 20) + "\n"
    except Exception:  # (a message that cannot be read)
        return f"{type(exc).__name__}: {message_of(exc)}\n"


def masked_error(error: AttemptError, mask: Callable[[str], str]) -> AttemptError:
    """`error` with its message and its frames' source lines masked, its causes' too (in place)."""
    link: AttemptError | None = error
    while link is not None:
        link.message = mask(clean_text(link.message))
        for frame in link.frames:
            frame.text = mask(frame.text)
        link = link.cause
    return error


class CommandFailed(StepError):
    """A command failed in a way located by what it is rather than by a python traceback: a shell command's
    exit code, a notebook's failing cell. `error` is recorded as the attempt's error."""

    def __init__(self, message: str, error: AttemptError) -> None:
        super().__init__(message)
        self.error = error


def defined_at(command: str, root: Path) -> Frame | None:
    """Where the step function `command` (`pkg.steps.train`, its module already imported) returned, as a
    frame, for a failure of what it returned, which no traceback locates (trial 22: a value a run log cannot
    hold was the one python failure said with no place): its one `return` of a value (`steps.py:15 in
    train`, with its source), else its `def` line. None when its module is not imported or it has no code
    (a builtin, a class's instance)."""
    import sys

    from magnus_core.models.run_log import Frame

    module, _, name = command.strip().rpartition(".")
    function = getattr(sys.modules.get(module), name, None)
    code = getattr(function, "__code__", None)
    if code is None or _own(code.co_filename):
        return None
    shown = clean_text(_shown(code.co_filename, root.resolve()), 500)
    found = _the_return(function)
    if found is not None:  # its one `return` of a value: where the value was returned (trial 23 F7)
        return Frame(file=shown, line=found[0], function=code.co_name, text=clean_text(found[1], 500))
    return Frame(file=shown, line=code.co_firstlineno, function=code.co_name)


def _the_return(function: Any) -> tuple[int, str] | None:
    """The line and source of the one `return` of a value in `function`'s own body (not in a function or
    class defined inside it), or None when it has none or several (which one ran is not known: its `def`
    locates it then), or its source cannot be read. Trial 23 F7: a failure of what a step returned,
    located at the `def` line, read as raised there."""
    import ast
    import inspect
    import textwrap

    if getattr(function, "__wrapped__", None) is not None:  # (a decorator's: its code is elsewhere)
        return None
    try:
        lines, start = inspect.getsourcelines(function)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    top = tree.body[0] if tree.body else None
    if not isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(top.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Return) and node.value is not None:
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    if len(found) != 1:
        return None
    at = found[0].lineno
    return start + at - 1, lines[at - 1].strip() if at <= len(lines) else ""


def stopped_by(exc: BaseException) -> str:
    """Why magnus stopped a run, as the steps it left in progress record it: `the run stopped: <one line>`
    (a MagnusError's own line; anything else is magnus's fault: `internal error (ValueError: ...)`)."""
    from magnus_core.errors import MagnusError

    text = clean_text(str(exc)) if isinstance(exc, MagnusError) else f"internal error ({describe(exc)})"
    return f"the run stopped: {text}"


RETRY_LINE = 300  # characters of the failure's first line a retry's notice shows (the run log has it all)


def say_retry(name: str, number: int, attempts: int, message: str, cause: str = "") -> None:
    """While the run goes, one line on stderr when attempt `number` of step `name` failed and another of
    its `attempts` follows (trial 10: a retry was silent on the terminal until the end):
    `magnus: train attempt 0 failed: ConnectionError: transient; retrying (attempt 1 of 3)`. `message` is
    the attempt's recorded message (masked already; the output seam masks what is written, too), its first
    line, cut to RETRY_LINE characters; `cause` the error's chained cause as `magnus show` says it
    (AttemptError.caused_by: `caused by JSONDecodeError: ..., at chain.py:5 in _read`) after it, as every
    other view of a failure gives it (session 11: the retry named the outer exception only). Yellow on a
    terminal, plain with NO_COLOR, TERM=dumb or when stderr is not a terminal; never on stdout (`--json`
    prints the run log there). A stderr that cannot be
    written is no failure."""
    import sys

    from magnus_core.output import reaches_terminal
    from magnus_core.table import use_colour

    lines = message.strip().splitlines()
    first = lines[0] if lines else "no message recorded"
    if len(first) > RETRY_LINE:
        first = first[:RETRY_LINE] + "..."
    if cause:
        cause = cause.splitlines()[0] if cause.strip() else ""
        first += f", {cause[:RETRY_LINE] + '...' if len(cause) > RETRY_LINE else cause}" if cause else ""
    text = f"magnus: {name} attempt {number} failed: {first}; retrying (attempt {number + 1} of {attempts})"
    try:
        stream = sys.stderr
        allowed = not (os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb")  # as table.use_colour
        if use_colour(stream) or (allowed and reaches_terminal("stderr")):
            text = f"\x1b[33m{text}\x1b[0m"
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


def killed_text(number: int) -> str:
    """`killed by signal 9 (SIGKILL)`: a process ended by signal `number`, as a shell user reads it (trial
    11: `at exit code -9` used Python's returncode convention; a shell says 137 or names the signal)."""
    import signal

    try:
        return f"killed by signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"killed by signal {number}"
