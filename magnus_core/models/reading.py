"""Reading run-log JSON (a file, its bytes, or the parsed value) into a RunLog, never trusting it.

    load_run_log(path) -> RunLog              a run-log file (a regular file, at most MAX_RUN_LOG_BYTES)
    run_log_from_json(raw, source) -> RunLog  the bytes of a run log (fast one pass, else the careful way)
    parse_run_log_json(raw, source) -> Any    the JSON value of a run log or a part of one (stores' parts)
    run_log_from_dict(data, source) -> RunLog a parsed value checked by the models

Every fault is a RunLogError naming the file (`source`) and, where there is one, the field. Here and not in
the file-system store so that reading a log (`magnus diff A.json B.json`, the chunked store's parts) does
not import a store: stores.file_system re-exports these names.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.errors import RunLogError
from magnus_core.gcpause import paused
from magnus_core.paths import read_regular_file
from magnus_core.settings import DEFAULT_MAX_RUN_LOG_MB, lenient, max_run_log_bytes

if TYPE_CHECKING:  # (imported where a RunLog is made: reading a plain log needs no pydantic model)
    from magnus_core.models.run_log import RunLog

# Reading a run log costs about 6x its size in memory; past this, refuse with a clear error instead.
# (MAGNUS_MAX_RUN_LOG_MB: settings.max_run_log_bytes; a bad value is refused by settings.check before any
# command runs)
MAX_RUN_LOG_BYTES = int(lenient(max_run_log_bytes, DEFAULT_MAX_RUN_LOG_MB * 1024 * 1024))


# Run logs magnus writes nest at most about 150 levels (pipelines nest at most 20 composite steps, parameter
# values at most 64 levels: see loading.MAX_NESTING and parameters.MAX_VALUE_DEPTH); deeper JSON is refused
# on reading, so nothing downstream (a diff, a re-run writing it again) meets recursion limits. The limit is
# that of pydantic-core's JSON parser (containers inside the outermost one, at most 201 levels below it), so
# the fast reading (run_log_from_json, the run index's from_json) and the careful one refuse the same logs.
MAX_RUN_LOG_DEPTH = 201
# A lone UTF-16 surrogate: as a JSON escape (\ud800) or as raw bytes json.loads lets through (ED A0..BF ..).
_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def load_run_log(path: str | Path) -> RunLog:
    """Read a run-log JSON file, or raise a RunLogError saying which file and which field is wrong.

    Never trusts the file: a FIFO or a device is refused before it is read, at most MAX_RUN_LOG_BYTES are
    read (MAGNUS_MAX_RUN_LOG_MB), and every fault of the content (see parse_run_log_json) is a RunLogError.
    """
    raw = read_run_log_bytes(path)
    with paused():  # about a million acyclic objects for 10,000 steps (magnus_core/gcpause.py)
        return run_log_from_json(raw, str(path))


def read_run_log_bytes(path: str | Path) -> bytes:
    """The bytes of a run-log file, read the one way every reader reads them (load_run_log, the plain
    reader): a regular file only (a FIFO or a device is refused before it is read), at most
    MAX_RUN_LOG_BYTES (MAGNUS_MAX_RUN_LOG_MB); every fault is a RunLogError naming the file."""
    return read_regular_file(
        path,
        limit=MAX_RUN_LOG_BYTES,
        what="run log",
        error=RunLogError,
        limit_hint=" (set MAGNUS_MAX_RUN_LOG_MB to read it)",
    )


def run_log_from_json(raw: bytes, source: str) -> RunLog:
    """A RunLog from the bytes of a run-log file, or a RunLogError naming `source` and what is wrong.

    pydantic-core parses and validates in one pass first (2.6x faster than json.loads and model_validate
    for a 10,000-step log: `magnus diff`, `get_run`). It refuses everything the careful reading refuses:
    nesting deeper than MAX_RUN_LOG_DEPTH (its parser's own limit), numbers of more than 4300 digits, text
    that is not UTF-8. Whatever it refuses, and whatever it reads in its own way (a lone surrogate, a byte
    order mark, a negative integer of 4300 digits), is read again the careful way (parse_run_log_json,
    run_log_from_dict), which reads it or names the fault: a bad log gets the same one-line error as before
    (tests/test_hostile_logs.py checks both ways at the limits)."""
    from pydantic import ValidationError

    from magnus_core.models.run_log import RunLog

    try:
        return RunLog.model_validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        pass
    return run_log_from_dict(parse_run_log_json(raw, source), source)


def parse_run_log_json(raw: bytes, source: str) -> Any:
    """The JSON value in `raw` (a run log, or a part of one), or a RunLogError naming `source`.

    Refused: text that is not JSON or not UTF-8, integers of more than 4300 digits (what Python converts),
    nesting deeper than MAX_RUN_LOG_DEPTH. Text that is not valid Unicode (a lone surrogate such as
    "\\ud800", which no terminal or JSON encoder can write) is read with U+FFFD in its place, so one odd
    character never makes a whole run unreadable. Every reader of run logs (stores, `runs`, `diff`, the
    workbench) goes through here.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise RunLogError(f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep", file=source) from None
    except UnicodeDecodeError:
        raise RunLogError("not UTF-8 text", file=source) from None
    except ValueError as exc:  # JSONDecodeError, and "Exceeds the limit (4300 digits)" for huge integers
        digits = re.search(r"value has (\d+) digits", str(exc))
        if digits and not isinstance(exc, json.JSONDecodeError):
            limit = sys.get_int_max_str_digits()
            raise RunLogError(
                f"holds a number with {digits.group(1)} digits (at most {limit} are read)", file=source
            ) from None
        if isinstance(exc, json.JSONDecodeError):  # `FILE: line N: what was expected`, as every error
            refused = RunLogError(f"not valid JSON: {json_problem(exc)}", file=source)
            refused.line = exc.lineno
            raise refused from None
        raise RunLogError(f"not valid JSON: {_first_line(exc)}", file=source) from None
    # fewer brackets than the limit cannot nest deeper than it: most logs skip the walk
    if raw.count(b"{") + raw.count(b"[") > MAX_RUN_LOG_DEPTH and _deeper_than(data, MAX_RUN_LOG_DEPTH):
        raise RunLogError(
            f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep (magnus never writes such a log)",
            file=source,
        )
    if _may_hold_surrogates(raw) and _SURROGATE.search(raw):
        data = _replace_surrogates(data)
    return data


def _may_hold_surrogates(raw: bytes) -> bool:
    """A fast pre-check (substring search) before the regular expression, 100x slower on a big log."""
    return b"\\ud" in raw or b"\\uD" in raw or b"\\Ud" in raw or b"\\UD" in raw or b"\xed" in raw


def json_problem(exc: json.JSONDecodeError) -> str:
    """What a JSON parser expected where it stopped, and the column (its line is the error's `line`, as
    for a YAML file): `expecting ',' delimiter at column 5` (json's `Expecting ...: line 3 column 5 (char
    20)`, whose line and place in parentheses read unlike magnus's other errors; trial 8)."""
    text = exc.msg[:1].lower() + exc.msg[1:]
    return f"{text} at column {exc.colno}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether nested dicts and lists go more than `limit` levels deep (level by level: no recursion, and
    the inner loop runs as a comprehension, about 80 ms for a 10,000-step log)."""
    if type(value) is not dict and type(value) is not list:
        return False
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            sub
            for item in level
            for sub in (item.values() if type(item) is dict else item)
            if type(sub) is dict or type(sub) is list
        ]
        if not level:
            return False
    return True


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def run_log_from_dict(data: Any, source: str) -> RunLog:
    """A RunLog from parsed JSON, or a RunLogError naming `source` and the first field that is wrong."""
    from pydantic import ValidationError

    from magnus_core.models.run_log import RunLog

    if not isinstance(data, dict):
        raise RunLogError(f"not a run log: expected a JSON object, got {type(data).__name__}", file=source)
    try:
        return RunLog.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RunLogError(f"not a run log: {err['msg'].lower()}", file=source, field=loc) from None
    except RecursionError:
        raise RunLogError("run log nested too deeply", file=source) from None
