"""A step's text as magnus's own views show it: without the terminal escape sequences and control characters
it may hold (logs.harmless re-exports it). No imports of magnus's: the runs index's records use it too."""

from __future__ import annotations

import re

# a terminal's escape sequences (OSC: a title, a link; CSI: colours, cursor moves; others) and the other
# control characters but tab and newline, C1 ones too
_CONTROLS = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def harmless(text: str) -> str:
    """`text` (a step's message or output line) as magnus's own views show it: without terminal escape
    sequences and control characters (tab and newline kept), so that a step's `\\x1b]0;title\\x07` never
    sets the terminal's title from `magnus show` or the workbench, nor a colour code or bell act there
    (trial 14, F13; README: input is never trusted). `magnus logs` prints a step's output as written, as
    cat does."""
    return _CONTROLS.sub("", text) if any(c < " " or "\x7f" <= c <= "\x9f" for c in text) else text
