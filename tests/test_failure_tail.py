"""A python step that raises deep in a library: the summary and `magnus show` fold the library's frames of
the traceback into one line, so the step's own frames, its last printed lines and the exception's line stay
in the ten lines a failure shows (trial 21: json's decoder frames filled them and pushed `read 3 rows` and
the step's own frames out). The kept output, which `magnus logs` prints, keeps every frame. Real runs in
subprocesses, in a temporary git repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magnus_core.logs import fold_library_frames

STEPS = """import json
import logging

log = logging.getLogger("mylib")


def decode():
    logging.basicConfig(level=logging.INFO)
    log.info("loading data")
    print("read 3 rows", flush=True)
    return helper("{bad")


def helper(text):
    return json.loads(text)
"""

PIPELINE = """dag:
  start_at: d
  steps:
    d: {type: task, command: fl.decode, next: success}
    success: {type: success}
    fail: {type: fail}
"""

FOLDED = "  [magnus: 3 frames in libraries folded; magnus logs shows them]"


def _tail(text: str) -> list[str]:
    """The output lines a failure shows (`  | ...`) in a summary or `magnus show`."""
    return [line[4:] for line in text.splitlines() if line.startswith("  | ")]


def test_the_summary_folds_library_frames_and_keeps_the_steps_own(git_repo: Path, magnus: Any) -> None:
    (git_repo / "fl.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "t1")
    assert done.returncode == 1, done.stdout + done.stderr
    for shown in (done.stdout, magnus("show", "t1").stdout):
        tail = _tail(shown)
        assert tail[0] == "read 3 rows", shown
        assert '  File "fl.py", line 11, in decode' in tail and '  File "fl.py", line 15, in helper' in tail
        assert tail[-2:] == [
            FOLDED,
            "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)",
        ], shown
        assert not any("decoder.py" in line for line in tail), shown
    kept = magnus("logs", "t1", "d").stdout  # every frame kept
    assert kept.count("json/decoder.py") == 2 and "json/__init__.py" in kept and FOLDED.strip() not in kept


def test_only_library_frames_fold_and_each_run_of_them_is_one_line() -> None:
    import os
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    shared = os.path.join(os.sep, "srv", "shared", "helpers.py")  # (no path of this machine's)
    lines = [
        "Traceback (most recent call last):",
        '  File "steps.py", line 3, in f',
        "    g()",
        f'  File "{stdlib}/json/__init__.py", line 346, in loads',
        "    return _default_decoder.decode(s)",
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/opt/venv/lib/python3.11/site-packages/pandas/io.py", line 9, in read',
        "    x()",
        f'  File "{shared}", line 5, in mine',  # outside the project, not a library: kept
        "    raise KeyError('z')",
        '  File "<frozen importlib._bootstrap>", line 1, in _find',
        "KeyError: 'z'",
    ]
    assert fold_library_frames(lines) == [
        "Traceback (most recent call last):",
        '  File "steps.py", line 3, in f',
        "    g()",
        "  [magnus: 2 frames in libraries folded; magnus logs shows them]",
        f'  File "{shared}", line 5, in mine',
        "    raise KeyError('z')",
        "  [magnus: 1 frame in libraries folded; magnus logs shows them]",
        "KeyError: 'z'",
    ]
    assert fold_library_frames(["plain", "    indented, no frame"]) == ["plain", "    indented, no frame"]
