"""Every validation problem names the file that holds what it is about and its line: unknown or misplaced
top-level keys (pipeline, dag_definition and config files, a config's `defaults` block), commands that
cannot be imported, and problems inside branches (parallel, map, conditional) and dag_definition files.
The lines come from the places validate_dag returns (Problem.path), not from reading its message text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from magnus_core.errors import MagnusError, PipelineError, UsageError
from magnus_core.loading import Problem, load_config, load_pipeline, located, validate_dag
from tests.conftest import run_magnus

# A parallel step whose branch b1 holds step x, a dag step reading sub.yaml, and a map step.
MAIN = """\
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: inner
      branches:
        b1:
          start_at: x
          steps:
            x:
              type: task
              command: {x_command}
              next: {x_next}
            success:
              type: success
            fail:
              type: fail
    inner:
      type: dag
      dag_definition: sub.yaml
      next: m
    m:
      type: map
      iterate_on: xs
      iterate_as: item
      next: success
      branch:
        start_at: y
        steps:
          y:
            type: stub
            next: {y_next}
          success:
            type: success
          fail:
            type: fail
    success:
      type: success
    fail:
      type: fail
"""

SUB = """\
# a dag_definition file: its own lines
dag:
  start_at: q
  steps:
    q:
      type: parallel
      next: success
      branches:
        c1:
          start_at: z
          steps:
            z:
              type: task
              command: {z_command}
              next: {z_next}
            success:
              type: success
            fail:
              type: fail
    success:
      type: success
    fail:
      type: fail
"""

GOOD = {"x_command": "fns.ok", "x_next": "success", "y_next": "success"}
GOOD_SUB = {"z_command": "fns.ok", "z_next": "success"}


def project(tmp_path: Path, main: dict[str, str] | None = None, sub: dict[str, str] | None = None) -> Path:
    (tmp_path / "fns.py").write_text("def ok():\n    return None\n")
    (tmp_path / "sub.yaml").write_text(SUB.format(**{**GOOD_SUB, **(sub or {})}))
    path = tmp_path / "p.yaml"
    path.write_text(MAIN.format(**{**GOOD, **(main or {})}))
    return path


def line_of(path: Path, written: str) -> int:
    return [row.strip() for row in path.read_text().splitlines()].index(written) + 1


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    return info.value.problems


def test_problems_inside_branches_and_dag_definition_files_name_their_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = project(tmp_path, {"x_next": "nope", "y_next": "zz"}, {"z_next": "nowhere"})
    problems = problems_of(path)
    sub = tmp_path / "sub.yaml"
    assert problems == [
        f"line {line_of(path, 'next: nope')}: step 'par.b1': step 'x': field 'next': 'nope' is not a step of "
        "this dag (steps: x, success, fail)",
        f"line {line_of(sub, 'next: nowhere')} of {sub}: step 'inner.dag.q.c1': step 'z': field 'next': "
        "'nowhere' is not a step of this dag (steps: z, success, fail)",
        f"line {line_of(path, 'next: zz')}: step 'm' branch: step 'y': field 'next': 'zz' is not a step of "
        "this dag (steps: y, success, fail)",
    ]


def test_a_rule_about_a_whole_branch_names_its_steps_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = project(tmp_path)
    text = path.read_text().replace("          fail:\n            type: fail\n", "", 1)  # the map branch's
    path.write_text(text)
    lines = text.splitlines()
    steps_line = next(
        i for i, row in enumerate(lines) if i > lines.index("      branch:") and "steps:" in row
    )
    assert problems_of(path) == [
        f"line {steps_line + 1}: step 'm' branch: there must be exactly one fail node, found 0"
    ]


def test_commands_that_cannot_be_imported_name_the_file_holding_the_step_and_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from magnus_core.runner import check_commands

    monkeypatch.chdir(tmp_path)
    path = project(tmp_path, {"x_command": "nosuch.f"}, {"z_command": "fns.nothere"})
    pipeline = load_pipeline(path)  # the structure is sound: commands are checked after it
    with pytest.raises(PipelineError) as info:
        check_commands(pipeline)
    sub = tmp_path / "sub.yaml"
    assert info.value.problems == [
        f"line {line_of(path, 'command: nosuch.f')}: step 'par.b1.x': field 'command': cannot import module "
        "'nosuch' of command 'nosuch.f': No module named 'nosuch'",
        f"line {line_of(sub, 'command: fns.nothere')} of {sub}: step 'inner.dag.q.c1.z': field 'command': "
        "module 'fns' has no function 'nothere'",
    ]


def test_a_failed_import_on_the_command_line_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = project(tmp_path, {"x_command": "nosuch.f"})
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: p.yaml: line {line_of(path, 'command: nosuch.f')}: step 'par.b1.x': field 'command': "
        "cannot import module 'nosuch' of command 'nosuch.f': No module named 'nosuch'"
    ]
    assert not (tmp_path / ".run_log_store").exists() or not list((tmp_path / ".run_log_store").iterdir())


def test_unknown_and_misplaced_top_level_keys_name_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = project(tmp_path)
    path.write_text(path.read_text() + "x-anchors: {a: 1}\nrun_log_stor: {type: buffered}\n")
    with pytest.raises(MagnusError) as info:
        load_pipeline(path)
    assert str(info.value).startswith(
        f"{path}: line {line_of(path, 'run_log_stor: {type: buffered}')}: unknown top-level key 'run_log_stor' "
        "in the pipeline file (did you mean 'run_log_store'?) (expected: "
    )
    # `steps:` dedented out of `dag:` is said to be misplaced
    path.write_text("dag:\n  start_at: a\nsteps:\n  a: {type: stub, next: success}\n")
    with pytest.raises(MagnusError) as info:
        load_pipeline(path)
    assert (
        "line 3: unknown top-level key 'steps' in the pipeline file (is `steps:` indented under `dag:`?)"
        in str(info.value)
    )
    # in a dag_definition file: that file and its line
    sub = tmp_path / "sub.yaml"
    project(tmp_path)
    sub.write_text(sub.read_text() + "start_at: q\n")
    with pytest.raises(MagnusError) as info:
        load_pipeline(path)
    assert str(info.value).startswith(
        f"{sub}: line {len(sub.read_text().splitlines())}: unknown top-level key 'start_at' in the "
        "dag_definition file (is `start_at:` indented under `dag:`?)"
    )


def test_config_files_and_their_defaults_block_name_the_line(tmp_path: Path) -> None:
    config = tmp_path / "magnus-config.yaml"
    config.write_text(
        "# shared settings\ndefaults:\n  catalog: {type: do-nothing}\n  run_log_stor: {type: buffered}\n"
    )
    with pytest.raises(MagnusError) as info:
        load_config(None, None, cwd=tmp_path)
    assert str(info.value).startswith(
        f"{config}: line 4: unknown top-level key 'run_log_stor' in the 'defaults' block "
        "(did you mean 'run_log_store'?)"
    )
    config.write_text("catalog: {type: do-nothing}\n\ntype: buffered\n")
    with pytest.raises(MagnusError) as info:
        load_config(None, None, cwd=tmp_path)
    assert str(info.value).startswith(
        f"{config}: line 3: unknown top-level key 'type' in the config file "
        "(`type:` goes under a block's name, e.g. `run_log_store:`)"
    )
    other = tmp_path / "c.yaml"
    other.write_text("executor: {type: local}\nrun_log_stor: {type: buffered}\n")
    config.unlink()
    with pytest.raises(MagnusError) as info:
        load_config(str(other), None, cwd=tmp_path)
    assert str(info.value).startswith(
        f"{other}: line 2: unknown top-level key 'run_log_stor' in the config file"
    )


NUL_NEXT = 'next: "suc\\0cess"'


def test_a_missing_dag_definition_and_a_nul_name_their_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = project(tmp_path)
    (tmp_path / "sub.yaml").unlink()
    with pytest.raises(UsageError) as info:
        load_pipeline(path)
    assert (
        f"line {line_of(path, 'dag_definition: sub.yaml')}: step 'inner': field 'dag_definition': file"
        in str(info.value)
    )
    path = project(tmp_path, {"y_next": NUL_NEXT[len("next: ") :]})
    with pytest.raises(UsageError) as info:
        load_pipeline(path)
    assert f"line {line_of(path, NUL_NEXT)}: step 'm.<item>.y': field 'next': must not contain" in str(
        info.value
    ), str(info.value)


def test_labels_of_branches_nested_twice_are_internal_names(tmp_path: Path) -> None:
    """A branch inside a branch read `step 'step 'p.a'.q.b'` (its parent's label, not its name)."""
    inner = (
        "{start_at: s, steps: {s: {type: stub, next: gone}, success: {type: success}, fail: {type: fail}}}"
    )
    text = textwrap.dedent(f"""\
        dag:
          start_at: p
          steps:
            p:
              type: parallel
              next: success
              branches:
                a:
                  start_at: q
                  steps:
                    q:
                      type: parallel
                      next: success
                      branches:
                        b: {inner}
                    success: {{type: success}}
                    fail: {{type: fail}}
            success: {{type: success}}
            fail: {{type: fail}}
        """)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert problems_of(path) == [
        "line 15: step 'p.a.q.b': step 's': field 'next': 'gone' is not a step of this dag (steps: s, success, fail)"
    ]


def test_located_gives_no_line_it_cannot_read(tmp_path: Path) -> None:
    problems = [
        Problem("step 'a': field 'next': 'b' is not a step of this dag", ("dag", "steps", "a", "next"))
    ]
    assert located(problems, str(tmp_path / "gone.yaml")) == [problems[0].text]
    path = tmp_path / "p.yaml"
    path.write_text("dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: b}\n")
    assert located(problems, str(path)) == [f"line 4: {problems[0].text}"]


def test_validate_dag_says_where_each_problem_is(tmp_path: Path) -> None:
    """The places, not the texts: a start_at, a next in a branch, a whole graph's terminal count."""
    path = tmp_path / "p.yaml"
    path.write_text(MAIN.format(x_command="fns.ok", x_next="nope", y_next="success"))
    (tmp_path / "fns.py").write_text("def ok():\n    return None\n")
    from magnus_core.loading import read_yaml
    from magnus_core.models.pipeline import PipelineFile

    raw = read_yaml(path)
    raw["dag"]["steps"]["inner"] = {"type": "stub", "next": "m"}
    raw["dag"]["start_at"] = "nowhere"
    dag = PipelineFile.model_validate(raw).dag
    assert [(p.path, p.file) for p in validate_dag(dag)] == [
        (("dag", "start_at"), None),
        (("dag", "steps", "par", "branches", "b1", "steps", "x", "next"), None),
    ]


def test_config_blocks_name_the_line_of_their_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused config block names the line of its field in the file that set it: a --config-file, the
    pipeline file (`mode:` for the executor), magnus-config.yaml's top level or its defaults block."""
    from magnus_core.runner import RunRequest, prepare

    monkeypatch.chdir(tmp_path)
    stub = "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n"
    (tmp_path / "p.yaml").write_text(stub + "    fail: {type: fail}\n")

    def refused(config_file: str | None = None, file: str = "p.yaml") -> str:
        with pytest.raises(UsageError) as info:
            prepare(RunRequest(file=file, config_file=config_file), cwd=tmp_path)
        return str(info.value)

    (tmp_path / "c.yaml").write_text(
        "# team\nrun_log_store:\n  type: file-system\n  config:\n    log_foldr: x\n"
    )
    assert refused("c.yaml") == (
        "c.yaml: line 5: field 'run_log_store.config.log_foldr': unknown option (did you mean 'log_folder'?)"
    )
    (tmp_path / "c.yaml").write_text("catalog:\n  type: s3x\n")
    assert refused("c.yaml").startswith("c.yaml: line 2: field 'catalog.type': unknown type 's3x' (known: ")
    (tmp_path / "m.yaml").write_text(stub + "    fail: {type: fail}\nmode:\n  type: lokal\n")
    assert refused(file="m.yaml").startswith("m.yaml: line 8: field 'executor.type': unknown type 'lokal'")
    user = tmp_path / "magnus-config.yaml"
    user.write_text("defaults:\n  run_log_store:\n    type: file-system\n    confg: {}\n")
    assert refused() == (
        f"{user}: line 4: field 'run_log_store.confg': unknown key (did you mean 'config'?); a block holds "
        "'type' and 'config'"
    )
    user.write_text("run_log_store:\n  type: file-system\n  config: {log_folder: /dev/null}\n")
    assert refused().startswith(f"{user}: line 3: field 'run_log_store.config.log_folder': cannot write the")


BLOCKS = {  # block -> (its type, an option it takes), for the line tests below
    "executor": ("local", "max_workers: 2"),
    "run_log_store": ("chunked-fs", "log_folder: .logs"),
    "catalog": ("file-system", "catalog_location: .cat"),
    "secrets": ("dotenv", "location: .env"),
    "experiment_tracker": ("mlflow", "tracking_uri: mlruns"),
}


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_an_unknown_key_in_any_block_names_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: str
) -> None:
    """An unknown key beside `type:` and `config:`, or inside `config:`, is pointed at on its own line,
    not the block's (closing6 "Left"), in every block, at a file's top and in magnus-config.yaml's
    `defaults:`."""
    from magnus_core.runner import RunRequest, prepare

    monkeypatch.chdir(tmp_path)
    kind, option = BLOCKS[block]
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )

    def refused(config_file: str | None) -> str:
        with pytest.raises(UsageError) as info:
            prepare(RunRequest(file="p.yaml", config_file=config_file), cwd=tmp_path)
        return str(info.value)

    beside = f"# team\n{block}:\n  type: {kind}\n  config:\n    {option}\n\n  confg:\n    x: 1\n"
    (tmp_path / "c.yaml").write_text(beside)
    assert refused("c.yaml") == (
        f"c.yaml: line 7: field '{block}.confg': unknown key (did you mean 'config'?); a block holds 'type' "
        "and 'config'"
    )
    inside = f"{block}:\n  type: {kind}\n  config:\n    {option}\n\n    pth: x\n"
    (tmp_path / "c.yaml").write_text(inside)
    assert refused("c.yaml").startswith(f"c.yaml: line 6: field '{block}.config.pth': unknown option")
    user = tmp_path / "magnus-config.yaml"
    user.write_text("defaults:\n" + textwrap.indent(beside, "  "))
    assert refused(None).startswith(f"{user}: line 8: field '{block}.confg': unknown key")


@pytest.mark.parametrize(
    ("config", "line", "field", "says"),
    [
        (
            "run_log_store:\n  type: postgres\n  config:\n    secret_options:\n      password: A\n      sslpasword: B\n",
            6,
            "run_log_store.config.secret_options.sslpasword",
            "unknown option (did you mean 'sslpassword'?)",
        ),
        (
            "executor:\n  type: argo\n  config:\n    image: x\n    resources:\n      requests: {}\n      limts: {}\n",
            7,
            "executor.config.resources.limts",
            "unknown option (did you mean 'limits'?)",
        ),
        (
            "executor:\n  type: argo\n  config:\n    image: x\n    volumes:\n      - claim_name: c\n        mount_path: /m\n        nme: v\n",
            8,
            "executor.config.volumes.0.nme",
            "unknown option (did you mean 'name'?)",
        ),
        (
            "executor:\n  type: argo\n  config:\n    image: x\n    secret_env:\n      A: a/b\n      B: nokey\n",
            7,
            "executor.config.secret_env.B",
            "expected 'SECRET_NAME/KEY'",
        ),
    ],
)
def test_a_nested_key_names_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, line: int, field: str, says: str
) -> None:
    """A key inside an option (a mapping's key checked by a validator, a nested options model's key, a
    list item's key) is pointed at on its own line, with a suggestion where one is near."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(config)
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n"
        "    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", "-c", "c.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: c.yaml: line {line}: field '{field}': {says}"), done.stderr


def test_every_command_names_the_line_of_a_config_field(tmp_path: Path) -> None:
    """`magnus runs` (no pipeline, no prepare) says a refused store option with its line too."""
    config = tmp_path / "magnus-config.yaml"
    config.write_text("run_log_store:\n  type: file-system\n  config:\n    log_foldr: x\n")
    done = run_magnus("runs", cwd=tmp_path)
    assert done.returncode == 2
    expected = f"Error: {config}: line 4: field 'run_log_store.config.log_foldr': unknown option"
    assert done.stderr.startswith(expected), done.stderr
