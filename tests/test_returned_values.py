"""What a python step returns on its way to the run log (trial 16 F5, F6), through the real command line.

F5: a value containing itself, or nested far deeper than python's recursion limit, failed the step with a
bare `RecursionError: maximum recursion depth exceeded`, naming no parameter: now the message names the
parameter, what it holds and where, and points at the catalog, as for a value JSON cannot hold.
F6: NaN and infinities in returned parameters became null, and mapping keys that are not text became their
text, with nothing said (metrics warn for NaN): now each is warned about on stderr, naming the step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = """
import math

def two_ways():
    def inner():
        return {"not": "this one"}
    if id(inner) == 0:
        return {}
    return {"made": object()}

def circ():
    d = {}
    d["self"] = d
    return {"loop": d}

def circ_list():
    x = [1]
    x.append({"back": x})
    return {"items": x}

def deep():
    x = []
    cur = x
    for _ in range(100000):
        n = []
        cur.append(n)
        cur = n
    return {"deep": x}

def deep_stored():
    from magnus import store_parameter
    d = {}
    d["self"] = d
    store_parameter(kept=d)

def nan():
    return {"v": float("nan"), "inf": [1.0, {"x": -math.inf}], "fine": 1.5}

def intkeys():
    return {"m": {1: "a", (2, 3): "b"}}

def toplevel():
    return {1: "x"}

def after(**kwargs):
    print("after got", sorted(kwargs.items(), key=str))
"""


def pipeline(command: str, parallel: bool) -> str:
    step = f"{{type: task, command: steps16.{command}, next: after, on_failure: recover}}"
    tail = (
        "    after: {type: task, command: steps16.after, next: success}\n"
        "    recover: {type: task, command: steps16.after, next: fail}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    if not parallel:
        return f"dag:\n  start_at: s\n  steps:\n    s: {step}\n{tail}"
    branch = (
        "        b:\n          start_at: s\n          steps:\n"
        f"            s: {{type: task, command: steps16.{command}, next: success}}\n"
        "            success: {type: success}\n            fail: {type: fail}\n"
    )
    other = branch.replace("        b:", "        c:").replace(f"steps16.{command}", "steps16.after")
    return (
        "executor:\n  type: local\n  config:\n    max_workers: 2\n"
        "dag:\n  start_at: par\n  steps:\n    par:\n      type: parallel\n"
        "      next: after\n      on_failure: recover\n      branches:\n"
        f"{branch}{other}{tail}"
    )


def execute(project: Path, command: str, parallel: bool = False) -> tuple[int, str, dict]:
    """Run p.yaml with `command` as its step (in a branch of a parallel when `parallel`): the exit code, what
    was printed (stdout then stderr) and the run log."""
    (project / "steps16.py").write_text(STEPS)
    (project / "p.yaml").write_text(pipeline(command, parallel))
    result = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=project, timeout=120)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    log = json.loads((project / ".run_log_store" / "r.json").read_text())
    return result.returncode, result.stdout + result.stderr, log


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(
    "command, expected",
    [
        (
            "circ",
            "returned parameter 'loop' holds a dict that contains itself (at loop['self']), which a run log "
            "cannot hold as JSON: return plain values, or save it to a file put in the catalog",
        ),
        ("circ_list", "returned parameter 'items' holds a list that contains itself (at items[1]['back'])"),
        (
            "deep",
            "returned parameter 'deep' is nested more than 64 levels deep (a list), which a run log cannot "
            "hold: flatten it, or save it to a file put in the catalog",
        ),
        ("deep_stored", "parameter 'kept' holds a dict that contains itself (at kept['self'])"),
    ],
)
def test_a_value_containing_itself_or_too_deep_fails_naming_the_parameter(
    git_repo: Path, command: str, expected: str, parallel: bool
) -> None:
    rc, err, log = execute(git_repo, command, parallel)
    assert rc == 1, err
    assert "RecursionError" not in err
    step = log["steps"]["par"]["branches"]["par.b"]["steps"]["par.b.s"] if parallel else log["steps"]["s"]
    assert step["status"] == "FAIL"
    assert expected in step["attempts"][-1]["message"], step["attempts"][-1]["message"]
    assert expected in err
    assert log["steps"]["recover"]["status"] == "SUCCESS"  # the run went on to on_failure
    if command != "deep_stored":  # what it returned is located at its `return` (trial 22, trial 23 F7)
        lines = STEPS.splitlines()
        start = lines.index(f"def {command}():")
        line = next(i for i in range(start, len(lines)) if lines[i].startswith("    return ")) + 1
        assert f"  at steps16.py:{line} in {command}" in err.splitlines(), err
        frame = step["attempts"][-1]["error"]["frames"][-1]
        assert (frame["file"], frame["line"], frame["function"]) == ("steps16.py", line, command)
        assert frame["text"] == lines[line - 1].strip()


def test_a_function_with_several_returns_is_located_at_its_def(git_repo: Path) -> None:
    """Which of several `return`s ran is not known once the function has returned: its `def` locates it."""
    rc, err, log = execute(git_repo, "two_ways")
    assert rc == 1, err
    line = STEPS.splitlines().index("def two_ways():") + 1
    frame = log["steps"]["s"]["attempts"][-1]["error"]["frames"][-1]
    assert (frame["file"], frame["line"], frame["function"]) == ("steps16.py", line, "two_ways")
    assert f"  at steps16.py:{line} in two_ways" in err.splitlines(), err


@pytest.mark.parametrize("parallel", [False, True])
def test_nan_and_infinities_returned_are_warned_about(git_repo: Path, parallel: bool) -> None:
    rc, err, log = execute(git_repo, "nan", parallel)
    assert rc == 0, err
    name = "par.b.s" if parallel else "s"
    assert (
        f"step {name}: returned parameter 'v' is nan, which a run log (JSON) cannot hold: it is kept as null"
        in err
    )
    assert f"step {name}: returned parameter 'inf' is -inf, which a run log (JSON) cannot hold" in err
    assert "'fine'" not in err
    assert log["parameters"]["v"] is None and log["parameters"]["inf"] == [1.0, {"x": None}]


def test_mapping_keys_that_are_not_text_are_warned_about(git_repo: Path) -> None:
    rc, err, log = execute(git_repo, "intkeys")
    assert rc == 0, err
    assert (
        "step s: returned parameter 'm' has mapping keys that are not text (1, an int; (2, 3), a tuple): "
        "a run log (JSON) keeps them as text ('1', '(2, 3)')"
    ) in err
    assert log["parameters"]["m"] == {"1": "a", "(2, 3)": "b"}
    (git_repo / ".run_log_store" / "r.json").unlink()
    rc, err, log = execute(git_repo, "toplevel")
    assert rc == 0, err
    assert (
        "step s: returned a parameter named 1 (an int): a run log (JSON) names parameters by text, so it is "
        "the parameter '1'"
    ) in err
