"""A step that fails itself without an attempt (a conditional with no branch for its value or no parameter,
a loop whose break_on is not a boolean, a catalog conflict between branches) is reported like a failed
task: in the summary `magnus execute` prints, in `magnus show`, and in `magnus logs RUN [STEP]`
(docs/logs.md: every failed step says what failed and where). The rule is one function for any node
type (magnus_core.logs.failed_itself), not a case per type."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from magnus_core.logs import failed_leaves, failures
from magnus_core.models.run_log import BranchLog, RunLog, StepAttempt, StepLog
from tests.conftest import run_magnus

NO_BRANCH = "pick: field 'branches': no branch for parameter 'model' = 'forest' (keys: 'tree') and no default"


def _branch(command: str) -> dict:
    return {
        "start_at": "s",
        "steps": {
            "s": {"type": "task", "command_type": "shell", "command": command, "next": "success"},
            "success": {"type": "success"},
            "fail": {"type": "fail"},
        },
    }


def _write(folder: Path, node: dict) -> Path:
    steps = {"pick": {**node, "next": "success"}, "success": {"type": "success"}, "fail": {"type": "fail"}}
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump({"dag": {"start_at": "pick", "steps": steps}}, sort_keys=False))
    return path


def _run_id(stdout: str) -> str:
    found = re.search(r"^Run (\S+): FAIL", stdout, re.M)
    assert found, stdout
    return found.group(1)


def _cli(*args: str) -> tuple[int, str, str]:
    """The command line in this process (quicker than a subprocess for the commands that only read)."""
    from click.testing import CliRunner

    from magnus_core.cli import _register, cli

    _register()
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_conditional_without_a_branch_for_its_value_says_why_in_summary_show_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        tmp_path, {"type": "conditional", "parameter": "model", "branches": {"tree": _branch("echo tree")}}
    )
    executed = run_magnus("execute", "--file", "p.yaml", "--model", "forest", cwd=tmp_path)
    assert executed.returncode == 1
    assert NO_BRANCH in executed.stdout.splitlines()
    run_id = _run_id(executed.stdout)

    monkeypatch.chdir(tmp_path)
    code, out, _err = _cli("show", run_id)
    assert code == 0 and NO_BRANCH in out.splitlines()

    for args in ((), ("pick",)):  # every step, and the step by name: the failure, not nothing
        code, out, err = _cli("logs", run_id, *args)
        assert code == 0, err
        assert f"magnus: pick (conditional) failed, no output: {NO_BRANCH[len('pick: ') :]}" in err

    code, out, _err = _cli("logs", run_id, "pick", "--json")
    assert json.loads(out)["failures"] == [
        {"step": "pick", "step_type": "conditional", "message": NO_BRANCH[len("pick: ") :]}
    ]


def _summary_of(path: Path, **parameters: Any) -> list[str]:
    from magnus_core.runner import RunRequest, execute, prepare
    from magnus_core.summary import summary_lines

    prepared = prepare(RunRequest(file=str(path), parameters=parameters))
    log = prepared.store.get_run(execute(prepared).run_id)
    assert log.status == "FAIL"
    return summary_lines(log, "here")


def test_a_missing_parameter_and_a_non_boolean_break_on_are_in_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    node = {"type": "conditional", "parameter": "model", "branches": {"tree": _branch("echo tree")}}
    lines = _summary_of(_write(tmp_path, node))
    assert "pick: field 'parameter': parameter 'model' is not set" in "\n".join(lines)

    loop = {
        "type": "loop",
        "max_iterations": 3,
        "break_on": "done",
        "index_as": "i",
        "branch": _branch("export MAGNUS_PRM_done=yes"),
    }
    lines = _summary_of(_write(tmp_path, loop))
    expected = "pick: field 'break_on': parameter 'done' must be true or false, and iteration 0 left it 'yes'"
    assert any(line.startswith(expected) for line in lines), lines


def _step(name: str, status: str, step_type: str = "task", message: str = "", **kw) -> StepLog:
    attempts = [StepAttempt(attempt_number=0, status=status, message=message)] if step_type == "task" else []
    return StepLog(
        name=name,
        internal_name=name,
        status=status,
        step_type=step_type,
        message=message,
        attempts=attempts,
        **kw,
    )


def test_only_the_step_where_a_failure_happened_is_reported_whatever_its_type() -> None:
    inner = _step("outer.b.work", "FAIL", message="boom")
    holding = _step(
        "outer",
        "FAIL",
        "parallel",
        "1 of 1 branches failed: outer.b",
        branches={
            "outer.b": BranchLog(internal_name="outer.b", status="FAIL", steps={"outer.b.work": inner})
        },
    )
    ok = _step("clash.a.put", "SUCCESS")
    clashing = _step(
        "clash",
        "FAIL",
        "map",  # any composite type failing itself, here a catalog conflict between branches that succeeded
        "catalog: 'model.pkl' put by clash.a and clash.b",
        branches={"clash.a": BranchLog(internal_name="clash.a", status="SUCCESS", steps={"clash.a.put": ok})},
    )
    succeeded = _step("fine", "SUCCESS", "conditional")
    log = RunLog(run_id="r", status="FAIL", steps={s.name: s for s in (holding, clashing, succeeded)})
    assert [s.internal_name for s in failed_leaves(log)] == ["outer.b.work", "clash"]
    reported = {f.internal_name: f.message for f in failures(log, reader=None)}
    assert reported == {"outer.b.work": "boom", "clash": "catalog: 'model.pkl' put by clash.a and clash.b"}
