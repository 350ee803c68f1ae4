"""Trial 6: validation errors of a large generated pipeline name the line of the key they are about, in our
words, whether the file was read by the fast event reader, the full loader or the parse cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from magnus_core.errors import PipelineError, UsageError
from magnus_core.loading import load_pipeline
from magnus_core.suggest import nearest

STEPS = 3000  # as in the trial: 9,000 lines, above the parse cache's 32 KB, and s1901 among the steps


def chain(n: int = STEPS) -> str:
    lines = ["dag:", "  start_at: s1", "  steps:"]
    for i in range(1, n + 1):
        lines += [f"    s{i}:", "      type: stub", f"      next: {f's{i + 1}' if i < n else 'success'}"]
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    return "\n".join(lines) + "\n"


def line_of(text: str, written: str) -> int:
    """The 1-based line of the first line that is exactly `written`."""
    return text.splitlines().index(written) + 1


def refused(tmp_path: Path, text: str, *, twice: bool = True) -> str:
    """The message a load of `text` gives; with `twice`, the second load (its YAML then from the parse
    cache) gives the very same one."""
    path = tmp_path / "big.yaml"
    path.write_text(text)
    messages = []
    for _ in range(2 if twice else 1):
        with pytest.raises(UsageError) as info:
            load_pipeline(path)
        messages.append(str(info.value))
    assert len(set(messages)) == 1, messages
    return messages[0]


def edit(old: str, new: str) -> str:
    text = chain()
    assert old in text
    return text.replace(old, new, 1)


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    text = edit(
        "    s1700:\n      type: stub\n      next: s1701", "    s1700:\n      type: stub\n      nxt: s1701"
    )
    message = refused(tmp_path, text)
    line = line_of(text, "      nxt: s1701")
    assert f"line {line}: step 's1700': unknown field 'nxt' (did you mean 'next'?)" in message
    assert f"line {line_of(text, '    s1700:')}: step 's1700': missing required field 'next'" in message


def test_a_bad_value_is_said_in_our_words_with_its_line(tmp_path: Path) -> None:
    text = edit("    s1401:\n      type: stub\n", "    s1401:\n      type: stub\n      retry: two\n")
    message = refused(tmp_path, text)
    line = line_of(text, "      retry: two")
    assert message.endswith(f"line {line}: step 's1401': field 'retry': expected a whole number, got 'two'")
    assert "Input should be" not in message


def test_a_field_dedented_to_step_level_is_said_plainly(tmp_path: Path) -> None:
    text = edit(
        "    s1800:\n      type: stub\n      next: s1801", "    s1800:\n      type: stub\n    next: s1801"
    )
    message = refused(tmp_path, text)
    line = line_of(text, "    next: s1801")
    assert (
        f"line {line}: step 'next' under steps is not a mapping (got 's1801'): "
        "is `next:` indented under its step?"
    ) in message
    assert "valid dictionary" not in message


def test_a_mistyped_next_suggests_the_one_letter_away_step_with_its_line(tmp_path: Path) -> None:
    text = edit(
        "    s1900:\n      type: stub\n      next: s1901", "    s1900:\n      type: stub\n      next: s19o1"
    )
    message = refused(tmp_path, text)
    line = line_of(text, "      next: s19o1")
    assert (
        f"line {line}: step 's1900': field 'next': 's19o1' is not a step of this dag (did you mean 's1901'?)"
        in (message)
    )


def test_a_duplicate_step_names_both_lines(tmp_path: Path) -> None:
    text = edit("    s2001:\n", "    s2000:\n")
    message = refused(tmp_path, text, twice=False)
    first, second = (i + 1 for i, row in enumerate(text.splitlines()) if row == "    s2000:")
    assert message.endswith(f"line {second}: malformed YAML: duplicate key 's2000' (first at line {first})")
    assert message.count(f"line {second}") == 1


def test_a_small_file_read_by_the_full_loader_gives_lines_too(tmp_path: Path) -> None:
    # `<<` (a merge key) sends the file to the full loader; the step's fields from the merge have no line
    text = (
        "dag:\n  start_at: a\n  steps:\n    a:\n      <<: {type: stub}\n      next: b\n"
        "    b:\n      type: stub\n      next: success\n      retry: 1.5\n"
        "    success:\n      type: success\n    fail:\n      type: fail\n"
    )
    message = refused(tmp_path, text)
    assert re.search(r"line 10: step 'b': field 'retry': expected a whole number, got 1.5$", message), message


def test_suggestions_rank_by_edits() -> None:
    names = [f"s{i}" for i in range(1, STEPS + 1)]
    assert nearest("s19o1", names)[0] == "s1901"  # difflib alone ranks s2191 first
    assert nearest("s1234x", names)[0] == "s1234"
    assert nearest("nxt", ["next", "name", "type"]) == ["next"]
    assert nearest("paramters", ["params", "parameters"])[0] == "parameters"


def test_start_at_and_a_file_that_cannot_be_read_again(tmp_path: Path) -> None:
    """A problem about start_at names its line; with no node tree (the file gone since) no line is made up."""
    from magnus_core.loading import Problem, _line_of, located

    with pytest.raises(PipelineError) as info:
        load_pipeline(_write(tmp_path, "dag:\n  start_at: a\n  steps: {}\n"))
    assert "line 2: field 'start_at': 'a' is not a step of this dag" in str(info.value)
    assert _line_of(None, ("dag", "steps", "a")) is None
    problem = Problem("step 'a': field 'next': 'b' is not a step of this dag", ("dag", "steps", "a", "next"))
    assert located([problem], str(tmp_path / "gone.yaml")) == [problem.text]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_a_key_indented_unlike_its_neighbours_names_both_lines(tmp_path: Path) -> None:
    """Trial 6: an over-indented `type:` gave `line 4514: malformed YAML: did not find expected key`, the line
    after it, with nothing said of indentation."""
    text = edit("    s1501:\n      type: stub\n", "    s1501:\n       type: stub\n")
    message = refused(tmp_path, text, twice=False)
    line = line_of(text, "       type: stub")
    assert message.endswith(
        f"line {line + 1}: malformed YAML: did not find expected key "
        f"(line {line} is indented 7 spaces, line {line + 1} 6: the keys of one mapping line up)"
    )
