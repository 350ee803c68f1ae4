"""Trial 12 fault 2: a shell step's `echo "downloading"; echo "HTTP 429 rate limited" >&2; exit 4` kept its
stderr line before its stdout line in most runs (4 of 6), in the kept log and on the terminal: the two pipes
were read by two threads that raced. One thread now polls both and reads stdout first when both have
something, so a line printed before another is written to stderr keeps its place. The real command line;
ten steps, each the trial's "print, then the reason on stderr"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STEPS = 10


def test_print_then_error_keeps_its_order_in_every_step(
    tmp_path: Path, magnus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = ["dag:", "  start_at: s0", "  steps:"]
    for i in range(STEPS):
        nxt = f"s{i + 1}" if i + 1 < STEPS else "success"
        # (as the trial's: a command substitution first, a failed exit; on_failure goes on to the next)
        command = f'echo "downloading {i} $(date +%s)"; echo "HTTP 429 rate limited {i}" >&2; exit 4'
        step = f"type: task, command_type: shell, command: '{command}', next: {nxt}, on_failure: {nxt}"
        lines.append(f"    s{i}: {{{step}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}", ""]
    (tmp_path / "order.yaml").write_text("\n".join(lines))
    done = magnus("execute", "-f", "order.yaml", "--run-id", "order")
    assert "HTTP 429 rate limited 9" in done.stderr
    kept = [line for line in magnus("logs", "order").stdout.splitlines() if not line.startswith("==")]
    said = [line for i in range(STEPS) for line in (f"downloading {i}", f"HTTP 429 rate limited {i}")]
    assert [
        line.rsplit(" ", 1)[0] if line.startswith("downloading") else line for line in kept if line
    ] == said
    # on the terminal (here a pipe: magnus's stdout and stderr, one per stream) each stream keeps its lines
    assert [
        line.rsplit(" ", 1)[0] for line in done.stdout.splitlines() if line.startswith("downloading")
    ] == [f"downloading {i}" for i in range(STEPS)]
