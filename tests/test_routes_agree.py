"""The three routes agree: examples/composite.yaml run locally, rendered for Argo and run step by step by an
interpreter, and run on a Dask LocalCluster leave equal run logs (timestamps, run ids and which executor ran
it set aside) and equal catalogs."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import yaml

from magnus_core.executors.argo import ArgoOptions, render_yaml
from magnus_core.loading import load_config, load_pipeline
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from tests.argo_interpreter import Interpreter
from tests.conftest import ROOT, git

TIME_FIELDS = {"start_time", "end_time", "duration"}
# a step's `process` (pid, host, start): recorded by the per-step entry point (the Argo pods', Dask's), absent
# from a run in one process (its run_config.process): which process ran a step, set aside as the executor is
STEP_SET_ASIDE = TIME_FIELDS | {"process"}
SET_ASIDE = {
    "executor",
    "process",
    "config_file",
}  # which executor ran it (and the config naming it), the process


def normalise(log: Any, run_id: str) -> Any:
    """The run log as plain data without what legitimately differs between routes."""
    data = json.loads(json.dumps(log.model_dump(mode="json")).replace(run_id, "<run id>"))
    data["run_config"] = {k: v for k, v in data["run_config"].items() if k not in SET_ASIDE}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in STEP_SET_ASIDE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(data)


def catalog(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_route_configs(project: Path) -> str:
    """local.yaml and argo.yaml (its pods mount project/shared), a .gitignore for shared/; the services
    block every route shares (a chunked-fs store and a file-system catalog in project/shared), for the
    Dask config the caller writes."""
    shared = project / "shared"
    services = textwrap.dedent(f"""
        run_log_store: {{type: chunked-fs, config: {{log_folder: {shared / "runs"}}}}}
        catalog: {{type: file-system, config: {{catalog_location: {shared / "catalog"}}}}}
    """)
    (project / "local.yaml").write_text("executor: {type: local}\n" + services)
    (project / "argo.yaml").write_text(
        textwrap.dedent(f"""
        executor:
          type: argo
          config:
            image: project:1
            volumes: [{{claim_name: shared, mount_path: {shared}}}]
    """)
        + services
    )
    (project / ".gitignore").write_text("shared/\n__pycache__/\n")
    return services


def test_local_argo_and_dask_runs_agree(git_repo: Path) -> None:
    project = git_repo
    shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    services = write_route_configs(project)
    shared = project / "shared"
    (project / "dask.yaml").write_text(
        "executor: {type: dask, config: {n_workers: 2, threads_per_worker: 1}}\n" + services
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "project")  # the same clean commit for all three routes

    local = execute(
        prepare(RunRequest(file="examples/composite.yaml", config_file="local.yaml", run_id="rt-local-1f"))
    )

    pipeline = load_pipeline("examples/composite.yaml")
    cfg = load_config("argo.yaml", pipeline, project)
    text = render_yaml(
        pipeline,
        cfg,
        ArgoOptions.model_validate(cfg["executor"]["config"]),
        file="examples/composite.yaml",
        config_file="argo.yaml",
    )
    interpreter = Interpreter(yaml.safe_load(text), project, workflow_name="rt-argo-3d")
    assert interpreter.run() == "Succeeded"
    assert any(c[1] == "fan" and "--items-file" in c for c in interpreter.commands)

    dask = execute(
        prepare(RunRequest(file="examples/composite.yaml", config_file="dask.yaml", run_id="rt-dask-2e"))
    )

    store = ChunkedFileSystemRunLogStore({"log_folder": str(shared / "runs")})
    ids = {"local": "rt-local-1f", "argo": "rt-argo-3d", "dask": "rt-dask-2e"}  # not found in any path
    logs = {name: store.get_run(run_id) for name, run_id in ids.items()}
    assert local.status == dask.status == "SUCCESS"
    assert {log.status for log in logs.values()} == {"SUCCESS"}
    assert logs["dask"].run_config["executor"]["type"] == "dask"
    assert logs["argo"].run_config["executor"]["type"] == "argo"
    expected = normalise(logs["local"], ids["local"])
    assert len(list(logs["local"].walk())) == 17
    for name in ("argo", "dask"):
        got = normalise(logs[name], ids[name])
        # key order may follow a different finishing order of branches; the content may not differ
        assert json.dumps(got, sort_keys=True, indent=1) == json.dumps(expected, sort_keys=True, indent=1), (
            name
        )
    catalogs = {name: catalog(shared / "catalog" / run_id) for name, run_id in ids.items()}
    assert catalogs["argo"] == catalogs["local"] == catalogs["dask"]
