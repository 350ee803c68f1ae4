"""Times in run logs carry their UTC offset; ordering and "newest" use true time; durations are true elapsed
time across a daylight-saving change; logs written without an offset (the original's) are still read."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from magnus_core.models.run_log import (
    StepAttempt,
    local_text,
    parse_time,
    seconds_between,
    time_key,
    time_span,
)
from magnus_core.runs import list_runs
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import ORIGINAL, run_magnus

OFFSET = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")

FAILING = """
dag:
  start_at: boom
  steps:
    boom: {type: task, command_type: shell, command: "exit 3", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_new_logs_write_times_with_their_offset(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(FAILING.replace("exit 3", "true"))
    done = run_magnus("execute", "--file", "p.yaml", "--json", cwd=tmp_path, env={"TZ": "Asia/Kolkata"})
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    times = [a["start_time"] for s in log["steps"].values() for a in s["attempts"]]
    times += [a["end_time"] for s in log["steps"].values() for a in s["attempts"]]
    times.append(log["run_config"]["process"]["started_at"])
    assert times and all(OFFSET.match(t) for t in times), times
    assert all(t.endswith("+05:30") for t in times), times


def test_runs_from_two_zones_are_listed_and_resumed_by_true_time(tmp_path: Path) -> None:
    """A laptop far east writes first (its wall clock says 23:00), an Argo pod in UTC writes second (its wall
    clock says 09:00 of the same day): the pod's run is the newer one, by true time."""
    (tmp_path / "p.yaml").write_text(FAILING)
    east = run_magnus(
        "execute", "--file", "p.yaml", "--run-id", "east", cwd=tmp_path, env={"TZ": "Etc/GMT-14"}
    )
    time.sleep(0.05)
    utc = run_magnus("execute", "--file", "p.yaml", "--run-id", "utc", cwd=tmp_path, env={"TZ": "UTC"})
    assert east.returncode == 1 and utc.returncode == 1, (east.stderr, utc.stderr)
    listed = run_magnus("runs", "--json", cwd=tmp_path, env={"TZ": "America/New_York"})
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == ["utc", "east"]
    # the wall-clock strings alone would have put "east" first
    starts = {r["run_id"]: r["start"] for r in json.loads(listed.stdout)["runs"]}
    assert starts["east"] > starts["utc"]
    # --use-cached with no run id re-runs the newest failed run: the pod's
    again = run_magnus("execute", "--file", "p.yaml", "--use-cached", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["original_run_id"] == "utc", again.stderr


def test_logs_without_an_offset_are_read_as_local_time_and_sort_with_the_others(tmp_path: Path) -> None:
    store = FileSystemRunLogStore({"log_folder": str(tmp_path)})
    original = next((ORIGINAL / "run_logs").glob("*.json"))
    naive = json.loads(original.read_text())
    naive["run_id"] = "naive"
    (tmp_path / "naive.json").write_text(json.dumps(naive))
    first = next(a["start_time"] for s in naive["steps"].values() for a in s["attempts"])
    assert parse_time(first) is not None and parse_time(first).tzinfo is not None
    aware = json.loads(json.dumps(naive))
    aware["run_id"] = "aware"
    later = datetime.now().astimezone(timezone(timedelta(hours=-7)))
    for step in aware["steps"].values():
        for attempt in step["attempts"]:
            attempt["start_time"] = attempt["end_time"] = str(later)
    (tmp_path / "aware.json").write_text(json.dumps(aware))
    runs = list_runs(store)
    assert [r.run_id for r in runs] == ["aware", "naive"]
    assert all(r.duration is not None for r in runs)


def test_duration_across_the_autumn_clock_change_is_the_true_elapsed_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Europe/Berlin, 2026-10-25: 02:59 CEST, then (two minutes later) 02:01 CET. A naive clock would record a
    step lasting minus 58 minutes."""
    import time_machine

    monkeypatch.chdir(tmp_path)
    mod = f"dst_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{mod}.py").write_text("import dst_hook\ndef work():\n    dst_hook.shift()\n")
    traveller_box: list[object] = []
    hook = type(sys)("dst_hook")
    hook.shift = lambda: traveller_box[0].shift(timedelta(minutes=2))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dst_hook", hook)
    (tmp_path / "p.yaml").write_text(
        f"dag:\n  start_at: work\n  steps:\n    work: {{type: task, command: {mod}.work, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    from magnus_core.runner import RunRequest, execute, prepare

    # a ZoneInfo destination makes time-machine set the local zone (TZ) too, for the duration
    start = datetime(2026, 10, 25, 2, 59, tzinfo=ZoneInfo("Europe/Berlin"))
    with time_machine.travel(start, tick=False) as traveller:
        traveller_box.append(traveller)
        log = execute(prepare(RunRequest(file="p.yaml")))
    attempt = log.steps["work"].attempts[0]
    # typed as aware datetimes in the model, written with their offsets in the JSON
    assert attempt.start_time is not None and attempt.end_time is not None
    assert attempt.start_time.utcoffset() == timedelta(hours=2)
    assert attempt.end_time.utcoffset() == timedelta(hours=1)
    written = attempt.model_dump(mode="json")
    assert written["start_time"].endswith("+02:00") and written["end_time"].endswith("+01:00"), written
    assert seconds_between(attempt.start_time, attempt.end_time) == 120.0 == attempt.seconds
    assert attempt.duration == "0:02:00"


def test_time_helpers_read_every_form_and_order_by_true_time() -> None:
    assert parse_time("") is None and parse_time("yesterday") is None and parse_time(None) is None
    assert parse_time("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert seconds_between("2026-01-01 10:00:00+00:00", "2026-01-01 12:30:00+02:00") == 1800.0
    assert time_key("2026-01-01 10:00:00+00:00") > time_key("2026-01-01 11:00:00+02:00")
    assert time_key("") == float("-inf")
    attempts = [
        StepAttempt(start_time="2026-01-01 11:00:00+02:00", end_time="2026-01-01 11:10:00+02:00"),
        StepAttempt(start_time="2026-01-01 09:30:00+00:00", end_time="2026-01-01 09:40:00+00:00"),
    ]
    assert time_span(attempts) == ("2026-01-01 11:00:00+02:00", "2026-01-01 09:40:00+00:00")
    shown = local_text("2026-01-01 10:00:00+00:00")
    assert shown == datetime(2026, 1, 1, 10, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns", "Europe/Paris"]
)
def test_now_is_the_local_time_with_the_zone_python_gives(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """models.run_log.now asks for the local zone once a minute (issue 19): it must still give what
    datetime.now().astimezone() gives, and follow a change of the process's zone at once."""
    from magnus_core.models.run_log import now

    now()  # the zone of the test process is cached first
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        ours, python = now(), datetime.now().astimezone()
        assert ours.tzinfo == python.tzinfo and ours.tzname() == python.tzname(), (ours, python)
        assert abs((python - ours).total_seconds()) < 1
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("zone", ["Europe/Paris", "Australia/Lord_Howe", "America/St_Johns"])
def test_local_text_of_times_written_here_across_offset_changes(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`magnus runs` shows a time written here as written, having asked once per hour whether its offset is
    this machine's (issue 19): across a daylight-saving change, and after the process's zone changed, every
    time is still shown as the local time of its instant."""
    from datetime import timedelta

    from magnus_core.models.run_log import fmt_time
    from magnus_core.models.times import local_texts

    instants = [
        datetime(year, month, day, tzinfo=UTC) + timedelta(seconds=293 * i)
        for year, month, day in ((2026, 3, 28), (2026, 10, 24), (2026, 4, 4), (2026, 10, 3), (2026, 11, 1))
        for i in range(600)  # two days around each change, every 293 s
    ]
    for tz in (zone, "UTC", zone):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        try:
            # "+11:00": Lord Howe goes from +10:30 to +11:00 at 15:30 UTC on 2026-10-04, mid-way through
            # the hour written 02:00-02:59+11:00: only its second half is local there
            writers = {"here": None, "in UTC": UTC, "+11:00": timezone(timedelta(hours=11))}
            for written, at in writers.items():
                texts = [fmt_time(t.astimezone(at)) for t in instants]
                expected = [t.astimezone().strftime("%Y-%m-%d %H:%M:%S") for t in instants]
                for _ in range(2):  # the second time from what the first one learned
                    assert local_texts(texts) == expected, (tz, written)  # the column `magnus runs` prints
                    assert [local_text(text) for text in texts] == expected, (tz, written)
                odd = ["", "not a time", texts[0].replace(" ", "T"), texts[0][:19], texts[0][:25] + "Z"]
                assert local_texts(odd) == [local_text(text) for text in odd]
        finally:
            monkeypatch.undo()
            time.tzset()


def test_a_runs_duration_is_the_same_float_as_the_workbench_subtraction() -> None:
    """run_span (the run index, `magnus runs`, `magnus show`) and the run screen (datetime subtraction)
    give one duration: the difference of two seconds-since-epoch floats read 85.4ms where the run screen
    read 85.3ms (a flaky test_a_reruns_duration_is_the_same_everywhere)."""
    from magnus_core.models.times import run_span
    from magnus_core.table import fmt_seconds

    start = datetime(2026, 11, 30, 17, 0, 1, tzinfo=timezone(timedelta(hours=1)))
    for gap, micro in ((85_350, 0), (85_350, 4), (1_234_567, 17), (0, 0)):
        first = start + timedelta(microseconds=micro)
        end = first + timedelta(microseconds=gap)
        exact = (end - first).total_seconds()
        seconds = run_span(str(first), [str(first)], [str(end)])[2]
        assert seconds == exact and fmt_seconds(seconds) == fmt_seconds(exact)
    assert fmt_seconds(run_span(str(start), [], [str(start + timedelta(microseconds=85_350))])[2]) == "85.3ms"
