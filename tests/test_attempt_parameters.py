"""Each attempt records the parameters its command received (as magnus 0.4 does): the bound arguments of a
python function, every parameter for a shell command; secrets among them are masked."""

from __future__ import annotations

import shutil
from pathlib import Path

from magnus_core.runner import RunRequest, execute, prepare
from tests.conftest import ROOT


def test_attempts_record_what_the_command_received(git_repo: Path) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples")
    log = execute(
        prepare(RunRequest(file="examples/getting-started.yaml", parameters_file="examples/parameters.yaml"))
    )
    seen = {s.name: s.attempts[-1].parameters for s in log.walk()}
    assert seen["prepare"] == {"x": 3, "y": "world"}
    assert seen["consume"] == {"z": 6, "x": 3}
    assert seen["greet"] == {}  # its arguments have defaults and no parameter names them
    assert seen["shell"]["result"] == 9 and seen["shell"]["items"] == ["a", "b"]
    assert seen["step parameters"] is None and seen["success"] is None  # nothing ran a command
