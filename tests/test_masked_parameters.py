"""Masking never corrupts data that is fed back (issue 17 #9): a parameter whose recorded value is masked
is listed in masked_parameters, and a re-run that would feed it refuses, naming it and how to pass it."""

from __future__ import annotations

import json
from pathlib import Path

FUNCS = """
import os

def show(schema):
    print("schema is", schema)

def load(schema):
    if os.environ.get("FAIL_LOAD"):
        raise RuntimeError("warehouse down")
    assert schema == "analyst_mart", schema  # the step gets the real value, never the masked one
    return {"table": schema + ".sales"}
"""

PIPELINE = """
dag:
  start_at: show
  steps:
    show: {type: task, command: funcs.show, next: load}
    load: {type: task, command: funcs.load, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _project(repo: Path) -> None:
    (repo / "funcs.py").write_text(FUNCS)
    (repo / "pipeline.yaml").write_text(PIPELINE)
    (repo / ".env").write_text("db_user=analyst\n")  # the default provider reads it: every value masked


def test_a_masked_parameter_is_listed_and_a_rerun_refuses_to_feed_it(git_repo: Path, magnus) -> None:
    _project(git_repo)
    first = magnus(
        "execute", "--file", "pipeline.yaml", "--schema", "analyst_mart", "--json", env={"FAIL_LOAD": "1"}
    )
    assert first.returncode == 1, first.stderr
    log = json.loads(first.stdout)
    assert log["parameters"] == {"schema": "*****_mart"}
    assert log["masked_parameters"] == ["schema"]
    assert "schema is *****_mart" in first.stderr  # output masked too (--json: step output on stderr)
    assert "--schema VALUE" in first.stderr  # the resume hint says what to pass again

    refused = magnus("execute", "--file", "pipeline.yaml", "--use-cached", log["run_id"])
    assert refused.returncode == 2
    assert "'schema'" in refused.stderr and "masked" in refused.stderr
    assert f"--use-cached {log['run_id']} --schema VALUE" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert "read -rs MAGNUS_PRM_schema; export MAGNUS_PRM_schema" in refused.stderr  # off the command line
    runs = json.loads(magnus("runs", "--json").stdout)["runs"]
    assert len(runs) == 1  # nothing ran, nothing was written

    again = magnus(
        "execute",
        "--file",
        "pipeline.yaml",
        "--use-cached",
        log["run_id"],
        "--schema",
        "analyst_mart",
        "--json",
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["steps"]["show"]["mock"] is True and rerun["steps"]["load"]["status"] == "SUCCESS"
    assert rerun["parameters"]["table"] == "*****_mart.sales"
    assert rerun["steps"]["load"]["masked_parameters"] == ["table"]
    assert set(rerun["masked_parameters"]) == {"schema", "table"}
    from_env = magnus(
        "execute",
        "--file",
        "pipeline.yaml",
        "--use-cached",
        log["run_id"],
        "--json",
        env={"MAGNUS_PRM_schema": "analyst_mart"},
    )
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout)["parameters"]["table"] == "*****_mart.sales"
    for path in (git_repo / ".run_log_store").iterdir():
        assert b"analyst" not in path.read_bytes()


def test_a_parameter_that_is_no_longer_masked_is_not_listed(git_repo: Path, magnus) -> None:
    (git_repo / "funcs.py").write_text(
        "def a():\n    return {'x': 'analyst one'}\n\ndef b():\n    return {'x': 'plain'}\n"
    )
    (git_repo / "pipeline.yaml").write_text("""
dag:
  start_at: a
  steps:
    a: {type: task, command: funcs.a, next: b}
    b: {type: task, command: funcs.b, next: success}
    success: {type: success}
    fail: {type: fail}
""")
    (git_repo / ".env").write_text("db_user=analyst\n")
    log = json.loads(magnus("execute", "--file", "pipeline.yaml", "--json").stdout)
    assert log["parameters"] == {"x": "plain"}
    assert "masked_parameters" not in log  # the final value is recorded as it is: nothing to refuse
    assert log["steps"]["a"]["masked_parameters"] == ["x"] and "masked_parameters" not in log["steps"]["b"]


def test_an_argo_render_holding_a_secret_is_refused(git_repo: Path, magnus) -> None:
    _project(git_repo)
    shared = git_repo / "shared"
    (git_repo / "argo.yaml").write_text(f"""
executor:
  type: argo
  config:
    image: registry.example.com/project:1.0
    output: workflow.yaml
    env: {{DB_USER: analyst}}
    volumes: [{{claim_name: magnus-shared, mount_path: {shared}}}]
run_log_store: {{type: chunked-fs, config: {{log_folder: {shared / "runs"}}}}}
catalog: {{type: file-system, config: {{catalog_location: {shared / "catalog"}}}}}
""")
    result = magnus("execute", "--file", "pipeline.yaml", "-c", "argo.yaml")
    assert result.returncode == 2
    assert "would hold a secret value" in result.stderr and "*****" in result.stderr
    assert "analyst" not in result.stderr and not (git_repo / "workflow.yaml").exists()
