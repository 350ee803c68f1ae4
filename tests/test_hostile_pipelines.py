"""Hostile but valid-looking pipelines, configs and parameters: a validation error (exit 2) naming the file
and the field, never "internal error"; and the deepest pipeline magnus accepts writes a log it reads back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from magnus_core.loading import MAX_NESTING
from magnus_core.parameters import MAX_VALUE_DEPTH
from tests.conftest import run_magnus

TAIL = "    success: {type: success}\n    fail: {type: fail}\n"


def nested(levels: int, kind: str = "parallel", leaf: str = "{type: stub, next: success}") -> dict:
    """A dag whose first step holds `levels` composite steps one inside another."""
    dag: dict = {
        "start_at": "s",
        "steps": {
            "s": json.loads(json.dumps(_leaf(leaf))),
            "success": {"type": "success"},
            "fail": {"type": "fail"},
        },
    }
    for _ in range(levels):
        node = (
            {"type": "parallel", "next": "success", "branches": {"b": dag}}
            if kind == "parallel"
            else {
                "type": "map",
                "iterate_on": "items",
                "iterate_as": "item",
                "next": "success",
                "branch": dag,
            }
        )
        dag = {
            "start_at": "p",
            "steps": {"p": node, "success": {"type": "success"}, "fail": {"type": "fail"}},
        }
    return dag


def _leaf(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


def refused(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the real command line; assert a one-line validation error (exit 2); return stderr."""
    result = run_magnus(*args, cwd=project, env=env, timeout=60)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


# -- nesting ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["parallel", "map"])
def test_nesting_deeper_than_the_limit_is_refused(git_repo: Path, kind: str) -> None:
    (git_repo / "deep.yaml").write_text(json.dumps({"dag": nested(MAX_NESTING + 1, kind)}))
    err = refused(git_repo, "execute", "-f", "deep.yaml", "--items", "[1]")
    # (the JSON file is one line: the step's line is 1)
    assert f"deep.yaml: line 1: step 'p.{'b' if kind == 'parallel' else '<item>'}.p" in err
    assert f"nested more than {MAX_NESTING} deep" in err
    assert not (git_repo / ".run_log_store").exists()


def test_a_hundred_levels_are_refused_not_an_internal_error(git_repo: Path) -> None:
    (git_repo / "deep.yaml").write_text(json.dumps({"dag": nested(100)}))
    assert f"nested more than {MAX_NESTING} deep" in refused(git_repo, "execute", "-f", "deep.yaml")


def test_nesting_through_dag_definition_files_counts_every_level(git_repo: Path) -> None:
    """Each file holds one dag step naming the next file: 21 files deep is refused, from the first file."""
    for i in range(MAX_NESTING + 2):
        body = (
            f"dag:\n  start_at: d\n  steps:\n    d: {{type: dag, dag_definition: f{i + 1}.yaml, next: success}}\n{TAIL}"
            if i <= MAX_NESTING
            else f"dag:\n  start_at: s\n  steps:\n    s: {{type: stub, next: success}}\n{TAIL}"
        )
        (git_repo / f"f{i}.yaml").write_text(body)
    err = refused(git_repo, "execute", "-f", "f0.yaml")
    # named from the first file, the step's line in the file that holds it
    assert f"f0.yaml: line 4 of f{MAX_NESTING}.yaml: step 'd" in err, err
    assert f"nested more than {MAX_NESTING} deep" in err


def test_the_deepest_pipeline_allowed_runs_and_its_log_is_read_back(git_repo: Path) -> None:
    """MAX_NESTING composite levels, a parameter MAX_VALUE_DEPTH levels deep: the run succeeds, and
    `runs`, `diff` and a re-run read its log (the limits fit inside what the run-log reader accepts)."""
    (git_repo / "deep.yaml").write_text(
        json.dumps(
            {
                "dag": nested(
                    MAX_NESTING, leaf="{type: task, command: 'true', command_type: shell, next: success}"
                )
            }
        )
    )
    value: object = 1
    for _ in range(MAX_VALUE_DEPTH):
        value = [value]
    (git_repo / "params.yaml").write_text(json.dumps({"deep": value}))
    for run_id in ("d1", "d2"):
        result = run_magnus(
            "execute", "-f", "deep.yaml", "-p", "params.yaml", "--run-id", run_id, cwd=git_repo, timeout=120
        )
        assert result.returncode == 0, result.stderr
    runs = run_magnus("runs", "--json", cwd=git_repo)
    assert {r["run_id"]: r["status"] for r in json.loads(runs.stdout)["runs"]} == {
        "d1": "SUCCESS",
        "d2": "SUCCESS",
    }
    diff = run_magnus("diff", "d1", "d2", "--json", cwd=git_repo)
    assert diff.returncode == 0, diff.stderr
    rerun = run_magnus(
        "execute", "-f", "deep.yaml", "-p", "params.yaml", "--use-cached", "d1", cwd=git_repo, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr


# -- numbers Python will not read ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, text",
    [
        (
            "retry",
            "  steps:\n    a: {type: task, command: 'true', command_type: shell, retry: NUMBER, next: success}\n",
        ),
        ("max_time", "  max_time: NUMBER\n  steps:\n    a: {type: stub, next: success}\n"),
    ],
)
def test_numbers_of_thousands_of_digits_are_refused_with_the_field(
    git_repo: Path, field: str, text: str
) -> None:
    (git_repo / "p.yaml").write_text("dag:\n  start_at: a\n" + text.replace("NUMBER", "9" * 5000) + TAIL)
    err = refused(git_repo, "execute", "-f", "p.yaml")
    where = rf"p.yaml: line \d+: field '{re.escape(field)}': a number with more than 4300 digits"
    assert re.search(where, err), err


def test_a_huge_hex_number_in_a_parameters_file_is_refused(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(
        f"dag:\n  start_at: a\n  steps:\n    a: {{type: stub, next: success}}\n{TAIL}"
    )
    (git_repo / "params.yaml").write_text("x: [1, 0x" + "f" * 5000 + "]\n")
    assert "params.yaml: line 1: a number with more than 4300 digits" in refused(
        git_repo, "execute", "-f", "p.yaml", "-p", "params.yaml"
    )


# -- NUL -------------------------------------------------------------------------------------------------
STUB = "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n" + TAIL


@pytest.mark.parametrize(
    "pipeline, where",
    [
        (
            'dag:\n  start_at: a\n  steps:\n    a: {type: dag, dag_definition: "x\\0.yaml", next: success}\n'
            + TAIL,
            "step 'a': field 'dag_definition'",
        ),
        (
            'dag:\n  start_at: a\n  steps:\n    a: {type: task, command_type: shell, command: "echo \\0", next: success}\n'
            + TAIL,
            "step 'a': field 'command'",
        ),
        (
            'dag:\n  start_at: a\n  steps:\n    a: {type: task, command: "true", command_type: shell, next: success, catalog: {put: ["a\\0"]}}\n'
            + TAIL,
            "step 'a': field 'catalog.put.0'",
        ),
        (
            STUB + 'run_log_store: {type: file-system, config: {log_folder: "x\\0y"}}\n',
            "field 'run_log_store.config.log_folder'",
        ),
        (
            STUB + 'catalog: {type: file-system, config: {catalog_location: "x\\0y"}}\n',
            "field 'catalog.config.catalog_location'",
        ),
        (
            STUB + 'catalog: {type: file-system, config: {compute_data_folder: "x\\0y"}}\n',
            "field 'catalog.config.compute_data_folder'",
        ),
    ],
)
def test_nul_in_a_pipeline_is_refused_with_the_field(git_repo: Path, pipeline: str, where: str) -> None:
    (git_repo / "p.yaml").write_text(pipeline)
    err = refused(git_repo, "execute", "-f", "p.yaml")
    line = next(n for n, row in enumerate(pipeline.splitlines(), 1) if "\\0" in row)  # the line holding it
    assert f"p.yaml: line {line}: {where}" in err and "NUL" in err


def test_nul_in_a_config_file_is_refused_with_the_field(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(STUB)
    (git_repo / "c.yaml").write_text('run_log_store: {type: chunked-fs, config: {log_folder: "a\\0"}}\n')
    err = refused(git_repo, "execute", "-f", "p.yaml", "-c", "c.yaml")
    assert "c.yaml: line 1: field 'run_log_store.config.log_folder'" in err


# -- folders that are not folders ------------------------------------------------------------------------
CATALOG_PUT = (
    "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: 'true', command_type: shell, next: success, "
    "catalog: {put: ['*.csv']}}\n" + TAIL
)
DEVICE = "'/dev/null' is a character device, not a folder"


@pytest.mark.parametrize(
    "pipeline, block, expected",
    [
        (STUB, "run_log_store: {type: file-system, config: {log_folder: /dev/null}}", DEVICE),
        (STUB, "run_log_store: {type: chunked-fs, config: {log_folder: /dev/null}}", DEVICE),
        (STUB, "run_log_store: {type: file-system, config: {log_folder: /dev/null/x}}", DEVICE),
        (
            STUB,
            "run_log_store: {type: file-system, config: {log_folder: a_file}}",
            "'a_file' is a file, not a folder",
        ),
        (
            STUB,
            "run_log_store: {type: file-system, config: {log_folder: /proc/self}}",
            "cannot write the run-log store folder '/proc/self'",
        ),
        (
            STUB,
            "run_log_store: {type: chunked-fs, config: {log_folder: /proc/self}}",
            "cannot write the run-log store folder '/proc/self'",
        ),
        (CATALOG_PUT, "catalog: {type: file-system, config: {catalog_location: /dev/null}}", DEVICE),
    ],
)
def test_store_and_catalog_folders_that_are_not_folders_are_refused(
    git_repo: Path, pipeline: str, block: str, expected: str
) -> None:
    (git_repo / "a_file").write_text("x")
    (git_repo / "p.yaml").write_text(pipeline + block + "\n")
    err = refused(git_repo, "execute", "-f", "p.yaml")
    line = len((pipeline + block).splitlines())  # the block's line, which names the folder
    assert err.startswith(f"Error: p.yaml: line {line}: field '") and expected in err


def test_a_store_folder_refusing_the_first_write_is_a_config_error(git_repo: Path) -> None:
    """A folder that passes the check before the run but refuses the run log's first write (a full disk,
    permissions changed meanwhile): exit 2 naming the field and the file, not an internal error."""
    from magnus_core.errors import ConfigError
    from magnus_core.runner import RunRequest, execute, prepare

    (git_repo / "p.yaml").write_text(STUB + "run_log_store: {type: chunked-fs, config: {log_folder: runs}}\n")
    prepared = prepare(RunRequest(file="p.yaml"))
    (git_repo / "runs").write_text("now a file")  # in the way of the first write
    with pytest.raises(
        ConfigError, match=r"p.yaml: line 7: field 'run_log_store.config.log_folder': cannot write run logs"
    ):
        execute(prepared)


# -- parameter values a run log could not hold -----------------------------------------------------------
def test_parameter_values_nested_too_deep_are_refused(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(STUB)
    value: object = 1
    for _ in range(MAX_VALUE_DEPTH + 1):
        value = {"k": value}
    (git_repo / "params.yaml").write_text(json.dumps({"deep": value}))
    err = refused(git_repo, "execute", "-f", "p.yaml", "-p", "params.yaml")
    assert f"params.yaml: parameter 'deep' is nested more than {MAX_VALUE_DEPTH} levels deep" in err
    env = {"MAGNUS_PRM_DEEP": json.dumps(value)}
    assert "MAGNUS_PRM_" in refused(git_repo, "execute", "-f", "p.yaml", env=env)
    assert "nested" in refused(git_repo, "execute", "-f", "p.yaml", "--deep", "[" * 70 + "]" * 70)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--x", "9" * 5000], "is a number with more than 4300 digits"),
        (["--x", "caf\udce9"], "argument 'caf\\xe9' is not valid UTF-8 text"),
        (["--tag", "caf\udce9"], "argument 'caf\\xe9' is not valid UTF-8 text"),
    ],
)
def test_command_line_values_a_run_log_cannot_hold_are_refused(
    git_repo: Path, args: list[str], expected: str
) -> None:
    (git_repo / "p.yaml").write_text(STUB)
    assert expected in refused(git_repo, "execute", "-f", "p.yaml", *args)


def test_parameter_names_that_cannot_be_environment_variables_are_refused(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(STUB)
    (git_repo / "params.yaml").write_text("'a=b': 1\n")
    assert "params.yaml: parameter name 'a=b' must not contain '='" in refused(
        git_repo, "execute", "-f", "p.yaml", "-p", "params.yaml"
    )


@pytest.mark.parametrize(
    "returned, expected",
    [
        ("{'x': DEEP}", "returned parameter 'x' is nested more than 64 levels deep"),
        ("{'x': 10 ** 5000}", "returned parameter 'x' holds a number too long to write"),
        ("{'x': 'a\\ud800'}", "returned parameter 'x' holds text that is not valid Unicode"),
    ],
)
def test_a_step_returning_what_a_run_log_cannot_hold_fails_cleanly(
    git_repo: Path, returned: str, expected: str
) -> None:
    """The attempt fails with the reason (exit 1), and the run log is written and read back."""
    (git_repo / "steps15.py").write_text(
        "DEEP = 1\nfor _ in range(70):\n    DEEP = [DEEP]\n\n\ndef give():\n    return " + returned + "\n"
    )
    (git_repo / "p.yaml").write_text(
        f"dag:\n  start_at: a\n  steps:\n    a: {{type: task, command: steps15.give, next: success}}\n{TAIL}"
    )
    result = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL" and expected in log["steps"]["a"]["message"]
    assert run_magnus("runs", "--json", cwd=git_repo).returncode == 0


def test_a_metric_nested_too_deep_fails_the_step(git_repo: Path) -> None:
    (git_repo / "steps15m.py").write_text(
        "from magnus import track_this\n\n\ndef give():\n    v = 1\n    for _ in range(70):\n        v = {'k': v}\n"
        "    track_this(m=v)\n"
    )
    (git_repo / "p.yaml").write_text(
        f"dag:\n  start_at: a\n  steps:\n    a: {{type: task, command: steps15m.give, next: success}}\n{TAIL}"
    )
    result = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo, timeout=60)
    assert result.returncode == 1
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert "metric 'm' is nested more than 64 levels deep" in log["steps"]["a"]["message"]


def test_no_limit_is_met_by_ordinary_values(git_repo: Path) -> None:
    """The limits are far from what pipelines use: a 4,000-digit integer and 60 levels pass."""
    (git_repo / "p.yaml").write_text(STUB)
    value: object = 10**3999
    for _ in range(60):
        value = [value]
    (git_repo / "params.yaml").write_text(json.dumps({"v": value}))
    result = run_magnus(
        "execute", "-f", "p.yaml", "-p", "params.yaml", "--run-id", "ok", cwd=git_repo, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert run_magnus("diff", "ok", "ok", cwd=git_repo).returncode == 0
