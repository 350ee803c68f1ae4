"""`magnus diff A B` says, under its code group, that `--code` shows how the code differs when it does
(another commit, or uncommitted changes): trial 9 compared two runs whose code differed and found no word of
`--code`. Only in the text: `--json` is unchanged. Real runs in a real git repository."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git, run_magnus

PIPELINE = """\
dag:
  start_at: a
  steps:
    a: {type: task, command: steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _code_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("code "))
    end = next(i for i, line in enumerate(lines) if line.startswith("data "))
    return lines[start:end]


def test_diff_points_to_code_when_the_code_differs_and_only_then(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text("def ok():\n    print('v1')\n")
    (git_repo / "p.yaml").write_text(PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "v1")
    for run_id in ("r1", "same"):
        assert run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=git_repo).returncode == 0
    (git_repo / "steps.py").write_text("def ok():\n    print('v2')\n")
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "dirty", cwd=git_repo).returncode == 0
    git(git_repo, "commit", "-qam", "v2")
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "next", cwd=git_repo).returncode == 0

    for b in ("dirty", "next"):  # uncommitted changes; another commit
        shown = run_magnus("diff", "r1", b, cwd=git_repo)
        assert shown.returncode == 0
        code = _code_lines(shown.stdout)
        assert code[-1] == f"  what changed in the code: magnus diff r1 {b} --code", shown.stdout
        as_json = run_magnus("diff", "r1", b, "--json", cwd=git_repo)
        assert "--code" not in as_json.stdout and json.loads(as_json.stdout)["groups"]["code"]["count"] >= 1
        patch = run_magnus("diff", "r1", b, "--code", cwd=git_repo)  # and it shows it
        assert "-    print('v1')" in patch.stdout and "+    print('v2')" in patch.stdout
    same = run_magnus("diff", "r1", "same", cwd=git_repo)
    assert _code_lines(same.stdout) == ["code       no differences"] and "--code" not in same.stdout
    by_path = run_magnus("diff", ".run_log_store/r1.json", "next", cwd=git_repo)  # as the runs were named
    assert "  what changed in the code: magnus diff .run_log_store/r1.json next --code" in by_path.stdout
