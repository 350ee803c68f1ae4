"""The file-system store writes a run log made again only where it changed (stores/log_text.py, issue 19):
its file must be, byte for byte, what `model_dump_json(indent=4)` of the live log gives, after every write of
every kind (steps begun and committed, retries, composites with branches written in place, run-level fields,
a step replaced after it was finished), for logs of every shape (hypothesis)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magnus_core.models.run_log import (
    FAIL,
    PROCESSING,
    SUCCESS,
    AttemptError,
    AttemptOutput,
    BranchLog,
    DataCatalog,
    Frame,
    MetricPoint,
    RunLog,
    StepAttempt,
    StepLog,
)
from magnus_core.stores.file_system import FileSystemRunLogStore
from magnus_core.stores.log_text import RunLogText

# CI runs a few examples; MAGNUS_RUN_LOG_EXAMPLES=2000 for the full run (the figure in the s4-fslog note)
EXAMPLES = int(os.environ.get("MAGNUS_RUN_LOG_EXAMPLES", "25"))

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)  # any text but lone surrogates
NAMES = st.one_of(TEXT, st.sampled_from(["steps", "branches", "run_config", '"', "\\", "\n", "é", "a\tb"]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(NAMES, kids, max_size=3)),
    max_leaves=8,
)
TIMES = st.sampled_from(["", "2026-11-30 11:13:54.918943+00:00", "2026-03-29 01:59:59.5", "garbage"])
OUTPUTS = st.one_of(
    st.none(),
    st.builds(AttemptOutput),
    st.builds(AttemptOutput, name=TEXT, size=st.integers(0, 10**6), sha256=TEXT, written=st.integers(0, 9)),
)
ERRORS = st.one_of(
    st.none(),
    st.builds(
        AttemptError,
        type=TEXT,
        message=TEXT,
        frames=st.lists(st.builds(Frame, file=TEXT, line=st.integers(0, 99)), max_size=2),
        exit_code=st.one_of(st.none(), st.integers(-9, 9)),
    ),
)
ATTEMPTS = st.builds(
    StepAttempt,
    attempt_number=st.integers(0, 3),
    start_time=TIMES,
    end_time=TIMES,
    status=st.sampled_from([SUCCESS, FAIL]),
    message=TEXT,
    parameters=st.one_of(st.none(), st.dictionaries(NAMES, VALUES, max_size=3)),
    error=ERRORS,
    output=OUTPUTS,
)


@st.composite
def steps(draw: st.DrawFn, name: str) -> StepLog:
    """A leaf step log: retries (several attempts), metrics and their history, returned parameters, data."""
    extra = draw(st.dictionaries(st.sampled_from(["x_future", "zz"]), VALUES, max_size=1))
    return StepLog(
        name=name.rsplit(".", 1)[-1],
        internal_name=name,
        status=draw(st.sampled_from([SUCCESS, FAIL, PROCESSING])),
        message=draw(TEXT),
        attempts=draw(st.lists(ATTEMPTS, max_size=3)),
        user_defined_metrics=draw(st.dictionaries(NAMES, VALUES, max_size=2)),
        metric_history=draw(
            st.dictionaries(
                NAMES, st.lists(st.builds(MetricPoint, step=st.integers(1, 9), value=VALUES)), max_size=1
            )
        ),
        returned_parameters=draw(st.dictionaries(NAMES, VALUES, max_size=2)),
        masked_parameters=draw(st.lists(TEXT, max_size=1)),
        data_catalog=draw(st.lists(st.builds(DataCatalog, name=TEXT, data_hash=TEXT), max_size=1)),
        start_time=draw(st.one_of(st.none(), TIMES)),
        **extra,
    )


# One write of a run: what the engine does through the store, in any order.
STEP_NAMES = ["s0", 's"1', "s\\2", "é3", "s\n4", "s5"]  # keys JSON must escape, as it escapes values
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(0, 5), st.booleans()),  # begin or commit a top-level step
        st.tuples(st.just("composite"), st.integers(0, 2), st.booleans()),  # a composite (re)written
        st.tuples(st.just("branch"), st.integers(0, 2), st.booleans()),  # a branch of it and a step in it
        st.tuples(st.just("run"), st.integers(0, 3), st.booleans()),  # run-level fields
    ),
    min_size=1,
    max_size=16,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=OPS, data=st.data())
def test_the_file_is_the_whole_dump_after_every_write(
    ops: list[tuple[str, int, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = FileSystemRunLogStore({"log_folder": folder})
        store.min_interval = store.cost_factor = 0.0  # every write reaches the file
        run = RunLog(
            run_id="r",
            status=PROCESSING,
            tag=data.draw(TEXT),
            parameters=data.draw(st.dictionaries(NAMES, VALUES, max_size=3)),
            run_config=data.draw(st.dictionaries(NAMES, VALUES, max_size=3)),
        )
        store.create_run(run)
        path = Path(folder) / "r.json"

        def check() -> None:
            assert path.read_bytes() == store.get_run("r").model_dump_json(indent=4).encode()

        check()
        for op, number, flag in ops:
            if op == "step":
                step = data.draw(steps(STEP_NAMES[number]))
                if flag:
                    params = data.draw(st.one_of(st.none(), st.dictionaries(NAMES, VALUES, max_size=2)))
                    store.commit_step("r", step, parameters=params)
                else:
                    store.put_step_log("r", step)
            elif op == "composite":  # a finished one without branches may gain some later, in place
                holder = f"c{number}"
                status = SUCCESS if flag else PROCESSING
                store.put_step_log(
                    "r", StepLog(name=holder, internal_name=holder, step_type="map", status=status)
                )
            elif op == "branch":
                holder = f"c{number}"
                if holder not in store.get_run("r").steps:
                    continue
                branch = f"{holder}.b{flag}"
                status = data.draw(st.sampled_from([PROCESSING, SUCCESS]))
                store.put_branch_log("r", BranchLog(internal_name=branch, status=status), holder)
                check()
                store.commit_step("r", data.draw(steps(f"{branch}.x{number}")), branch)
            else:
                fields: dict[str, Any] = {"status": data.draw(st.sampled_from([PROCESSING, SUCCESS, FAIL]))}
                if number == 1:
                    fields["run_config"] = data.draw(st.dictionaries(NAMES, VALUES, max_size=2))
                if number == 2:
                    fields["parameters"] = data.draw(st.dictionaries(NAMES, VALUES, max_size=2))
                if number == 3:
                    fields["masked_parameters"] = data.draw(st.lists(TEXT, max_size=2))
                store.update_run("r", **fields)
            check()
        store.close("r")
        assert path.read_bytes() == store.get_run("r").model_dump_json(indent=4).encode()


def _linear(n: int) -> RunLog:
    run = RunLog(
        run_id="r", status=PROCESSING, run_config={"dag": {"steps": {f"s{i}": {} for i in range(n)}}}
    )
    for i in range(n):
        run.steps[f"s{i}"] = StepLog(name=f"s{i}", internal_name=f"s{i}", status=SUCCESS)
    return run


def test_a_run_written_from_its_start_makes_its_run_config_once() -> None:
    """A run this process creates (no step at its first write) keeps the text of its run_config from that
    first write: later writes make only the steps new since the last."""
    texts = RunLogText()
    run = RunLog(
        run_id="r", status=PROCESSING, run_config={"dag": {"steps": {f"s{i}": {} for i in range(9)}}}
    )
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1  # run_config
    for i in range(3):
        run.steps[f"s{i}"] = StepLog(name=f"s{i}", internal_name=f"s{i}", status=SUCCESS)
        assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1  # the new step only


def test_only_what_changed_is_serialised_again() -> None:
    """After its first writes (made whole), a call makes only the logs that are new since the last one: a
    step begun, the same step committed, a branch and its step; a step replaced among the finished ones
    makes the finished ones again (rare: a stop, a re-run), and the text stays the whole dump."""
    texts = RunLogText()
    run = _linear(50)
    for _ in range(2):  # the first two calls dump the log whole and keep nothing
        assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 0
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 51  # 50 steps and run_config
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 0
    run.steps["s50"] = StepLog(name="s50", internal_name="s50", status=PROCESSING)
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1
    run.steps["s50"] = StepLog(name="s50", internal_name="s50", status=SUCCESS)
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1
    # a finished step among the leading ones gains a branch in place: they are made again
    run.steps["f"] = StepLog(name="f", internal_name="f", step_type="parallel", status=SUCCESS)
    run.steps['q"uote'] = StepLog(name="q", internal_name='q"uote', status=SUCCESS)
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 2
    run.steps["f"].branches["f.1"] = BranchLog(internal_name="f.1", status=SUCCESS)
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 51  # s0..s49 again, and f.1
    # a composite, its branch and the branch's step are added in place (as the store does)
    composite = StepLog(name="m", internal_name="m", step_type="map", status=PROCESSING)
    run.steps["m"] = composite
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1
    branch = BranchLog(internal_name="m.1", status=PROCESSING)
    composite.branches["m.1"] = branch
    branch.steps["m.1.x"] = StepLog(name="x", internal_name="m.1.x", status=SUCCESS)
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 2
    run.run_config = {"changed": True}
    run.status = SUCCESS
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 1
    run.steps["s3"] = StepLog(name="s3", internal_name="s3", status=FAIL, message="stopped")
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 51  # s0..s50 again
    assert texts.text(run) == run.model_dump_json(indent=4) and texts.made == 0
