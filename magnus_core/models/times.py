"""Run-log times, read, written and shown without pydantic: run_log.py's models use them (and re-export
them), so do the plain reading of a diff and the runs listing, which never import the models.

Run-log times are local times with their UTC offset (`2026-03-29 01:59:59.500000+01:00`, fmt_time); the
original tool's logs wrote them without one (local time).

parse_time(text) -> datetime | None    a run-log time as an aware datetime (naive text: local time)
since_epoch(text) -> timedelta | None  the same instant as the true time since the epoch (durations)
now(), fmt_time(t)                     the current time, and a time as a run log writes it
time_key(text), seconds_between(a, b)  seconds since the epoch (ordering), a duration
local_text(text), local_texts(texts)   a time as `magnus runs` shows it, in this machine's zone
run_span(started_at, starts, ends)     a run's start, end and duration: the one rule of every view
"""

from __future__ import annotations

import math
import operator
import time as _time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_LOCAL = datetime(1970, 1, 1)

# the clock magnus records with, bound when magnus is imported: a step that replaced time.time or
# time.localtime (freezegun left on, `time.time = lambda: 0.0`) and did not put it back gave every later
# step of the run log an end time of 1970 and negative durations (trial 19 F3)
_clock = _time.time
_localtime = _time.localtime


def parse_time(text: Any) -> datetime | None:
    """A time read from a run log as an aware datetime; None when absent or unreadable.

    Reads what fmt_time writes, ISO 8601 with `T` or `Z`, and times without an offset (the original's logs,
    and magnus before 0.5): those are taken as this machine's local time, the best guess there is."""
    if isinstance(text, datetime):
        value = text
    elif not isinstance(text, str) or not text:
        return None
    else:
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    if value.tzinfo is not None:
        return value
    try:
        return value.replace(tzinfo=_local_zone(value))
    except (OverflowError, OSError, ValueError):  # a year the platform's local-time functions refuse
        return None


_LOCAL_ZONES: dict[tuple[int, int, int, int, int, int], Any] = {}


def _local_zone(naive: datetime) -> Any:
    """The fixed UTC offset this machine's zone has at a naive local time, as `naive.astimezone()` finds it,
    asked once per minute of local time: offsets change only at whole minutes (a daylight-saving change),
    and a 10,000-step log written without offsets holds a few minutes, not 20,000 distinct ones (diff)."""
    key = (naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.fold)
    zone = _LOCAL_ZONES.get(key)
    if zone is None:
        if len(_LOCAL_ZONES) > 4096:
            _LOCAL_ZONES.clear()
        zone = _LOCAL_ZONES[key] = naive.astimezone().tzinfo
    return zone


def since_epoch(text: Any) -> timedelta | None:
    """The instant parse_time reads in a run-log time, as the true time since the epoch: a timedelta, exact
    to the microsecond, so `end - start` is the same duration parse_time's datetimes give. For durations
    and ordering of many times (a diff of 10,000 steps): a time written without an offset is not made an
    aware datetime (`.replace(tzinfo=...)` was two thirds of reading one). None when absent or unreadable."""
    if text.__class__ is str:
        try:
            moment: datetime | None = datetime.fromisoformat(text)
        except ValueError:
            moment = parse_time(text)  # with spaces around it, or not a time at all
    else:
        moment = parse_time(text)
    if moment is None:
        return None
    if moment.tzinfo is not None:
        return moment - _EPOCH
    try:
        offset = _local_zone(moment).utcoffset(moment)
    except (OverflowError, OSError, ValueError):  # a year the platform's local-time functions refuse
        return None
    return moment - _EPOCH_LOCAL - offset


def now() -> datetime:
    """The current time: local, with its UTC offset (an aware datetime), so that times written on machines
    in different zones compare as true time and a duration across a daylight-saving change is right.

    The same value as `datetime.now().astimezone()` (a `timezone` with the zone's offset and name), for a
    third of its cost: the local zone is asked once per minute (offsets change only at whole minutes) and
    again whenever time.tzset() changed the process's zone. A run asks for the time several times per step."""
    t = _clock()
    key = (int(t // 60), _time.timezone, _time.altzone, _time.tzname)
    cached = _NOW_ZONE
    if cached[0] != key:
        local = _localtime(t)
        cached = (key, timezone(timedelta(seconds=local.tm_gmtoff), local.tm_zone))
        globals()["_NOW_ZONE"] = cached  # (one tuple replaced at once: safe between threads)
    return datetime.fromtimestamp(t, cached[1])


_NOW_ZONE: tuple[Any, Any] = (None, None)


def fmt_time(t: datetime) -> str:
    """A time as the run log writes it: str(datetime) like the original (`2026-03-29 01:59:59.500000`),
    followed by the UTC offset (`+01:00`). A naive time is taken as this machine's local time."""
    return str(t if t.tzinfo is not None else t.astimezone())


def time_key(text: Any) -> float:
    """Seconds since the epoch of a run-log time, for ordering by true time ("newest" across zones);
    -inf when absent or unreadable (sorts oldest)."""
    value = parse_time(text)
    return value.timestamp() if value is not None else float("-inf")


def elapsed(start: Any) -> float | None:
    """Seconds from a running run's start (a run-log time) to now: its duration so far, as `magnus runs`,
    `magnus show` and the workbench give it (a running run has no end); None without a readable start."""
    value = parse_time(start)
    return None if value is None else max(0.0, _clock() - value.timestamp())


def seconds_between(start: Any, end: Any) -> float | None:
    """end - start in seconds (true elapsed time, whatever their offsets); None if either is unreadable."""
    a, b = parse_time(start), parse_time(end)
    return (b - a).total_seconds() if a is not None and b is not None else None


_WRITTEN_HERE: dict[str, bool] = {}  # a written hour and its offset -> the offset is this machine's then
_WRITTEN_HERE_ZONE: list[Any] = [None]  # the process's zone (as now() tells it) _WRITTEN_HERE was filled in


def local_text(text: Any) -> str:
    """A run-log time for display, to the second, in this machine's zone (`2026-03-29 03:00:01`): runs
    written in other zones line up with local ones. Unreadable text is shown as written (cut to 19)."""
    # fmt_time's text (`2026-03-29 01:59:59[.500000]+01:00`) written here: shown as written. Whether its
    # offset is this machine's is asked once per hour written (20,000 rows of `magnus runs`, a minute apart)
    key = text[:13] + text[-6:] if isinstance(text, str) and len(text) in (25, 32) and text[-3] == ":" else ""
    if key:
        zone = (_time.timezone, _time.altzone, _time.tzname)  # time.tzset() changes them
        if _WRITTEN_HERE_ZONE[0] != zone:
            _WRITTEN_HERE.clear()
            _WRITTEN_HERE_ZONE[0] = zone
        if _WRITTEN_HERE.get(key) and text[10] == " " and text[19] in ".+-":
            return text[:19]
    value = parse_time(text)
    if value is None:
        return str(text or "")[:19]
    if (  # written here (fmt_time: local time and its offset): the text is already local
        isinstance(text, str)
        and len(text) > 19
        and text[10] == " "
        and text[19] in ".+-"
        and value.utcoffset() == _local_offset(value)
    ):
        if key and key not in _WRITTEN_HERE:
            _WRITTEN_HERE[key] = _local_all_hour(value)
        return text[:19]
    try:
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # 9999-12-31 23:59+14:00 is past the calendar's end here
        return str(text)[:19]


def zone_key() -> str:
    """This process's local time zone as text: the TZ variable and the offsets and names the C library took
    from it (or from /etc/localtime). Processes with one key show every time alike (local_text): the run
    index keeps each run's start as shown in the zone of the process that indexed it, with this key."""
    import os

    return "|".join(
        map(str, (os.environ.get("TZ", ""), _time.timezone, _time.altzone, *_time.tzname, _time.daylight))
    )


def local_texts(texts: Iterable[Any]) -> list[str]:
    """local_text of each of `texts` (the start column of `magnus runs`: 20,000 of them), the same texts
    for a fraction of the cost: a time written here in an hour local_text has already checked (the usual
    case: every row after the first of its hour) is cut in this loop, without a call per row."""
    zone = (_time.timezone, _time.altzone, _time.tzname)  # as in local_text: time.tzset() changes them
    if _WRITTEN_HERE_ZONE[0] != zone:
        _WRITTEN_HERE.clear()
        _WRITTEN_HERE_ZONE[0] = zone
    here = _WRITTEN_HERE.get
    out: list[str] = []
    add = out.append
    for text in texts:
        if (
            text.__class__ is str
            and len(text) in (25, 32)
            and here(text[:13] + text[-6:])
            and text[-3] == ":"
            and text[10] == " "
            and text[19] in ".+-"
        ):
            add(text[:19])
        else:
            add(local_text(text))  # (which fills the cache for the next rows of that hour)
    return out


def _local_all_hour(value: datetime) -> bool:
    """Whether this machine's UTC offset is `value`'s from the start to the end of its hour as written:
    then every time written in that hour with that offset is local (a zone changes its offset at most once
    an hour, so the same offset at both ends means no change between them)."""
    if len(_WRITTEN_HERE) > 4096:
        _WRITTEN_HERE.clear()
    try:
        start = value.replace(minute=0, second=0, microsecond=0)
        return _local_offset(start) == value.utcoffset() == _local_offset(start + timedelta(seconds=3599))
    except (OverflowError, OSError, ValueError):  # at the ends of the calendar: ask per time
        return False


def _local_offset(value: datetime) -> timedelta:
    """This machine's UTC offset at the instant `value` (aware): the C library's localtime() of it, a
    fraction of astimezone()'s cost (`magnus runs` asks once per row)."""
    try:
        return timedelta(seconds=_localtime(value.timestamp()).tm_gmtoff)
    except (OverflowError, OSError, ValueError):
        return value.astimezone().utcoffset() or timedelta(0)


def _key(text: str) -> float | None:
    """time_key, faster on the common case: an ISO time with or without offset (naive: local time);
    None when unreadable."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, TypeError, OverflowError, OSError):
        key = time_key(text)
        return key if math.isfinite(key) else None


_TAIL = operator.itemgetter(slice(-6, None))  # where a time written with an offset has it


def _span(starts: list[str], ends: list[str]) -> tuple[str, str]:
    """The earliest start and latest end, by true time. Times written alike (same length, same UTC offset,
    as one run's are) compare as text; otherwise each is read as a time."""
    if not starts and not ends:
        return "", ""
    times = (*starts, *ends)
    if len(set(map(len, times))) == 1:  # (in C loops: the index reads the times of 20,000 runs)
        tails = set(map(_TAIL, times))
        # one UTC offset, or none (a naive time's last six characters are digits)
        if len(tails) == 1 or not any(len(tail) == 6 and tail[0] in "+-" for tail in tails):
            return (min(starts) if starts else ""), (max(ends) if ends else "")
    first = min(starts, key=lambda t: _key(t) or float("inf")) if starts else ""
    last = max(ends, key=lambda t: _key(t) or float("-inf")) if ends else ""
    return first, last


def run_span(started_at: str, starts: list[str], ends: list[str]) -> tuple[str, str, float | None]:
    """The one definition of a run's start, end and duration, used by the run index (`magnus runs`, the
    workbench's list), `magnus show` and the run screen (progress.run_times):

    - start: when its process recorded that the run began (run_config.process.started_at), else the
      earliest start of an attempt made in this run;
    - end: the latest end of an attempt made in this run;
    - duration: end - start in seconds (None without both).

    `starts`/`ends` are the run log's time strings of the attempts this run made: a step a re-run reused
    (`mock`) is left out by the caller, so its original's times never move the run's start or end (a reused
    step records no attempts, but its old start_time would otherwise read as this run's). Returns
    (start, end, duration)."""
    start, last, _, _, duration = run_span_keys(started_at, starts, ends)
    return start, last, duration


def run_span_keys(
    started_at: str, starts: list[str], ends: list[str]
) -> tuple[str, str, float | None, float | None, float | None]:
    """run_span with the start's and the end's keys (seconds since the epoch, None without that time):
    (start, end, start key, end key, duration)."""
    first, last = _span(starts, ends)
    start = started_at or first
    start_key = _key(start) if start else None
    end_key = _key(last) if last else None
    # to the microsecond run logs write: the difference of two keys (floats near 1.8e9, exact to 0.24us)
    # is off the true duration by a fraction of a microsecond, and read 85.3ms where the workbench's
    # datetime subtraction (timedelta.total_seconds) read 85.4ms; rounded, both are the same float
    duration = round(end_key - start_key, 6) if start_key is not None and end_key is not None else None
    return start, last, start_key, end_key, duration
