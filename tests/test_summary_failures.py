"""Every failure a run summary locates (trial 7, finding 1): the steps inside parallel and map branches are
the root causes and are never the ones cut; a composite that failed because of them names them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_magnus

DATA = Path(__file__).parent / "data" / "trial7"
FAILED = ["raises", "exit1", "exittext", "nonjson", "sh", "par.b2.p2", "each.3.work"]


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("trial7")
    for name in ("failures.yaml", "steps.py"):
        shutil.copy(DATA / name, folder / name)
    done = run_magnus("execute", "-f", "failures.yaml", "--run-id", "t7", cwd=folder)
    assert done.returncode == 1, done.stderr
    return folder, done.stdout.splitlines()


def _located(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines if any(line.startswith(f"{name}: ") for name in FAILED)]


def test_a_short_run_locates_every_failure_the_ones_inside_branches_included(failed_run) -> None:
    _folder, out = failed_run
    assert _located(out) == FAILED  # all seven, in the order they ran: none cut at five
    assert "each.3.work: ValueError: bad chunk 3" in out
    assert "par.b2.p2: shell command exited with code 3" in out
    assert not any(line.startswith(("par: ", "each: ", "... and")) for line in out)
    rows = {line.split()[0]: line for line in out if line.startswith(("par ", "each "))}
    assert rows["par"].rstrip().endswith("  par.b2.p2")  # the table's `failed in` column
    assert rows["each"].rstrip().endswith("each.3.work")


def test_show_and_show_steps_locate_every_failure(failed_run, magnus) -> None:
    folder, _out = failed_run
    for args in ((), ("--steps",)):
        shown = magnus("show", "t7", *args, cwd=folder).stdout.splitlines()
        assert _located(shown) == FAILED, args
