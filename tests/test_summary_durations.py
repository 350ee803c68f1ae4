"""The command line's summary shows a duration under a millisecond as `<1ms`, as the workbench does (issue
16): it printed a success node's `0.003ms`, a figure to the microsecond that reads as measured. A real run in
a subprocess, then `magnus show` of its log with the success node's attempt made 0.4 ms long."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

OLD_FORM = re.compile(r"\b0\.\d+ms\b")  # 0.003ms, 0.648ms: what the summary printed under a millisecond


def test_the_summary_shows_under_a_millisecond_as_less_than_1ms(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text("def quick():\n    return None\n")
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: quick\n  steps:\n    quick: {type: task, command: steps.quick, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 0, done.stderr
    assert not OLD_FORM.search(done.stdout), done.stdout  # (the old code: success ... 0.003ms)
    store = git_repo / ".run_log_store" / "r.json"
    log = json.loads(store.read_text())
    attempt = log["steps"]["success"]["attempts"][0]
    end = datetime.fromisoformat(attempt["start_time"]) + timedelta(microseconds=400)
    attempt["end_time"] = end.isoformat(sep=" ", timespec="microseconds")
    attempt["duration"] = "0:00:00.000400"
    store.write_text(json.dumps(log, indent=4))
    shown = magnus("show", "r")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines() if line.strip()}
    assert rows["success"][1:] == ["success", "SUCCESS", "1", "<1ms"], shown.stdout
    assert not OLD_FORM.search(shown.stdout), shown.stdout
