"""`magnus logs RUN STEP --json` streams each attempt's whole output into its `text` (cli/logs.py
_echo_json) instead of holding it whole three times (trial 19 F12: about 445 MB of memory for a capped
100 MB output). The document must read exactly as json.dumps of the whole would: multi-byte characters
and invalid bytes across the megabyte chunks, several attempts, --tail still whole lines. A real run in a
subprocess, in a temporary git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

STEPS = """
import sys


def big():
    out = sys.stdout.buffer
    for i in range(80000):  # about 3 MB: chunk edges fall inside characters and invalid bytes
        out.write(("line %d é€😀 \\"quoted\\" \\\\ tab\\t" % i).encode() + (b"\\xff\\xfe" if i % 7 == 0 else b"") + b"\\n")
    out.flush()


def small():
    print("small one")
"""


def test_the_json_of_a_large_output_is_the_output_exactly(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: steps.big, next: b}\n"
        "    b: {type: task, command: steps.small, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "big"]
    ran = subprocess.run(command, cwd=git_repo, env=env, capture_output=True, timeout=120)  # (bytes: 0xff)
    assert ran.returncode == 0, ran.stderr
    kept = (git_repo / ".catalog" / "big" / ".magnus" / "output" / "a.0.log").read_bytes()
    assert len(kept) > 2 << 20
    shown = magnus("logs", "big", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    texts = {a["step"]: a["text"] for a in document["attempts"]}
    assert texts["a"] == kept.decode("utf-8", errors="replace")
    assert texts["b"] == "small one\n"
    assert document["attempts"][0]["output"]["size"] == len(kept)
    tail = json.loads(magnus("logs", "big", "a", "--json", "--tail", "2").stdout)
    assert tail["attempts"][0]["text"] == "\n".join(kept.decode("utf-8", errors="replace").splitlines()[-2:])
