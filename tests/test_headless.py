"""The engine runs headless: the CLI and the runner never load Textual, and `magnus --help` loads nothing
heavy. (How fast `--help` starts is a benchmark figure, `python bench/steps.py`, not a test.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.cli import COMMANDS
from tests.conftest import ROOT

HEAVY = ("textual", "magnus_tui", "git", "deepdiff", "dask", "distributed", "hera", "papermill", "nbformat")


def _modules_after(code: str, cwd: Path = ROOT) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_the_runner_does_not_load_textual() -> None:
    loaded = _modules_after(
        "import magnus_core.cli, magnus_core.runner, magnus_core.interaction, magnus\n"
        "magnus_core.cli._register()"
    )
    assert "textual" not in loaded and "magnus_tui" not in loaded
    assert not set(HEAVY) & set(loaded), set(HEAVY) & set(loaded)


def _help(*args: str) -> str:
    return (
        "import contextlib, io, sys\nfrom magnus_core.cli import main\n"
        f"sys.argv = ['magnus', *{list(args)!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
    )


def _imported_by(*args: str) -> tuple[set[str], set[str]]:
    """(packages outside the standard library, modules of magnus_core) that `magnus *args` imports in a new
    process, beyond what the interpreter had loaded before (site's own .pth hooks differ by machine)."""
    code = (
        "import sys, json\nbefore = set(sys.modules)\n" + _help(*args) + "new = set(sys.modules) - before\n"
        "print(json.dumps([sorted({m.split('.')[0] for m in new} - set(sys.stdlib_module_names)),\n"
        "                  sorted(m for m in new if m.startswith('magnus_core'))]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    packages, ours = json.loads(result.stdout.strip().splitlines()[-1])
    return set(packages), set(ours)


# What printing help may import: click, and of magnus the command line's package and the errors; for one
# command's help, that command's module and the shell-completion helpers its options name (issue 19: the
# start-up of `magnus --help` is paid before every command, and by every Argo pod).
# a command's --help: the CLI, its completers, and the models *package* for the run states they complete
# (magnus_core/models/__init__.py holds constants only: no model, no pydantic, as the package check says)
HELP_MODULES = {
    "magnus_core",
    "magnus_core.cli",
    "magnus_core.cli._group",  # the click group (magnus_core.cli itself imports no click)
    "magnus_core.errors",
    "magnus_core.interrupts",  # the SIGINT handler cli.main installs first (stdlib `signal` only)
    "magnus_core.cli.complete",
    "magnus_core.models",
}


def test_help_imports_click_and_no_command_module() -> None:
    packages, ours = _imported_by("--help")
    assert packages == {"click", "magnus_core"}, packages  # no pydantic, yaml, rich, git, textual, ...
    assert ours == {
        "magnus_core",
        "magnus_core.cli",
        "magnus_core.cli._group",
        "magnus_core.errors",
        "magnus_core.interrupts",  # the counting SIGINT handler (interrupts.py: trial 10, fault 2)
    }, ours


@pytest.mark.parametrize("command", ["execute", "execute_single_node", "runs", "diff"])
def test_a_command_s_help_imports_that_command_s_module_only(command: str) -> None:
    packages, ours = _imported_by(command, "--help")
    assert packages == {"click", "magnus_core"}, packages
    # (execute_single_node's own line is read without click first: cli/_step.py, which leaves --help to click)
    step = {"magnus_core.cli._step"} if command == "execute_single_node" else set()
    # json's functions as magnus bound them (a step that patches json cannot break magnus: 2df3179), where
    # the command's module imported the standard json before: that, and no more
    ours.discard("magnus_core.jsonio")
    assert ours == HELP_MODULES | step | {f"magnus_core.cli.{COMMANDS[command].module}"}, ours


def test_a_real_run_never_loads_textual(git_repo: Path) -> None:
    (git_repo / "probe.py").write_text(
        "import sys, json\n\ndef probe():\n"
        "    json.dump(sorted({m.split('.')[0] for m in sys.modules}), open('modules.json', 'w'))\n"
    )
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: p\n  steps:\n    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "pipeline.yaml"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads((git_repo / "modules.json").read_text())
    assert "textual" not in loaded and "magnus_tui" not in loaded
    assert "git" not in loaded  # the code identity is asked of the git command (issue 19)
    log = json.loads(next((git_repo / ".run_log_store").glob("*.json")).read_text())
    assert log["steps"]["p"]["code_identities"][0]["code_identifier"]  # ... and it was read


# What a step run alone (every Argo pod) must not import: the workbench, the printing of tables, the
# libraries of providers and commands it does not use (issue 19: its start-up is paid once per step)
NOT_FOR_ONE_STEP = (*HEAVY, "rich", "psycopg", "fsspec", "s3fs", "boto3", "botocore", "mlflow", "plotext")


def test_a_step_run_alone_imports_only_what_it_uses(git_repo: Path) -> None:
    (git_repo / "probe.py").write_text(
        "import sys, json\n\ndef probe():\n"
        "    json.dump(sorted({m.split('.')[0] for m in sys.modules}), open('modules.json', 'w'))\n"
    )
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: p\n  steps:\n    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute_single_node", "r1", "p", "--file", "pipeline.yaml"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads((git_repo / "modules.json").read_text()))
    assert not loaded & set(NOT_FOR_ONE_STEP), loaded & set(NOT_FOR_ONE_STEP)
    assert {"magnus_core", "pydantic"} <= loaded  # the probe ran inside magnus


@pytest.mark.parametrize(
    "args",
    [["diff", "A", "B"], ["diff", "--help"], ["no-such-command"]],
    ids=["the-command", "its-help", "an-unknown-name"],
)
def test_a_command_module_that_fails_to_import_is_an_error_not_a_missing_command(args: list[str]) -> None:
    # magnus_core.cli.diff made unimportable (None in sys.modules), then the real entry point: naming its
    # command, or a name that is not a command (every module is then looked in), says the installation is
    # broken
    code = (
        "import sys; sys.modules['magnus_core.cli.diff'] = None; "
        f"from magnus_core.cli import main; main({args!r})"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "magnus_core.cli.diff cannot be loaded" in result.stderr and "Traceback" not in result.stderr
    assert "Usage" not in result.stdout  # no command ran with part of the command line missing


def test_a_broken_command_module_leaves_the_other_commands_working() -> None:
    code = (
        "import sys; sys.modules['magnus_core.cli.diff'] = None; "
        "from magnus_core.cli import main; main(['runs', '--help'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage: magnus runs" in result.stdout


def test_every_command_module_is_registered() -> None:
    from magnus_core.cli import _register, cli, command_modules

    _register()
    assert {"compare", "diff", "execute", "nodes", "runs", "tui"} <= set(command_modules())
    assert {"compare", "diff", "execute", "execute_single_node", "fan", "runs", "tui"} <= set(cli.commands)


def test_the_table_of_commands_names_each_command_s_module_and_summary() -> None:
    # COMMANDS lets a command line import one module and `magnus --help` none: a command missing from it
    # would not be listed, one named with the wrong module would load slowly, a stale summary would list
    # what the command's own help no longer says
    from click.utils import make_default_short_help

    from magnus_core.cli import COMMANDS, _register, cli

    _register()
    defined = {
        name: command.callback.__module__ for name, command in cli.commands.items() if command.callback
    }
    assert defined == {name: f"magnus_core.cli.{info.module}" for name, info in COMMANDS.items()}
    for name, command in cli.commands.items():
        assert not command.hidden and not command.deprecated  # format_commands would have to know
        for limit in (30, 45, 80, 500):
            expected = command.get_short_help_str(limit)
            assert make_default_short_help(COMMANDS[name].summary, limit) == expected, (name, limit)


def test_the_list_of_commands_is_what_click_would_print(monkeypatch: pytest.MonkeyPatch) -> None:
    # MagnusGroup.format_commands prints COMMANDS' summaries: the same text as click's own listing of the
    # registered commands, at any terminal width
    import click

    from magnus_core.cli import _register, cli

    _register()
    for width in (40, 80, 100):
        ours = click.HelpFormatter(width=width)
        cli.format_commands(click.Context(cli), ours)
        clicks = click.HelpFormatter(width=width)
        click.Group.format_commands(cli, click.Context(cli), clicks)
        assert ours.getvalue() == clicks.getvalue(), width


def test_listing_runs_from_a_warm_index_imports_neither_pydantic_nor_the_models(tmp_path: Path) -> None:
    """`magnus runs` answers from the run index: once the index holds every run, listing them (the table,
    a filter, a limit) needs the store's folder and the index only, not pydantic nor the run-log models,
    whose import was a third of listing 20,000 runs (issue 22's 0.5 s target). Reading a new log may."""
    from tests.runlog_factory import make_log, store_config, write_log

    for i in range(3):
        write_log(tmp_path / "logs", make_log(f"run-{i}", minute=i, tag="t", metrics={"train": {"auc": i}}))
    config = store_config(tmp_path, tmp_path / "logs")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAGNUS_INDEX_DIR": str(tmp_path / "index")}
    probe = (
        "import sys, json, contextlib, io\nfrom magnus_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        main(sys.argv[1:])\n    except SystemExit as exc:\n        assert not exc.code, exc\n"
        "print(json.dumps([out.getvalue(), sorted(sys.modules)]))\n"
    )
    calls = ([], [], ["--where", "metrics.auc > 0", "--limit", "2"], ["--tag", "t", "--status", "SUCCESS"])
    for first, args in zip((True, False, False, False), calls, strict=True):  # the first reads the logs
        result = subprocess.run(
            [sys.executable, "-c", probe, "runs", "-c", str(config), *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        shown, modules = json.loads(result.stdout.strip().splitlines()[-1])
        assert "run-1" in shown
        if not first:
            assert "pydantic" not in modules and "pydantic_core" not in modules, args
            assert not {"magnus_core.models.run_log", "magnus_core.models.pipeline"} & set(modules), args
