"""A run log that is not valid JSON is refused as every other file is (`FILE: line N: what was expected`),
not with its line and place in parentheses after the parser's words (trial 8: `not valid JSON (Expecting ','
delimiter: line 5 column 5 (char 40))`). Real commands in subprocesses, on both file stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_magnus

BROKEN = '{\n  "run_id": "b",\n  "steps": {\n    "a": 1\n    "b": 2\n  }\n}\n'  # line 5: a ',' is missing
SAID = "line 5: not valid JSON: expecting ',' delimiter at column 5"


def test_show_diff_and_runs_give_the_line_of_a_broken_run_log(tmp_path: Path) -> None:
    store = tmp_path / ".run_log_store"
    store.mkdir()
    (store / "b.json").write_text(BROKEN)
    for args in (("show", "b"), ("logs", "b"), ("diff", "b", ".run_log_store/b.json")):
        refused = run_magnus(*args, cwd=tmp_path)
        assert refused.returncode == 2, args
        assert refused.stderr.strip() == f"Error: .run_log_store/b.json: {SAID}", args
    listed = run_magnus("runs", cwd=tmp_path)
    assert listed.returncode == 0 and f"b: .run_log_store/b.json: {SAID}" in listed.stdout
    as_json = json.loads(run_magnus("runs", "--json", cwd=tmp_path).stdout)
    assert as_json["runs"][0]["broken_reason"] == f".run_log_store/b.json: {SAID}"
    assert "(" not in as_json["runs"][0]["broken_reason"]


def test_a_broken_part_of_a_chunked_run_gives_its_line(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text("def ok():\n    print('ok')\n")
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: steps.ok, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
        "run_log_store: {type: chunked-fs, config: {log_folder: .chunks}}\n"
    )
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "c", cwd=tmp_path).returncode == 0
    part = next((tmp_path / ".chunks" / "c" / "steps").glob("*.json"))
    part.write_text('{\n  "name": "a",\n  oops\n}\n')
    (tmp_path / "config.yaml").write_text(
        "run_log_store: {type: chunked-fs, config: {log_folder: .chunks}}\n"
    )
    refused = run_magnus("show", "c", "-c", "config.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        f"{part.name}: line 3: not valid JSON: expecting property name enclosed in double quotes at column 3"
    ), refused.stderr


def test_a_map_variable_that_is_not_json_says_where_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    refused = run_magnus(
        "execute_single_node", "r", "a", "--map-variable", '{"x": 1,}', "-f", "p.yaml", cwd=tmp_path
    )
    assert refused.returncode == 2
    assert (
        "option '--map-variable': not valid JSON: expecting property name enclosed in double quotes at column 9;"
        in (refused.stderr)
    )
