"""Trial 5's printing findings: notes on stderr wrapped at word boundaries on a terminal, sizes in the unit
that fits."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect

from magnus_core.table import fmt_size, wrap_note
from tests.conftest import ROOT

RUN_LOGS = ROOT / "tests" / "data" / "fixtures" / "magnus-0.3.12" / "run_logs"


def test_sizes_are_given_in_the_unit_that_fits() -> None:
    # trial 5: a 48 KB index read `(0.0 MB)` beside a total of `0.1 MB`
    assert [fmt_size(n) for n in (0, 1, 512, 1023)] == ["0 bytes", "1 byte", "512 bytes", "1,023 bytes"]
    assert [fmt_size(n) for n in (1024, 48 * 1024, 100 * 1024, 4_404_019, 3 * 2**30)] == [
        "1.0 KB", "48 KB", "100 KB", "4.2 MB", "3.0 GB",
    ]  # fmt: skip


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_note_wider_than_the_terminal_breaks_between_words(monkeypatch) -> None:
    note = (
        "(10 column(s) hidden to fit the terminal: tag, start, duration, steps, re-run of, metrics.auc, "
        "metrics.train.accuracy, metrics.train.loss; widen it, or pipe the output, to see every column)"
    )
    monkeypatch.setenv("COLUMNS", "80")
    lines = wrap_note(note, Terminal()).split("\n")
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert " ".join(lines) == note  # every break is at a space: no word cut
    assert wrap_note(note, io.StringIO()) == note  # piped: one line, for grep
    long_word = "x" * 100
    assert wrap_note(f"see {long_word} here", Terminal()).split("\n") == ["see", long_word, "here"]
    assert wrap_note("  indented " + "word " * 30, Terminal()).split("\n")[1].startswith("  word")
    # a `magnus:` note's continuation is indented past its prefix: it reads as the note's, not as a line of
    # the step's output (trial 21)
    failed = "magnus: f (attempt 0) failed: JSONDecodeError: " + "Expecting property name " * 4 + "at fl.py:7"
    wrapped = wrap_note(failed, Terminal()).split("\n")
    assert len(wrapped) > 1 and all(line.startswith("        ") for line in wrapped[1:]), wrapped
    assert " ".join(line.strip() for line in wrapped) == failed
    stderr = "magnus:   stderr: " + "disk full " * 12
    assert wrap_note(stderr, Terminal()).split("\n")[1].startswith(" " * 10 + "disk")


def test_the_cli_wraps_its_notes_to_the_terminal(tmp_path: Path) -> None:
    """`magnus runs` in a 50-column terminal: the note on the columns it hid breaks between words (the
    terminal broke it mid-word: `metri` / `cs.train.loss`)."""
    store = tmp_path / ".run_log_store"
    store.mkdir()
    for log in RUN_LOGS.glob("*.json"):
        shutil.copy(log, store / log.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "XDG_CACHE_HOME": str(tmp_path / "c")}
    env.pop("COLUMNS", None)
    child = pexpect.spawn(
        sys.executable, ["-m", "magnus_core", "runs"], cwd=str(tmp_path), env=env, dimensions=(24, 50)
    )
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    out = child.before.decode("utf-8", "replace").replace("\r\n", "\n")
    start = out.index("(")
    note = out[start:]
    note = note[: note.index(")", note.index("hidden")) + 1]
    lines = note.split("\n")
    assert len(lines) > 1 and all(len(line) <= 50 for line in lines), lines
    assert re.fullmatch(
        r"\(\d+ column\(s\) hidden to fit the terminal: .*; widen it, or pipe the output, "
        r"to see every column\)",
        " ".join(lines),
    ), lines
