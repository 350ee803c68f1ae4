"""Values typed by hand keep their text unless they are plainly numbers, booleans, null or flow collections;
the value a step receives and the value the run log records are the same (issue 18, items 3 and 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.errors import UsageError
from magnus_core.parameters import from_environment, parse_cli_args, type_value
from magnus_tui.screens.start import parse_parameters
from tests.conftest import git, run_magnus

FUNCTIONS = """
import json

def record(**kwargs):
    pass

def seen(user, zip, day, items, greeting, lr, flag, empty, opts, ratio):
    values = dict(user=user, zip=zip, day=day, items=items, greeting=greeting, lr=lr, flag=flag,
                  empty=empty, opts=opts, ratio=ratio)
    with open("seen.json", "w") as f:
        json.dump({k: [type(v).__name__, v] for k, v in values.items()}, f)

def maybe_fail(day):
    import os
    if os.path.exists("fail-now"):
        raise RuntimeError("asked to fail")
    with open("day-type.txt", "a") as f:
        f.write(type(day).__name__ + "\\n")
"""

PIPELINE = """
dag:
  start_at: seen
  steps:
    seen: {type: task, command: fns.seen, next: check}
    check: {type: task, command: fns.maybe_fail, next: success}
    success: {type: success}
    fail: {type: fail}
"""

ARGS = [
    "--user", "03303560",
    "--zip", "02142",
    "--day", "2024-01-31",
    "--items", "[a, 01, 2, 2024-01-31]",
    "--greeting", '"hello"',
    "--lr", "1e-3",
    "--flag", "true",
    "--empty", "null",
    "--opts", "{k: 1, when: 2024-01-31}",
    "--ratio", "0.50",
]  # fmt: skip

EXPECTED = {
    "user": ["str", "03303560"],  # YAML 1.1: the octal number 886640
    "zip": ["str", "02142"],  # YAML 1.1: 1122
    "day": ["str", "2024-01-31"],  # YAML 1.1: a date the run log then stored as text
    "items": ["list", ["a", "01", 2, "2024-01-31"]],
    "greeting": ["str", "hello"],  # a JSON string, as the original encoded them
    "lr": ["float", 0.001],  # YAML 1.1: the text "1e-3"
    "flag": ["bool", True],
    "empty": ["NoneType", None],
    "opts": ["dict", {"k": 1, "when": "2024-01-31"}],
    "ratio": ["float", 0.5],
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    git(tmp_path, "init", "-q")
    return tmp_path


def test_command_line_values_reach_the_step_and_the_run_log_as_typed(project: Path) -> None:
    done = run_magnus("execute", *ARGS, "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads((project / "seen.json").read_text()) == EXPECTED
    recorded = json.loads(done.stdout)["parameters"]
    assert recorded == {k: v for k, (_, v) in EXPECTED.items()}  # the run log: the same values, same types


def test_a_re_run_sees_the_types_the_first_run_saw(project: Path) -> None:
    (project / "fail-now").write_text("")
    first = run_magnus("execute", *ARGS, "--run-id", "first", cwd=project)
    assert first.returncode == 1
    (project / "fail-now").unlink()
    again = run_magnus("execute", "--use-cached", "first", "--json", cwd=project)
    assert again.returncode == 0, again.stderr
    assert (project / "day-type.txt").read_text().split() == ["str"]
    assert json.loads(again.stdout)["parameters"]["day"] == "2024-01-31"


def test_variables_set_before_the_run_follow_the_same_rule(project: Path) -> None:
    env = {f"MAGNUS_PRM_{k}": v for k, v in zip(ARGS[::2], ARGS[1::2], strict=True)}
    env = {k.replace("--", ""): v for k, v in env.items()}
    done = run_magnus("execute", "--json", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads((project / "seen.json").read_text()) == EXPECTED


def test_the_workbench_form_follows_the_same_rule() -> None:
    text = (
        "user: 03303560\nzip: 02142\nday: 2024-01-31\nitems: [a, 01, 2, 2024-01-31]\nlr: 1e-3\nflag: true\n"
    )
    assert parse_parameters(text) == {
        "user": "03303560",
        "zip": "02142",
        "day": "2024-01-31",
        "items": ["a", "01", 2, "2024-01-31"],
        "lr": 0.001,
        "flag": True,
    }
    with pytest.raises(ValueError, match="'LR' and 'lr'"):
        parse_parameters("LR: 0.1\nlr: 0.5\n")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3), ("-12", -12), ("0", 0), ("0.5", 0.5), ("-1.5e3", -1500.0), (".5", 0.5),
        ("true", True), ("False", False), ("null", None),
        ("007", "007"), ("1_000", "1_000"), ("0x1F", "0x1F"), ("1:30", "1:30"), ("yes", "yes"), ("on", "on"),
        ("~", "~"), ("", ""), (" 3", " 3"), ("1.", "1."), ("inf", "inf"), (".nan", ".nan"),
        ("'single'", "'single'"), ('"double"', "double"), ('"a\\u00e9"', "aé"), ("a: b", "a: b"),
        ("[a, b", "[a, b"), ("[]", []), ("{}", {}), ("[[1, 02], {x: yes}]", [[1, "02"], {"x": "yes"}]),
        ("hello world", "hello world"), ("2024-01-31T10:00:00", "2024-01-31T10:00:00"),
    ],
)  # fmt: skip
def test_type_value(text: str, value: object) -> None:
    got = type_value(text)
    assert got == value and type(got) is type(value)


# -- item 12: names that differ only in case --------------------------------------------------------------------
def test_a_parameters_file_with_names_differing_in_case_is_refused(project: Path) -> None:
    (project / "params.yaml").write_text("LR: 0.1\nlr: 0.5\n")
    done = run_magnus("execute", "-p", "params.yaml", *ARGS, cwd=project)
    assert done.returncode == 2
    assert "params.yaml" in done.stderr and "'LR' and 'lr'" in done.stderr, done.stderr
    assert not (project / ".run_log_store").exists()


def test_environment_names_differing_in_case_are_refused(project: Path) -> None:
    done = run_magnus("execute", *ARGS, cwd=project, env={"MAGNUS_PRM_LR": "0.1", "MAGNUS_PRM_lr": "0.5"})
    assert done.returncode == 2
    assert "MAGNUS_PRM" in done.stderr and ("'LR' and 'lr'" in done.stderr or "'lr' and 'LR'" in done.stderr)


def test_command_line_names_differing_in_case_or_dashes_are_refused() -> None:
    with pytest.raises(UsageError, match="'LR' and 'lr'"):
        parse_cli_args(["--LR", "1", "--lr", "2"])
    with pytest.raises(UsageError, match="'batch-size' and 'batch_size'"):
        parse_cli_args(["--batch-size", "1", "--batch_size", "2"])
    assert parse_cli_args(["--x", "1", "--x", "2"]) == {"x": 2}  # one spelling given twice: the last wins
    assert parse_cli_args(["--LR", "1", "--lr", "1"]) == {"lr": 1}  # same value: nothing to choose between
    assert from_environment({"MAGNUS_PRM_A": "1", "MAGNUS_PRM_a": "1"}, typed=True) == {"a": 1}


def test_a_step_returning_names_differing_in_case_fails_with_both_named(project: Path) -> None:
    (project / "fns.py").write_text(
        FUNCTIONS
        + "\ndef both():\n    return {'LR': 0.1, 'lr': 0.5}\n"
        + "\ndef stored():\n    from magnus import store_parameter\n    store_parameter(Alpha=1, alpha=2)\n"
    )
    for command in ("fns.both", "fns.stored"):
        (project / "p.yaml").write_text(
            f"dag: {{start_at: s, steps: {{s: {{type: task, command: {command}, next: e}}, "
            "e: {type: success}, f: {type: fail}}}\n"
        )
        done = run_magnus("execute", "--file", "p.yaml", "--json", cwd=project)
        assert done.returncode == 1
        message = json.loads(done.stdout)["steps"]["s"]["message"]
        assert "twice" in message and ("'LR' and 'lr'" in message or "'Alpha' and 'alpha'" in message), (
            message
        )
    (project / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command_type: shell, "
        "command: 'export MAGNUS_PRM_K=1 MAGNUS_PRM_k=2', next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", "--json", cwd=project)
    assert done.returncode == 1 and "twice" in json.loads(done.stdout)["steps"]["s"]["message"]
