"""The engine runs headless: the CLI and the runner never load Textual, and `magnus --help` loads nothing
heavy. (How fast `--help` starts is a benchmark figure, `python bench/steps.py`, not a test.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_help_loads_nothing_heavy() -> None:
    loaded = _modules_after(_help("--help"))
    assert not set(HEAVY) & set(loaded), set(HEAVY) & set(loaded)
    assert "pydantic" not in loaded  # the models are not needed to print help


def test_execute_help_loads_nothing_heavy() -> None:
    loaded = _modules_after(_help("execute", "--help"))
    assert not set(HEAVY) & set(loaded), set(HEAVY) & set(loaded)


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
    assert "git" in loaded  # the code identity was read (gitpython is imported when a run needs it)


def test_a_command_module_that_fails_to_import_is_an_error_not_a_missing_command() -> None:
    # magnus_core.cli.diff made unimportable (None in sys.modules), then the real entry point
    code = (
        "import sys; sys.modules['magnus_core.cli.diff'] = None; "
        "from magnus_core.cli import main; main(['runs', '--help'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "magnus_core.cli.diff cannot be loaded" in result.stderr and "Traceback" not in result.stderr
    assert "Usage" not in result.stdout  # no command ran with part of the command line missing


def test_every_command_module_is_registered() -> None:
    from magnus_core.cli import _register, cli, command_modules

    _register()
    assert {"compare", "diff", "execute", "nodes", "runs", "tui"} <= set(command_modules())
    assert {"compare", "diff", "execute", "execute_single_node", "fan", "runs", "tui"} <= set(cli.commands)
