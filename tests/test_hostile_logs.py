"""Hostile run logs: `magnus runs` and `magnus diff` list or compare everything they can and mark what they
cannot; one bad log never hides the others; nothing ends in "internal error".

Each trigger found by trying the product (issue 15) has its own case, for the file-system store and the
chunked-fs store, and one store mixes all of them with good logs. A hypothesis target then feeds run-log
JSON of every shape to the shared reading code, the summary, the comparison and the renderer.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magnus_core.diff import compare
from magnus_core.diff_render import render
from magnus_core.errors import MagnusError, RunLogError
from magnus_core.models.run_log import parse_time
from magnus_core.runs import list_runs, read_log
from magnus_core.stores.file_system import (
    MAX_RUN_LOG_DEPTH,
    FileSystemRunLogStore,
    load_run_log,
    parse_run_log_json,
    run_log_from_dict,
    run_log_from_json,
)
from tests.conftest import run_magnus

PIPELINE = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "true", next: p}
    p:
      type: parallel
      next: success
      branches:
        one:
          start_at: b
          steps:
            b: {type: stub, next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""
CHUNKED = "run_log_store: {type: chunked-fs, config: {log_folder: .chunks}}\n"


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good runs in each store, made once by the real command line."""
    from tests.conftest import git

    repo = tmp_path_factory.mktemp("made") / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "p.yaml").write_text(PIPELINE)
    (repo / "c.yaml").write_text(PIPELINE + CHUNKED)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    for run_id in ("good1", "good2"):
        assert run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=repo).returncode == 0
        assert run_magnus("execute", "-f", "c.yaml", "--run-id", run_id, cwd=repo).returncode == 0
    return repo


@pytest.fixture
def project(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "project"
    shutil.copytree(made, repo, symlinks=True)
    (repo / "chunked.yaml").write_text(CHUNKED)
    monkeypatch.chdir(repo)
    return repo


def good_json(project: Path) -> dict[str, Any]:
    return json.loads((project / ".run_log_store" / "good1.json").read_text())


def plant(project: Path, run_id: str, text: str | bytes) -> None:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    (project / ".run_log_store" / f"{run_id}.json").write_bytes(data)


def with_times(log: dict[str, Any], run_id: str, start: str, end: str) -> str:
    """The log with every attempt started at `start` and ended at `end`."""
    log = json.loads(json.dumps(log))
    log["run_id"] = run_id

    def visit(steps: dict[str, Any]) -> None:
        for step in steps.values():
            for attempt in step["attempts"]:
                attempt["start_time"], attempt["end_time"] = start, end
            for branch in step.get("branches", {}).values():
                visit(branch["steps"])

    visit(log["steps"])
    log["run_config"].pop("process", None)
    return json.dumps(log)


# -- the file-system store: each trigger -----------------------------------------------------------------
def hostile_file_logs(project: Path) -> dict[str, tuple[str | bytes, str | None]]:
    """run id -> (file content, the reason it is BROKEN, or None when it is readable and listed)."""
    good = json.dumps(good_json(project))
    return {
        "bigint": (
            good.replace('"good1"', '"bigint"').replace(
                '"parameters": {}', '"parameters": {"n": ' + "9" * 5000 + "}"
            ),
            "holds a number with 5000 digits (at most 4300 are read)",
        ),
        "mixed_tz": (
            with_times(good_json(project), "mixed_tz", "2024-01-01 10:00:00+00:00", "2024-01-01 10:00:05"),
            None,
        ),
        "surrogate_escape": (
            good.replace('"good1"', '"surrogate_escape"').replace('"tag": ""', '"tag": "x\\ud800y"'),
            None,
        ),
        "surrogate_bytes": (
            good.replace('"good1"', '"surrogate_bytes"')
            .encode()
            .replace(b'"tag": ""', b'"tag": "x\xed\xa0\x80y"'),
            None,
        ),
        "too_deep": (
            json.dumps(
                {**good_json(project), "run_id": "too_deep", "parameters": {"p": deep(MAX_RUN_LOG_DEPTH)}}
            ),
            f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep",
        ),
        "python_deep": ("[" * 100_000 + "]" * 100_000, "JSON nested more than"),
        "not_json": ("{nope", "not valid JSON"),
        "not_utf8": (b'{"run_id": "\xff"}', "not UTF-8 text"),
        "a_list": ("[1, 2]", "expected a JSON object"),
        "no_run_id": ('{"steps": {}}', "field 'run_id'"),
        "negative_pid": (
            json.dumps(
                {
                    **good_json(project),
                    "run_id": "negative_pid",
                    "status": "PROCESSING",
                    "run_config": {"process": {"pid": -1, "host": os.uname().nodename}},
                }
            ),
            None,
        ),
        "year_one": (
            with_times(good_json(project), "year_one", "0001-01-01 00:00:00", "9999-12-31 23:59:59"),
            None,
        ),
    }


def test_runs_lists_every_good_run_beside_every_hostile_log(project: Path) -> None:
    hostile = hostile_file_logs(project)
    for run_id, (text, _) in hostile.items():
        plant(project, run_id, text)
    result = run_magnus("runs", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    runs = {r["run_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["good1"]["status"] == runs["good2"]["status"] == "SUCCESS"
    assert set(runs) == {"good1", "good2", *hostile}
    for run_id, (_, reason) in hostile.items():
        if reason is None:
            assert runs[run_id]["status"] != "BROKEN", runs[run_id]
        else:
            assert runs[run_id]["status"] == "BROKEN"
            assert reason in runs[run_id]["broken_reason"], runs[run_id]["broken_reason"]
    assert runs["surrogate_escape"]["tag"] == runs["surrogate_bytes"]["tag"] == "x\ufffdy"
    assert runs["mixed_tz"]["duration"] is not None
    assert runs["negative_pid"]["state"] == "RUNNING"  # unknown: pid -1 never sent a signal to every process

    table = run_magnus("runs", cwd=project)  # the table too, and the reasons below it
    assert table.returncode == 0, table.stderr
    assert "internal error" not in table.stderr
    for run_id in ("good1", "good2", *hostile):
        assert run_id in table.stdout
    assert "bigint: .run_log_store/bigint.json: holds a number with 5000 digits" in table.stdout


@pytest.mark.parametrize("run_id", ["bigint", "too_deep", "python_deep", "not_json", "not_utf8", "a_list"])
def test_diff_against_an_unreadable_log_is_one_line_exit_2(project: Path, run_id: str) -> None:
    text, reason = hostile_file_logs(project)[run_id]
    plant(project, run_id, text)
    for args in (
        ("good1", run_id),
        (run_id, "good1"),
        (".run_log_store/good1.json", f".run_log_store/{run_id}.json"),
    ):
        result = run_magnus("diff", *args, cwd=project)
        assert result.returncode == 2, result.stderr
        assert reason is not None and reason in result.stderr
        assert "internal error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "run_id", ["mixed_tz", "surrogate_escape", "surrogate_bytes", "negative_pid", "year_one"]
)
@pytest.mark.parametrize("as_json", [False, True])
def test_diff_compares_odd_but_readable_logs(project: Path, run_id: str, as_json: bool) -> None:
    text, _ = hostile_file_logs(project)[run_id]
    plant(project, run_id, text)
    for args in (("good1", run_id), (run_id, "good1"), (run_id, run_id)):
        result = run_magnus("diff", *args, *(["--json"] if as_json else []), cwd=project)
        assert result.returncode == 0, result.stderr
        assert "internal error" not in result.stderr
        if as_json:
            assert json.loads(result.stdout)["schema"] == "magnus-diff/2"


def test_diff_on_a_tag_with_a_lone_surrogate_shows_a_replacement_character(project: Path) -> None:
    plant(project, "s", hostile_file_logs(project)["surrogate_escape"][0])
    result = run_magnus("diff", "good1", "s", "--json", cwd=project)
    tag = next(c for c in json.loads(result.stdout)["groups"]["run"]["changes"] if c["key"] == "tag")
    assert (tag["before"], tag["after"]) == ("", "x\ufffdy")


def test_mixed_offsets_give_the_true_duration(project: Path) -> None:
    """10:00:05 local, against 10:00:00 UTC: the duration is computed, naive times being local time."""
    plant(
        project,
        "m",
        with_times(good_json(project), "m", "2024-01-01 10:00:00+00:00", "2024-01-01 10:00:05"),
    )
    summary = next(s for s in list_runs(FileSystemRunLogStore()) if s.run_id == "m")
    assert summary.status == "SUCCESS"
    local = parse_time("2024-01-01 10:00:05")
    utc = parse_time("2024-01-01 10:00:00+00:00")
    assert local is not None and utc is not None
    assert summary.duration == pytest.approx((local - utc).total_seconds())


def test_parse_time_reads_both_forms_and_refuses_nothing_by_raising() -> None:
    naive, offset = parse_time("2024-01-01 10:00:00"), parse_time("2024-01-01 10:00:00+02:00")
    assert naive is not None and offset is not None
    assert naive.tzinfo is not None and offset.utcoffset() is not None
    assert (naive < offset) in (True, False)  # comparable
    for text in ("", "garbage", "2024-13-45", None):
        assert parse_time(text) is None


# -- the chunked-fs store: corrupted parts -----------------------------------------------------------------
def chunked_part(project: Path, run_id: str, sub: str, name: str) -> Path:
    return project / ".chunks" / run_id / sub / name


def corrupt_chunked(project: Path) -> dict[str, str]:
    """Copies of good1 in the chunked store, each with one corrupted part; run id -> the expected reason."""
    reasons: dict[str, str] = {}

    def copy(run_id: str) -> Path:
        shutil.copytree(project / ".chunks" / "good1", project / ".chunks" / run_id)
        meta = project / ".chunks" / run_id / "RunLog.json"
        meta.write_text(meta.read_text().replace('"good1"', f'"{run_id}"'))
        return project / ".chunks" / run_id

    step_a = "a.json"
    for run_id, seq in (
        ("seq_text", '"x"'),
        ("seq_negative", "-5"),
        ("seq_float", "1.5"),
        ("seq_list", "[1]"),
    ):
        folder = copy(run_id)
        part = json.loads((folder / "steps" / step_a).read_text())
        (folder / "steps" / step_a).write_text(
            json.dumps(part).replace(f'"_seq": {part["_seq"]}', f'"_seq": {seq}')
        )
        reasons[run_id] = "field '_seq': not a run-log part: expected a whole number >= 0"
    folder = copy("part_too_deep")
    (folder / "steps" / "zz.json").write_text(
        json.dumps({"internal_name": "zz", "name": "zz", "x": deep(300)})
    )
    reasons["part_too_deep"] = f"JSON nested more than {MAX_RUN_LOG_DEPTH} levels deep"
    folder = copy("part_python_deep")
    (folder / "steps" / "zz.json").write_text("[" * 100_000 + "]" * 100_000)
    reasons["part_python_deep"] = "JSON nested more than"
    folder = copy("part_bigint")
    (folder / "parameters").mkdir(exist_ok=True)
    (folder / "parameters" / "n.json").write_text('{"key": "n", "value": ' + "7" * 4400 + "}")
    reasons["part_bigint"] = "holds a number with 4400 digits"
    folder = copy("parent_loop")
    for i in range(3):  # s0 in branch b0, whose step is s1, in branch b1 ... back to s0
        (folder / "steps" / f"s{i}.json").write_text(
            json.dumps({"name": f"s{i}", "internal_name": f"s{i}", "_parent": f"b{i}"})
        )
        (folder / "branches" / f"b{i}.json").write_text(
            json.dumps({"internal_name": f"b{i}", "_parent": f"s{(i + 1) % 3}"})
        )
    reasons["parent_loop"] = "or its parents form a loop"
    folder = copy("nested_chain")
    (folder / "steps" / "s0.json").write_text(
        json.dumps({"name": "s0", "internal_name": "s0", "_parent": None})
    )
    for i in range(1, 60):  # a step inside a branch inside a step ... 60 levels
        (folder / "branches" / f"b{i}.json").write_text(
            json.dumps({"internal_name": f"b{i}", "_parent": f"s{i - 1}"})
        )
        (folder / "steps" / f"s{i}.json").write_text(
            json.dumps({"name": f"s{i}", "internal_name": f"s{i}", "_parent": f"b{i}"})
        )
    reasons["nested_chain"] = "nested more than 32 levels deep"
    folder = copy("parent_not_a_name")
    part = json.loads((folder / "steps" / step_a).read_text())
    part["_parent"] = ["x"]
    (folder / "steps" / step_a).write_text(json.dumps(part))
    reasons["parent_not_a_name"] = "field '_parent'"
    folder = copy("key_not_a_name")
    (folder / "parameters").mkdir(exist_ok=True)
    (folder / "parameters" / "k.json").write_text('{"key": [1], "value": 2}')
    reasons["key_not_a_name"] = "field 'key'"
    folder = copy("internal_name_list")
    (folder / "branches" / "x.json").write_text('{"internal_name": ["x"], "_parent": "p"}')
    reasons["internal_name_list"] = "not a run-log part"
    folder = copy("meta_fifo")
    (folder / "RunLog.json").unlink()
    os.mkfifo(folder / "RunLog.json")
    reasons["meta_fifo"] = "FIFO"
    return reasons


def test_runs_lists_every_good_chunked_run_beside_corrupted_ones(project: Path) -> None:
    reasons = corrupt_chunked(project)
    result = run_magnus("runs", "--json", "-c", "chunked.yaml", cwd=project, timeout=60)
    assert result.returncode == 0, result.stderr
    runs = {r["run_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["good1"]["status"] == runs["good2"]["status"] == "SUCCESS"
    assert set(runs) == {"good1", "good2", *reasons}
    for run_id, reason in reasons.items():
        assert runs[run_id]["status"] == "BROKEN", run_id
        assert reason in runs[run_id]["broken_reason"], (run_id, runs[run_id]["broken_reason"])


@pytest.mark.parametrize("run_id", ["seq_text", "part_too_deep", "parent_loop", "nested_chain", "meta_fifo"])
def test_diff_of_a_corrupted_chunked_run_is_one_line_exit_2(project: Path, run_id: str) -> None:
    reasons = corrupt_chunked(project)
    result = run_magnus("diff", "good1", run_id, "-c", "chunked.yaml", cwd=project, timeout=60)
    assert result.returncode == 2, result.stderr
    assert reasons[run_id] in result.stderr
    assert "internal error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_workbench_lists_every_good_run_beside_hostile_logs(project: Path) -> None:
    from magnus_tui.source import Project

    for run_id, (text, _) in hostile_file_logs(project).items():
        plant(project, run_id, text)
    entries = Project.open(root=project).runs()
    states = {e.summary.run_id: e.summary.state for e in entries}
    assert states["good1"] == states["good2"] == "SUCCESS"
    assert states["bigint"] == "BROKEN" and states["mixed_tz"] == "SUCCESS"


def test_an_unforeseen_fault_is_reported_on_its_row(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault nobody foresaw (here: reading one run raises ZeroDivisionError) is that run's BROKEN reason;
    the run index lists every other run."""
    real_get, real_json = FileSystemRunLogStore.get_run, FileSystemRunLogStore.read_json

    def explode(real: Any) -> Any:
        def call(self: FileSystemRunLogStore, run_id: str) -> Any:
            if run_id == "good1":
                raise ZeroDivisionError("boom")
            return real(self, run_id)

        return call

    monkeypatch.setattr(FileSystemRunLogStore, "get_run", explode(real_get))
    monkeypatch.setattr(FileSystemRunLogStore, "read_json", explode(real_json))
    summaries = {s.run_id: s for s in list_runs(FileSystemRunLogStore())}
    assert summaries["good2"].state == "SUCCESS"
    assert summaries["good1"].state == "BROKEN" and "ZeroDivisionError: boom" in summaries["good1"].error


def test_a_log_copied_under_another_name_is_listed_by_that_name(project: Path) -> None:
    """The index keys a run by the name the store lists it by: a copy never replaces its original."""
    shutil.copy(project / ".run_log_store" / "good1.json", project / ".run_log_store" / "copy.json")
    summaries = {s.run_id: s.status for s in list_runs(FileSystemRunLogStore())}
    assert summaries == {"good1": "SUCCESS", "good2": "SUCCESS", "copy": "SUCCESS"}


# -- hypothesis: run-log JSON of every shape ---------------------------------------------------------------
# CI runs a small number of examples; set MAGNUS_RUN_LOG_EXAMPLES for the full run (the figure in
# /work/notes/issue-15.md and bench/RESULTS.md was made with 5,000).
EXAMPLES = int(os.environ.get("MAGNUS_RUN_LOG_EXAMPLES", "60"))
STORES = itertools.count()

KEYS = st.sampled_from(
    [
        "run_id",
        "status",
        "tag",
        "steps",
        "parameters",
        "run_config",
        "process",
        "pid",
        "host",
        "started_at",
        "name",
        "internal_name",
        "attempts",
        "start_time",
        "end_time",
        "branches",
        "data_catalog",
        "data_hash",
        "code_identities",
        "code_identifier",
        "user_defined_metrics",
        "dag",
        "schema_version",
        "_seq",
        "_parent",
    ]
)
TIMES = st.one_of(
    st.datetimes().map(str),
    st.datetimes(timezones=st.timezones()).map(str),
    st.sampled_from(["", "garbage", "0001-01-01 00:00:00", "9999-12-31 23:59:59+14:00"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**4000, max_value=10**4299),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "x\udfff", "\x1b[2J", "[bold]x[/bold]", "SUCCESS", "FAIL", "PROCESSING"]),
    TIMES,
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.one_of(KEYS, st.text(max_size=4)), kids, max_size=5)
    ),
    max_leaves=30,
)
ATTEMPT = st.fixed_dictionaries(
    {},
    optional={
        "start_time": TIMES,
        "end_time": TIMES,
        "status": SCALARS,
        "attempt_number": SCALARS,
        "parameters": VALUES,
    },
)
STEP = st.fixed_dictionaries(
    {"name": st.text(max_size=5), "internal_name": st.text(max_size=5)},
    optional={
        "status": SCALARS,
        "attempts": st.lists(ATTEMPT, max_size=3),
        "user_defined_metrics": st.dictionaries(st.text(max_size=4), VALUES, max_size=3),
        "data_catalog": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=4)}, optional={"data_hash": SCALARS}), max_size=2
        ),
        "code_identities": st.lists(st.dictionaries(KEYS, SCALARS, max_size=3), max_size=2),
        "mock": SCALARS,
    },
)
RUN_LOGS = st.fixed_dictionaries(
    {"run_id": st.text(min_size=1, max_size=8)},
    optional={
        "status": SCALARS,
        "tag": SCALARS,
        "dag_hash": SCALARS,
        "steps": st.dictionaries(st.text(max_size=5), STEP, max_size=4),
        "parameters": st.dictionaries(st.text(max_size=5), VALUES, max_size=4),
        "run_config": st.one_of(
            st.dictionaries(KEYS, VALUES, max_size=4),
            st.fixed_dictionaries(
                {
                    "process": st.fixed_dictionaries(
                        {}, optional={"pid": SCALARS, "host": SCALARS, "started_at": TIMES}
                    )
                }
            ),
        ),
        "extra_field": VALUES,
    },
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(log=st.one_of(RUN_LOGS, VALUES), mangle=st.sampled_from(["json", "ascii", "truncate", "raw"]))
def test_any_run_log_json_is_listed_compared_and_shown_without_internal_error(
    tmp_path: Path, log: Any, mangle: str
) -> None:
    """Whatever JSON is in a store: the run index lists it (BROKEN with a reason, or the run) beside a good
    run and never raises; a readable log compares with a good one and itself, renders, and dumps as JSON."""
    folder = tmp_path / f"store-{next(STORES)}"  # a fresh store (and run index) for each example
    folder.mkdir(parents=True)
    text = json.dumps(log, ensure_ascii=mangle == "ascii", default=str)
    data = text.encode("utf-8", "surrogatepass")
    if mangle == "truncate":
        data = data[: len(data) // 2]
    (folder / "x.json").write_bytes(data)
    (folder / "ok.json").write_text(json.dumps({"run_id": "ok", "status": "SUCCESS"}))
    store = FileSystemRunLogStore({"log_folder": str(folder)})
    summaries = {s.run_id: s for s in list_runs(store)}
    assert summaries["ok"].status == "SUCCESS"
    summary = summaries["x"]
    read, reason = read_log(store, "x")
    assert summary.state != "BROKEN" or summary.error  # a BROKEN row always says why
    if read is None:
        # the index may still list what its lenient fast path could read (`status: null` as FAIL); the
        # models, which diff and re-runs use, refuse it with a reason
        assert reason
        with pytest.raises(RunLogError):
            load_run_log(folder / "x.json")
        return
    json.dumps(summary.to_json(), default=str).encode("utf-8")  # printable: no lone surrogate left
    good = load_run_log(folder / "ok.json")
    for a, b in ((good, read), (read, good), (read, read)):
        try:
            result = compare(a, b, repo=None)
        except MagnusError:
            continue
        json.dumps(result.to_json(include_equal=True), default=str).encode("utf-8")
        from rich.console import Console

        render(result, Console(file=io.StringIO(), width=80), show_all=True)


def _careful(raw: bytes) -> Any:
    """The careful reading (json.loads, the checks, the models): the dump of the RunLog, or its error."""
    try:
        return json.dumps(run_log_from_dict(parse_run_log_json(raw, "x"), "x").model_dump(mode="json"))
    except RunLogError as exc:
        return str(exc)


def _fast(raw: bytes) -> Any:
    """What magnus reads (run_log_from_json: pydantic-core's one pass first, the careful way for the rest)."""
    try:
        return json.dumps(run_log_from_json(raw, "x").model_dump(mode="json"))
    except RunLogError as exc:
        return str(exc)


def _nested(levels: int) -> bytes:
    """A run log whose deepest container is `levels` levels below the outermost object."""
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return f'{{"run_id": "r", "parameters": {{"p": {inner}}}}}'.encode()


@pytest.mark.parametrize(
    "raw",
    [
        _nested(MAX_RUN_LOG_DEPTH),
        _nested(MAX_RUN_LOG_DEPTH + 1),
        b'{"run_id": "r", "parameters": {"n": ' + b"9" * 4300 + b"}}",
        b'{"run_id": "r", "parameters": {"n": ' + b"9" * 4301 + b"}}",
        b'{"run_id": "r", "parameters": {"n": -' + b"9" * 4300 + b"}}",
        b'{"run_id": "r", "parameters": {"n": ' + b"9" * 4400 + b".5}}",
        b'{"run_id": "r", "tag": "x\\ud800y"}',
        b'{"run_id": "r", "tag": "x\xed\xa0\x80y"}',
        b'\xef\xbb\xbf{"run_id": "r"}',
        b'{"run_id": "r", "parameters": {"x": NaN, "y": -Infinity, "z": 1e400}}',
        b'{"run_id": "r", "parameters": {"x": 1, "x": 2}}',
        b'{"run_id": "r"} trailing',
        b'{"run_id": 5}',
        b"[1, 2]",
        b'{"run_id": "\xff"}',
    ],
    ids=lambda raw: raw[:40].decode("utf-8", "replace"),
)
def test_the_fast_reading_reads_and_refuses_exactly_what_the_careful_one_does(raw: bytes) -> None:
    """pydantic-core's one-pass reading (magnus diff, get_run) against json.loads + the models, at the limits
    where the two parsers differ: nesting depth, number sizes, surrogates, a byte order mark."""
    assert _fast(raw) == _careful(raw)


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(log=st.one_of(RUN_LOGS, VALUES), mangle=st.sampled_from(["json", "ascii", "truncate"]))
def test_any_run_log_json_reads_alike_the_fast_way_and_the_careful_way(log: Any, mangle: str) -> None:
    text = json.dumps(log, ensure_ascii=mangle == "ascii", default=str)
    raw = text.encode("utf-8", "surrogatepass")
    if mangle == "truncate":
        raw = raw[: len(raw) // 2]
    assert _fast(raw) == _careful(raw)
