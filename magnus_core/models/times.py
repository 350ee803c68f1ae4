"""Run-log times read without pydantic (run_log.py's models use them; so does the plain reading of a diff).

parse_time(text) -> datetime | None    a run-log time as an aware datetime (naive text: local time)
since_epoch(text) -> timedelta | None  the same instant as the true time since the epoch (durations)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_LOCAL = datetime(1970, 1, 1)


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
