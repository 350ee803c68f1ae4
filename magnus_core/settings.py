"""The settings magnus takes from environment variables, read and checked at once.

    check()                      # UsageError (exit 2) naming the variable when one holds a bad value

Each setting is read where it is used (MAGNUS_OUTPUT_CAP at every attempt: capture.output_cap;
MAGNUS_STOP_GRACE when a run stops its processes: processes.GRACE; MAGNUS_MAX_RUN_LOG_MB when a run log is
read: models/reading.MAX_RUN_LOG_BYTES). Read there alone, a bad value was found only after the run log
existed: trial 10 found `MAGNUS_OUTPUT_CAP=lots magnus execute ...` exit 2 yet leave a FAIL run whose step
stayed PROCESSING with no attempt and no reason. check() is called by every command before it does
anything (cli.run_guarded) and by runner.prepare and the per-step entry point before a run is created, so
a bad value is one line naming the variable and nothing is written. MAGNUS_YAML_CACHE and
MAGNUS_INDEX_DIR take any text (a folder, or `off`), and MAGNUS_PRM_* are parameters, checked with them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from magnus_core.errors import UsageError

OUTPUT_CAP = "MAGNUS_OUTPUT_CAP"
STOP_GRACE = "MAGNUS_STOP_GRACE"
MAX_RUN_LOG_MB = "MAGNUS_MAX_RUN_LOG_MB"

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30}
DEFAULT_STOP_GRACE = 5.0  # seconds a run's processes get to end once it stops, before SIGKILL
DEFAULT_MAX_RUN_LOG_MB = 256.0  # megabytes of a run-log file read at most


def parse_size(text: str | int, what: str) -> int:
    """`100MB`, `512k`, `1048576` -> bytes (powers of 1024); UsageError naming `what` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raw = str(text).strip().lower().replace(" ", "").removesuffix("ib")
        number = raw.rstrip("kmgb")
        unit = raw[len(number) :]
        try:
            value = int(float(number) * _UNITS[unit]) if number else -1
        except (ValueError, KeyError):
            value = -1
    if value < 0:
        # named once, in the message (as field=, an upper-case name read as a command-line argument: trial 7)
        raise UsageError(f"{what}: expected a size in bytes such as 100MB, 512KB or 1048576, got {text!r}")
    return value


def _number(name: str, text: str, expected: str, *, positive: bool) -> float:
    """`text` as a finite number, >= 0 (> 0 when `positive`); UsageError naming `name` otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise UsageError(f"{name}: expected {expected}, got {text!r}")
    return value


def stop_grace(text: str | None = None) -> float:
    """Seconds a stopped run's processes get between SIGTERM and SIGKILL: MAGNUS_STOP_GRACE (`text` when
    given), a number >= 0, default 5. UsageError naming the variable for anything else."""
    raw = os.environ.get(STOP_GRACE) if text is None else text
    if raw is None or raw == "":
        return DEFAULT_STOP_GRACE
    return _number(STOP_GRACE, raw, "a number of seconds such as 5 or 0.5", positive=False)


def max_run_log_bytes(text: str | None = None) -> int:
    """Bytes of a run-log file read at most: MAGNUS_MAX_RUN_LOG_MB (`text` when given) megabytes, a number
    > 0, default 256. UsageError naming the variable for anything else."""
    raw = os.environ.get(MAX_RUN_LOG_MB) if text is None else text
    megabytes = (
        DEFAULT_MAX_RUN_LOG_MB
        if raw is None or raw == ""
        else _number(MAX_RUN_LOG_MB, raw, "a number of megabytes such as 256 or 1024", positive=True)
    )
    return int(megabytes * 1024 * 1024)


def lenient(read: Callable[[], float], default: float) -> float:
    """read() for a module's constant at import: its default when the variable is bad, as check() refuses
    it before any command runs (an import never fails on a setting)."""
    try:
        return read()
    except UsageError:
        return default


def check() -> None:
    """Every setting above read and checked now: UsageError naming the first variable with a bad value
    (`MAGNUS_OUTPUT_CAP: expected a size in bytes such as 100MB, 512KB or 1048576, got 'lots'`). Costs an
    environment look-up per setting."""
    cap = os.environ.get(OUTPUT_CAP)
    if cap:
        parse_size(cap, OUTPUT_CAP)
    stop_grace()
    max_run_log_bytes()
