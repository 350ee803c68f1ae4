"""A step's module that exits as it is imported (trial 20 N1): `sys.exit(3)` or `sys.exit(0)` at its top,
`os._exit(4)`, `raise KeyboardInterrupt`, and most often a script turned into a step whose argparse (or
click) parses the command line at module level, sees magnus's own arguments and exits 2. magnus imports
every step's module before the run, and the SystemExit went through: magnus ended with the module's code,
silently, no run log (`sys.exit(0)`: exit 0 and nothing ran; argparse: `usage: magnus ...` read as magnus
refusing its own command line). Now refused before the run like a module raising an exception (exit 2, one
located line naming the module, argparse's own message kept); imported later, at the step (the per-step
entry point, or a module a step imports as it runs), the step fails, whatever the code, and the run goes
on. Real runs in subprocesses, in a temporary git repo."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command: pkg.fine.first, next: s}
    s: {type: task, command: pkg.%s.s, next: sh}
    sh: {type: task, command_type: shell, command: "echo shell ran", next: success}
    success: {type: success}
    fail: {type: fail}
"""

EXITS = {
    "exit3": ("import sys\nprint('exit3 importing')\nsys.exit(3)\n", 3, "SystemExit: 3"),
    "exit0": ("import sys\nsys.exit(0)\n", 2, "SystemExit: 0"),
    "exitmsg": ("raise SystemExit('no GPU found')\n", 1, "SystemExit: no GPU found"),
    "osexit": ("import os\nos._exit(4)\n", 2, "SystemExit: the module called os._exit(4)"),
}
EXIT_HINT = (
    '; a module that exits as it is imported cannot be a step\'s (exit under if __name__ == "__main__":)'
)
ARGV_HINT = (
    "; a module that parses the command line as it is imported sees magnus's arguments (parse them under "
    'if __name__ == "__main__": a step\'s function gets its parameters as arguments)'
)
ARGPARSE = (
    "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr', type=float, default=0.1)\n"
    "args = parser.parse_args()\n"
)


def _project(root: Path, name: str, top: str) -> None:
    """pkg/fine.py (the first step), pkg/<name>.py: `top` at import, then the step function s."""
    (root / "pkg").mkdir(exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "fine.py").write_text("def first():\n    print('first ran')\n")
    (root / "pkg" / f"{name}.py").write_text(f"{top}\n\ndef s():\n    print('s ran')\n")
    (root / "p.yaml").write_text(PIPELINE % name)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize("name", sorted(EXITS))
def test_a_module_that_exits_as_imported_is_refused_before_the_run(
    git_repo: Path, magnus: Any, name: str
) -> None:
    top, line, said = EXITS[name]
    _project(git_repo, name, top)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 2, (ran.returncode, ran.stderr)  # (the old code: 3, 0, 1, 4, silently)
    assert _errors(ran.stderr) == [
        f"Error: p.yaml: line 6: step 's': field 'command': importing module 'pkg.{name}' failed: {said}, at "
        f"pkg/{name}.py:{line} in <module>{EXIT_HINT}"
    ]
    assert "first ran" not in ran.stdout and not (git_repo / ".run_log_store").exists()  # refused: none ran


def test_argparse_at_a_modules_top_is_refused_with_its_own_message(git_repo: Path, magnus: Any) -> None:
    """The most common form: a script made a step keeps `args = parser.parse_args()` at its top. argparse's
    usage and error stay above (it printed them), and the refusal names the module and keeps the message."""
    _project(git_repo, "train", ARGPARSE)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 2, ran.stderr
    assert _errors(ran.stderr) == [  # (the old code: only argparse's `usage: magnus [-h] [--lr LR]`)
        "Error: p.yaml: line 6: step 's': field 'command': importing module 'pkg.train' failed: SystemExit: 2 "
        "(argparse: unrecognized arguments: execute -f p.yaml --run-id r), at pkg/train.py:4 in <module>"
        f"{ARGV_HINT}"
    ]
    assert not (git_repo / ".run_log_store").exists()


def test_click_at_a_modules_top_is_refused_with_its_own_message(git_repo: Path, magnus: Any) -> None:
    top = "import click\n\n@click.command()\n@click.option('--lr', default=0.1)\ndef main(lr):\n    pass\n\nmain()\n"
    _project(git_repo, "cli", top)
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 2, ran.stderr
    assert _errors(ran.stderr)[-1] == (  # (click's own `Error: No such option '-f'.` is above it)
        "Error: p.yaml: line 6: step 's': field 'command': importing module 'pkg.cli' failed: SystemExit: 2 "
        f"(click: No such option '-f'.), at pkg/cli.py:8 in <module>{ARGV_HINT}"
    )
    # under it, the module's own line alone: not click's chain of three tracebacks through its parser, about
    # 30 lines that buried the message (trial 21)
    shown = ran.stderr.split(ARGV_HINT, 1)[1].splitlines()
    assert shown[1:] == [
        "  Traceback (most recent call last):",
        '    File "pkg/cli.py", line 8, in <module>',
        "      main()",
        "  SystemExit: 2",
    ], ran.stderr


def test_a_keyboard_interrupt_a_module_raises_is_refused_and_ctrl_c_still_stops(
    git_repo: Path, magnus: Any
) -> None:
    """KeyboardInterrupt raised by the module's code (no signal came) is its failure; a real SIGINT that
    arrives while a module is imported still stops magnus, as Ctrl-C does (interrupts.py)."""
    _project(git_repo, "ki", "raise KeyboardInterrupt")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 2, ran.stderr  # (the old code: 130, silently)
    assert _errors(ran.stderr) == [
        "Error: p.yaml: line 6: step 's': field 'command': importing module 'pkg.ki' failed: KeyboardInterrupt, "
        "at pkg/ki.py:1 in <module>"
    ]
    (git_repo / "p.yaml").unlink()
    _project(
        git_repo, "sigint", f"import os, time\nos.kill(os.getpid(), {int(signal.SIGINT)})\ntime.sleep(5)"
    )
    stopped = magnus("execute", "-f", "p.yaml", "--run-id", "r2")
    assert stopped.returncode == 130, stopped.stderr  # (a stop, as before: not refused as the module's)
    assert not _errors(stopped.stderr)


def test_a_base_exception_of_its_own_a_module_raises_is_refused(git_repo: Path, magnus: Any) -> None:
    """A class of the module's own deriving from BaseException (as KeyboardInterrupt and SystemExit do)."""
    _project(git_repo, "halts", "class Stop(BaseException):\n    pass\n\n\nraise Stop('halt')")
    ran = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert ran.returncode == 2, ran.stderr  # (the old code: 1, python's raw traceback)
    assert _errors(ran.stderr) == [
        "Error: p.yaml: line 6: step 's': field 'command': importing module 'pkg.halts' failed: Stop: halt, at "
        "pkg/halts.py:5 in <module>"
    ]


def _step(root: Path, run: str, name: str) -> dict[str, Any]:
    log = json.loads((root / ".run_log_store" / f"{run}.json").read_text())
    step: dict[str, Any] = log["steps"][name]
    return step


@pytest.mark.parametrize("name", ["exit0", "train"])
def test_the_per_step_entry_point_fails_the_step_naming_the_module(
    git_repo: Path, magnus: Any, name: str
) -> None:
    """`magnus execute_single_node` imports the module inside the step: `sys.exit(0)` there made the step a
    SUCCESS whose function never ran; argparse's exit read `the step called sys.exit(2)`."""
    _project(git_repo, name, ARGPARSE if name == "train" else EXITS[name][0])
    ran = magnus("execute_single_node", "-f", "p.yaml", "r", "s")
    assert ran.returncode == 1, ran.stderr
    step = _step(git_repo, "r", "s")
    assert step["status"] == "FAIL"  # (the old code: SUCCESS for exit0)
    said = (
        "SystemExit: 2 (argparse: unrecognized arguments: execute_single_node -f p.yaml r s)" + ARGV_HINT
        if name == "train"
        else "SystemExit: 0" + EXIT_HINT
    )
    assert step["message"] == f"field 'command': importing module 'pkg.{name}' failed: {said}"
    frames = step["attempts"][0]["error"]["frames"]
    assert [(f["file"], f["function"]) for f in frames if f["file"].startswith("pkg/")] == [
        (f"pkg/{name}.py", "<module>")
    ]


LAZY = """
dag:
  start_at: a
  steps:
    a: {type: task, command: pkg.lazy.exits, next: b, on_failure: b}
    b: {type: task, command: pkg.lazy.parses, next: sh, on_failure: sh}
    sh: {type: task, command_type: shell, command: "echo shell ran", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_module_a_step_imports_as_it_runs_fails_that_step_and_the_run_goes_on(
    git_repo: Path, magnus: Any
) -> None:
    """A step that imports such a module in its function: `sys.exit(0)` at the module's top made the step a
    SUCCESS (its function never got past the import), argparse's exit was `the step called sys.exit(2)`."""
    _project(git_repo, "exit0", EXITS["exit0"][0])
    (git_repo / "pkg" / "train.py").write_text(ARGPARSE)
    (git_repo / "pkg" / "lazy.py").write_text(
        "def exits():\n    import pkg.exit0\n    print('after the import')\n\n\ndef parses():\n    import pkg.train\n"
    )
    (git_repo / "lazy.yaml").write_text(LAZY)
    ran = magnus("execute", "-f", "lazy.yaml", "--run-id", "r")
    assert ran.returncode == 0, ran.stderr  # (on_failure taken each time; the run itself succeeds)
    assert "after the import" not in ran.stdout and "shell ran" in ran.stdout
    a, b = _step(git_repo, "r", "a"), _step(git_repo, "r", "b")
    assert a["status"] == "FAIL"  # (the old code: SUCCESS)
    assert a["message"] == f"importing module 'pkg.exit0' failed: SystemExit: 0{EXIT_HINT}"
    assert b["status"] == "FAIL"
    assert b["message"] == (  # (the old code: `SystemExit: the step called sys.exit(2)`)
        "importing module 'pkg.train' failed: SystemExit: 2 (argparse: unrecognized arguments: execute -f "
        f"lazy.yaml --run-id r){ARGV_HINT}"
    )
    assert b["attempts"][0]["error"]["exit_code"] == 2
    assert "b: importing module 'pkg.train' failed: SystemExit: 2 (argparse" in ran.stdout
    assert os.path.exists(git_repo / ".run_log_store" / "r.json")
