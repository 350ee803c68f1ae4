"""`magnus execute_single_node RUN STEP [options]` is read without click (magnus_core/cli/_step.py), since
every Argo pod and per-step process pays its start-up (issue 19, target 4). These tests keep the hand reader
and the click command in step: the same values for every line it reads, click's own answer (help, usage
errors, exit 2) for every line it does not, and no click in the process that runs the step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.cli import _step
from tests.conftest import ROOT, run_magnus

READ_HERE = [
    ["r1", "a"],
    ["r1", "a", "-f", "p.yaml", "--", "--lr=0.4", "--name", "x y"],  # parameters, as Argo pods carry them
    ["r1", "a", "-f", "p.yaml", "-c", "c.yaml", "-p", "x.yaml", "-v", "v.yaml"],
    ["--file", "p.yaml", "r1", "--config-file", "c.yaml", "a", "--tag", "-not-an-option"],
    ["r1", "a", "--file=p.yaml", '--map-variable={"i": 1}', "--tag=", "--log-level", "debug"],
    ["r1", "a", "--log-level", "Info", "--log-level", "ERROR", "-f", "one.yaml", "-f", "two.yaml"],
    ["-", "a", "--parameters-file", "-", "--var-file", "v"],
    ["r1", "each.map_variable_placeholder.add", "--map-variable", '{"item": 7}'],
]
LEFT_TO_CLICK = [
    [],
    ["r1"],
    ["r1", "a", "extra"],
    ["r1", "a", "--help"],
    ["-h", "r1", "a"],
    ["r1", "a", "--bogus"],
    ["r1", "a", "--fil", "p.yaml"],  # click suggests --file
    ["r1", "a", "-f"],  # missing value
    ["r1", "a", "--log-level", "loud"],
    ["r1", "a", "-fp.yaml"],  # click's attached short value: its to read
    ["r1", "a", "-f=p.yaml"],
    ["--", "r1", "a"],
    ["r1", "a", "-x"],
]


def _click_params(args: list[str]) -> dict[str, object]:
    from magnus_core.cli import _load, cli
    from magnus_core.cli._group import cli_parameters

    _load("nodes")
    command = cli.commands["execute_single_node"]
    with command.make_context("execute_single_node", list(args)) as ctx:
        # `--name value` parameters (after `--`) are read from ctx.args, as the command does
        return {**ctx.params, "parameters": cli_parameters(ctx)}


@pytest.mark.parametrize("args", READ_HERE, ids=lambda a: " ".join(a) or "nothing")
def test_a_plain_line_is_read_as_click_reads_it(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(_step, "run_step", lambda *a, **k: calls.append((a, k)) or 0)
    step = _step.parse(["execute_single_node", *args])
    assert step is not None
    assert step() == 0
    (run_id, step_name), options = calls[0]
    expected = _click_params(args)
    expected["log_level"] = str(expected["log_level"]).upper()
    assert {"run_id": run_id, "step_internal_name": step_name, **options} == expected


@pytest.mark.parametrize("args", LEFT_TO_CLICK, ids=lambda a: " ".join(a) or "nothing")
def test_help_and_every_line_click_would_refuse_are_left_to_click(args: list[str]) -> None:
    assert _step.parse(["execute_single_node", *args]) is None


def test_other_commands_and_shell_completion_are_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _step.parse(["fan", "r1", "a", "-m", "out"]) is None
    assert _step.parse(["-c", "c.yaml", "execute_single_node", "r1", "a"]) is None
    monkeypatch.setenv("_MAGNUS_COMPLETE", "bash_complete")
    assert _step.parse(["execute_single_node", "r1", "a"]) is None


def test_the_reader_knows_every_option_of_the_command() -> None:
    # an option added to the click command and not here would send every line naming it to click (slower,
    # still right); one here and not there would accept what `--help` does not list
    from magnus_core.cli import _load, cli

    _load("nodes")
    params = [p for p in cli.commands["execute_single_node"].params if p.param_type_name == "option"]
    assert {opt: p.name for p in params for opt in p.opts} == _step.OPTIONS
    assert {p.name: p.default for p in params} == _step.DEFAULTS


def test_a_step_run_alone_imports_neither_click_nor_difflib(git_repo: Path) -> None:
    (git_repo / "probe.py").write_text(
        "import sys, json\n\ndef probe():\n    json.dump(sorted(sys.modules), open('modules.json', 'w'))\n"
    )
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: p\n  steps:\n    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    code = (
        "import sys, json\nfrom magnus_core.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n"
        "    json.dump([exc.code, sorted(sys.modules)], open('after.json', 'w'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "execute_single_node", "r1", "p", "--log-level", "info"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    exit_code, after = json.loads((git_repo / "after.json").read_text())
    assert exit_code == 0, result.stderr
    during = json.loads((git_repo / "modules.json").read_text())  # the probe ran inside the step
    for modules in (during, after):
        assert "magnus_core.single" in modules
        # click: the command line is read by hand; difflib: only a mistake's "did you mean" needs it
        assert not {m for m in modules if m.split(".")[0] in ("click", "difflib")}
        assert "magnus_core.cli._group" not in modules and "magnus_core.cli.nodes" not in modules
    log = json.loads((git_repo / ".run_log_store" / "r1.json").read_text())
    assert log["steps"]["p"]["status"] == "SUCCESS"


def test_a_step_process_sets_up_without_the_collector_and_its_step_runs_with_it(git_repo: Path) -> None:
    """The process made for one step makes its modules, models and scope with the cyclic collector paused,
    freezes them (gc.freeze), and runs the step's own code with the collector on: a reference cycle the
    step drops is collected while the step runs, as in any python program (magnus_core/gcpause.py)."""
    (git_repo / "probe.py").write_text(
        "import gc, json\n\n"
        "class Cycle:\n"
        "    freed = 0\n"
        "    def __init__(self):\n        self.me = self\n"
        "    def __del__(self):\n        Cycle.freed += 1\n\n"
        "def probe():\n"
        "    seen = [gc.isenabled(), gc.get_freeze_count()]\n"
        "    for _ in range(20000):\n        Cycle()\n"  # dropped at once: only the collector frees them
        "    json.dump(seen + [Cycle.freed], open('gc.json', 'w'))\n"
    )
    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: p\n  steps:\n    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = run_magnus("execute_single_node", "r1", "p", cwd=git_repo)
    assert result.returncode == 0, result.stderr
    enabled, frozen, freed = json.loads((git_repo / "gc.json").read_text())
    assert enabled and freed > 0
    assert frozen > 10_000  # the set-up's objects (modules, classes, schemas): never walked again


def test_a_step_run_in_a_process_that_goes_on_leaves_its_collector_alone(git_repo: Path) -> None:
    """A Dask worker or a test calls the entry point in its own process: no pause, no freeze there."""
    import gc

    from magnus_core.single import execute_single_node, job_from_files

    (git_repo / "pipeline.yaml").write_text(
        "dag:\n  start_at: s\n  steps:\n    s: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    frozen = gc.get_freeze_count()
    was = gc.isenabled()
    here = os.getcwd()
    os.chdir(git_repo)
    try:
        assert execute_single_node(job_from_files("r1", "s", file="pipeline.yaml")) == 0
    finally:
        os.chdir(here)
    assert gc.get_freeze_count() == frozen and gc.isenabled() == was
