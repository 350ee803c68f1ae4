"""conditional and loop on every route: examples/conditional.yaml, examples/loop.yaml and a pipeline nesting
both three deep inside and around parallel, map and dag (tests/data/nesting/) run with the local executor,
rendered for Argo (valid against Argo's schema) and run step by step by the project's Argo interpreter (the
per-step entry point), and run on Dask: the three run logs are equal (times, run ids and the executor set
aside), and so are the catalogs.

Every step on the Argo route is a process (about a second of CPU each): the nested pipeline's 46 pods cost
more than the rest of this file, so CI renders and validates it for Argo and runs it locally and on Dask
(the same per-step entry point, in the workers), and runs it through the Argo interpreter too only with
MAGNUS_ROUTES_FULL=1. The two examples always take all three routes."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from magnus_core.executors.argo import ArgoOptions, render_yaml
from magnus_core.loading import load_config, load_pipeline
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from tests.argo_interpreter import Interpreter
from tests.conftest import ROOT, git
from tests.test_argo import validator  # noqa: F401  (a fixture)
from tests.test_routes_agree import catalog, write_route_configs
from tests.test_routes_agree import normalise as _normalise

distributed = pytest.importorskip("distributed")
FULL = os.environ.get("MAGNUS_ROUTES_FULL", "") not in ("", "0")


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A committed project (the examples and the nesting pipelines), its route configs, and a Dask
    LocalCluster shared by the tests (started once: a cluster per run would cost seconds each)."""
    project = tmp_path_factory.mktemp("routes") / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    for f in (ROOT / "tests" / "data" / "nesting").iterdir():
        shutil.copy(f, project / f.name)
    services = write_route_configs(project)
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "project")
    old = Path.cwd()
    os.chdir(project)
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
    (project / "dask.yaml").write_text(
        f'executor: {{type: dask, config: {{scheduler_address: "{cluster.scheduler_address}"}}}}\n' + services
    )
    try:
        yield project, cluster.scheduler_address
    finally:
        cluster.close()
        os.chdir(old)


def normalise(log, run_id: str):
    """As the composite routes test compares, and without the times of metric points (loop.yaml tracks
    a series)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "time"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(_normalise(log, run_id))


CASES = {
    "conditional": ("examples/conditional.yaml", None),
    "loop": ("examples/loop.yaml", None),
    "nested": ("deep.yaml", "params.yaml"),
}


@pytest.mark.parametrize("case", CASES)
def test_local_argo_and_dask_runs_agree(routes, validator, case: str) -> None:  # noqa: F811
    project, _ = routes
    file, parameters = CASES[case]
    interpreted = FULL or case != "nested"
    ids = {name: f"{case}-{name}" for name in ("local", "argo", "dask") if interpreted or name != "argo"}
    local = execute(
        prepare(
            RunRequest(file=file, config_file="local.yaml", parameters_file=parameters, run_id=ids["local"])
        )
    )
    assert local.status == "SUCCESS"

    pipeline = load_pipeline(file)
    cfg = load_config("argo.yaml", pipeline, project)
    text = render_yaml(
        pipeline,
        cfg,
        ArgoOptions.model_validate(cfg["executor"]["config"]),
        file=file,
        config_file="argo.yaml",
        parameters_file=parameters,
    )
    doc = yaml.safe_load(text)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    commands: list[list[str]] | None = None
    if interpreted:
        interpreter = Interpreter(doc, project, workflow_name=ids["argo"])
        assert interpreter.run() == "Succeeded"
        commands = interpreter.commands

    dask = execute(
        prepare(
            RunRequest(file=file, config_file="dask.yaml", parameters_file=parameters, run_id=ids["dask"])
        )
    )
    assert dask.status == "SUCCESS"

    store = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared" / "runs")})
    logs = {name: store.get_run(run_id) for name, run_id in ids.items()}
    expected = normalise(logs["local"], ids["local"])
    for name in [n for n in ids if n != "local"]:
        got = normalise(logs[name], ids[name])
        assert json.dumps(got, sort_keys=True, indent=1) == json.dumps(expected, sort_keys=True, indent=1), (
            name
        )
    catalogs = {name: catalog(project / "shared" / "catalog" / run_id) for name, run_id in ids.items()}
    assert all(found == catalogs["local"] for found in catalogs.values())
    SHAPES[case](logs["local"], commands)


def _conditional(log, commands) -> None:
    assert list(log.steps["decide"].branches) == ["decide.true"]
    assert log.parameters["deployed"] is True
    assert not any("decide.false" in " ".join(c) for c in commands)  # the other branch never ran


def _loop(log, commands) -> None:
    refine = log.steps["refine"]
    assert list(refine.branches) == [f"refine.{i}" for i in range(4)]  # converged after 4 of at most 10
    assert refine.returned_parameters["converged"] is True
    assert abs(log.parameters["estimate"] - 2**0.5) < 1e-9
    fan_ins = [c for c in commands if c[1] == "fan" and c[3] == "refine" and "in" in c]
    assert len(fan_ins) == 4  # one per iteration: three handed out the next, the fourth committed


def _nested(log, commands) -> None:
    steps = {s.internal_name: s for s in log.walk()}
    assert list(log.steps["outer"].branches) == ["outer.0"]  # tick set done in the first iteration
    assert steps["outer.0.par.work.each.a.sub.dag.pick.a.t"].status == "SUCCESS"
    assert "outer.0.par.work.each.b.sub.dag.pick.default.other" in steps  # b: no key, the default
    again = "route.deep.par2.only.each2.2.sub2.dag.again"
    assert list(steps[again].branches) == [f"{again}.0", f"{again}.1"]
    assert log.parameters["total_2"] == 4  # 2, then 2 more: iteration 1 started where 0 ended
    assert log.parameters["seen_a_0"] is True and log.parameters["ticks"] == 1
    if commands is None:  # not run through the Argo interpreter (MAGNUS_ROUTES_FULL)
        return
    located = [c[3] for c in commands if c[1] == "execute_single_node"]
    assert "outer.map_variable_placeholder.par.work.each.map_variable_placeholder.sub.dag.pick.a.t" in located
    assert f"{again}.map_variable_placeholder.t".replace(".2.", ".map_variable_placeholder.") in located


SHAPES = {"conditional": _conditional, "loop": _loop, "nested": _nested}
