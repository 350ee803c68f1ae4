"""YAML as users write it: merge keys and anchors, `x-` keys for them, typos in top-level keys refused,
parameters files read with YAML 1.2's rules, var files as text (issue 18, items 2 and 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.errors import UsageError
from magnus_core.loading import load_config, load_pipeline, read_variables
from tests.conftest import run_magnus

MERGED = """
x-task-defaults: &task_defaults
  type: task
  command_type: shell
  retry: 2
x-echo: &echo
  <<: *task_defaults
  command: echo from-defaults
dag:
  start_at: first
  steps:
    first: {<<: *task_defaults, command: "echo one", next: second}
    second:
      <<: *echo
      retry: 1
      next: third
    third: {<<: [*echo, *task_defaults], next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_step_built_from_merge_keys_runs(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(MERGED)
    done = run_magnus("execute", "--file", "p.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["run_config"]["dag"]["steps"]
    assert steps["first"] == {
        "type": "task",
        "command_type": "shell",
        "retry": 2,
        "command": "echo one",
        "next": "second",
    }
    assert (
        steps["second"]["retry"] == 1 and steps["second"]["command"] == "echo from-defaults"
    )  # own key wins
    assert steps["third"]["command"] == "echo from-defaults"  # the first mapping of a merge list wins


def test_duplicate_keys_are_still_refused_beside_merge_keys(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        MERGED.replace(
            '{<<: *task_defaults, command: "echo one", next: second}',
            "{<<: *task_defaults, command: a, command: b, next: second}",
        )
    )
    with pytest.raises(UsageError, match="duplicate key 'command'"):
        load_pipeline(tmp_path / "p.yaml")
    (tmp_path / "q.yaml").write_text(
        MERGED.replace(
            "    success: {type: success}\n", "    success: {type: success}\n    first: {type: success}\n"
        )
    )
    with pytest.raises(UsageError, match="duplicate key 'first'"):
        load_pipeline(tmp_path / "q.yaml")


def test_dag_hash_ignores_extension_keys(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(MERGED)
    (tmp_path / "q.yaml").write_text(MERGED.replace("x-echo:", "x-unused: 1\nx-echo:"))
    assert load_pipeline(tmp_path / "p.yaml").dag_hash == load_pipeline(tmp_path / "q.yaml").dag_hash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dags: {}\ndag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n",
            "unknown top-level key 'dags' in the pipeline file (did you mean 'dag'?)",
        ),
        (
            "run_log_stor: {type: buffered}\ndag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n",
            "did you mean 'run_log_store'?",
        ),
    ],
)
def test_unknown_top_level_keys_of_a_pipeline_are_typos(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / ".run_log_store").exists()


@pytest.mark.parametrize("where", ["--config-file", "magnus-config.yaml", "defaults"])
def test_a_config_file_refuses_a_mistyped_block_and_ignores_x_keys(tmp_path: Path, where: str) -> None:
    (tmp_path / "p.yaml").write_text("dag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n")
    body = "x-store: &store {type: buffered}\nrun_log_stor: *store\n"
    if where == "defaults":
        body = "x-store: &store {type: buffered}\ndefaults:\n  run_log_stor: *store\n"
    target = tmp_path / ("c.yaml" if where == "--config-file" else "magnus-config.yaml")
    target.write_text(body)
    args = ["-c", "c.yaml"] if where == "--config-file" else []
    done = run_magnus("execute", "--file", "p.yaml", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert (
        "unknown top-level key 'run_log_stor'" in done.stderr
        and "did you mean 'run_log_store'?" in done.stderr
    )
    assert target.name in done.stderr
    target.write_text(body.replace("run_log_stor:", "run_log_store:"))
    done = run_magnus("execute", "--file", "p.yaml", *args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run_config"]["run_log_store"]["type"] == "buffered"  # the anchor worked
    assert not (tmp_path / ".run_log_store").exists()


def test_a_mistyped_key_inside_a_block_or_step_gets_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("run_log_store: {type: buffered, confg: {}}\n")
    with pytest.raises(UsageError, match=r"'run_log_store\.confg': unknown key \(did you mean 'config'\?\)"):
        load_config(str(tmp_path / "c.yaml"), None, tmp_path)
    (tmp_path / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, comand: x, next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    with pytest.raises(UsageError, match="unknown field 'comand' \\(did you mean 'command'\\?\\)"):
        load_pipeline(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: tsak, next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    with pytest.raises(UsageError, match="unknown node type 'tsak' \\(did you mean 'task'\\?\\)"):
        load_pipeline(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command: x, command_type: shel, next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    with pytest.raises(UsageError, match="'shel' \\(did you mean 'shell'\\?\\)"):
        load_pipeline(tmp_path / "p.yaml")


PARAMS_12 = """
octal_looking: 010
zip_quoted: "02142"
base60: 1:30
answer: yes
day: 2024-01-31
hexa: 0x1F
small: 1e-3
flag: true
nothing: null
"""


def test_a_parameters_file_is_read_with_yaml_1_2_rules(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS_12)
    (tmp_path / "p.yaml").write_text("dag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n")
    done = run_magnus("execute", "--file", "p.yaml", "-p", "params.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"] == {
        "octal_looking": 10,  # YAML 1.1 read 8
        "zip_quoted": "02142",
        "base60": "1:30",  # YAML 1.1 read 90
        "answer": "yes",  # YAML 1.1 read True
        "day": "2024-01-31",  # YAML 1.1 read a date, which the run log then stored as text
        "hexa": 31,
        "small": 0.001,  # YAML 1.1 read the text "1e-3"
        "flag": True,
        "nothing": None,
    }


def test_var_file_values_replace_placeholders_as_written(tmp_path: Path) -> None:
    (tmp_path / "vars.yaml").write_text("version: 1.10\nflag: yes\nday: 2024-01-31\nmode: 0755\n")
    assert read_variables(tmp_path / "vars.yaml") == {
        "version": "1.10",
        "flag": "yes",
        "day": "2024-01-31",
        "mode": "0755",
    }
