"""`magnus runs` on an 80-column terminal keeps run ids whole (users copy them into `magnus diff`)."""

from __future__ import annotations

from pathlib import Path


def test_run_ids_are_never_truncated(git_repo: Path, magnus) -> None:
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ids = []
    for _ in range(2):
        assert magnus("execute", "-f", "p.yaml", "--tag", "a-rather-long-tag").returncode == 0
    listed = magnus("runs", env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    ids = [p.stem for p in (git_repo / ".run_log_store").glob("*.json")]
    assert len(ids) == 2
    for run_id in ids:
        assert run_id in listed.stdout
