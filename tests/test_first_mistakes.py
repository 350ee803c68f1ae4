"""The mistakes of a user's first hour get an answer that helps (issue 18, item 15)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from magnus_core.suggest import nearby_files
from tests.conftest import ROOT, run_magnus


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The repository's examples, where a new user stands: at the root of the clone."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def test_the_seed_command_from_the_repository_root_names_the_file_meant(clone: Path) -> None:
    done = run_magnus("execute", "--file", "getting-started.yaml", cwd=clone)
    assert done.returncode == 2
    assert (
        "getting-started.yaml: pipeline file not found (did you mean examples/getting-started.yaml?)"
        in done.stderr
    )


@pytest.mark.parametrize(
    ("option", "name", "meant"),
    [
        ("--parameters-file", "parameters.yaml", "examples/parameters.yaml"),
        ("--file", "examples/getting-startd.yaml", "examples/getting-started.yaml"),  # a typo in the name
        ("--config-file", "examples/composit.yaml", "examples/composite.yaml"),
        ("--var-file", "examples/secret.yaml", "examples/secrets.yaml"),
    ],
)
def test_every_missing_file_names_the_nearest(clone: Path, option: str, name: str, meant: str) -> None:
    args = ["--file", "examples/getting-started.yaml", option, name]
    if option == "--file":
        args = [option, name]
    done = run_magnus("execute", *args, cwd=clone)
    assert done.returncode == 2
    assert "not found" in done.stderr and f"did you mean {meant}?" in done.stderr, done.stderr


def test_a_missing_file_with_nothing_near_says_only_not_found(clone: Path) -> None:
    done = run_magnus("execute", "--file", "zzz.yaml", cwd=clone)
    assert done.returncode == 2 and done.stderr.strip() == "Error: zzz.yaml: pipeline file not found"


def test_the_search_skips_magnus_folders_and_is_bounded(tmp_path: Path) -> None:
    (tmp_path / ".run_log_store").mkdir()
    (tmp_path / ".run_log_store" / "p.yaml").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "p.yaml").write_text("")
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "p.yaml").write_text("")
    (tmp_path / "a" / "p.yaml").write_text("")
    assert nearby_files("p.yaml", tmp_path) == ["a/p.yaml"]


def test_a_mistyped_step_name_gets_a_suggestion_and_the_list_of_steps(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: prepare\n  steps:\n"
        "    prepare: {type: stub, next: reprot}\n"
        "    report: {type: stub, next: success, on_failure: fial}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "step 'prepare': field 'next': 'reprot' is not a step of this dag (did you mean 'report'?)"
        in done.stderr
    )
    assert "(steps: prepare, report, success, fail)" in done.stderr
    assert "'fial' is not a step of this dag (did you mean 'fail'?)" in done.stderr
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: prepar\n  steps:\n    prepare: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert "field 'start_at': 'prepar' is not a step of this dag (did you mean 'prepare'?)" in done.stderr


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_pipeline_file_says_so(tmp_path: Path, text: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "Error: p.yaml: pipeline file is empty (expected a mapping with a 'dag' key)"
    )


def test_an_empty_dag_definition_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "inner.yaml").write_text("")
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: nested\n  steps:\n    nested: {type: dag, dag_definition: inner.yaml, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert (
        done.returncode == 2
        and "inner.yaml: dag_definition file (named by step 'nested') is empty" in done.stderr
    )


def test_help_as_a_command_prints_the_help_it_names(tmp_path: Path) -> None:
    """Session 9, fault 5: `magnus help` (as git and pip take it) was `No such command 'help'`."""
    for words, usage in (([], "Usage: magnus [OPTIONS] COMMAND"), (["logs"], "Usage: magnus logs [OPTIONS]")):
        shown = run_magnus("help", *words, cwd=tmp_path)
        assert shown.returncode == 0 and shown.stdout.startswith(usage), shown.stderr
        assert shown.stdout == run_magnus(*words, "--help", cwd=tmp_path).stdout
    assert run_magnus("help", "lgos", cwd=tmp_path).stderr.endswith("Did you mean 'logs'?\n")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (  # was: No such option '--no-color'. (nothing of NO_COLOR)
            ["show", "r1", "--no-color"],
            "No such option '--no-color': colours follow the terminal; NO_COLOR=1 turns them off: "
            "NO_COLOR=1 magnus show r1",
        ),
        (["--no-colour", "runs"], "NO_COLOR=1 turns them off: NO_COLOR=1 magnus runs"),
        (  # was: Did you mean '--wait'?
            ["logs", "--last", "--tail", "1"],
            "No such option '--last': the newest run is the run id `last`: magnus logs last --tail 1",
        ),
        (["show", "--latest"], "the newest run is the run id `last`: magnus show last"),
        (  # was: Did you mean '--limit'? (core9: the user meant the newest run)
            ["runs", "--last"],
            "No such option '--last': runs are listed newest first; the newest run's summary is `magnus show "
            "last`, the newest run alone: magnus runs --limit 1",
        ),
        (["runs", "--json", "--latest", "3"], "the newest 3 runs: magnus runs --json --limit 3"),
        (["runs", "--newest=2"], "the newest 2 runs: magnus runs --limit 2"),
        (  # was: Did you mean one of: '--best', '--plot'? (small10's left item; compare takes RUN_IDS)
            ["compare", "--last", "3"],
            "No such option '--last': compare takes the runs to compare as run ids (the newest is `last`), "
            "--tag TAG or --where FILTER; the ids of the newest 3 runs: magnus runs --limit 3",
        ),
        (["compare", "--latest"], "the ids of the newest 2 runs: magnus runs --limit 2"),
        (
            ["diff", "r1", "--last"],
            "No such option '--last': the newest run is the run id `last`: magnus diff r1 last",
        ),
    ],
)
def test_an_option_magnus_has_in_another_form_names_it_as_a_command_that_works(
    tmp_path: Path, typed: list[str], said: str
) -> None:
    (tmp_path / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command_type: shell, command: echo hi, next: ok}, "
        "ok: {type: success}, f: {type: fail}}}\n"
    )
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r1", cwd=tmp_path).returncode == 0
    refused = run_magnus(*typed, cwd=tmp_path)
    assert refused.returncode == 2 and said in refused.stderr, refused.stderr
    command = refused.stderr.rstrip("\n").rsplit(": ", 1)[1]  # the command given, run as typed
    env = {"NO_COLOR": "1"} if command.startswith("NO_COLOR=1 ") else {}
    words = shlex.split(command.removeprefix("NO_COLOR=1 "))
    assert words[0] == "magnus"
    done = run_magnus(*words[1:], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr


def test_compare_takes_run_ids_as_every_command_does(tmp_path: Path) -> None:
    """Session 11: `magnus compare last r1` said `no run 'last'` where show, logs, diff and stop take `last`
    for the newest run and a unique start or end of an id (runs.resolve_run_id); now compare does too."""
    (tmp_path / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command_type: shell, command: echo hi, next: ok}, "
        "ok: {type: success}, f: {type: fail}}}\n"
    )
    for run_id in ("first-run", "second-run"):
        assert run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=tmp_path).returncode == 0
    done = run_magnus("compare", "first", "last", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [r["run_id"] for r in json.loads(done.stdout)["runs"]] == ["first-run", "second-run"]
    missing = run_magnus("compare", "nope", "last", cwd=tmp_path)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr, missing.stderr


def test_execute_with_no_file_and_no_pipeline_yaml_says_what_file_is(tmp_path: Path) -> None:
    """Session 9, fault 5: a new user's bare `magnus execute` in a folder of theirs read `pipeline.yaml:
    pipeline file not found`, nothing of --file; now it says, and names the nearest pipeline as a command."""
    bare = run_magnus("execute", cwd=tmp_path)
    assert bare.returncode == 2
    assert bare.stderr.strip() == (
        "Error: pipeline.yaml: pipeline file not found: with no --file, magnus execute runs pipeline.yaml "
        "of this folder; give the pipeline with --file"
    )
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "pipeline.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: success}, f: {type: fail}}}\n"
    )
    near = run_magnus("execute", cwd=tmp_path)
    assert near.returncode == 2
    command = near.stderr.strip().rsplit("with --file: ", 1)[1]
    assert command == "magnus execute --file flows/pipeline.yaml"
    assert run_magnus(*shlex.split(command)[1:], cwd=tmp_path).returncode == 0  # as typed


@pytest.mark.parametrize(
    ("typed", "usage"),
    [
        (["logs", "--bad", "--help"], "Usage: magnus logs [OPTIONS] RUN_ID [STEP]"),  # the session 9 case
        (["show", "r1", "--help", "--bad"], "Usage: magnus show [OPTIONS] [RUN_ID]"),
        (["show", "--json=3", "-h"], "Usage: magnus show [OPTIONS] [RUN_ID]"),  # (an error with no context)
        (["logs", "-h", "--tail"], "Usage: magnus logs [OPTIONS] RUN_ID [STEP]"),  # (a missing value)
        (["-c", "x.yaml", "runs", "--newest", "--help"], "Usage: magnus runs [OPTIONS]"),
        (["--bad", "--help"], "Usage: magnus [OPTIONS] COMMAND [ARGS]..."),
        (["help", "diff", "--bad"], "Usage: magnus diff [OPTIONS]"),
    ],
)
def test_help_asked_for_is_printed_even_when_another_option_is_wrong(
    tmp_path: Path, typed: list[str], usage: str
) -> None:
    """Session 9 (core9): `magnus logs --bad --help` printed the bad option's error, not the help (click
    parses every option before acting on --help); git and kubectl show the help whenever it is asked."""
    shown = run_magnus(*typed, cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith(usage), shown.stderr
    assert shown.stderr == ""


def test_help_after_dashes_or_for_a_missing_command_is_not_help(tmp_path: Path) -> None:
    """After `--` a word is a parameter; a command that does not exist keeps its "Did you mean"."""
    typo = run_magnus("lgs", "--help", cwd=tmp_path)
    assert typo.returncode == 2 and typo.stderr.endswith("Did you mean 'logs'?\n")
    bad = run_magnus("execute", "--bad", "--", "--help", "1", cwd=tmp_path)
    assert bad.returncode == 2 and "Usage:" not in bad.stdout
