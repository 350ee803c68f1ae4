"""How magnus's log reads on stderr (cli.setup_logging): at the default level a warning reads as every
other message magnus prints (`magnus: ...`); with --log-level INFO or DEBUG each line carries its time,
level and logger (trial 9: one warning among the per-step path's `magnus: ...` lines read
`2026-11-30 21:10:40,161 WARNING magnus: run hand3 exists already: ...`)."""

from __future__ import annotations

import logging
import re

import pytest

from magnus_core.cli import setup_logging


@pytest.fixture(autouse=True)
def restore_magnus_logger():
    logger = logging.getLogger("magnus")
    kept = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = kept


def test_a_warning_at_the_default_level_reads_as_magnus_other_messages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("WARNING")
    logging.getLogger("magnus.single").warning("run %s exists already", "hand3")
    logging.getLogger("magnus.single").info("not shown")
    assert capsys.readouterr().err == "magnus: run hand3 exists already\n"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_detailed_level_keeps_time_level_and_logger(level: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level)
    logging.getLogger("magnus.single").warning("run %s exists already", "hand3")
    line = capsys.readouterr().err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING magnus\.single: run hand3 exists already\n", line
    )
