"""The argo executor: rendered Workflows validate against Argo's schema, are deterministic, run (through a
small interpreter) and refuse what Argo cannot run at render time."""

from __future__ import annotations

import copy
import json
import shutil
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from magnus_core.errors import ConfigError
from magnus_core.executors.argo import ArgoOptions, render_yaml
from magnus_core.loading import load_config, load_pipeline
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from magnus_core.table import fmt_size
from tests.argo_interpreter import Interpreter
from tests.conftest import ROOT

SCHEMA = ROOT / "tests" / "data" / "argo" / "workflow-schema.json"  # Argo's published schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    # Argo's published schema types int-or-string fields as string only; Kubernetes accepts both.
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    }
    root = {
        "$schema": schema["$schema"],
        "definitions": schema["definitions"],
        "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow",
    }
    return jsonschema.Draft202012Validator(root)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def argo_config(project: Path, name: str = "argo.yaml", store: str = "chunked-fs", extra: str = "") -> Path:
    shared = project / "shared"
    return write(
        project / name,
        f"""
        executor:
          type: argo
          config:
            image: registry.example.com/project:1.0
            output: {project / "workflow.yaml"}
            resources: {{requests: {{cpu: 500m, memory: 1Gi}}, limits: {{memory: 2Gi}}}}
            volumes: [{{claim_name: magnus-shared, mount_path: {shared}}}]
            {extra}
        run_log_store: {{type: {store}, config: {{log_folder: {shared / "runs"}}}}}
        catalog: {{type: file-system, config: {{catalog_location: {shared / "catalog"}}}}}
    """,
    )


@pytest.fixture
def project(git_repo: Path) -> Path:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    return git_repo


def render(project: Path, pipeline: str, config: Path) -> str:
    p = load_pipeline(project / pipeline)
    cfg = load_config(str(config), p, project)
    options = ArgoOptions.model_validate(cfg["executor"]["config"])
    return render_yaml(p, cfg, options, file=pipeline, config_file=str(config))


FAILING = """
    dag:
      start_at: flaky
      max_time: 600
      steps:
        flaky:
          type: task
          command_type: shell
          command: test -f tried || { touch tried; exit 1; }
          retry: 2
          next: breaks
        breaks:
          type: task
          command_type: shell
          command: exit 3
          on_failure: recover
          next: fail
        recover:
          type: task
          command_type: shell
          command: export MAGNUS_TRACK_recovered=1
          next: success
        never:
          type: stub
          next: success
        success: {type: success}
        fail: {type: fail}
"""


def test_composite_example_validates_against_argos_schema(project: Path, validator) -> None:
    text = render(project, "examples/composite.yaml", argo_config(project))
    doc = yaml.safe_load(text)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    # and the schema is a real check: a wrong type is caught
    broken = copy.deepcopy(doc)
    broken["spec"]["templates"][0]["container"]["command"] = "magnus"
    assert list(validator.iter_errors(broken))


def test_same_dag_renders_byte_identical_yaml(project: Path) -> None:
    config = argo_config(project)
    first = render(project, "examples/composite.yaml", config)
    second = render(project, "examples/composite.yaml", config)
    assert first == second
    names = [t["name"] for t in yaml.safe_load(first)["spec"]["templates"]]
    assert len(names) == len(set(names))
    assert all(len(n) <= 63 and n == n.lower() for n in names)


def test_workflow_shape(project: Path) -> None:
    doc = yaml.safe_load(render(project, "examples/composite.yaml", argo_config(project)))
    spec = doc["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    assert spec["arguments"]["parameters"] == [{"name": "run_id", "value": "{{workflow.name}}"}]
    assert spec["activeDeadlineSeconds"] == 86400
    assert spec["volumes"][0]["persistentVolumeClaim"] == {"claimName": "magnus-shared"}
    entry = templates[spec["entrypoint"]]["dag"]
    assert entry["failFast"] is False
    order = {t["name"]: t.get("depends") for t in entry["tasks"]}
    assert order["prepare"] is None
    assert order["parallel-step"] == "prepare.Succeeded"
    assert "(prepare.Failed || prepare.Errored)" in order["fail"]
    # a map: fan-out writes the branches, one branch per item through withParam, then fan-in
    map_dag = templates["map-step"]["dag"]["tasks"]
    assert [t["name"] for t in map_dag] == ["fan-out", "branches", "fan-in"]
    assert map_dag[1]["withParam"] == "{{tasks.fan-out.outputs.parameters.branches}}"
    assert map_dag[1]["arguments"]["parameters"] == [{"name": "map_variable", "value": "{{item}}"}]
    leaf = templates["map-step-map-variable-placeholder-m1"]["container"]
    assert leaf["command"][:4] == [
        "magnus",
        "execute_single_node",
        "{{workflow.parameters.run_id}}",
        "map%step.map_variable_placeholder.m1",
    ]
    assert leaf["command"][-2:] == ["--map-variable", "{{inputs.parameters.map_variable}}"]
    assert leaf["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert leaf["image"] == "registry.example.com/project:1.0"
    assert leaf["volumeMounts"][0]["mountPath"] == str(project / "shared")


def test_retry_timeouts_and_step_overrides(project: Path, validator) -> None:
    write(
        project / "failing.yaml",
        FAILING.replace(
            "retry: 2",
            "retry: 2\n          mode_config: {argo: {image: other:2, resources: {limits: {cpu: '2'}}}}",
        ),
    )
    doc = yaml.safe_load(render(project, "failing.yaml", argo_config(project)))
    assert not list(validator.iter_errors(doc))
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    flaky = templates["flaky"]
    assert flaky["retryStrategy"]["limit"] == 1 and "exitCode" in flaky["retryStrategy"]["expression"]
    assert flaky["container"]["image"] == "other:2"
    assert flaky["container"]["resources"] == {"limits": {"cpu": "2"}}
    assert "retryStrategy" not in templates["breaks"]
    assert doc["spec"]["activeDeadlineSeconds"] == 600
    tasks = {t["name"]: t.get("depends") for t in templates[doc["spec"]["entrypoint"]]["dag"]["tasks"]}
    assert "never" not in tasks  # unreachable: as a task it would start at once
    assert tasks["recover"] == "(breaks.Failed || breaks.Errored)"
    assert tasks["success"] == "recover.Succeeded"


def test_rendered_workflow_runs_routes_failures_and_retries(project: Path) -> None:
    write(project / "failing.yaml", FAILING)
    config = argo_config(project)
    doc = yaml.safe_load(render(project, "failing.yaml", config))
    phase = Interpreter(doc, project, workflow_name="argo-failing").run()
    assert phase == "Succeeded"
    run = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared/runs")}).get_run("argo-failing")
    assert run.status == "SUCCESS"
    steps = {s.internal_name: s for s in run.walk()}
    assert [a.status for a in steps["flaky"].attempts] == ["FAIL", "SUCCESS"]
    assert steps["breaks"].status == "FAIL" and "exited with code 3" in steps["breaks"].message
    assert steps["recover"].user_defined_metrics == {"recovered": 1}
    assert "never" not in steps and "fail" not in steps


def test_magnus_execute_writes_the_workflow_and_no_run_log(project: Path, magnus) -> None:
    config = argo_config(project)
    result = magnus("execute", "--file", "examples/composite.yaml", "--config-file", str(config))
    assert result.returncode == 0, result.stderr
    assert "workflow.yaml" in result.stdout
    assert yaml.safe_load((project / "workflow.yaml").read_text())["kind"] == "Workflow"
    assert not (project / "shared" / "runs").exists()


@pytest.mark.parametrize(
    "store, extra, expected",
    [
        ("buffered", "", "buffered"),
        ("file-system", "", "parallel step 'parallel step'"),
        ("chunked-fs", "working_dir: /app", "is not on a shared volume"),
    ],
)
def test_what_argo_cannot_run_fails_at_render_time(project: Path, magnus, store, extra, expected) -> None:
    config = argo_config(project, store=store, extra=extra)
    if "working_dir" in extra:  # a relative log folder in /app is not on the shared volume
        text = config.read_text().replace(str(project / "shared" / "runs"), "runs")
        config.write_text(text)
    result = magnus("execute", "--file", "examples/composite.yaml", "--config-file", str(config))
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (project / "workflow.yaml").exists()
    # the config file and the line of the store's block, which sets what Argo cannot run
    rows = config.read_text().splitlines()
    line = next(n for n, row in enumerate(rows, 1) if row.startswith("run_log_store:"))
    assert result.stderr.startswith(f"Error: {config}: line {line}: field 'run_log_store."), result.stderr


def test_bad_argo_options_name_the_field(project: Path, magnus) -> None:
    config = write(
        project / "bad.yaml",
        """
        executor: {type: argo, config: {imagee: x}}
        run_log_store: {type: chunked-fs}
    """,
    )
    result = magnus("execute", "--file", "examples/composite.yaml", "--config-file", str(config))
    assert result.returncode == 2 and "executor.config" in result.stderr and "Traceback" not in result.stderr
    write(
        project / "over.yaml",
        FAILING.replace("retry: 2", "retry: 2\n          mode_config: {argo: {cpus: 2}}"),
    )
    with pytest.raises(ConfigError, match=r"step 'flaky': mode_config.argo") as info:
        render(project, "over.yaml", argo_config(project))
    # the file and the line of the step's mode_config (it named neither)
    rows = [row.strip() for row in (project / "over.yaml").read_text().splitlines()]
    line = rows.index("mode_config: {argo: {cpus: 2}}") + 1
    assert str(info.value).startswith(f"{project / 'over.yaml'}: line {line}: step 'flaky': "), info.value


def test_a_failing_map_branch_fails_the_composite_and_the_workflow(project: Path) -> None:
    write(project / "nums.yaml", "nums: [1, 2]\n")
    write(
        project / "map.yaml",
        """
        dag:
          start_at: each
          steps:
            each:
              type: map
              iterate_on: nums
              iterate_as: n
              next: success
              branch:
                start_at: check
                steps:
                  check: {type: task, command_type: shell, command: 'test "$MAGNUS_PRM_n" != 2', next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    config = argo_config(project)
    p = load_pipeline(project / "map.yaml")
    cfg = load_config(str(config), p, project)
    text = render_yaml(
        p,
        cfg,
        ArgoOptions.model_validate(cfg["executor"]["config"]),
        file="map.yaml",
        config_file=str(config),
        parameters_file="nums.yaml",
    )
    interpreter = Interpreter(yaml.safe_load(text), project, workflow_name="argo-map")
    assert interpreter.run() == "Failed"
    run = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared/runs")}).get_run("argo-map")
    assert run.status == "FAIL" and run.parameters == {"nums": [1, 2]}
    each = run.steps["each"]
    assert each.status == "FAIL" and each.message == "1 of 2 branches failed: each.2"
    assert {b: bl.status for b, bl in each.branches.items()} == {"each.1": "SUCCESS", "each.2": "FAIL"}
    assert run.steps["fail"].status == "SUCCESS" and "success" not in run.steps
    checks = [c for c in interpreter.commands if c[3] == "each.map_variable_placeholder.check"]
    assert sorted(c[-1] for c in checks) == ['{"n": 1}', '{"n": 2}']  # each item reached its step


def test_a_workflow_too_big_for_kubernetes_is_refused_at_render_time(project: Path) -> None:
    big = "x" * 9000
    steps = "\n".join(
        f"    s{i}: {{type: stub, next: {'s' + str(i + 1) if i < 119 else 'success'}, "
        f"mode_config: {{argo: {{env: {{BIG: {big}}}}}}}}}"
        for i in range(120)
    )
    (project / "big.yaml").write_text(
        f"dag:\n  start_at: s0\n  steps:\n{steps}\n    success: {{type: success}}\n    fail: {{type: fail}}\n"
    )
    with pytest.raises(ConfigError, match="Kubernetes keeps a Workflow in one object"):
        render(project, "big.yaml", argo_config(project))


def test_a_killed_pod_is_retried_per_retry_or_marked_failed(project: Path) -> None:
    write(
        project / "killer.py",
        """
        import os, signal
        from pathlib import Path

        def die_once():
            if not Path("died").exists():
                Path("died").write_text("1")
                os.kill(os.getpid(), signal.SIGKILL)

        def always_die():
            os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    write(
        project / "dying.yaml",
        """
        dag:
          start_at: dies once
          steps:
            dies once: {type: task, command: killer.die_once, retry: 2, next: always dies}
            always dies: {type: task, command: killer.always_die, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    doc = yaml.safe_load(render(project, "dying.yaml", argo_config(project)))
    interpreter = Interpreter(doc, project, workflow_name="argo-dying")
    assert interpreter.run() == "Failed"
    assert [c[3] for c in interpreter.commands] == ["dies%once", "dies%once", "always%dies", "fail"]
    run = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared/runs")}).get_run("argo-dying")
    assert run.status == "FAIL" and run.steps["dies once"].status == "SUCCESS"
    dead = run.steps["always dies"]
    assert dead.status == "FAIL" and "did not finish" in dead.message


def test_names_that_collide_once_made_dns_safe_stay_distinct(project: Path, validator) -> None:
    long = "step " * 20
    write(
        project / "names.yaml",
        f"""
        dag:
          start_at: x y
          steps:
            x y: {{type: stub, next: x-y}}
            x-y: {{type: stub, next: X Y}}
            X Y: {{type: stub, next: "{long}a"}}
            "{long}a": {{type: stub, next: "{long}b"}}
            "{long}b": {{type: stub, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
    """,
    )
    text = render(project, "names.yaml", argo_config(project))
    doc = yaml.safe_load(text)
    assert not list(validator.iter_errors(doc))
    names = [t["name"] for t in doc["spec"]["templates"]]
    assert len(names) == len(set(names)) == 8 and all(len(n) <= 63 for n in names)
    commands = sorted(t["container"]["command"][3] for t in doc["spec"]["templates"] if "container" in t)
    assert "X%Y" in commands and "x-y" in commands and "x%y" in commands
    assert text == render(project, "names.yaml", argo_config(project))


def test_rendering_a_rerun_is_refused(project: Path, magnus) -> None:
    result = magnus(
        "execute",
        "--file",
        "examples/composite.yaml",
        "--config-file",
        str(argo_config(project)),
        "--use-cached",
        "old",
    )
    assert result.returncode == 2 and "--use-cached" in result.stderr and "Traceback" not in result.stderr
    assert not (project / "workflow.yaml").exists()


def test_postgres_and_s3_need_no_volume_and_pods_share_nothing(
    project: Path, validator, postgres, bucket
) -> None:
    """The team setup: no `volumes`, credentials from Kubernetes secrets; the workflow validates, and run
    pod by pod, each pod in its own copy of the project, it gives the run log and catalog of a local run."""
    from tests.conftest import fresh_schema

    image = project / "image"  # what the container image holds: the code, no store, no catalog
    image.mkdir()
    shutil.copytree(project / "examples", image / "examples")
    schema = fresh_schema()
    config = write(
        project / "team.yaml",
        f"""
        executor:
          type: argo
          config:
            image: registry.example.com/project:1.0
            output: {project / "workflow.yaml"}
            secret_env: {{PGPASSWORD: magnus-db/password, AWS_SECRET_ACCESS_KEY: magnus-s3/secret}}
        run_log_store: {{type: postgres, config: {{dsn: "{postgres.dsn}", schema: {schema}}}}}
        catalog: {{type: fsspec, config: {{url: "s3://{bucket}/catalog"}}}}
    """,
    )
    shutil.copy(config, image / "team.yaml")
    text = render(project, "examples/data.yaml", config)
    doc = yaml.safe_load(text)
    assert not list(validator.iter_errors(doc))
    assert "volumes" not in doc["spec"] and "volumeMounts" not in text
    env = doc["spec"]["templates"][0]["container"]["env"]
    assert {
        "name": "PGPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "magnus-db", "key": "password"}},
    } in env
    from magnus_core.stores import make_store

    interpreter = Interpreter(doc, project, workflow_name="argo-team", image=image)
    assert interpreter.run() == "Succeeded"
    assert len(interpreter.pod_folders) == len(interpreter.commands) >= 4  # one fresh folder per pod
    log = make_store({"type": "postgres", "config": {"dsn": postgres.dsn, "schema": schema}}).get_run(
        "argo-team"
    )
    assert log.status == "SUCCESS", [s.message for s in log.walk()]
    names = sorted((r.name, r.stage) for s in log.walk() for r in s.data_catalog)
    assert names == [("clean.csv", "get"), ("clean.csv", "put"), ("raw.csv", "get"), ("raw.csv", "put")]
    assert log.steps["summarise"].user_defined_metrics == {"rows_out": 3, "total": 20}
    for folder in interpreter.pod_folders:  # nothing was written beside the code but each pod's own data
        assert not (folder / ".run_log_store").exists() and not (folder / ".catalog").exists()


def test_a_workflow_too_large_for_kubernetes_says_its_size_as_the_cli_does(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size is said in the unit that fits, with the exact byte count beside it (it printed
    `1048577 bytes ... at most about 1000000 bytes`)."""
    from magnus_core.executors import argo

    config = argo_config(project)
    text = render(project, "examples/getting-started.yaml", config)
    size = len(text.encode("utf-8"))
    monkeypatch.setattr(argo, "MAX_WORKFLOW_BYTES", 2048)
    with pytest.raises(ConfigError) as info:
        render(project, "examples/getting-started.yaml", config)
    message = str(info.value)
    assert f"the rendered workflow is {fmt_size(size)} ({size} bytes) (" in message, message
    assert "at most about 2.0 KB (2048 bytes), so Argo would refuse it" in message, message


CARRIED = """
    dag:
      start_at: both
      steps:
        both:
          type: parallel
          branches:
            one:
              start_at: seen
              steps:
                seen:
                  type: task
                  command_type: shell
                  command: export MAGNUS_TRACK_seen_lr=$MAGNUS_PRM_lr
                  next: success
                success: {type: success}
                fail: {type: fail}
          next: after
        after:
          type: task
          command_type: shell
          command: export MAGNUS_TRACK_after_lr=$MAGNUS_PRM_lr
          next: success
        success: {type: success}
        fail: {type: fail}
"""


def test_parameters_given_when_rendering_reach_every_pod(project: Path, magnus) -> None:
    """`magnus execute -c argo.yaml --lr 0.4` (trial "team", finding 2: the workflow ran with the default lr):
    the command's parameters and MAGNUS_PRM_ variables are carried into every pod's command, and win over
    the parameters file as in a local run, typed as a local run types them. The first pod is a fan-out
    here: `fan` takes them as `execute_single_node` does. `--run-id` is the run id's default too."""
    write(project / "carried.yaml", CARRIED)
    write(project / "params.yaml", "lr: 0.1\nepochs: 3\n")
    config = argo_config(project)
    result = magnus(
        "execute", "-f", "carried.yaml", "-c", str(config), "-p", "params.yaml",
        "--lr", "0.4", "--zip", "02142", "--layers", "[64, 32]", "--run-id", "argo-carried", "--", "--file", "a.csv",
        env={"MAGNUS_PRM_batch": "32"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load((project / "workflow.yaml").read_text())
    commands = [t["container"]["command"] for t in doc["spec"]["templates"] if "container" in t]
    tail = ["--", "--batch=32", "--lr=0.4", "--zip=02142", "--layers=[64, 32]", "--file=a.csv"]
    assert commands and all(c[-len(tail) :] == tail for c in commands), commands
    assert doc["spec"]["arguments"]["parameters"] == [{"name": "run_id", "value": "argo-carried"}]  # --run-id
    interpreter = Interpreter(doc, project, workflow_name="magnus-x7k2p")
    assert interpreter.run() == "Succeeded", interpreter.printed
    assert interpreter.commands[0][1] == "fan"  # the run was created by the fan-out's pod
    run = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared/runs")}).get_run("argo-carried")
    assert run.status == "SUCCESS"
    expected = {"lr": 0.4, "epochs": 3, "batch": 32, "zip": "02142", "layers": [64, 32], "file": "a.csv"}
    assert run.run_config["parameters"] == expected
    steps = {s.internal_name: s for s in run.walk()}
    assert steps["both.one.seen"].user_defined_metrics == {"seen_lr": 0.4}
    assert steps["after"].user_defined_metrics == {"after_lr": 0.4}


def test_execute_single_node_takes_name_value_parameters_like_execute(project: Path, magnus) -> None:
    """Trial "team", finding 13: `--lr 0.3` was "No such option (Did you mean one of: '--file', '--help'?)"."""
    write(project / "one.yaml", CARRIED)
    config = argo_config(project)
    result = magnus("execute_single_node", "r1", "after", "-f", "one.yaml", "-c", str(config), "--lr", "0.3")
    assert result.returncode == 0, result.stderr
    run = ChunkedFileSystemRunLogStore({"log_folder": str(project / "shared/runs")}).get_run("r1")
    assert run.parameters["lr"] == 0.3 and run.steps["after"].user_defined_metrics == {"after_lr": 0.3}
    # the run exists now: parameters come from its log; one that differs is said to be unused
    again = magnus("execute_single_node", "r1", "after", "-f", "one.yaml", "-c", str(config), "--lr", "0.5")
    assert "--lr not used" in again.stderr, again.stderr
    same = magnus("execute_single_node", "r1", "after", "-f", "one.yaml", "-c", str(config), "--lr", "0.3")
    assert same.returncode == 0 and "not used" not in same.stderr, same.stderr
    typo = magnus("execute_single_node", "r2", "after", "-f", "one.yaml", "-c", str(config), "--fiel", "x")
    assert typo.returncode == 2 and "did you mean --file?" in typo.stderr and "--help" not in typo.stderr
    missing = magnus("execute_single_node", "r3", "after", "-f", "one.yaml", "-c", str(config), "--lr")
    assert missing.returncode == 2 and "--lr needs a value" in missing.stderr
    assert not (project / "shared/runs/r2").exists() and not (project / "shared/runs/r3").exists()


@pytest.mark.parametrize(
    "extra, step_env, field",
    [
        ("env: {DB_PASSWORD: hunter2xyz}", "", "executor.config.env.DB_PASSWORD"),
        ("env: {HF_TOKEN: hunter2xyz}", "", "executor.config.env.HF_TOKEN"),
        ("", "mode_config: {argo: {env: {API_KEY: hunter2xyz}}}", "mode_config.argo"),
    ],
)
def test_a_credential_in_env_is_refused_pointing_at_secret_env(
    project: Path, magnus, extra: str, step_env: str, field: str
) -> None:
    """Trial "team", finding 9: `env: {DB_PASSWORD: ...}` was written in clear into every template."""
    write(
        project / "p.yaml",
        f"""
        dag:
          start_at: a
          steps:
            a: {{type: stub, next: success{", " + step_env if step_env else ""}}}
            success: {{type: success}}
            fail: {{type: fail}}
        """,
    )
    result = magnus("execute", "-f", "p.yaml", "-c", str(argo_config(project, extra=extra)))
    assert result.returncode == 2, result.stderr
    assert field in result.stderr and "secret_env" in result.stderr and "hunter2xyz" not in result.stderr
    assert not (project / "workflow.yaml").exists()


def test_env_names_that_are_not_credentials_or_taken_by_secret_env_render(project: Path, magnus) -> None:
    """A path to a secret file or a switch named like a token, and a name secret_env sets, are not refused."""
    fine = "env: {DB_PASSWORD_FILE: /run/secrets/db, TOKENIZERS_PARALLELISM: 'false'}"
    plain = magnus("execute", "-f", "examples/composite.yaml", "-c", str(argo_config(project, extra=fine)))
    assert plain.returncode == 0, plain.stderr
    taken = (
        "secret_env: {DB_PASSWORD: db/password}\n" + " " * 12 + "env: {DB_PASSWORD: 'set from the secret'}"
    )
    ok = magnus("execute", "-f", "examples/composite.yaml", "-c", str(argo_config(project, extra=taken)))
    assert ok.returncode == 0, ok.stderr
    assert "set from the secret" not in (project / "workflow.yaml").read_text()  # secretKeyRef instead


def test_secret_env_values_are_masked_in_the_pods(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod, the variables Kubernetes set from `secret_env` are credentials magnus uses: what a step
    prints of them is masked in the pod's output and in the captured output, undeclared."""
    value = "k8s-secret-value-31337"
    monkeypatch.setenv("DB_TOKEN", value)  # as Kubernetes sets it from the secret in each pod
    write(
        project / "p.yaml",
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command_type: shell, command: 'echo "token is $DB_TOKEN"', next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    config = argo_config(project, extra="secret_env: {DB_TOKEN: db/token}")
    doc = yaml.safe_load(render(project, "p.yaml", config))
    interpreter = Interpreter(doc, project, workflow_name="argo-masked")
    assert interpreter.run() == "Succeeded"
    printed = "\n".join(interpreter.printed)
    assert "token is *****" in printed and value not in printed
    stored = [p.read_bytes() for p in (project / "shared").rglob("*") if p.is_file()]
    assert any(b"token is *****" in b for b in stored) and not any(value.encode() in b for b in stored)


def test_show_of_a_failed_argo_run_offers_no_command_argo_refuses(project: Path, magnus) -> None:
    """Trial 14 F7: `magnus show` of a failed run driven pod by pod ended `Resume with: magnus execute ...
    --config-file argo.yaml --use-cached R`, which is refused as typed (a rendered workflow runs every step).
    It says how such a run is re-run instead; a local run's `Resume with:` line is unchanged."""
    write(
        project / "boom.yaml",
        """
        dag:
          start_at: boom
          steps:
            boom: {type: task, command_type: shell, command: "exit 3", next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    config = str(argo_config(project))
    assert magnus("execute_single_node", "pod1", "boom", "-f", "boom.yaml", "-c", config).returncode == 1
    assert magnus("execute_single_node", "pod1", "fail", "-f", "boom.yaml", "-c", config).returncode == 1
    shown = magnus("show", "pod1", "-c", config)
    assert shown.returncode == 0, shown.stderr
    last = shown.stdout.strip().splitlines()[-1]
    assert not last.startswith("Resume with:"), last
    assert (
        last.startswith("Re-run: a workflow rendered again runs every step") and "--use-cached pod1" in last
    )
    refused = magnus("execute", "--file", "boom.yaml", "-c", config, "--use-cached", "pod1")
    assert refused.returncode == 2  # (what the old line told the user to type)
