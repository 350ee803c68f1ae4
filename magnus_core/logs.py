"""Reading what steps printed: each attempt's captured output, kept in the run's catalog (capture.py).

    reader = OutputReader(run_log)                   # the catalog the run used, from its run_config
    view = reader.view(step, attempt)                # AttemptView: its state and how to read it
    view.read() / view.tail(10)                      # bytes, the last lines as text
    failures(run_log, reader)                        # each failed step: error, where, last lines

`magnus logs`, the summary `magnus execute` prints and the workbench read output through here, never from a
path of their own, so every catalog (a folder, an object store) is read the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from magnus_core.catalog import BaseCatalog, CatalogError, LiveOpener, output_name
from magnus_core.controls import harmless as harmless
from magnus_core.errors import MagnusError
from magnus_core.models.run_log import (
    FAIL,
    INTERRUPTED,
    PROCESSING,
    AttemptError,
    RunLog,
    StepAttempt,
    StepLog,
)

if TYPE_CHECKING:
    from magnus_core.fatal import Crash

BLOCK = 1 << 16  # bytes read backwards at a time when looking for the last lines

# What an attempt's output is, as a reader finds it.
KEPT = "kept"  # a file in the catalog
EMPTY = "empty"  # the attempt wrote nothing
LIVE_NOW = "live"  # still being written (the attempt runs): its growing file
UNFINISHED = "the attempt did not finish: its output up to then"  # (its process died: a live file's words)
STILL_RUNNING = "the attempt is still running: its output so far"  # (the run's process alive)
NOT_KEPT = "not-kept"  # the run's catalog keeps no output (do-nothing)
_NO_COMMAND = frozenset({"success", "fail", "stub"})  # step types that run nothing: no output to capture
# Lines libraries write on every run that say nothing of a failure: left out of the last lines a failure
# shows (failure_of), never out of the kept output. ipykernel, for every notebook run by papermill (trial 7).
NOISE = re.compile(r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\b")
# A line a tail or a failure shows is cut at this many characters (the kept output keeps it whole; `magnus
# logs` prints it whole): a step raising ValueError("x" * 100000) printed a line of 100,016 characters under
# its summary (trial 10, fault 7). About eight lines of a 120-column terminal.
SHOWN_WIDTH = 1000
_RECORDED_CUT = re.compile(r"(?:\.\.\.|\u2026) \((\d[\d,]*) more characters\)$")
NOT_RECORDED = "not-recorded"  # the run log says nothing of output (written before magnus captured it)
MISSING = "missing"  # recorded, but the file cannot be read (why: `problem`)
UNKNOWN = "unknown"  # the attempt has not started
LOST = "lost with the run's process"  # a recorded file its process died before writing (OutputReader._died)
NOTHING_REACHED = "none of its output reached its file"  # an attempt cut short with no .live file


def decode(data: bytes) -> str:
    """Captured bytes as text: UTF-8, anything else shown as the replacement character."""
    return data.decode("utf-8", errors="replace")


def shown_line(text: str, width: int = SHOWN_WIDTH) -> str:
    """`text` as a tail or a failure shows one line: whole up to `width` characters, else its first `width`
    and `… (N more characters)`. A message the run log keeps cut already (failure.clean_text's `... (N more
    characters)`) counts the characters it left out too, so N is what the step wrote beyond the shown part."""
    if len(text) <= width:
        return text
    more = len(text) - width
    recorded = _RECORDED_CUT.search(text)
    if recorded is not None and recorded.start() >= width:
        more = recorded.start() - width + int(recorded.group(1).replace(",", ""))
    return f"{text[:width]}\u2026 ({more:,} more characters)"


def cut_keeping_place(line: str, width: int) -> str:
    """`line` in at most `width` characters: a line ending with its place (`caused by KeyError: 'b', at
    features.py:5 in load`, AttemptError.caused_by) is cut with `…` before `, at`, so that the place stays
    in view, as the workbench fits a failure's first line (tui9); any other, or one whose place leaves less
    than 12 characters of words, at its end."""
    if len(line) <= width:
        return line
    words, at, place = line.rpartition(", at ")
    room = width - len(at) - len(place) - 1
    if at and room >= 12:
        return f"{words[:room].rstrip()}…{at}{place}"
    return line[: max(1, width - 1)] + "…"


def raised(error: AttemptError | None) -> str:
    """The exception's type name when a python exception is why the attempt failed (its traceback ends the
    kept output: nodes/task.py), "" otherwise: a shell command's exit code, a notebook's cell, sys.exit()
    (`SystemExit`, with its code), or no located error."""
    if error is None or error.exit_code is not None or error.cell is not None:
        return ""
    return "" if error.type in ("SystemExit", "ExitCode") else error.type


def exit_said(error: AttemptError | None) -> str:
    """The line a python step's `sys.exit("message")` left as the last of its output (python prints the
    message on stderr as it exits, and so does magnus for a step: nodes/task.py), "" for any other failure;
    stderr_unseen sets it aside."""
    return error.message if error is not None and error.type == "SystemExit" else ""


def traceback_shown(exception: str, lines: list[str]) -> bool:
    """Whether `lines` (a tail of a step's output) show the traceback of an exception of type `exception`:
    the line python ends a traceback with, `KeyError: 'z'` (`mylib.errors.Broken: ...` for a class outside
    the builtins), is among them."""
    if not exception:
        return False
    pattern = re.compile(rf"(?:[\w.]+\.)?{re.escape(exception)}(?::|$)")
    return any(pattern.match(line) for line in lines)


def kept_traceback(error: AttemptError) -> list[str]:
    """The traceback the run log keeps for `error`, as `magnus logs` prints it when no output holds it:
    `File "steps.py", line 27, in chained` and, indented by 2, its source line, for each frame outermost
    first; then for each exception of its chain (`raise X from e`: AttemptError.cause) a line
    `caused by JSONDecodeError: Expecting ...:` (`raised while handling ...:` when python chained it
    implicitly; the message's first line) and that exception's frames. Lines are unindented; each cut at
    SHOWN_WIDTH (shown_line), without a step's escape sequences and control characters (harmless: a
    cause's message is the step's text). [] without frames. One listing for `magnus logs` and the
    workbench's Output tab. (Trial 14, F3: the workbench listed the outer frames only, so with the output
    cap or the do-nothing catalog the root cause was nowhere in it.)"""
    if not error.frames:
        return []
    lines: list[str] = []
    link: AttemptError | None = error
    while link is not None:
        if link is not error:
            said = f"{link.type}: {link.message}" if link.message else link.type
            words = CAUSE_WORDS[1] if link.implicit else CAUSE_WORDS[0]
            lines.append(f"{words}{harmless(shown_line(said.split(chr(10))[0]))}:")
        for frame in link.frames:
            lines.append(harmless(f'File "{frame.file}", line {frame.line}, in {frame.function}'))
            if frame.text:
                lines.append(f"  {harmless(shown_line(frame.text))}")
        link = link.cause
    return lines


CAUSE_WORDS = ("caused by ", "raised while handling ")  # how kept_traceback begins a cause's line


NOTES_READ = 8  # lines read past a tail for magnus's own notes among them (last_lines, notes=False)


def last_lines(handle: IO[bytes], count: int, *, notes: bool = True) -> bytes:
    """The last `count` lines of a seekable binary file, read backwards in blocks (a file of 100 MB costs
    a few blocks, not 100 MB; a last line of 100 MB is read once, in one join, not block by block into a
    growing copy). A final line without a newline counts as a line. `notes=False`: magnus's own `[magnus:
    ...]` lines among them are given but not counted (`magnus logs --tail 1` gave the note alone, trial
    26), up to NOTES_READ of them."""
    if count <= 0:
        return b""
    wanted = count if notes else count + NOTES_READ
    handle.seek(0, io.SEEK_END)
    position = handle.tell()
    blocks: list[bytes] = []
    newlines = 0
    ends_line: bool | None = None
    while position > 0:
        step = min(BLOCK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        if ends_line is None:
            ends_line = block.endswith(b"\n")
        blocks.append(block)
        newlines += block.count(b"\n")
        if newlines - bool(ends_line) >= wanted:
            break
    data = b"".join(reversed(blocks))
    if not data:
        return b""
    body = data[:-1] if ends_line else data
    lines = body.split(b"\n")
    start = len(lines) - count
    if not notes:  # (the notes among the last lines read are not counted)
        start, counted = len(lines), 0
        while start > 0 and counted < count:
            start -= 1
            counted += not lines[start].startswith(b"[magnus: ")
    tail = b"\n".join(lines[max(start, 0) :])
    return tail + (b"\n" if ends_line else b"")


LONG_LINE = 1 << 16  # bytes of one line above which a shown tail reads its start and counts the rest


def _line_spans(handle: IO[bytes], count: int) -> list[tuple[int, int]]:
    """(start, end) byte offsets of the last `count` lines of a seekable file (end before the newline),
    oldest first; found reading backwards block by block, keeping no more than one block."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    if size == 0 or count <= 0:
        return []
    handle.seek(size - 1)
    line_end = size - 1 if handle.read(1) == b"\n" else size
    spans: list[tuple[int, int]] = []
    position = line_end
    while position > 0 and len(spans) < count:
        step = min(BLOCK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        cut = len(block)
        while len(spans) < count:
            found = block.rfind(b"\n", 0, cut)
            if found < 0:
                break
            spans.append((position + found + 1, line_end))
            line_end, cut = position + found, found
    if len(spans) < count:
        spans.append((0, line_end))
    return spans[::-1]


_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that continue a character


def last_frame(line: str) -> str:
    """What a terminal shows of one line (no newline in it) holding carriage returns: its last frame, the
    text after its last `\\r` (a trailing `\\r`, as of a CRLF line end, left out). A tqdm progress bar writes
    its frames as `\\rtraining: 45%|...` on one line: a failure's tail shows the last frame only, so that
    frames do not push the step's real lines out (trial 11). The kept file keeps every byte."""
    if "\r" not in line:
        return line
    return line.rstrip("\r").rpartition("\r")[2]


def shown_tail(handle: IO[bytes], count: int, width: int = SHOWN_WIDTH) -> list[str]:
    """The last `count` lines of a seekable binary file as a tail shows them, each cut at `width`
    characters (shown_line), a line holding `\\r` as its last frame (last_frame), in memory that stays
    flat however long a line is: a line of more than
    LONG_LINE bytes is shown from its first bytes, its other characters counted as they are read (a step
    that printed 30 MB on one line then failed made `magnus show` take 30 s and its whole size)."""
    shown: list[str] = []
    for start, end in _line_spans(handle, count):
        if end - start > LONG_LINE:  # a long line of progress frames: its last frame may be short
            handle.seek(end - LONG_LINE)
            frames = handle.read(LONG_LINE).rstrip(b"\r")
            if b"\r" in frames:
                start = end - LONG_LINE + frames.rindex(b"\r") + 1
        handle.seek(start)
        if end - start <= LONG_LINE:
            text = decode(handle.read(end - start))
            shown.extend(last_frame(text).splitlines() or [""])
            continue
        head = " ".join(decode(handle.read(width * 4)).splitlines())[:width]  # (a character: 4 bytes at most)
        characters = 0
        handle.seek(start)
        left = end - start
        while left > 0:
            block = handle.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            characters += len(block) - len(block.translate(None, _CONTINUATION))
        characters = (end - start) - characters  # a character per byte that does not continue one
        # a line magnus cut itself as it wrote it (a huge exception message in the traceback ending the
        # output: failure.clean_text's `... (N more characters)`) counts what the step wrote, as shown_line
        # does for a short one: trial 14 F15 read `(1,047,447 more characters)` under `(5,487,911 ...)`
        handle.seek(max(start, end - 64))
        recorded = _RECORDED_CUT.search(decode(handle.read(end - max(start, end - 64))).rstrip("\r\n"))
        if recorded is not None:
            characters += int(recorded.group(1).replace(",", "")) - len(recorded.group(0))
        shown.append(f"{head}\u2026 ({max(characters - len(head), 0):,} more characters)")
    return [shown_line(line, width) for line in shown[-count:]]


# bytes: output files up to this size have their SHA256 compared with the run's record when shown
# (AttemptView.differs); larger ones their size only (16 MB: ~20 ms to hash)
CHECK_LIMIT = 16 << 20


@dataclass
class AttemptView:
    """One attempt's output as a reader finds it: `state` (KEPT, EMPTY, LIVE_NOW, NOT_KEPT, NOT_RECORDED,
    MISSING, UNKNOWN), and `problem`, a sentence for any state without output to show."""

    step: StepLog
    attempt_number: int
    state: str
    problem: str = ""
    reused_from: str = ""  # a re-run reused the step: the run that kept its output
    attempt: StepAttempt | None = None  # its record (None: an attempt that never finished)
    _reader: OutputReader | None = field(default=None, repr=False)
    _name: str = ""
    _run_id: str = ""
    _path: Path | None = None
    _data: bytes | None = field(default=None, repr=False)  # held output a dead run wrote through (fatal.hold)
    _opener: LiveOpener | None = field(default=None, repr=False)  # pieces in a bucket (catalog.live_output)

    @property
    def has_output(self) -> bool:
        return self.state in (KEPT, LIVE_NOW)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The output as a binary file (CatalogError when it cannot be read; `problem` then says why)."""
        if self._data is not None and self.state in (LIVE_NOW, KEPT):
            yield io.BytesIO(self._data)
            return
        if self.state == LIVE_NOW and self._path is not None:
            with open(self._path, "rb") as handle:
                yield handle
            return
        if self.state == LIVE_NOW and self._opener is not None:
            with self._opener() as handle:
                yield handle
            return
        if self.state != KEPT or self._reader is None or self._reader.catalog is None:
            raise CatalogError(self.problem or "no output to read")
        with self._reader.catalog.open_file(self._run_id, self._name) as handle:
            yield handle

    def differs(self, limit: int = CHECK_LIMIT) -> str:
        """ "" when the kept output file is what the run recorded of it (its `size`, its `sha256`), else what
        differs: `its output file differs from what the run recorded (8 bytes, recorded 55; SHA256
        differs)` (trial 16 F8: a file changed since, or a catalog copied in part from another machine,
        was printed as the step's). The size is compared always, the SHA256 of files up to `limit` bytes
        (reading them once more); "" too when there is nothing to compare (no record, output held in
        memory, a file that cannot be read: said elsewhere)."""
        record = self.attempt.output if self.attempt is not None else None
        if self.state != KEPT or self._data is not None or record is None or not record.sha256:
            return ""
        try:
            with self.open() as handle:
                size = handle.seek(0, 2)
                if size > limit:
                    digest = ""
                else:
                    handle.seek(0)
                    hasher = hashlib.sha256()
                    while chunk := handle.read(1 << 20):
                        hasher.update(chunk)
                    digest = hasher.hexdigest()
        except (CatalogError, OSError):
            return ""
        sized = size == record.size
        hashed = digest == record.sha256 if digest else None
        if sized and hashed is not False:
            return ""
        words = [f"{size:,} bytes, as recorded" if sized else f"{size:,} bytes, recorded {record.size:,}"]
        if hashed is False:
            words.append("SHA256 differs")
        return f"its output file differs from what the run recorded ({'; '.join(words)})"

    def read(self) -> bytes:
        """Every byte kept ("" when there is nothing to show: see `problem`)."""
        if not self.has_output:
            return b""
        with self.open() as handle:
            return handle.read()

    def tail(self, count: int) -> list[str]:
        """The last `count` lines, as text ([] when there is nothing to show)."""
        if not self.has_output:
            return []
        with self.open() as handle:
            return decode(last_lines(handle, count)).splitlines()

    def shown_tail(self, count: int) -> list[str]:
        """The last `count` lines as a failure shows them: each cut at SHOWN_WIDTH characters, in flat
        memory however long a line is (shown_tail); [] when there is nothing to show."""
        if not self.has_output:
            return []
        with self.open() as handle:
            return shown_tail(handle, count)


def attempt_heading(view: AttemptView) -> str:
    """The line that heads an attempt's output wherever several are shown one after another (`magnus logs
    RUN`, its --follow, the workbench's whole-run output): `==> train (attempt 0) <==`, as tail heads files,
    with `, reused from run R` for a step a re-run reused."""
    reused = f", reused from run {view.reused_from}" if view.reused_from else ""
    return f"==> {view.step.internal_name} (attempt {view.attempt_number}{reused}) <=="


class OutputReader:
    """Finds the output of a run's attempts in the catalog the run used (its run_config's catalog block,
    made here relative to the working folder, as the run made it)."""

    def __init__(
        self,
        run_log: RunLog,
        catalog: BaseCatalog | None = None,
        *,
        runs: Callable[[str], RunLog] | None = None,
        live_within: float = 0.0,
    ) -> None:
        self.run_log = run_log
        self.catalog = catalog if catalog is not None else catalog_of(run_log)
        self.runs = runs  # reads another run (a re-run's original, for the steps it reused)
        # seconds: what an object store holds of a running attempt may be as this process last listed it
        # that long ago (BaseCatalog.live_output; a follower looking several times a second)
        self.live_within = live_within
        self._any_recorded: bool | None = None  # whether any attempt of the run has an output record
        self._dead: bool | None = None  # whether the run's process died (_died)
        self._held_output: dict[str, bytes] | None = None  # (_held)

    def view(self, step: StepLog, attempt: StepAttempt) -> AttemptView:
        """How to read `attempt` of `step`."""
        found = self._view(step, attempt)
        found.attempt = attempt
        return found

    def _view(self, step: StepLog, attempt: StepAttempt) -> AttemptView:
        record = attempt.output
        number = attempt.attempt_number
        if record is None:
            if self.catalog is not None and not self.catalog.keeps_output:
                return AttemptView(step, number, NOT_KEPT, _no_output_kept(self.catalog))
            unfinished = self._unfinished(step, number)
            if unfinished is not None:
                return unfinished
            if step.step_type in _NO_COMMAND:  # nothing ran, so nothing was captured (trial 4)
                return AttemptView(step, number, EMPTY, f"a {step.step_type} step runs no command")
            return AttemptView(step, number, NOT_RECORDED, self._not_recorded(attempt))
        if record.error:
            return AttemptView(step, number, MISSING, f"output was not kept: {record.error}")
        if not record.name:
            return AttemptView(step, number, EMPTY, "the step printed nothing")
        run_id, _, name = record.catalog_relative_path.partition("/")
        view = AttemptView(
            step,
            number,
            KEPT,
            reused_from=run_id if run_id != self.run_log.run_id else "",
            _reader=self,
            _name=name or record.name,
            _run_id=run_id or self.run_log.run_id,
        )
        if self.catalog is None:
            view.state, view.problem = MISSING, "the run's catalog cannot be opened here"
            return view
        try:
            with self.catalog.open_file(view._run_id, view._name) as handle:
                torn = (
                    view._run_id == self.run_log.run_id and self._died() and handle.seek(0, 2) != record.size
                )
            if torn:  # its writer died with the run while writing it (seen: a 0-byte file of 18 recorded)
                held = self._held().get(view._name)
                if held is not None and hashlib.sha256(held).hexdigest() == record.sha256:
                    view._data = held  # (written through: fatal.hold)
        except (CatalogError, OSError) as exc:
            view.state, view.problem = MISSING, f"output file cannot be read: {exc}{self._elsewhere()}"
            if str(exc).startswith("no file ") and view._run_id == self.run_log.run_id and self._died():
                held = self._held().get(view._name)
                if held is not None and hashlib.sha256(held).hexdigest() == record.sha256:
                    view.state, view.problem, view._data = KEPT, "", held  # (written through: fatal.hold)
                else:
                    view.problem = (
                        f"output {LOST} (its file '{view._name}' was to be written after the step ended)"
                    )
        return view

    def _held(self) -> dict[str, bytes]:
        """What the dead run's attempts held in memory, by catalog name (fatal.held_output), read once."""
        if self._held_output is None:
            from magnus_core.fatal import held_output

            self._held_output = held_output(self.catalog, self.run_log.run_id)
        return self._held_output

    def _step_held(self, step: StepLog, name: str) -> bytes | None:
        """What a step run one per process held in memory when its process died (that process's own held
        file, fatal.step_fatal_file), when the process is known to be gone (runs.step_process_gone)."""
        from magnus_core.runs import step_process_gone

        pid = step_process_gone(step) if isinstance(step.process, dict) else None
        if pid is None:
            return None
        from magnus_core.fatal import held_output, step_fatal_file

        run_id = self.run_log.run_id
        path = step_fatal_file(self.catalog, run_id, step.internal_name, pid)
        return held_output(self.catalog, run_id, path).get(name) if path is not None else None

    def _died(self) -> bool:
        """Whether the run's process died before ending it (run_now: INTERRUPTED, its log not at an end): a
        recorded file not there was lost with it (a short step's file is written in the background,
        docs/logs.md), not removed by someone (trial 13 fault 5 read both alike). Found once per reader."""
        if self._dead is None:
            self._dead = self.run_log.status not in ENDED and run_now(self.run_log) == INTERRUPTED
        return self._dead

    def _not_recorded(self, attempt: StepAttempt) -> str:
        """Why an attempt of a run whose catalog keeps output has no output record: a stop recorded it while
        it ran (a python step in a branch thread is abandoned, and what it printed reached no file: nothing,
        or only in its last tenth of a second, capture.SPILL_AFTER), or the run log predates output capture
        (no attempt of the run has a record; trial 12 fault 12 found that said of a stopped shell branch)."""
        if attempt.status == INTERRUPTED and (attempt.message or "").startswith("interrupted by "):
            return (
                "no output recorded: the run was stopped while this attempt ran, and none of its output "
                "reached a file (it printed nothing, or only in its last moment)"
            )
        if self._any_recorded is None:
            self._any_recorded = any(a.output is not None for s in self.run_log.walk() for a in s.attempts)
        if self._any_recorded:
            return "no output recorded for this attempt"
        return "no output recorded (the run log predates output capture)"

    def _elsewhere(self) -> str:
        """Why a run's output may not be here: its catalog was a folder on another machine, or one relative
        to another folder (run_config.process's `host` and `cwd`), as when a pipeline's own `catalog:` block
        kept a teammate's run in their .catalog/ (trial team 3). '' when the run ran here."""
        import socket

        catalog = self.catalog
        if catalog is None or not catalog.folders():  # object storage: the same for everyone
            return ""
        config = _mapping(self.run_log.run_config)
        process, block = _mapping(config.get("process")), _mapping(config.get("catalog"))
        host, cwd = str(process.get("host") or ""), str(process.get("cwd") or "")
        options = _mapping(block.get("config"))
        folder = str(options.get("catalog_location") or options.get("url") or ".catalog")
        kind = str(block.get("type") or "file-system")
        if host and host != socket.gethostname():
            where = f"on host '{host}'" + (f" (in {cwd})" if cwd else "")
        elif cwd and cwd != str(Path.cwd()) and not Path(folder).is_absolute():
            where = f"in {cwd}"
        else:
            return ""
        return (
            f"; the run's catalog was the {kind} one at '{folder}' {where}, where its files stay (a team "
            "shares a catalog in object storage: docs/team.md)"
        )

    def _unfinished(self, step: StepLog, number: int) -> AttemptView | None:
        """The output an attempt wrote before its process died (it never finished its file), or so far while
        it still runs (the run's process alive: STILL_RUNNING, not a crash's words; trial 22), if any."""
        if self.catalog is None:
            return None
        problem = UNFINISHED if self._died() or self.run_log.status in ENDED else STILL_RUNNING
        name = output_name(step.internal_name, number)
        path = self.catalog.live_file(self.run_log.run_id, name)
        opener = None
        if path is None:
            opener = self.catalog.live_output(self.run_log.run_id, name, within=self.live_within)
        if opener is not None:  # an object store: the pieces its writer pushed as the attempt ran
            return AttemptView(
                step,
                number,
                LIVE_NOW,
                problem,
                _name=name,
                _run_id=self.run_log.run_id,
                _opener=opener,
            )
        if path is None:
            held = self._held().get(name) if self._died() else self._step_held(step, name)
            if not held:
                return None
            return AttemptView(  # what it held in memory, written through (fatal.hold)
                step,
                number,
                LIVE_NOW,
                problem,
                _name=name,
                _run_id=self.run_log.run_id,
                _data=held,
            )
        return AttemptView(
            step,
            number,
            LIVE_NOW,
            problem,
            _path=path,
            _name=name,
            _run_id=self.run_log.run_id,
        )

    def views(self, step: StepLog, attempt_number: int | None = None) -> list[AttemptView]:
        """Every recorded attempt of `step` (or the one numbered `attempt_number`), and one that never
        finished when its process died (the step is still PROCESSING in its log). A step a re-run reused
        (no attempt of its own) shows the attempts of the run it came from."""
        if step.mock and not step.attempts:
            return self._reused(step, attempt_number)
        found = [
            self.view(step, a)
            for a in step.attempts
            if attempt_number is None or a.attempt_number == attempt_number
        ]
        number = len(step.attempts)
        if step.status == PROCESSING and attempt_number in (None, number):
            unfinished = self._unfinished(step, number)
            if unfinished is not None:
                found.append(unfinished)
        return found

    def _reused(self, step: StepLog, attempt_number: int | None, depth: int = 0) -> list[AttemptView]:
        original = self.run_log.original_run_id
        if self.runs is None or not original or depth > 20:
            return []
        try:
            run = self.runs(original)
        except MagnusError:
            return []
        source = run.find_step(step.internal_name)
        if source is None:
            return []
        views = OutputReader(run, self.catalog, runs=self.runs).views(source, attempt_number)
        for view in views:
            view.reused_from = view.reused_from or run.run_id
            view.step = step
        return views


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _no_output_kept(catalog: BaseCatalog | None) -> str:
    kind = catalog.service_name if catalog is not None else "do-nothing"
    return f"no output is kept: the run's catalog is {kind} (a file-system catalog keeps steps' output)"


def catalog_of(run_log: RunLog) -> BaseCatalog | None:
    """The catalog a run used, made from its run_config (None when it cannot be made here)."""
    return catalog_in(run_log.run_config)


def catalog_in(run_config: object) -> BaseCatalog | None:
    """The catalog a run's run_config names (catalog_of for a caller holding no RunLog); None when it
    cannot be made here."""
    from magnus_core.catalog import make_catalog
    from magnus_core.errors import MagnusError

    config = run_config if isinstance(run_config, dict) else {}
    block = config.get("catalog")
    if not isinstance(block, dict):
        return None
    try:
        catalog = make_catalog(block)
    except (MagnusError, ImportError):
        return None
    from magnus_core.runs import provider_source

    secrets = config.get("secrets")  # secret_options name secrets of the run's provider
    catalog.use_secrets(provider_source(secrets if isinstance(secrets, dict) else None))
    return catalog


# -- failures, as a summary shows them ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Failure:
    """A failed step as the summary of a run shows it: its `message`, `where` it failed (`steps.py:29 in
    train`, `exit code 6`, `cell 3`; "" when unknown), the `last_lines` of its output, the `command` that
    shows all of it, and a `note` when there is no output to show (why)."""

    internal_name: str
    attempt_number: int
    message: str
    where: str
    last_lines: list[str]
    command: str
    note: str = ""
    stderr: list[str] = field(default_factory=list)  # the last lines it wrote to stderr (AttemptError)
    exception: str = ""  # the python exception's type when one is why it failed (raised)
    cause: str = ""  # `caused by KeyError: 'b', at features.py:5 in load` (AttemptError.caused_by)
    exited: str = ""  # sys.exit's message, the last line of its output (exit_said)

    def stderr_unseen(self) -> list[str]:
        """The last lines on stderr when they may be the reason and the tail does not show them already
        (stderr_unseen)."""
        return stderr_unseen(self.stderr, self.last_lines, self.exception, self.exited)


# exceptions that say only that a child process failed: its reason is what it wrote to stderr (stderr_unseen)
CHILD_FAILED = frozenset(("CalledProcessError",))


def stderr_unseen(
    stderr: list[str], last_lines: list[str], exception: str = "", exited: str = ""
) -> list[str]:
    """`stderr` (an attempt's last lines on stderr, AttemptError.stderr) where they may be the reason: a
    line the step wrote to stderr just before it exited may be kept before earlier stdout lines
    (docs/logs.md), so the summary, `magnus show` and the workbench's failure header say them apart; []
    when the output's `last_lines` already end with them (magnus's own `[magnus: ...]` notes after them
    set aside: trial 23 F9, a branch's note of fd output made a notebook's traceback shown twice; and the
    message of a `sys.exit("...")`, `exited`, which python prints after them: trial 24), or
    when the step failed by raising `exception`
    (raised): the exception is the reason, and a python step's last stderr lines are its logging, which
    set apart under the error read as the cause (trial 10, fault 6); whether its traceback is in the tail
    or not: an output cap may have cut it, or kept none of the step's lines (trials 11 and 12: a cap of
    10 KB set four frames of a progress bar apart under a ValueError). Shell and notebook steps, a
    python step that called sys.exit(), and one whose exception only says a child process failed
    (`subprocess.CalledProcessError` of `subprocess.run(..., check=True)`: `returned non-zero exit status
    128`, the child's reason on its stderr, trial 25), keep them."""
    if not stderr or (exception and exception not in CHILD_FAILED):
        return []
    shown = [line.rstrip() for line in last_lines if line.strip()]
    while shown and shown[-1].startswith("[magnus: "):  # magnus's own notes after them set aside
        shown.pop()
    if exited and shown and shown[-1] == exited:
        shown.pop()
    if shown[-len(stderr) :] == stderr:
        return []
    return stderr


def where_failed(attempt: StepAttempt | None, message: str = "") -> str:
    """`steps.py:29 in train`, `exit code 6`, `cell 3`, or "" (no located error recorded, or no attempt: a
    composite step that failed itself). With the failure's `message`: "" when the message says it already
    (`shell command exited with code 7` needs no `at exit code 7` under it: trial 5; a command killed by a
    signal, a negative code, never gets one: `killed by signal 9 (SIGKILL)` says it), so that every place a
    failure is shown (the runs list's panel, the summary, `magnus show`) says where it happened once."""
    error = attempt.error if attempt is not None else None
    if error is None:
        return ""
    frame = error.location()
    if error.cell is not None:
        return f"cell {error.cell}" + (f", line {frame.line}" if frame is not None else "")
    if frame is not None:
        return frame.where()
    if error.exit_code is not None and error.exit_code < 0:  # killed by a signal (subprocess's -N): the
        return ""  # message says which (failure.killed_text); `at exit code -9` read as a place (trial 11)
    if error.exit_code is not None:
        said = re.search(rf"\b(?:exit(?:ed with)? )?code {error.exit_code}\b", message)
        return "" if said else f"exit code {error.exit_code}"
    return ""


def interrupted_at(attempt: StepAttempt | None) -> str:
    """`interrupted at steps.py:12 in train (SIGINT: the run was stopped)` for an attempt that Ctrl-C or
    SIGTERM stopped where its python code was recorded (nodes.task: trial 11; the run log keeps the frames
    in the attempt's `error`, as a failure's); `interrupted (SIGTERM: the run was stopped)` for one stopped
    where no code of the user's is known (a shell or notebook step, a step in a branch thread, a python step
    stopped while magnus itself ran: trial 12 fault 6, where show and logs said nothing of it); else ""."""
    if attempt is None or attempt.status != INTERRUPTED:
        return ""
    message = " ".join((attempt.message or "").split())
    why = message.removeprefix("interrupted by ")
    where = where_failed(attempt) if attempt.error is not None else ""
    if where:
        return f"interrupted at {where}" + (f" ({why})" if why else "")
    if why == message:  # not a stop's record (`interrupted by SIGINT: ...`): nothing to say of it
        return ""
    return f"interrupted ({why})"


def failed_itself(step: StepLog) -> bool:
    """A step where a failure happened, not only one holding it: a failed attempt (a task, a catalog move),
    or a failed step of any type with a message and no failed step inside it (a conditional with no branch
    for its parameter, a loop's break_on that is not a boolean, a catalog conflict between branches). The
    fail node and a composite whose branch failed are not (the step inside is)."""
    if step.status != FAIL or step.step_type in ("fail", "success"):
        return False
    if step.attempts:
        return True
    inside = (s for s in step.walk() if s is not step)
    return bool(step.message) and not any(s.status == FAIL for s in inside)


def failed_leaves(run_log: RunLog) -> list[StepLog]:
    """Steps that failed themselves (failed_itself), in execution order: not the composite steps holding
    them, not the fail node."""
    return [step for step in run_log.walk() if failed_itself(step)]


def failure_message(step: StepLog) -> str:
    """What a failed step records as its failure: the step's message, else its last attempt's. A step a
    re-run ran again carries why before its error (`[dag changed] shell command exited with code 4`,
    rerun.note_reason): the error alone is shown, since the re-run's plan already said why it ran."""
    last = step.attempts[-1].message if step.attempts else ""
    if last and step.message.startswith("[") and step.message.endswith(f"] {last}"):
        return last
    return step.message or last or "failed"


def logs_command(
    run_id: str, internal_name: str, attempt: int | None = None, config_file: str | None = None
) -> str:
    """The `magnus logs` command that shows one step's output (copy-paste safe for any name), with the
    `--config-file` the run was made with (trial 11: without it the hint failed on any store but the
    default, while the `Resume with:` line beside it carried it)."""
    words = ["magnus", "logs", run_id, internal_name]
    if attempt is not None:
        words += ["--attempt", str(attempt)]
    if config_file:
        words += ["--config-file", config_file]
    return " ".join(shlex.quote(w) for w in words)


def failures(
    run_log: RunLog, reader: OutputReader | None = None, *, lines: int = 10, limit: int | None = None
) -> list[Failure]:
    """Each failed step (failed_leaves; the first `limit`) with its last attempt's message, where it failed,
    and its output's last `lines` lines (read through `reader`, made for the run when not given)."""
    steps = failed_leaves(run_log)[:limit] if limit is not None else failed_leaves(run_log)
    if steps and reader is None:
        reader = OutputReader(run_log)
    return [failure_of(run_log.run_id, step, reader, lines=lines) for step in steps]


def failure_of(
    run_id: str,
    step: StepLog,
    reader: OutputReader | None,
    *,
    lines: int = 10,
    config_file: str | None = None,
) -> Failure:
    """One failed step of run `run_id` as every view shows it (the summary, `magnus show`, the stderr of
    `magnus execute_single_node`): its last attempt's message, where it failed, its output's last `lines`
    lines read through `reader` (None: none read; known library noise, NOISE, left out), and the
    `magnus logs` command that shows the rest (with `config_file`, the run's, logs_command). The message
    and every line are cut at SHOWN_WIDTH (shown_line); the run log and the kept output keep them whole."""
    last = step.attempts[-1] if step.attempts else None
    tail: list[str] = []
    note = ""
    if reader is not None and last is not None:
        view = reader.view(step, last)
        try:  # (a line more, in case one is noise; never shown in place of one of the step's own)
            wide = TRACEBACK_WINDOW if lines and raised(last.error) else 0
            shown = view.shown_tail(lines + 1 + wide) if lines else []
            # (faulthandler's frames too: a forked child's crash prints the stack it inherited, magnus's
            # command line and click among it, trial 26)
            shown = fold_library_frames(fold_causes(shown) if wide else shown)
            tail = [line for line in shown if not NOISE.match(line)][-lines:] if lines else []
        except (CatalogError, OSError) as exc:
            note = f"output file cannot be read: {exc}"
        if not view.has_output and view.state != NOT_RECORDED:
            note = view.problem
    several = len(step.attempts) > 1
    message = failure_message(step)
    error = last.error if last is not None else None
    return Failure(
        internal_name=step.internal_name,
        attempt_number=last.attempt_number if last is not None else 0,
        message=shown_line(message),
        where=where_failed(last, message),
        last_lines=tail,  # (cut at SHOWN_WIDTH: shown_tail)
        command=logs_command(
            run_id, step.internal_name, last.attempt_number if last and several else None, config_file
        ),
        note=note,
        stderr=[shown_line(line) for line in error.stderr if not NOISE.match(line)] if error else [],
        exception=raised(error),
        cause=shown_line(error.caused_by()) if error is not None else "",
        exited=exit_said(error),
    )


TRACEBACK_WINDOW = 60  # lines read past a raised exception's tail, where its library frames are folded
# a frame of python's traceback (`line 3, in f`) or of faulthandler's (`line 3 in f`, as a crash prints it)
_FRAME = re.compile(r'  File "(?P<path>[^"]*)", line \d+,? in ')


def _library_frame(path: str) -> bool:
    """Whether a traceback frame's file is the standard library's or an installed package's: an absolute
    path in site-packages or dist-packages or under python's own library folder, or a frozen module. A
    step's own files are shown relative to the project (failure.traceback_text), and so is never one."""
    if path.startswith("<frozen ") or path.startswith(_MAGNUS_FILES):
        return True
    if not path.startswith("/") and not (len(path) > 2 and path[1] == ":"):
        return False
    if "/site-packages/" in path or "/dist-packages/" in path or "\\site-packages\\" in path:
        return True
    return any(path.startswith(folder) for folder in _STDLIB_FOLDERS)


def _stdlib_folders() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple({paths[key].rstrip("/") + "/" for key in ("stdlib", "platstdlib") if paths.get(key)})


_STDLIB_FOLDERS = _stdlib_folders()
# magnus's own files, wherever it is installed (a crash's frames name them: magnus runs the step)
_MAGNUS_FILES = tuple(
    str(Path(__file__).resolve().parents[1] / name) + "/" for name in ("magnus_core", "magnus")
)


def fold_library_frames(lines: list[str]) -> list[str]:
    """A failure's tail (failure_of) with each run of traceback frames in the standard library or an
    installed package (_library_frame: `File ".../json/decoder.py"` and its source and caret lines) folded
    into one line, `  [magnus: 3 frames in libraries folded; magnus logs shows them]`: the step's own
    frames, its last printed lines and the exception's line stay in the ten lines a summary shows, where
    json's decoder frames had pushed them out (trial 21). The kept output (`magnus logs`) is untouched."""
    out: list[str] = []
    folded = 0
    skipping = False
    for line in lines:
        match = _FRAME.match(line)
        if match is not None:
            skipping = _library_frame(match.group("path"))
            if skipping:
                folded += 1
                continue
        elif skipping and line.startswith("    "):
            continue  # (the library frame's source line and its carets)
        else:
            skipping = False
        if folded:
            out.append(_folded(folded))
            folded = 0
        out.append(line)
    if folded:
        out.append(_folded(folded))
    return out


# the lines python puts between the tracebacks of an exception's chain (traceback.py's _cause_message and
# _context_message)
_CHAINED = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
_HEADER = "Traceback (most recent call last):"
_QUOTE_LINES = ('"' * 3, "'" * 3)  # the lines a pool's RemoteTraceback quotes its text between


def fold_causes(lines: list[str]) -> list[str]:
    """A failure's tail (failure_of) with the tracebacks of the exceptions its exception was raised from
    (python prints them first, each followed by `The above exception was the direct cause ...`) folded
    into one line, `[magnus: the exception's causes folded (12 lines); its `caused by` line says the first;
    magnus logs shows them]`: the summary's `caused by` line says where the cause was raised, and a
    process pool's worker traceback, quoted in its cause, had filled the ten lines a summary shows (trial
    25: the quote, a blank line, `The above exception ...`, with the step's own prints pushed out). From the
    first line of the chain in `lines` (a traceback's header, or the exception line of a cause that has
    none: a pool's `RemoteTraceback: ` and its quoted text) to the last traceback's header; `lines` as
    they are when the last traceback is not preceded by a chain line."""
    last = max((i for i, line in enumerate(lines) if line == _HEADER), default=-1)
    chained = [i for i, line in enumerate(lines[:last]) if line in _CHAINED]
    if last < 0 or not chained:
        return lines
    first = chained[0]
    start = max((i for i, line in enumerate(lines[:first]) if line == _HEADER), default=0)
    while start > 0 and lines[start - 1].strip() in _QUOTE_LINES:  # (a pool's quoted traceback)
        start -= 1
    if start > 0 and lines[start - 1].rstrip().endswith("RemoteTraceback:"):
        start -= 1
    folded = last - start
    note = (
        f"[magnus: the exception's causes folded ({folded} line{'s' if folded > 1 else ''}); its `caused"
        " by` line says the first; magnus logs shows them]"
    )
    return [*lines[:start], note, *lines[last:]]


def _folded(count: int) -> str:
    return f"  [magnus: {count} frame{'s' if count > 1 else ''} in libraries folded; magnus logs shows them]"


def step_sections(run_log: RunLog, step: str | None) -> list[StepLog]:
    """The steps `magnus logs` shows: every task step in execution order (None), or the named one (a
    composite: every task step inside it; a branch, `fan.B` of a parallel or `each.c` of a map: every task
    step in it, as the workbench shows a branch), and any step that failed with no attempt to show (a
    conditional with no branch for its value: its failure is shown instead). [] when no step or branch has
    that internal name."""
    if step is None:
        return [s for s in run_log.walk() if _shown(s)]
    found = run_log.find_step(step)
    if found is None:
        branch = run_log.find_branch(step)
        if branch is None:
            return []
        return [s for s in branch.walk() if _shown(s)]
    return [s for s in found.walk() if _shown(s)] or [found]


def _shown(step: StepLog) -> bool:
    """A task step (the only kind whose attempts run a command that prints: not as-is, success, fail, or
    a composite step), or a step that failed itself without an attempt."""
    return step.step_type == "task" or (not step.attempts and failed_itself(step))


def known_steps(run_log: RunLog) -> list[str]:
    """Every step's internal name, nested ones included, in execution order."""
    return [s.internal_name for s in run_log.walk()]


ENDED = frozenset({"SUCCESS", "FAIL", "INTERRUPTED"})
_END_NODES = frozenset({"success", "fail"})


def run_now(run_log: RunLog) -> str:
    """What the run is now, as `magnus runs` words it: SUCCESS, FAIL, INTERRUPTED (also a PROCESSING run
    whose process is gone), RUNNING, or PER-STEP (driven one step per process, not at an end)."""
    from magnus_core.runs import PER_STEP_STATE, driven_per_step, run_state

    state = run_state(run_log)
    return PER_STEP_STATE if state == "RUNNING" and driven_per_step(run_log.run_config) else state


def dag_steps(run_log: RunLog) -> list[str]:
    """The internal names of the steps of the run's recorded dag that have one before the run fans out
    (no map item's step), the dag's end nodes left out: names a user may give before they run. [] when
    the log records no dag (the original tool's logs)."""
    from magnus_core.progress import STEP, dag_of_config, planned_nodes

    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    dag = dag_of_config(config, run_log.dag_hash or "")
    if dag is None:
        return []
    return [n.internal_name for n in planned_nodes(dag) if n.kind == STEP and n.step_type not in _END_NODES]


def never_run(run_log: RunLog) -> list[str]:
    """The steps of an ended run's path that never ran (progress.not_run_steps, nested ones by their
    internal names, a composite whose branches were never known once), the dag's fail node left out; []
    for a run not at an end. `magnus logs RUN` names them after the output (trial 8: they read as if still
    to come)."""
    from magnus_core.progress import not_run_steps, run_dag

    if run_now(run_log) not in ENDED:
        return []
    dag = run_dag(run_log)
    if dag is None:
        return []
    return [name for name, step_type in not_run_steps(run_log, dag) if step_type not in _END_NODES]


@dataclass(frozen=True)
class CutShort:
    """An attempt begun and never recorded in an ended run (its process died while it ran: kill -9, the OOM
    killer, a fatal signal), as every view says it: `step`, `attempt` (its number), `has_output` (some of
    its output reached its `.live` file: a hint may point to it), `crashed` (a fatal signal located in this
    step: the only one begun, or the branch whose thread crashed, fatal.Crash.step) and `said`:
    `crashed (Segmentation fault) at mlproj/crashy.py:10 in train`, `was cut short: the run's process
    crashed in fan.crashy.s` (a branch beside the one that crashed), or `was cut short: the run's process
    ended while it ran`."""

    step: StepLog
    attempt: int
    has_output: bool
    crashed: bool
    said: str

    def line(self) -> str:
        """`train: crashed (...) at ...` / `s1: attempt 0 was cut short: ...`, as `magnus show` says it."""
        name = self.step.internal_name
        return f"{name}: {self.said}" if self.crashed else f"{name}: attempt {self.attempt} {self.said}"


def cut_short(run_log: RunLog, reader: OutputReader | None = None) -> tuple[list[CutShort], Crash | None]:
    """Each attempt cut short in an ended run (CutShort, in the order of run_log.walk), and the fatal signal
    that ended its process when faulthandler wrote one (fatal.crash_of); ([], None) for a run not at an
    end or with none begun. `magnus show`, `magnus logs` (and its --follow's ending line) and the
    workbench say them from here, so the hints agree: one points to output only when a `.live` file holds
    some (trial 13 fault 5: `its output until then: magnus logs R wait` led to nothing)."""
    from magnus_core.fatal import crash_of
    from magnus_core.models.run_log import running_attempt

    state = run_now(run_log)
    if state not in ENDED:
        return per_step_cut_short(run_log, reader) if state == "PER-STEP" else ([], None)  # (PER_STEP_STATE)
    begun = [(step, found[0]) for step in run_log.walk() if (found := running_attempt(step)) is not None]
    if not begun:
        return [], None
    crash = crash_of(run_log)
    reader = reader if reader is not None else OutputReader(run_log)
    out = []
    for step, number in begun:
        has_output = reader._unfinished(step, number) is not None
        crashed = crash is not None and (len(begun) == 1 or crash.step == step.internal_name)
        if crashed and crash is not None:
            said = crash.said()
        elif crash is not None and crash.step:
            said = f"was cut short: the run's process crashed in {crash.step}"
        else:
            said = "was cut short: the run's process ended while it ran"
        out.append(CutShort(step, number, has_output, crashed, said))
    return out, crash


def per_step_cut_short(
    run_log: RunLog, reader: OutputReader | None = None
) -> tuple[list[CutShort], Crash | None]:
    """In a run driven one step per process (PER-STEP: not at an end), each attempt whose process is known
    to be gone (StepLog.process, on this host: runs.step_process_gone): `wait: attempt 0 was cut short: its
    process (pid 4242) is gone`, as for a local run whose process died (trial 15 N8: such a step read
    PROCESSING for ever, and only `ps` said its process had been killed). The run itself stays PER-STEP:
    its orchestrator may run the step again (a new attempt, single._keep_attempts). A fatal signal that
    ended the process is located from its own fatal file (fatal.step_crash): `wait: crashed (Segmentation
    fault) at ...`; the crash returned is the first one found."""
    from magnus_core.fatal import step_crash
    from magnus_core.models.run_log import running_attempt
    from magnus_core.runs import step_process_gone

    out = []
    first: Crash | None = None
    for step in run_log.walk():
        found = running_attempt(step)
        pid = step_process_gone(step) if found is not None else None
        if found is None or pid is None:
            continue
        reader = reader if reader is not None else OutputReader(run_log)
        has_output = reader._unfinished(step, found[0]) is not None
        crash = step_crash(reader.catalog, run_log.run_id, step.internal_name, pid)
        if crash is not None:
            first = first or crash
            out.append(CutShort(step, found[0], has_output, True, crash.said()))
            continue
        said = f"was cut short: its process (pid {pid}) is gone"
        out.append(CutShort(step, found[0], has_output, False, said))
    return out, first


def crash_json(cuts: list[CutShort], crash: Crash | None) -> dict[str, object] | None:
    """`crash` of `magnus show --json` and `magnus logs --json`: the fatal signal that ended the run's process
    (fatal.Crash.as_json: `step` and `attempt` it crashed in, or "" and null when not known, `reason`,
    `where`, `file`), or None when faulthandler wrote none (no crash, a SIGKILL, a catalog not a folder)."""
    if crash is None:
        return None
    found = next((cut for cut in cuts if cut.crashed), None)
    if found is None:
        return crash.as_json()
    return crash.as_json(found.step.internal_name, found.attempt)


def crash_failure(run_log: RunLog) -> tuple[str, str] | None:
    """The step a fatal signal hit in ended run `run_log` and what every view says of it, on one line:
    (`fan.crashy.s`, `crashed (Segmentation fault) at mlproj/crashy.py:24 in branch_crash`), as `magnus
    show` says it (cut_short, CutShort.said); None when no crash is located (none, a SIGKILL, a run not at
    an end). `magnus runs --json`/`--csv` give it as `failed_step`/`failure` of a run that died with no
    failed step recorded (trial 15 N6: both read "" though `magnus show` named the crash); `magnus diff`
    as the step's error."""
    cuts, crash = cut_short(run_log)
    if crash is None:
        return None
    found = next((cut for cut in cuts if cut.crashed), None)
    if found is None:
        return None
    return found.step.internal_name, " ".join(harmless(found.said).split())


def not_run(run_log: RunLog, name: str) -> str | None:
    """Why step `name` (an internal name) has no step log in `run_log` though the run's recorded dag has
    it, or None when the dag has no such step (or the log records no dag, or the step has a log):

        step 'c' has not run yet in run R (RUNNING)        the run goes on (PER-STEP: driven per step)
        step 'c' never ran in run R: not reached before the run ended FAIL
        step 'h' never ran in run R: the run ended SUCCESS without reaching it   (off its success path)

    Said by `magnus logs` (exit 2) and `magnus show`'s table (`not run`); trial 8 read `has no step 'c'`,
    for a step the run had not reached, as a mistyped name."""
    from magnus_core.progress import dag_of_config, planned_step

    if run_log.find_step(name) is not None:
        return None
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    dag = dag_of_config(config, run_log.dag_hash or "")
    if dag is None:
        return None
    branch_logs = {key for step in run_log.walk() for key in step.branches}
    planned = planned_step(dag, name, branch_logs)
    if planned is None:
        return None
    state = run_now(run_log)
    if state not in ENDED:
        return f"step '{name}' has not run yet in run {run_log.run_id} ({state})"
    if planned.on_path:  # (not "the run ended FAIL before it", read as its cause: trial 22 F6)
        return f"step '{name}' never ran in run {run_log.run_id}: not reached before the run ended {state}"
    return f"step '{name}' never ran in run {run_log.run_id}: the run ended {state} without reaching it"


def known_names(run_log: RunLog) -> list[str]:
    """What `magnus logs RUN NAME` takes, in execution order: every step's internal name and, after each
    composite step, its branches' (`fan`, `fan.A`, `fan.A.wa`, ...; `each.c` for a map's item). A nested
    dag's branch that has its step's name is named once."""
    names: list[str] = []

    def visit(step: StepLog) -> None:
        names.append(step.internal_name)
        for name, branch in step.branches.items():
            if name != step.internal_name:
                names.append(name)
            for inner in branch.steps.values():
                visit(inner)

    for top in run_log.steps.values():
        visit(top)
    return names
