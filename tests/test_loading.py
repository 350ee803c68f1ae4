"""Bad input: each gets one clear line naming the file, the step and the field, exit code 2, no traceback,
and no run log left behind. Also: what load_pipeline and load_config accept."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from magnus_core.errors import ConfigError, PipelineError, UsageError
from magnus_core.loading import load_config, load_pipeline, read_mapping

GOOD_STEPS = """
    a: {type: task, command: fns.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def pipeline(steps: str = GOOD_STEPS, start_at: str = "a") -> str:
    body = textwrap.indent(textwrap.dedent(steps).strip(), "    ")
    return f"dag:\n  start_at: {start_at}\n  steps:\n{body}\n"


FNS = "NOT_CALLABLE = 3\n\ndef ok():\n    return None\n\ndef needs(required_thing):\n    return None\n"

# name -> (pipeline text, extra CLI args, fragments the one-line message must contain)
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "malformed yaml": (
        "dag:\n  start_at: a\n  steps: {a: [unclosed\n",
        [],
        ["pipeline.yaml", "line 4", "malformed YAML"],
    ),
    "unknown node type": (
        pipeline("""
            a: {type: taks, command: fns.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'type'", "unknown node type 'taks'"],
    ),
    "unknown field (typo)": (
        pipeline("""
            a: {type: task, command: fns.ok, nxt: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        [
            "pipeline.yaml",
            "step 'a'",
            "unknown field 'nxt' (did you mean 'next'?)",
            "missing required field 'next'",
        ],
    ),
    "an executor's field on a step": (  # trial 23 F12: was "(a typo?)"
        pipeline("""
            a: {type: parallel, max_workers: 2, next: success, branches: {one: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}}}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        [
            "pipeline.yaml",
            "step 'a'",
            "unknown field 'max_workers': how many branches run at once is the executor's, in the config "
            "file: `executor: {type: local, config: {max_workers: 4}}`",
        ],
    ),
    "start_at names no step": (
        pipeline(start_at="nowhere"),
        [],
        ["pipeline.yaml", "field 'start_at'", "'nowhere' is not a step of this dag"],
    ),
    "next names no step": (
        pipeline("""
            a: {type: task, command: fns.ok, next: sucess}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'next'", "'sucess' is not a step"],
    ),
    "on_failure names no step": (
        pipeline("""
            a: {type: task, command: fns.ok, next: success, on_failure: cleanup}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'on_failure'", "'cleanup' is not a step"],
    ),
    "a cycle": (
        pipeline("""
            a: {type: task, command: fns.ok, next: b}
            b: {type: as-is, next: a}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "cycle", "a -> b -> a"],
    ),
    "no success node": (
        pipeline("""
            a: {type: task, command: fns.ok, next: fail}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "exactly one success node, found 0"],
    ),
    "no fail node": (
        pipeline("""
            a: {type: task, command: fns.ok, next: success}
            success: {type: success}
        """),
        [],
        ["pipeline.yaml", "exactly one fail node, found 0"],
    ),
    "step name with a dot": (
        pipeline(
            """
            a.b: {type: task, command: fns.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
            start_at="a.b",
        ),
        [],
        ["pipeline.yaml", "step 'a.b'", "must not contain '.'"],
    ),
    "step name with a percent": (
        pipeline(
            """
            a%b: {type: task, command: fns.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
            start_at="a%b",
        ),
        [],
        ["pipeline.yaml", "step 'a%b'", "must not contain '%'"],
    ),
    "python command not importable": (
        pipeline("""
            a: {type: task, command: nosuchmodule.f, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'command'", "cannot import module 'nosuchmodule'"],
    ),
    "one python command not importable, named by each step using it (checked once)": (
        pipeline(
            """
            a: {type: task, command: nosuchmodule.f, next: b}
            b: {type: task, command: nosuchmodule.f, next: c}
            c: {type: task, command: fns.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """
        ),
        [],
        ["step 'a': field 'command': cannot import", "step 'b': field 'command': cannot import"],
    ),
    "python function missing from its module": (
        pipeline("""
            a: {type: task, command: fns.nope, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'command'", "module 'fns' has no function 'nope'"],
    ),
    "python function mistyped": (
        pipeline("""
            a: {type: task, command: fns.needz, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "field 'command'", "no function 'needz' (did you mean 'needs'?)"],
    ),
    "python module mistyped": (
        pipeline("""
            a: {type: task, command: fsn.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "field 'command'", "No module named 'fsn' (did you mean 'fns'?)"],
    ),
    "python command not callable": (
        pipeline("""
            a: {type: task, command: fns.NOT_CALLABLE, next: success}
            success: {type: success}
            fail: {type: fail}
        """),
        [],
        ["pipeline.yaml", "step 'a'", "field 'command'", "'fns.NOT_CALLABLE' is not callable"],
    ),
    "parameters file not a mapping": (
        pipeline(),
        ["--parameters-file", "params.yaml"],
        ["params.yaml", "parameters file must be a mapping", "got a list"],
    ),
    "parameters file missing": (
        pipeline(),
        ["--parameters-file", "nope.yaml"],
        ["nope.yaml", "parameters file not found"],
    ),
    "config file missing": (
        pipeline(),
        ["--config-file", "nope.yaml"],
        ["nope.yaml", "config file not found"],
    ),
    "config file not yaml": (
        pipeline(),
        ["--config-file", "bad-config.yaml"],
        ["bad-config.yaml", "malformed YAML"],
    ),
    "config file not utf-8": (
        pipeline(),
        ["--config-file", "binary.yaml"],
        ["binary.yaml", "config file is not UTF-8 text"],
    ),
    "config file not a mapping": (
        pipeline(),
        ["--config-file", "list.yaml"],
        ["list.yaml", "config file must be a mapping", "got a list"],
    ),
    "config file is a folder": (
        pipeline(),
        ["--config-file", "folder"],
        ["folder", "config file is a folder"],
    ),
    "config block without type": (
        pipeline(),
        ["--config-file", "typeless.yaml"],
        ["typeless.yaml", "field 'run_log_store'", "must be a mapping with a 'type'"],
    ),
    "config block unknown": (
        pipeline(),
        ["--config-file", "unknown-block.yaml"],
        ["unknown-block.yaml", "unknown top-level key 'run_log_stor'", "did you mean 'run_log_store'?"],
    ),
    "config: unknown store type": (
        pipeline(),
        ["--config-file", "s3.yaml"],
        ["s3.yaml", "field 'run_log_store.type'", "unknown type 's3'", "file-system"],
    ),
    "config: unknown store option": (
        pipeline(),
        ["--config-file", "typo-option.yaml"],
        ["typo-option.yaml", "field 'run_log_store.config.log_foldr'", "unknown option"],
    ),
    "config in the pipeline file: unknown secrets type": (
        pipeline() + "secrets: {type: vault}\n",
        [],
        ["pipeline.yaml", "field 'secrets.type'", "unknown type 'vault'"],
    ),
    "pipeline file missing": ("", ["--file", "missing.yaml"], ["missing.yaml", "pipeline file not found"]),
    "bad --run-id": (pipeline(), ["--run-id", "../escape"], ["option '--run-id'", "is not allowed"]),
    "bad extra parameter": (pipeline(), ["--arg1"], ["parameter --arg1 needs a value"]),
}


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "fns.py").write_text(FNS)
    (git_repo / "params.yaml").write_text("- a\n- b\n")
    (git_repo / "bad-config.yaml").write_text("run_log_store: {type: [\n")
    (git_repo / "typeless.yaml").write_text("run_log_store: {config: {}}\n")
    (git_repo / "unknown-block.yaml").write_text("run_log_stor: {type: buffered}\n")
    (git_repo / "s3.yaml").write_text("run_log_store: {type: s3}\n")
    (git_repo / "typo-option.yaml").write_text("run_log_store: {type: file-system, config: {log_foldr: x}}\n")
    (git_repo / "binary.yaml").write_bytes(b"\xff\xfe\x00run_log_store")
    (git_repo / "list.yaml").write_text("- run_log_store\n")
    (git_repo / "folder").mkdir()
    return git_repo


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_and_exit_code_2(project: Path, magnus, case: str) -> None:
    text, args, fragments = CASES[case]
    if text:
        (project / "pipeline.yaml").write_text(text)
    result = magnus("execute", *(["--file", "pipeline.yaml"] if "--file" not in args else []), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not (project / ".run_log_store").exists() or not any((project / ".run_log_store").iterdir())


def test_debug_log_level_shows_the_traceback(project: Path, magnus) -> None:
    (project / "pipeline.yaml").write_text(pipeline(start_at="nowhere"))
    result = magnus("execute", "--file", "pipeline.yaml", "--log-level", "DEBUG")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "'nowhere' is not a step" in result.stderr


def test_missing_required_argument_is_found_when_the_step_binds(project: Path, magnus) -> None:
    # Not knowable before the run (an earlier step may return the argument): the step fails, naming it.
    (project / "pipeline.yaml").write_text(
        pipeline("""
        a: {type: task, command: fns.needs, next: success}
        success: {type: success}
        fail: {type: fail}
    """)
    )
    result = magnus("execute", "--file", "pipeline.yaml")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "'required_thing'" in result.stdout and "no parameter provides" in result.stdout
    assert len(list((project / ".run_log_store").glob("*.json"))) == 1


# -- in-process: every problem at once, and what is accepted -----------------------------------------
def test_every_rule_broken_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        pipeline(
            """
        a.x: {type: task, command: m.f, next: nowhere}
        b: {type: as-is, next: b2, on_failure: gone}
        b2: {type: as-is, next: success}
        success: {type: success}
    """,
            start_at="missing",
        )
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    problems = info.value.problems
    assert len(problems) == 5, problems
    text = str(info.value)
    for fragment in (
        "step 'a.x'",
        "field 'start_at'",
        "exactly one fail node",
        "field 'next': 'nowhere'",
        "field 'on_failure': 'gone'",
    ):
        assert fragment in text


def test_a_cycle_through_on_failure_is_found(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        pipeline("""
        a: {type: task, command: m.f, next: success, on_failure: b}
        b: {type: as-is, next: a}
        success: {type: success}
        fail: {type: fail}
    """)
    )
    with pytest.raises(PipelineError, match="cycle"):
        load_pipeline(path)


def test_errors_in_branches_name_the_branch(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        pipeline("""
        a:
          type: parallel
          next: success
          branches:
            left:
              start_at: x
              steps:
                x: {type: as-is, next: nowhere}
                success: {type: success}
                fail: {type: fail}
        success: {type: success}
        fail: {type: fail}
    """)
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    assert "step 'a.left'" in str(info.value) and "step 'x': field 'next'" in str(info.value)


def test_not_a_mapping_and_no_dag_block(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("- a\n")
    with pytest.raises(UsageError, match="must be a mapping with a 'dag' key"):
        load_pipeline(path)
    path.write_text("steps: {}\n")
    with pytest.raises(PipelineError, match="missing the 'dag' block"):
        load_pipeline(path)


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"dag: \xff\xfe\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_pipeline(path)


def test_yaml_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match="aliases"):
        read_mapping(path, "var file")


def test_placeholders_from_a_var_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        pipeline("""
        a: {type: task, command: "${module}.ok", next: success}
        success: {type: success}
        fail: {type: fail}
    """).replace("start_at: a", "start_at: a\n  description: ${unknown} stays")
    )
    loaded = load_pipeline(path, {"module": "fns"})
    assert loaded.dag.steps["a"].command == "fns.ok"
    assert loaded.dag.description == "${unknown} stays"  # safe substitution
    assert loaded.dag_block["steps"]["a"]["command"] == "fns.ok"


def test_config_precedence(tmp_path: Path) -> None:
    (tmp_path / "magnus-config.yaml").write_text(
        "run_log_store: {type: buffered}\ncatalog: {type: do-nothing}\nsecrets: {type: dotenv}\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(
        pipeline() + "catalog: {type: file-system, config: {catalog_location: c}}\n"
        "secrets: {type: do-nothing}\n"
    )
    override = tmp_path / "override.yaml"
    override.write_text(
        "mode: {type: local, config: {max_workers: 2}}\nsecrets: {type: env-secrets-manager}\n"
    )
    config = load_config(str(override), load_pipeline(path), cwd=tmp_path)
    assert config["run_log_store"] == {"type": "buffered", "config": {}}  # magnus-config.yaml
    assert config["catalog"] == {"type": "file-system", "config": {"catalog_location": "c"}}  # pipeline file
    assert config["secrets"] == {"type": "env-secrets-manager", "config": {}}  # --config-file
    assert config["executor"] == {"type": "local", "config": {"max_workers": 2}}  # mode = executor


def test_default_config_keeps_runs_on_disk(tmp_path: Path) -> None:
    config = load_config(None, None, cwd=tmp_path)
    assert config["run_log_store"]["type"] == "file-system"
    assert config["executor"]["type"] == "local"


def test_config_block_with_unknown_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("run_log_store: {type: buffered, confg: {}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(f), None, cwd=tmp_path)
    assert "field 'run_log_store.confg': unknown key" in str(info.value)
