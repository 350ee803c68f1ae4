"""magnus_core/single_plain.py: the usual step run alone (`magnus execute_single_node`) without pydantic.

Each case runs one step twice, in two copies of one project whose run was started by the models: through
the plain path, and through the models' path (MAGNUS_PLAIN_STEP_OFF=1); the step's part file must be the same
text but for its times and creation order, with the same exit code and output. Then: a step process that
takes the plain path has no pydantic in sys.modules, and every case the plain path leaves to the models is
refused before anything is written (and still works)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from magnus_core import single_plain
from magnus_core.graph import PLACEHOLDER
from magnus_core.stores.parts import part_name
from tests.conftest import run_magnus

STEPS = """\
import os, sys, json

def first():
    return {"x": 1, "items": ["a", 2]}

def plus(x, item):
    return {"x": x + (item if isinstance(item, int) else 10), "seen": f"é {item}", "deep": [1.5, {"k": None}]}

def quiet(x):
    print("printed", x)

def boom(x):
    raise ValueError(f"bad x {x}")

def leave(x):
    sys.exit(int(os.environ.get("CODE", "3")) if os.environ.get("CODE", "3").isdigit() else os.environ["CODE"])

def odd():
    return {"o": object()}

def listed():
    return [1]

def big():
    return {"f": 1e20, "g": float("1e-7"), "h": 123456.25, "n": -0.0}

def metric(x):
    from magnus import track_this
    track_this(step=1, loss=0.5)
    track_this(auc=0.9)
    return {"x": x}

def asks(x):
    from magnus import get_parameter
    return {"y": get_parameter("nope")}

def secret(x):
    from magnus import get_secret
    return {"tok": get_secret("TOKEN"), "x": x}

def flaky(x):
    raise RuntimeError("always")

def lingers(x):
    import threading, time
    threading.Thread(target=time.sleep, args=(60,), name="forgotten").start()
    return {"x": x}

def work(x, item=0):
    return globals()[os.environ["WORK"]](**{k: v for k, v in (("x", x), ("item", item)) if k in WANTS[os.environ["WORK"]]})

WANTS = {"first": (), "plus": ("x", "item"), "quiet": ("x",), "boom": ("x",), "leave": ("x",), "odd": (),
         "listed": (), "big": (), "metric": ("x",), "asks": ("x",), "secret": ("x",), "flaky": ("x",),
         "lingers": ("x",)}
"""

PIPELINE = """\
dag:
  start_at: first
  steps:
    first: {type: task, command: steps.first, next: each}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: top
      branch:
        start_at: work
        steps:
          work: {type: task, command: steps.work, next: success}
          success: {type: success}
          fail: {type: fail}
    top: {type: task, command: steps.work, next: success, retry: 3}
    success: {type: success}
    fail: {type: fail}
"""
CONFIG = "run_log_store: {type: chunked-fs, config: {log_folder: runs}}\ncatalog: {type: do-nothing}\n"


@pytest.fixture(scope="module", autouse=True)
def no_credentials_in_the_environment() -> Any:
    """The plain path leaves a step to the models when a credential is in the environment (a secret known
    before the step), so these tests run without any: a test of another file in the same worker (the S3
    and PostgreSQL ones) may have left AWS_* or PGPASSWORD set in this process (CI failed 11 of these then)."""
    from magnus_core.credentials import ENVIRONMENT_CREDENTIALS, GOOGLE_KEY_FILE_VARIABLES

    with pytest.MonkeyPatch.context() as patch:
        for name in (*ENVIRONMENT_CREDENTIALS, *GOOGLE_KEY_FILE_VARIABLES):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose run `r` the models started: its first step done (then `top` may run)."""
    folder = tmp_path_factory.mktemp("started") / "p"
    folder.mkdir()
    (folder / "steps.py").write_text(STEPS)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "config.yaml").write_text(CONFIG)
    args = ["execute_single_node", "r", "first", "-c", "config.yaml", "--", "--seed=7"]
    result = run_magnus(*args, cwd=folder, env={"WORK": "first"})
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def fanned(started: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`started`, its map fanned out (then the map's items may run; `top` not: the map is PROCESSING)."""
    folder = _project(started, tmp_path_factory.mktemp("fanned") / "p")
    result = run_magnus("fan", "r", "each", "--mode", "out", "-c", "config.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def _project(started: Path, folder: Path) -> Path:
    shutil.copytree(started, folder)
    return folder


_TIMES = re.compile(
    r'"(start_time|end_time|time)":"[^"]*"|"duration":"[^"]*"|"_seq":\d+'
    r'|"process":\{"pid":\d+,"host":"[^"]*","start_time":[\d.]+\}'  # (each path's own process)
)


_LOGGED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", re.MULTILINE)


def _normal(text: str) -> str:
    return _TIMES.sub(lambda m: m.group(0).split(":", 1)[0] + ":T", text)


def _both(started: Path, tmp_path: Path, work: str, step: str, *, mv: Any = None,
          env: dict[str, str] | None = None) -> tuple[Any, Any, str, str]:  # fmt: skip
    """Run `step` (its function `work`) through both paths; (plain result, models result, their parts)."""
    plain = _project(started, tmp_path / "plain")
    models = _project(started, tmp_path / "models")
    args = ["execute_single_node", "r", step, "-c", "config.yaml"]
    if mv is not None:
        args += ["--map-variable", json.dumps(mv)]
    assert _plan(plain, step, map_variable=json.dumps(mv) if mv else None) is not None  # (the plain path)
    got = run_magnus(*args, cwd=plain, env={**(env or {}), "WORK": work})
    want = run_magnus(*args, cwd=models, env={**(env or {}), "WORK": work, single_plain.OFF: "1"})
    internal = step.replace(PLACEHOLDER, str(mv["item"])) if mv else step
    name = part_name(internal)
    return (
        got,
        want,
        (plain / "runs/r/steps" / name).read_text(),
        (models / "runs/r/steps" / name).read_text(),
    )


CASES = [
    ("plus", f"each.{PLACEHOLDER}.work", {"item": 2}, {}),
    ("boom", "top", None, {}),  # (retry: 3, three attempts with their located errors)
    ("leave", "top", None, {"CODE": "3"}),
    ("leave", "top", None, {"CODE": "no luck"}),
    ("odd", "top", None, {}),
    ("big", "top", None, {}),
    ("metric", "top", None, {}),
    ("secret", "top", None, {"TOKEN": "s3cr3t-value"}),
    ("lingers", "top", None, {}),  # (a thread left running: said, and the process does not wait for it)
]
if os.environ.get("MAGNUS_TEST_PLAIN_STEP_ALL") == "1":  # (CI runs the first eight: two processes each)
    CASES += [
        ("plus", "each.a.work", {"item": "a"}, {}),
        ("quiet", "top", None, {}),
        ("boom", f"each.{PLACEHOLDER}.work", {"item": 2}, {}),
        ("leave", "top", None, {"CODE": "0"}),
        ("listed", "top", None, {}),
        ("asks", "top", None, {}),
        ("secret", f"each.{PLACEHOLDER}.work", {"item": "a"}, {"TOKEN": "s3cr3t-value"}),
    ]


@pytest.mark.parametrize(("work", "step", "mv", "env"), CASES, ids=lambda v: str(v))
def test_the_plain_path_writes_what_the_models_write(
    started: Path, fanned: Path, tmp_path: Path, work: str, step: str, mv: Any, env: dict[str, str]
) -> None:
    got, want, plain, models = _both(fanned if mv else started, tmp_path, work, step, mv=mv, env=env)
    said = [_LOGGED.sub("T ", r.stderr) for r in (got, want)]  # (log lines begin with their time)
    assert (got.returncode, got.stdout, said[0]) == (want.returncode, want.stdout, said[1])
    assert ("left a thread running" in got.stderr) == (work == "lingers")
    assert _normal(plain) == _normal(models)
    assert "s3cr3t" not in plain
    # every file of the run the same (the metadata, the other parts), but for times and creation order
    runs = [{k: _normal(v) for k, v in _state(tmp_path / w / "runs").items()} for w in ("plain", "models")]
    assert runs[0] == runs[1]
    if work == "secret":  # recorded masked: the step says so, and at the top level the run's metadata
        assert json.loads(plain)["masked_parameters"] == ["tok"]
        meta = json.loads((tmp_path / "plain/runs/r/RunLog.json").read_text())
        assert meta.get("masked_parameters", []) == (["tok"] if step == "top" else [])


def test_a_step_process_on_the_plain_path_imports_no_pydantic(fanned: Path, tmp_path: Path) -> None:
    project = _project(fanned, tmp_path / "p")
    (project / "probe.py").write_text(
        "import atexit, json, sys\n"
        "atexit.register(lambda: json.dump(sorted(m for m in sys.modules if m.startswith(('pydantic', "
        "'magnus_core.models.run_log', 'magnus_core.models.pipeline', 'magnus_core.context'))), "
        "open('modules.json', 'w')))\n"
        "def plus(x, item):\n    return {'x': x + item}\n"
    )
    text = (
        (project / "pipeline.yaml")
        .read_text()
        .replace("steps.work, next: success}", "probe.plus, next: success}")
    )
    (project / "pipeline.yaml").write_text(text)
    result = run_magnus(
        "execute_single_node", "r", f"each.{PLACEHOLDER}.work", "-c", "config.yaml",
        "--map-variable", '{"item": 2}', cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((project / "modules.json").read_text()) == ["magnus_core.models.pipeline_table"]
    part = json.loads((project / "runs/r/steps" / part_name("each.2.work")).read_text())
    assert (part["status"], part["returned_parameters"]) == ("SUCCESS", {"x": 3})


def _plan(project: Path, step: str, **given: Any) -> Any:
    import os

    here = os.getcwd()
    os.chdir(project)
    try:
        options: dict[str, Any] = {
            "file": "pipeline.yaml", "config_file": "config.yaml", "parameters_file": None, "var_file": None,
            "map_variable": None, "tag": "", "parameters": None,
        }  # fmt: skip
        options.update(given)
        return single_plain.plan("r", step, **options)
    finally:
        os.chdir(here)


def _state(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): p.read_text() for p in sorted(project.rglob("*.json"))}


def test_what_the_plain_path_leaves_to_the_models_is_decided_before_anything_is_written(
    started: Path, fanned: Path, tmp_path: Path
) -> None:
    project = _project(started, tmp_path / "p")
    assert _plan(project, "top") is not None  # (the usual case is taken: the refusals below mean something)
    assert _plan(project, "top", parameters={"seed": 7}) is not None  # (what every pod of a workflow carries)
    assert _plan(fanned, f"each.{PLACEHOLDER}.work", map_variable='{"item": 2}') is not None
    assert _plan(fanned, "top") is None  # the map still PROCESSING: the models fail it as dead first
    assert _plan(project, f"each.{PLACEHOLDER}.work", map_variable='{"item": 2}') is None  # (not fanned out)
    before = _state(project)
    refused = {
        "a step already run": _plan(project, "first"),
        "a composite step": _plan(project, "each"),
        "a terminal step": _plan(project, "success"),
        "parameters the run did not start with": _plan(project, "top", parameters={"seed": 8}),
        "a variables file": _plan(project, "top", var_file="vars.yaml"),
        "no map item": _plan(fanned, f"each.{PLACEHOLDER}.work"),
        "a run that does not exist": single_plain.plan(
            "other", "top", file=str(project / "pipeline.yaml"), config_file=str(project / "config.yaml"),
            parameters_file=None, var_file=None, map_variable=None, tag="",
        ),
        "a step not in the dag": _plan(project, "nope"),
        "a bad map variable": _plan(project, "top", map_variable="{"),
    }  # fmt: skip
    for config, why in (
        ("run_log_store: {type: file-system, config: {log_folder: runs}}\n", "another store"),
        (CONFIG.replace("do-nothing", "file-system"), "a catalog that keeps output"),
        (CONFIG + "secrets: {type: dotenv}\n", "another secrets provider"),
        (CONFIG.replace("log_folder: runs", "log_folder: runs, extra: 1"), "an unknown store option"),
        (CONFIG + "executor: {type: local, config: {max_workers: 2}}\n", "executor options"),
    ):
        (project / "config.yaml").write_text(config)
        refused[why] = _plan(project, "top")
    (project / "config.yaml").write_text(CONFIG)
    (project / ".env").write_text("KNOWN=a-secret-value\n")
    refused["a secret known before the step"] = _plan(project, "top")
    (project / ".env").unlink()
    sibling = project / "runs/r/steps" / part_name("first")
    kept = sibling.read_text()
    sibling.write_text(kept.replace('"status":"SUCCESS"', '"status":"PROCESSING"'))
    refused["a sibling PROCESSING"] = _plan(project, "top")
    sibling.write_text(
        kept.replace('"returned_parameters"', '"masked_parameters":["x"],"returned_parameters"')
    )
    refused["a sibling with masked parameters"] = _plan(project, "top")
    sibling.write_text(kept)
    pipeline = (project / "pipeline.yaml").read_text()
    for changed, why in (
        (pipeline.replace("retry: 3", "retry: '3'"), "a value the models convert"),
        (pipeline.replace("next: success}", "next: nowhere}", 1), "a next that is no step"),
        (pipeline.replace("    fail: {type: fail}\n", "", 1), "a missing fail node"),
        (pipeline.replace("retry: 3}", "retry: 3, catalog: {put: [a]}}"), "catalog settings"),
    ):  # fmt: skip
        (project / "pipeline.yaml").write_text(changed)
        refused[why] = _plan(project, "top")
    (project / "pipeline.yaml").write_text(pipeline)
    assert {why: made for why, made in refused.items() if made is not None} == {}
    assert _state(project) == before  # nothing written by any of them


@pytest.mark.parametrize(
    ("case", "args", "code", "said"),
    [
        ("a step already run", ["first"], 0, "already succeeded"),
        ("a composite step", ["each"], 2, "magnus fan"),
        ("an unknown config key", ["top", "-c", "bad.yaml"], 2, "bad.yaml"),
        ("a run that does not exist", ["top", "--file", "pipeline.yaml"], 1, "needs argument(s) 'x'"),
    ],
)
def test_each_case_left_to_the_models_still_works(
    started: Path, tmp_path: Path, case: str, args: list[str], code: int, said: str
) -> None:
    project = _project(started, tmp_path / "p")
    (project / "bad.yaml").write_text(CONFIG + "nonsense: {type: x}\n")
    run_id = "fresh" if case == "a run that does not exist" else "r"
    extra = [] if "-c" in args else ["-c", "config.yaml"]
    result = run_magnus("execute_single_node", run_id, *args, *extra, cwd=project, env={"WORK": "plus"})
    assert result.returncode == code, result.stderr
    assert said in result.stderr


def test_the_names_it_relies_on_are_the_stores() -> None:
    from magnus_core.stores import chunked

    assert single_plain.META == chunked.META


def test_the_step_text_is_step_json_for_any_usual_value() -> None:
    """The plain JSON writer against the models' serialiser on odd values (floats, text, nesting)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from magnus_core.models.run_log import StepLog, now, step_json

    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    )

    @settings(max_examples=int(os.environ.get("MAGNUS_TEST_PLAIN_STEP_EXAMPLES", "60")), deadline=None)
    @given(values, st.text())
    def check(value: Any, message: str) -> None:
        start = now()
        step = {
            "name": "s", "internal_name": "b.s", "status": "SUCCESS", "step_type": "task", "message": message,
            "mock": False, "code_identities": [single_plain._identity({})],
            "attempts": [{"attempt_number": 0, "start_time": start, "end_time": start, "duration": "0:00:00",
                          "status": "SUCCESS", "message": "", "parameters": {"v": value}}],
            "user_defined_metrics": {"m": value}, "data_catalog": [], "metric_history": {},
            "returned_parameters": {"r": value}, "masked_parameters": [], "start_time": start,
        }  # fmt: skip
        try:
            want = step_json(StepLog.model_validate({**step, "branches": {}}), indent=None, branches=False)
        except (ValueError, TypeError):
            return  # (a value the models cannot write either: a lone surrogate)
        got = single_plain.step_text(step, "b", 7)
        assert got == f'{want[:-1]},"_parent":"b","_seq":7}}'

    check()


def test_the_services_it_takes_use_no_credentials_of_their_own() -> None:
    """The plain path hands the secrets provider the environment's credentials only (what RunContext adds
    for the store, catalog and executor it takes is nothing): checked, so a credential added to one of
    them is not missed there."""
    from magnus_core.registry import load_provider
    from magnus_core.secrets import DoNothingSecrets

    store = load_provider("run_log_store", {"type": "chunked-fs", "config": {"log_folder": "runs"}})
    catalog = load_provider("catalog", {"type": "do-nothing", "config": {}})
    executor = load_provider("executor", {"type": "local", "config": {}})
    assert (store.credentials(), catalog.credentials(DoNothingSecrets()), executor.credentials()) == (
        {},
        {},
        {},
    )
