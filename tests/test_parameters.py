"""Parameters: file, MAGNUS_PRM_ environment, --name value, returned dicts, store/get_parameter, lower-casing."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.errors import UsageError
from magnus_core.interaction import get_parameter, store_parameter
from magnus_core.models.run_log import SUCCESS, RunLog
from magnus_core.parameters import decode, encode, initial_parameters, parse_cli_args
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.tasks.python import bind

FUNCTIONS = """
import json, os
from magnus import get_parameter, store_parameter

def produce(x: int = 1):
    return {"z": x * 2, "Mixed": "case"}

def show(z, x=1, **rest):
    store_parameter(Stored=z + x)
    all_params = get_parameter()
    with open("seen.json", "w") as f:
        json.dump({"all": all_params, "z": get_parameter("z"), "env_z": os.environ.get("MAGNUS_PRM_z")}, f)

def after(stored):
    with open("after.json", "w") as f:
        json.dump({"stored": stored, "all": get_parameter()}, f)

def needs(required_thing):
    return None

def noop():
    return None

def env_reader():
    with open("env.json", "w") as f:
        json.dump({k: v for k, v in os.environ.items() if k.startswith("MAGNUS_PRM_")}, f)
"""


def run(repo: Path, steps: str, **request: object) -> RunLog:
    mod = f"prm_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    body = textwrap.indent(textwrap.dedent(steps).replace("MOD", mod).strip(), " " * 4)
    (repo / "pipeline.yaml").write_text(
        f"dag:\n  start_at: s1\n  steps:\n{body}\n    success: {{type: success}}\n    fail: {{type: fail}}\n"
    )
    return execute(prepare(RunRequest(file=str(repo / "pipeline.yaml"), **request)))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("MAGNUS_PRM_", "MAGNUS_TRACK_"))]:
        monkeypatch.delenv(key)


# -- sources and precedence ------------------------------------------------------------------------
def test_precedence_file_then_env_then_cli(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("a: 1\nb: 1\nc: 1\n")
    env = {"MAGNUS_PRM_b": "2", "MAGNUS_PRM_C": "2", "OTHER": "x"}
    params = initial_parameters(str(f), {"c": 3}, environ=env)
    assert params == {"a": 1, "b": 2, "c": 3}


def test_parameter_names_are_lower_cased_once_at_the_source(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("Arg1: hello\nARG2: world\n")
    params = initial_parameters(str(f), parse_cli_args(["--Arg3", "x"]), environ={"MAGNUS_PRM_ARG4": '"y"'})
    assert params == {"arg1": "hello", "arg2": "world", "arg3": "x", "arg4": "y"}


def test_environment_values_are_json_decoded(tmp_path: Path) -> None:
    env = {
        "MAGNUS_PRM_n": "3",
        "MAGNUS_PRM_s": '"text"',
        "MAGNUS_PRM_raw": "not json",
        "MAGNUS_PRM_l": "[1, 2]",
    }
    assert initial_parameters(None, {}, environ=env) == {"n": 3, "s": "text", "raw": "not json", "l": [1, 2]}


def test_cli_values_are_yaml_scalars() -> None:
    params = parse_cli_args(
        [
            "--x",
            "3",
            "--f",
            "0.5",
            "--flag",
            "true",
            "--items",
            "[a, b]",
            "--name",
            "world",
            "--eq=7",
            "--dashed-name",
            "v",
            "--empty",
            "null",
        ]
    )
    assert params == {
        "x": 3,
        "f": 0.5,
        "flag": True,
        "items": ["a", "b"],
        "name": "world",
        "eq": 7,
        "dashed_name": "v",
        "empty": None,
    }
    assert isinstance(params["x"], int)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--x"], "needs a value"),
        (["--x", "--y", "1"], "needs a value"),
        (["stray"], "unexpected argument"),
        (["--bad$name", "1"], "must be letters"),
    ],
)
def test_bad_cli_parameters_are_usage_errors(args: list[str], expected: str) -> None:
    with pytest.raises(UsageError, match=r"needs a value|unexpected argument|must be letters") as info:
        parse_cli_args(args)
    assert expected in str(info.value)


def test_parameters_file_must_be_a_mapping(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(UsageError) as info:
        initial_parameters(str(f), {})
    assert str(f) in str(info.value) and "mapping" in str(info.value)


def test_empty_parameters_file_is_no_parameters(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("# nothing\n")
    assert initial_parameters(str(f), {}, environ={}) == {}


def test_encode_decode_round_trip() -> None:
    for value in (3, 0.5, "s", [1, "a"], {"k": [1]}, True, None):
        assert decode(encode(value)) == value


def test_bind_fills_keyword_arguments_by_name() -> None:
    def f(a, b=2, *args, c, **kw):
        return a

    kwargs, missing = bind(f, {"a": 1, "c": 3, "unused": 9})
    assert kwargs == {"a": 1, "c": 3} and missing == []
    kwargs, missing = bind(f, {})
    assert missing == ["a", "c"]


# -- inside a run ----------------------------------------------------------------------------------
def test_returned_dict_and_store_parameter_reach_later_steps(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.produce, next: s2}
        s2: {type: task, command: MOD.show, next: s3}
        s3: {type: task, command: MOD.after, next: success}
        """,
        parameters={"x": 5},
    )
    assert log.status == SUCCESS, [s.message for s in log.steps.values()]
    seen = json.loads((git_repo / "seen.json").read_text())
    assert seen["z"] == 10
    assert seen["all"] == {"x": 5, "z": 10, "mixed": "case", "stored": 15}  # get_parameter() returns all
    assert seen["env_z"] == "10"  # mirrored as MAGNUS_PRM_z, JSON-encoded
    after = json.loads((git_repo / "after.json").read_text())
    assert after["stored"] == 15
    assert log.parameters == {"x": 5, "z": 10, "mixed": "case", "stored": 15}  # final, names lower-cased


def test_get_parameter_of_an_unknown_name_is_an_error_naming_it() -> None:
    from magnus_core.interaction import StepScope, enter_scope, exit_scope

    token = enter_scope(StepScope(run_id="r", tag="", parameters={"a": 1}))
    try:
        store_parameter(B=2)
        assert get_parameter() == {"a": 1, "b": 2}
        assert get_parameter("B") == 2
        with pytest.raises(UsageError, match="parameter 'nope' is not set"):
            get_parameter("nope")
    finally:
        exit_scope(token)


def test_parameters_file_and_cli_in_a_run(git_repo: Path) -> None:
    (git_repo / "params.yaml").write_text("X: 3\ny: world\n")
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.produce, next: success}
        """,
        parameters_file=str(git_repo / "params.yaml"),
        parameters={"y": "cli"},
    )
    assert log.parameters == {"x": 3, "y": "cli", "z": 6, "mixed": "case"}


def test_magnus_prm_environment_at_start(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGNUS_PRM_X", "4")
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.produce, next: success}
        """,
    )
    assert log.parameters["x"] == 4 and log.parameters["z"] == 8
    assert os.environ["MAGNUS_PRM_X"] == "4"  # the user's environment is as it was before the run
    assert "MAGNUS_PRM_x" not in os.environ and "MAGNUS_PRM_z" not in os.environ


def test_missing_required_argument_fails_the_step_naming_it(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.needs, next: success}
        """,
    )
    assert log.status == "FAIL"
    message = log.steps["s1"].message
    assert "'required_thing'" in message and "no parameter provides" in message


def test_shell_steps_see_parameters_as_json_environment(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command_type: shell, command: 'env | grep ^MAGNUS_PRM_ | sort > env.txt', next: success}
        """,
        parameters={"name": "universe", "n": 3, "items": ["a", "b"]},
    )
    assert log.status == SUCCESS
    env = dict(line.split("=", 1) for line in (git_repo / "env.txt").read_text().splitlines())
    assert env["MAGNUS_PRM_name"] == '"universe"'
    assert env["MAGNUS_PRM_n"] == "3"
    assert json.loads(env["MAGNUS_PRM_items"]) == ["a", "b"]


def test_shell_steps_can_export_parameters(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command_type: shell, command: 'export MAGNUS_PRM_Made=42', next: s2}
        s2: {type: task, command: MOD.env_reader, next: success}
        """,
    )
    assert log.parameters == {"made": 42}
    assert json.loads((git_repo / "env.json").read_text())["MAGNUS_PRM_made"] == "42"


def test_a_runs_parameters_do_not_leak_into_the_next_run_in_the_same_process(git_repo: Path) -> None:
    first = run(
        git_repo,
        """
        s1: {type: task, command: MOD.produce, next: s2}
        s2: {type: task, command: MOD.noop, next: success}
        """,
    )
    assert "z" in first.parameters
    second = run(
        git_repo,
        """
        s1: {type: task, command: MOD.env_reader, next: success}
        """,
    )
    assert second.parameters == {}
    assert json.loads((git_repo / "env.json").read_text()) == {}


def test_encode_writes_what_json_dumps_writes() -> None:
    """parameters.encode (MAGNUS_PRM_* values) writes plain numbers straight: the same text as json.dumps."""
    import json
    import math

    from magnus_core.parameters import encode

    class Sub(int):
        pass

    values = [0, -7, 10**40, 1.5, -0.0, 1e300, 5e-324, math.nan, math.inf, -math.inf, None, True, False]
    values += ['é\n"x"', [1, 2.5, None], {"a": True}, Sub(3), object]
    for value in values:
        assert encode(value) == json.dumps(value, default=str), value
