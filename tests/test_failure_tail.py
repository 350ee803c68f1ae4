"""A python step that raises deep in a library: the summary and `magnus show` show, under the error and
its place, the last lines the step itself wrote and the exception's line, not the library's end of the
traceback (trial 21: json's decoder frames filled the ten lines and pushed `read 3 rows` and the step's
logging out, while the error's line and `at fl.py:7 in f` above said it already). The whole traceback stays
in the kept output (`magnus logs`). Real runs in subprocesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STEPS = """import json
import logging

log = logging.getLogger("mylib")


def decode():
    logging.basicConfig(level=logging.INFO)
    log.info("loading data")
    print("read 3 rows", flush=True)
    json.loads("{bad")


def chained():
    print("parsing config", flush=True)
    try:
        json.loads("{bad")
    except ValueError as exc:
        raise RuntimeError("the config is broken") from exc
"""


def _block(text: str, first: str) -> list[str]:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i in range(at, len(lines)) if lines[i].startswith("  all of it: "))
    return lines[at : end + 1]


def test_a_library_exceptions_tail_is_the_steps_own_lines_then_the_error(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: steps.decode, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 1, ran.stderr
    error = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    for shown in (ran.stdout, magnus("show", "r").stdout):
        assert _block(shown, "s: JSONDecodeError") == [
            f"s: JSONDecodeError: {error}",
            "  at steps.py:11 in decode",
            "  | INFO:mylib:loading data",
            "  | read 3 rows",
            f"  | json.decoder.JSONDecodeError: {error}",
            "  all of it: magnus logs r s",
        ], shown
    kept = magnus("logs", "r", "s").stdout
    assert 'json/decoder.py", line' in kept and kept.endswith(f"json.decoder.JSONDecodeError: {error}\n")


def test_a_chained_exceptions_tail_leaves_out_the_whole_chain(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: task, command: steps.chained, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 1, ran.stderr
    block = _block(ran.stdout, "s: RuntimeError: the config is broken")
    tail = [line for line in block if line.startswith("  | ")]
    assert tail == ["  | parsing config", "  | RuntimeError: the config is broken"], block
