"""The filter language (MLflow's search syntax) and `magnus runs --where/--order-by/--params/--metrics/--csv`:
every operator on params, metrics, the tag and attributes, against a real index over a small store; bad
filters point at the column and exit 2; a name no run has gives no rows and the nearest names."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from magnus_core.index import RunQuery, open_index
from magnus_core.query import BoolOp, Compare, FilterError, Key, parse_filter, parse_order_by
from magnus_core.stores import make_store
from magnus_core.stores.base import RunLogStore
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import run_magnus
from tests.runlog_factory import make_log, store_config, write_log

RUNS = [
    # run id, minute, tag, status, params, metrics by step
    (
        "lr-1",
        1,
        "exp1",
        "SUCCESS",
        {"lr": 0.1, "optimizer": "adam", "layers": 2},
        {"train": {"loss": 0.40}, "evaluate": {"auc": 0.81}},
    ),
    (
        "lr-01",
        2,
        "exp1",
        "SUCCESS",
        {"lr": 0.01, "optimizer": "adamw", "layers": 2},
        {"train": {"loss": 0.20}, "evaluate": {"auc": 0.93}},
    ),
    (
        "lr-001",
        3,
        "exp1",
        "SUCCESS",
        {"lr": 0.001, "optimizer": "sgd", "layers": 3},
        {"train": {"loss": 0.30}, "evaluate": {"auc": 0.88}},
    ),
    ("other", 4, "exp2", "FAIL", {"lr": "0.1", "optimizer": "Adam"}, {"train": {"loss": 0.9}}),
    (
        "words",
        5,
        "",
        "SUCCESS",
        {"lr": 0.05},
        {"train": {"loss": "diverged", "note": "n/a"}, "evaluate": {"auc": 0.5, "loss": 0.6}},
    ),
]


WRITTEN_BEFORE = 1735689600.0  # 2025-01-01: the broken log was written before every run above started


@pytest.fixture
def files(tmp_path: Path) -> FileSystemRunLogStore:
    folder = tmp_path / "logs"
    for run_id, minute, tag, status, params, metrics in RUNS:
        write_log(
            folder, make_log(run_id, minute=minute, tag=tag, status=status, params=params, metrics=metrics)
        )
    (folder / "broken.json").write_text("{ not json")
    os.utime(folder / "broken.json", (WRITTEN_BEFORE, WRITTEN_BEFORE))  # listed by when it was written
    other = json.loads((folder / "other.json").read_text())
    other["steps"]["train"]["message"] = "ValueError: loss is\nnan"  # (a message of two lines)
    other["steps"]["train"]["attempts"][0].update(
        status="FAIL",
        message="ValueError: loss is\nnan",
        error={  # outermost frame first: the innermost one in the project is where it failed
            "type": "ValueError",
            "message": "loss is\nnan",
            "frames": [
                {"file": "train.py", "line": 29, "function": "fit", "text": "model.fit()"},
                {"file": "/venv/lib/python3.11/site-packages/nn.py", "line": 3, "function": "forward"},
            ],
        },
    )
    (folder / "other.json").write_text(json.dumps(other))
    return FileSystemRunLogStore({"log_folder": str(folder)})


@pytest.fixture(params=["file-system", "postgres"])
def store(request: pytest.FixtureRequest, files: FileSystemRunLogStore, store_block) -> RunLogStore:
    """The same runs in a file-system store (SQLite index in the cache folder) and in a postgres store
    (its own run_index table, queried with SQL): every filter means the same on both."""
    if request.param == "file-system":
        return files
    pg = make_store(store_block("postgres"))
    for run_id in files.list_run_ids():
        if run_id != "broken":
            pg.put_run(files.get_run(run_id))
    pg.db.run(  # a row that is not a run log (run_config must be a mapping): listed as BROKEN
        "test",
        lambda conn: conn.execute(
            pg._sql(
                "INSERT INTO {t}.runs (run_id, status, run_config, version, updated_at) "
                "VALUES (%s, %s, %s, 1, to_timestamp(%s))"
            ),
            ("broken", "SUCCESS", json.dumps("not a mapping"), WRITTEN_BEFORE),
        ),
    )
    return pg


def ids(store: RunLogStore, where: str, order: str = "") -> list[str]:
    index = open_index(store)
    try:
        result = index.query(RunQuery(where=parse_filter(where), order_by=parse_order_by(order)))
    finally:
        index.close()
    return [r.summary.run_id for r in result.runs]


# -- the parser ---------------------------------------------------------------------------------------------
def test_parse_tree_with_precedence_and_quoted_names() -> None:
    expr = parse_filter("metrics.auc > 0.9 or params.lr = 0.1 AND tag = 'exp1'")
    assert isinstance(expr, BoolOp) and expr.op == "or"
    assert expr.items[0] == Compare(Key("metric", "auc"), ">", 0.9, 1)
    assert isinstance(expr.items[1], BoolOp) and expr.items[1].op == "and"
    named = parse_filter("metrics.`evaluate step`.auc >= -1e-3")
    assert named == Compare(Key("metric", "evaluate step.auc"), ">=", -0.001, 1)
    assert parse_filter("params.\"my lr\" in (1, 'a')") == Compare(Key("param", "my lr"), "in", (1, "a"), 1)
    assert parse_filter("attributes.start_time > '2026-01-01'") == Compare(
        Key("attr", "start"), ">", "2026-01-01", 1
    )
    assert parse_filter("   ") is None
    assert [(o.key.name, o.descending) for o in parse_order_by("metrics.auc DESC, params.lr")] == [
        ("auc", True),
        ("lr", False),
    ]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("metrics.auc >", 14, "expected a number or a quoted string after '>'"),
        ("metrics.auc > 0.9 and", 22, "expected a key"),
        ("metrics.auc 0.9", 13, "expected an operator"),
        ("metrics.auc > 0.9)", 18, "unbalanced ')'"),
        ("(metrics.auc > 0.9", 19, "expected ')' to close the '(' at column 1"),
        ("params.opt = 'adam", 14, "the quote ' is never closed"),
        ("tags.x = 'a'", 1, "a run has one tag"),
        ("attributes.stauts = 'FAIL'", 1, "unknown attribute 'stauts' (did you mean status"),
        ("metric.auc like 5", 17, "LIKE takes a quoted pattern"),
        ("params.lr in 0.1", 14, "expected '(' after IN"),
        ("params.lr is 5", 14, "expected NULL after IS"),
        ("start > 5", 9, "attributes.start is a time"),
        ("metrics.auc = @", 15, "unexpected character '@'"),
        ("widgets.auc = 1", 1, "unknown kind 'widgets'"),
    ],
)
def test_bad_filters_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert info.value.column == column
    assert words in str(info.value)
    assert "\n" not in str(info.value)  # one line


# -- operators against a real index ---------------------------------------------------------------------
def test_metric_comparisons(store: RunLogStore) -> None:
    assert ids(store, "metrics.auc > 0.85") == ["lr-001", "lr-01"]
    assert ids(store, "metrics.auc >= 0.88 and metrics.auc <= 0.88") == ["lr-001"]
    assert ids(store, "metrics.auc != 0.93") == ["words", "lr-001", "lr-1"]
    assert ids(store, "metrics.auc < 0.6") == ["words"]


def test_a_run_metric_is_the_last_step_that_tracked_it(store: RunLogStore) -> None:
    # run `words`: train tracked loss "diverged", evaluate (later) tracked 0.6: the run's loss is 0.6
    assert ids(store, "metrics.loss = 0.6") == ["words"]
    assert ids(store, "metrics.train.loss = 'diverged'") == ["words"]
    assert ids(store, "metrics.evaluate.loss > 0.5") == ["words"]
    assert ids(store, "metrics.train.loss < 0.35") == ["lr-001", "lr-01"]


def test_params_compare_numbers_as_numbers_and_text_as_text(store: RunLogStore) -> None:
    assert ids(store, "params.lr = 0.1") == ["other", "lr-1"]  # the text '0.1' too, as MLflow would
    assert ids(store, "params.lr < 0.05") == ["lr-001", "lr-01"]  # 0.01 < 0.05 as numbers; text never
    assert ids(store, "params.lr = '0.01'") == ["lr-01"]  # MLflow's quoted form still finds the number
    assert ids(store, "params.layers > 2") == ["lr-001"]
    assert ids(store, "params.lr in (0.1, 0.001)") == ["other", "lr-001", "lr-1"]
    assert ids(store, "params.optimizer not in ('adam', 'sgd')") == ["other", "lr-01"]


def test_like_and_ilike(store: RunLogStore) -> None:
    assert ids(store, "params.optimizer like 'adam%'") == ["lr-01", "lr-1"]  # case-sensitive
    assert ids(store, "params.optimizer ilike 'adam%'") == ["other", "lr-01", "lr-1"]
    assert ids(store, "params.optimizer like '_gd'") == ["lr-001"]
    assert ids(store, "params.optimizer not like 'adam%'") == ["other", "lr-001"]
    assert ids(store, "attributes.run_id like 'lr-0%'") == ["lr-001", "lr-01"]


def test_null_tests(store: RunLogStore) -> None:
    assert ids(store, "metrics.auc is null") == ["other", "broken"]  # newest first; broken written before
    assert ids(store, "params.layers is not null") == ["lr-001", "lr-01", "lr-1"]


def test_tag_and_attributes(store: RunLogStore) -> None:
    assert ids(store, "tag = 'exp2'") == ["other"]
    assert ids(store, "attributes.tag != 'exp1' and attributes.status = 'success'") == ["words"]
    assert ids(store, "attributes.status = 'BROKEN'") == ["broken"]
    assert ids(store, "attributes.status in ('FAIL', 'BROKEN')") == ["other", "broken"]
    assert ids(store, "attributes.pipeline = 'train.yaml' and attributes.steps = 1") == ["other"]
    assert ids(store, "attributes.start > '2026-01-01 10:03:30'") == ["words", "other"]
    assert ids(store, "attributes.duration >= 4 and attributes.dirty = false") == [
        "words",
        "lr-001",
        "lr-01",
        "lr-1",
    ]
    assert ids(store, "commit = 'c0ffee' and (tag = 'exp2' or metrics.auc > 0.9)") == ["other", "lr-01"]


def test_a_running_runs_duration_is_filtered_and_ordered_as_it_is_shown(
    store: RunLogStore, files: FileSystemRunLogStore
) -> None:
    """A running run's duration is the time from its start to now in every listing; `--where` and
    `--order-by` on duration use that too, not the stored time to its last finished step (here from an
    hour ago to a step that ended in January, a negative time)."""
    from datetime import UTC, datetime, timedelta

    from magnus_core.models.run_log import RunLog
    from magnus_core.models.times import fmt_time
    from magnus_core.runs import process_record

    log = make_log("live", minute=50, tag="exp3", status="PROCESSING")
    log["run_config"]["process"] = {
        **process_record(),
        "started_at": fmt_time(datetime.now(UTC) - timedelta(hours=1)),
    }
    if store is files:
        write_log(Path(files.folder), log)
    else:
        store.put_run(RunLog.model_validate(log))
    assert ids(store, "attributes.duration > 3000") == ["live"]
    assert ids(store, "attributes.duration < 3000 and tag = 'exp3'") == []
    assert ids(store, "", "attributes.duration DESC")[:2] == ["live", "words"]
    index = open_index(store)
    try:
        (live,) = index.query(RunQuery(run_ids=["live"])).runs
    finally:
        index.close()
    assert live.summary.state == "RUNNING" and live.summary.duration is not None
    assert 3590 < live.summary.duration < 3700


def test_a_failed_runs_step_and_error_are_kept_and_filtered(store: RunLogStore) -> None:
    """The index keeps the first step that failed itself and its error on one line, worded as `magnus show`
    words it (logs.failures: the message, then where, the innermost frame of the project), on both stores;
    `attributes.failed_step` and `attributes.failure` filter on them."""
    from magnus_core.logs import failures

    index = open_index(store)
    try:
        runs = {r.summary.run_id: r.summary for r in index.query(RunQuery()).runs}
        table = index.table(RunQuery(status="fail"))  # `magnus runs --status FAIL`: under the table
        assert dict(zip(table.run_ids, table.failures, strict=True)) == {
            "other": "train: ValueError: loss is nan (at train.py:29 in fit)"
        }
        assert index.table(RunQuery()).failures == ()  # (not for other listings)
    finally:
        index.close()
    (shown,) = failures(store.get_run("other"))
    assert (runs["other"].failed_step, runs["other"].failure) == (
        "train",
        "ValueError: loss is nan (at train.py:29 in fit)",
    )
    assert shown.internal_name == "train" and shown.where == "train.py:29 in fit"
    assert " ".join(shown.message.split()) == "ValueError: loss is nan"
    assert {(s.failed_step, s.failure) for run_id, s in runs.items() if run_id != "other"} == {("", "")}
    assert ids(store, "attributes.failed_step = 'train'") == ["other"]
    assert ids(store, "attributes.failure LIKE '%at train.py:29%'") == ["other"]
    assert ids(store, "attributes.failure = ''") == ["words", "lr-001", "lr-01", "lr-1", "broken"]


def test_order_by_puts_runs_without_the_value_last(store: RunLogStore) -> None:
    assert ids(store, "", "metrics.auc DESC") == ["lr-01", "lr-001", "lr-1", "words", "other", "broken"]
    assert ids(store, "tag = 'exp1'", "params.lr") == ["lr-001", "lr-01", "lr-1"]
    assert ids(store, "tag = 'exp1'", "params.layers desc, metrics.auc") == ["lr-001", "lr-1", "lr-01"]


def test_a_name_no_run_has_gives_no_rows_and_the_nearest_names(store: RunLogStore) -> None:
    index = open_index(store)
    result = index.query(RunQuery(where=parse_filter("metrics.acu > 0.5")))
    index.close()
    assert result.runs == []
    assert result.hints == ["no run has metrics.acu; nearest: metrics.auc"]


# -- the command line ----------------------------------------------------------------------------------------
def test_runs_where_order_columns_json_and_csv(files: FileSystemRunLogStore, tmp_path: Path) -> None:
    cfg = store_config(tmp_path, files.folder)
    out = run_magnus(
        "runs", "-c", str(cfg), "--where", "tag = 'exp1'", "--order-by", "metrics.auc desc",
        "--params", "lr", "--metrics", "auc,train.loss", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[-3:] == ["params.lr", "metrics.auc", "metrics.train.loss"]
    assert [line.split()[0] for line in lines[1:]] == ["lr-01", "lr-001", "lr-1"]
    assert lines[1].split()[-3:] == ["0.01", "0.93", "0.2"]
    data = json.loads(
        run_magnus(
            "runs",
            "-c",
            str(cfg),
            "--where",
            "metrics.auc > 0.9",
            "--params",
            "--metrics",
            "--json",
            cwd=tmp_path,
        ).stdout
    )
    (run,) = data["runs"]
    assert run["run_id"] == "lr-01" and run["params"] == {"lr": 0.01, "optimizer": "adamw", "layers": 2}
    assert run["metrics"]["auc"] == 0.93 and run["metrics"]["evaluate.auc"] == 0.93
    assert run["steps_done"] == 2 and run["pipeline"] == "train.yaml" and run["commit"] == "c0ffee"
    text = run_magnus(
        "runs", "-c", str(cfg), "--tag", "exp1", "--metrics", "auc", "--csv", cwd=tmp_path
    ).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["run_id"], r["metrics.auc"]) for r in rows] == [
        ("lr-001", "0.88"),
        ("lr-01", "0.93"),
        ("lr-1", "0.81"),
    ]


def test_runs_bad_filter_exits_2_with_the_column(files: FileSystemRunLogStore, tmp_path: Path) -> None:
    cfg = store_config(tmp_path, files.folder)
    out = run_magnus("runs", "-c", str(cfg), "--where", "metrics.auc >> 1", cwd=tmp_path)
    assert out.returncode == 2
    assert (
        out.stderr.startswith("Error: --where 'metrics.auc >> 1': column 14")
        and "Traceback" not in out.stderr
    )
    order = run_magnus("runs", "-c", str(cfg), "--order-by", "metrics.auc sideways", cwd=tmp_path)
    assert order.returncode == 2 and "--order-by" in order.stderr and "column 13" in order.stderr
    both = run_magnus("runs", "-c", str(cfg), "--json", "--csv", cwd=tmp_path)
    assert both.returncode == 2


def test_runs_unknown_name_hint_on_stderr(files: FileSystemRunLogStore, tmp_path: Path) -> None:
    cfg = store_config(tmp_path, files.folder)
    out = run_magnus("runs", "-c", str(cfg), "--where", "params.learning_rate > 0", cwd=tmp_path)
    assert out.returncode == 0
    assert "No runs match --where" in out.stdout and "runs are in" in out.stdout  # none match, N exist
    assert "hint: no run has params.learning_rate; known params: layers, lr, optimizer" in out.stderr


def test_runs_columns_asked_for_by_a_name_no_run_has_get_the_hint(
    files: FileSystemRunLogStore, tmp_path: Path
) -> None:
    """Trial 22: `--params learning_rate --metrics acu` printed two empty columns and no hint, while the same
    names in --where or --order-by got one."""
    cfg = store_config(tmp_path, files.folder)
    out = run_magnus("runs", "-c", str(cfg), "--params", "learning_rate", "--metrics", "acu", cwd=tmp_path)
    assert out.returncode == 0
    assert "hint: no run has params.learning_rate; known params: layers, lr, optimizer" in out.stderr
    assert "hint: no run has metrics.acu; nearest: metrics.auc" in out.stderr
    known = run_magnus("runs", "-c", str(cfg), "--params", "lr", "--metrics", "*", cwd=tmp_path)
    assert known.returncode == 0 and "hint:" not in known.stderr


def test_postgres_answers_from_its_own_table_and_reads_only_runs_that_moved(
    files: FileSystemRunLogStore, store_block
) -> None:
    """The postgres store's index is a table of its schema, shared by everyone using the database: a second
    process (another team member) reads no run a first one indexed; a run written since is read again; a
    deleted run leaves the answers."""
    from magnus_core.index.postgres import PostgresRunIndex

    block = store_block("postgres")
    pg = make_store(block)
    for run_id in files.list_run_ids():
        if run_id != "broken":
            pg.put_run(files.get_run(run_id))
    index = open_index(pg)
    assert isinstance(index, PostgresRunIndex)
    assert index.refresh().read == 5
    assert index.refresh().read == 0
    other = open_index(make_store(block))  # another process, same database: nothing to read
    assert other.refresh().read == 0
    pg.attach("other")
    pg.update_run("other", tag="exp3")
    pg.close("other")
    assert other.refresh().read == 1
    assert [r.summary.run_id for r in other.query(RunQuery(tag="exp3")).runs] == ["other"]
    pg.db.run("test", lambda conn: conn.execute(pg._sql("DELETE FROM {t}.runs WHERE run_id = 'lr-1'")))
    assert ids(pg, "tag = 'exp1'") == ["lr-001", "lr-01"]
    names = other.names()
    assert names.params == ["layers", "lr", "optimizer"] and "evaluate.auc" in names.metrics
    pg.db.run(  # a row written just now that is not a run log: at the top, by when it was written
        "test",
        lambda conn: conn.execute(
            pg._sql(
                "INSERT INTO {t}.runs (run_id, status, run_config, version) VALUES ('crashed', 'X', '1', 1)"
            )
        ),
    )
    (first, *_) = other.query(RunQuery()).runs
    assert (first.summary.run_id, first.summary.status) == ("crashed", "BROKEN")


def test_postgres_index_reads_again_the_rows_an_older_kind_of_record_made(
    files: FileSystemRunLogStore, store_block
) -> None:
    """The postgres run index counts the kind of record each row holds (record.RECORD_VERSION), as the
    SQLite index keeps a schema version: rows an older magnus made (a smaller kind; 0 before kinds were
    counted) are read again by the next refresh and hold this magnus's record after it; rows of a newer kind
    are left alone, so two versions of magnus sharing a database do not read every run in turn."""
    from magnus_core.index.record import RECORD_VERSION

    pg = make_store(store_block("postgres"))
    for run_id in files.list_run_ids():
        if run_id != "broken":
            pg.put_run(files.get_run(run_id))
    index = open_index(pg)
    assert index.refresh().read == 5

    def set_kind(kind: int, where: str = "TRUE") -> None:
        pg.db.run(  # what an older (or newer) magnus left, with a wrong count to show it was kept or not
            "test",
            lambda c: c.execute(
                pg._sql(f"UPDATE {{t}}.run_index SET record = %s, steps = 99 WHERE {where}"), (kind,)
            ),
        )

    def kinds() -> dict[str, tuple[int, int]]:
        rows = pg.db.run(
            "test", lambda c: c.execute(pg._sql("SELECT run_id, record, steps FROM {t}.run_index")).fetchall()
        )
        return {run_id: (kind, steps) for run_id, kind, steps in rows}

    set_kind(0, "run_id IN ('lr-1', 'lr-01')")
    assert index.refresh().read == 2
    pg.db.run(  # a row of the kind before failures were kept (7): without them, read again
        "test",
        lambda c: c.execute(
            pg._sql(
                "UPDATE {t}.run_index SET record = 7, failed_step = '', failure = '' WHERE run_id = 'other'"
            )
        ),
    )
    assert index.refresh().read == 1
    (other,) = index.query(RunQuery(where=parse_filter("attributes.failed_step = 'train'"))).runs
    assert other.summary.failure == "ValueError: loss is nan (at train.py:29 in fit)"
    assert {k for k, (kind, steps) in kinds().items() if kind != RECORD_VERSION or steps == 99} == set()
    set_kind(RECORD_VERSION + 1)
    assert index.refresh().read == 0  # a newer kind: kept as it is
    assert {kind for kind, _ in kinds().values()} == {RECORD_VERSION + 1}
    index.close()


def test_runs_json_gives_a_failed_runs_step_and_error_masked_as_magnus_show_words_them(
    git_repo: Path, magnus
) -> None:
    """Real runs: a python step raising with a secret's value in its message, and a shell step exiting 6.
    `magnus runs --status FAIL --json` gives each run's failed step and its error on one line, the secret
    masked, worded as `magnus show` words it (the message, then where when the message does not say it)."""
    (git_repo / ".env").write_text("token=hunter22-secret\n")
    (git_repo / "steps.py").write_text(
        "def fit():\n    raise ValueError('loss is nan for hunter22-secret')\n"
    )
    for run_id, step in (
        ("py", "{type: task, command: steps.fit, next: success}"),
        ("sh", "{type: task, command_type: shell, command: 'exit 6', next: success}"),
    ):
        (git_repo / "p.yaml").write_text(
            f"secrets: {{type: dotenv}}\ndag:\n  start_at: fit\n  steps:\n    fit: {step}\n"
            "    success: {type: success}\n    fail: {type: fail}\n"
        )
        assert magnus("execute", "-f", "p.yaml", "--run-id", run_id).returncode == 1
    out = magnus("runs", "--status", "FAIL", "--json")
    assert out.returncode == 0, out.stderr
    assert "hunter22-secret" not in out.stdout
    found = {run["run_id"]: (run["failed_step"], run["failure"]) for run in json.loads(out.stdout)["runs"]}
    assert set(found) == {"py", "sh"}
    for run_id, (step, failure) in found.items():
        shown = magnus("show", run_id).stdout.splitlines()
        at = next(i for i, line in enumerate(shown) if line.startswith(f"{step}: "))
        words = shown[at].removeprefix(f"{step}: ")
        if shown[at + 1].startswith("  at "):
            words += f" (at {shown[at + 1].removeprefix('  at ')})"
        assert failure == words, (failure, shown)
    assert (
        found["py"][1].startswith("ValueError: loss is nan for ")
        and "(at steps.py:2 in fit)" in found["py"][1]
    )
    assert found["sh"] == ("fit", "shell command exited with code 6")
    listed = magnus("runs", "--status", "FAIL").stdout.splitlines()  # each failure under the table
    assert "sh: fit: shell command exited with code 6" in listed
    assert f"py: fit: {found['py'][1]}" in listed and "hunter22-secret" not in "\n".join(listed)
