"""Every run log the original tool wrote loads into our RunLog model without loss: load, dump, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnus_core.errors import RunLogError
from magnus_core.models.run_log import RunLog
from magnus_core.stores.file_system import load_run_log
from tests.conftest import FIXTURES


def _fixture_files() -> list[Path]:
    files = set(FIXTURES.glob("**/run_logs/*.json")) | set((FIXTURES / "peer-runs").glob("**/*.json"))
    return sorted(files)


RUN_LOGS = [p for p in _fixture_files() if "run_id" in json.loads(p.read_text())]
OTHERS = [p for p in _fixture_files() if p not in RUN_LOGS]


def test_there_are_fixtures_to_check() -> None:
    assert len(RUN_LOGS) >= 35  # 4 from magnus-0.3.12, the rest from peer-runs (0.1.2, 0.3.12, 0.4.22)
    assert any(p.parent.name == "run_logs" and p.parent.parent.name == "magnus-0.3.12" for p in RUN_LOGS)


@pytest.mark.parametrize("path", RUN_LOGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_round_trips_without_loss(path: Path) -> None:
    original = json.loads(path.read_text())
    log = load_run_log(path)
    dumped = log.model_dump(mode="json")
    assert dumped == original
    assert list(dumped) == list(original)  # the same key order, too
    assert json.loads(log.model_dump_json()) == original
    # Through the model again (what a store does when it reads what it wrote).
    assert RunLog.model_validate_json(log.model_dump_json()).model_dump(mode="json") == original


@pytest.mark.parametrize("path", RUN_LOGS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_step_of_a_fixture_is_reachable_by_internal_name(path: Path) -> None:
    log = load_run_log(path)
    for step in log.walk():
        assert log.find_step(step.internal_name) is step


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_json_that_is_not_a_run_log_is_refused_with_a_clear_message(path: Path) -> None:
    with pytest.raises(RunLogError) as info:
        load_run_log(path)
    assert str(path) in str(info.value) and "not a run log" in str(info.value)
