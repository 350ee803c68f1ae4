"""The `--json` examples of docs/runs.md and docs/diff.md are what the commands print today (trial 8 read an
old time format in runs.md's: no UTC offset, a shortened commit): their keys, and the form of their values,
against real runs in a real git repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import ROOT, git, run_magnus

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$")  # as the run log writes it
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _json_block(doc: str, starts: str) -> dict:
    text = (ROOT / "docs" / doc).read_text()
    start = text.index(f"```json\n{starts}")
    return json.loads(text[start + len("```json\n") : text.index("```", start + 8)])


def _shape(value: object) -> object:
    """The keys of every mapping, to any depth (lists: the shape of their first item)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("before", "after")}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict) else []
    return None


def test_the_runs_and_diff_json_examples_read_as_the_commands_print(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text("from magnus import track_this\ndef ok():\n    track_this(v=0.6)\n")
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: steps.ok, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "one")
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r1", cwd=git_repo).returncode == 0
    (git_repo / "steps.py").write_text("from magnus import track_this\ndef ok():\n    track_this(v=0.7)\n")
    git(git_repo, "commit", "-qam", "two")
    assert run_magnus("execute", "-f", "p.yaml", "--run-id", "r2", cwd=git_repo).returncode == 0

    shown = _json_block("runs.md", '{\n  "schema": "magnus-runs/2"')["runs"][0]
    listed = json.loads(run_magnus("runs", "--json", cwd=git_repo).stdout)["runs"]
    real = next(run for run in listed if run["run_id"] == "r1")
    assert list(shown) == list(real)
    for run in (shown, real):
        assert TIME.match(run["start"]) and TIME.match(run["end"]), run
        assert COMMIT.match(run["commit"]), run

    shown_diff = _json_block("diff.md", '{\n  "schema": "magnus-diff/2"')
    real_diff = json.loads(run_magnus("diff", "r1", "r2", "--json", cwd=git_repo).stdout)
    differing = {
        name: (_shape(group), _shape(real_diff["groups"][name]))
        for name, group in shown_diff["groups"].items()
        if _shape(group) != _shape(real_diff["groups"][name])
    }
    assert not differing
    assert _shape({**shown_diff, "groups": {}}) == _shape({**real_diff, "groups": {}})
    commits = [c for c in shown_diff["groups"]["code"]["changes"] if c["field"] == "commit"]
    real_commits = [c for c in real_diff["groups"]["code"]["changes"] if c["field"] == "commit"]
    for change in (*commits, *real_commits):  # the whole hash, as --json gives it (the text shortens it)
        assert COMMIT.match(change["before"]) and COMMIT.match(change["after"]), change
    assert shown_diff["groups"]["run"]["equal"] == real_diff["groups"]["run"]["equal"]  # run-level items
