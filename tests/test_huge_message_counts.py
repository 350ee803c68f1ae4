"""A step raising an exception whose message is megabytes long: every view counts the characters it left out
of the message the same way, what the step's exception held (trial 14 F15: the error line said
`(5,487,911 more characters)`, the last lines under it `(1,047,447 more characters)`: the traceback ending
the kept output is cut at 1 MB, and the tail of a long line did not count what that cut left out)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

STEPS = """
def huge():
    raise ValueError("bad rows: " + ",".join(str(i) for i in range(800000)))
"""

PIPELINE = """
dag:
  start_at: huge
  steps:
    huge: {type: task, command: huge_steps.huge, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_huge_message_is_counted_once_everywhere(git_repo: Path, magnus: Any) -> None:
    (git_repo / "huge_steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    held = len("ValueError: bad rows: " + ",".join(str(i) for i in range(800000)))
    done = magnus("execute", "-f", "p.yaml", "--run-id", "big")
    assert done.returncode == 1
    shown = magnus("show", "big").stdout
    counts = {int(n.replace(",", "")) for n in re.findall(r"\(([\d,]+) more characters\)", shown)}
    # the error line (after `huge: `) and the last line of output, the same message: one count of it
    assert len(counts) == 1, shown[-3000:]
    (count,) = counts
    assert held - 1200 < count < held, (count, held)
