"""A step's module that raises while it is imported is located like a step's failure (trial 12 fault 4: the
validation error said `importing module 'mlproj.broken2' failed: KeyError: 'b'` with no file or line, and
--log-level DEBUG printed only magnus's frames). The real command line, in a subprocess, in a git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """
dag:
  start_at: a
  steps:
    a:
      type: task
      command: mlproj.{module}.f
      next: success
    success:
      type: success
    fail:
      type: fail
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "mlproj").mkdir()
    (git_repo / "mlproj" / "__init__.py").write_text("")
    (git_repo / "mlproj" / "broken2.py").write_text('CFG = {"a": 1}\nx = CFG["b"]\n\n\ndef f():\n    pass\n')
    (git_repo / "mlproj" / "config.py").write_text('import os\n\nTOKEN = os.environ["MLPROJ_TOKEN"]\n')
    (git_repo / "mlproj" / "uses.py").write_text("from mlproj import config\n\n\ndef f():\n    pass\n")
    (git_repo / "mlproj" / "needs.py").write_text("import numpyy_missing\n\n\ndef f():\n    pass\n")
    for module in ("broken2", "uses", "needs"):
        (git_repo / f"{module}.yaml").write_text(PIPELINE.format(module=module))
    return git_repo


def test_a_module_raising_at_import_is_refused_with_its_place(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "broken2.yaml")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "Error: broken2.yaml: line 7: step 'a': field 'command': importing module 'mlproj.broken2' failed: "
        "KeyError: 'b', at mlproj/broken2.py:2 in <module>"
    ), done.stderr
    # the user's traceback under it: their frames only (no magnus, no importlib), relative paths
    assert lines[1:] == [
        "  Traceback (most recent call last):",
        '    File "mlproj/broken2.py", line 2, in <module>',
        '      x = CFG["b"]',
        "          ~~~^^^^^",
        "  KeyError: 'b'",
    ], done.stderr
    assert not (project / ".run_log_store").exists()  # still refused before the run: no run log

    debug = magnus("execute", "-f", "broken2.yaml", "--log-level", "DEBUG")
    assert debug.returncode == 2
    assert 'File "mlproj/broken2.py", line 2, in <module>' in debug.stderr


def test_the_innermost_project_frame_is_named_through_imports(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "uses.yaml", unset=("MLPROJ_TOKEN",))
    assert done.returncode == 2
    first, *rest = done.stderr.splitlines()
    assert first.endswith(
        "importing module 'mlproj.uses' failed: KeyError: 'MLPROJ_TOKEN', at mlproj/config.py:3 in <module>"
    ), done.stderr
    assert '    File "mlproj/uses.py", line 1, in <module>' in rest
    assert '    File "mlproj/config.py", line 3, in <module>' in rest
    assert not any("importlib" in line or "magnus_core" in line for line in rest), done.stderr


def test_a_missing_library_imported_by_the_project_is_located(project: Path, magnus: Any) -> None:
    done = magnus("execute", "-f", "needs.yaml")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].endswith(
        "cannot import module 'mlproj.needs' of command 'mlproj.needs.f': No module named 'numpyy_missing', "
        "at mlproj/needs.py:1 in <module>"
    ), done.stderr


def test_the_per_step_entry_point_records_where_the_import_failed(project: Path, magnus: Any) -> None:
    done = magnus("execute_single_node", "r1", "a", "-f", "broken2.yaml")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "magnus: a: field 'command': importing module 'mlproj.broken2' failed: KeyError: 'b'"
    assert lines[1] == "magnus:   at mlproj/broken2.py:2 in <module>", done.stderr
    logs = magnus("logs", "r1", "a", "--json")
    attempt = json.loads(logs.stdout)["attempts"][0]
    assert attempt["error"]["type"] == "KeyError"
    assert attempt["error"]["frames"] == [
        {"file": "mlproj/broken2.py", "line": 2, "function": "<module>", "text": 'x = CFG["b"]'}
    ]
    assert 'File "mlproj/broken2.py", line 2, in <module>' in attempt["text"]  # its output ends with it


def test_a_step_run_alone_with_no_output_kept_records_the_import_frames(project: Path, magnus: Any) -> None:
    (project / "nothing.yaml").write_text("catalog: {type: do-nothing}\n")
    done = magnus("execute_single_node", "r2", "a", "-f", "broken2.yaml", "-c", "nothing.yaml")
    assert done.returncode == 1
    assert "magnus:   at mlproj/broken2.py:2 in <module>" in done.stderr.splitlines(), done.stderr
    logs = magnus("logs", "r2", "a", "--json", "-c", "nothing.yaml")
    assert json.loads(logs.stdout)["attempts"][0]["error"]["frames"][0]["file"] == "mlproj/broken2.py"


def test_a_syntax_error_is_located_as_other_failures_are(project: Path, magnus: Any) -> None:
    """Session 9 (fail9): a SyntaxError in a step's module got no `, at` place (python keeps it in the error,
    SyntaxError.filename and .lineno, not in a frame): refused before the run, in the per-step entry point's
    record and `magnus show`, and when the step's code imports the module as it runs. Session 11: the place
    is said once: the message is python's words alone (`'(' was never closed`), not `... (bad.py, line 5)`
    beside `at mlproj/bad.py:5`, in every view (the refusal, show, logs, `magnus runs --status FAIL`)."""
    (project / "mlproj" / "bad.py").write_text("import json\n\n\ndef f():\n    x = (1,\n    return x\n")
    (project / "mlproj" / "lazy.py").write_text("def f():\n    from mlproj import bad\n\n    return bad\n")
    for module in ("bad", "lazy"):
        (project / f"{module}.yaml").write_text(PIPELINE.format(module=module))
    refused = magnus("execute", "-f", "bad.yaml")
    assert refused.returncode == 2
    first, *rest = refused.stderr.splitlines()
    assert first.endswith("failed: SyntaxError: '(' was never closed, at mlproj/bad.py:5"), first
    assert rest[0] == '    File "mlproj/bad.py", line 5' and str(project) not in refused.stderr

    alone = magnus("execute_single_node", "r1", "a", "-f", "bad.yaml")
    assert alone.returncode == 1 and "magnus:   at mlproj/bad.py:5" in alone.stderr.splitlines()
    error = json.loads(magnus("logs", "r1", "a", "--json").stdout)["attempts"][0]["error"]
    assert error["frames"] == [{"file": "mlproj/bad.py", "line": 5, "function": "", "text": "x = (1,"}]

    ran = magnus("execute", "-f", "lazy.yaml", "--run-id", "r2")
    assert ran.returncode == 1
    shown = magnus("show", "r2").stdout.splitlines()
    at = shown.index("a: SyntaxError: '(' was never closed")
    assert shown[at + 1] == "  at mlproj/bad.py:5", shown
    assert (
        '  |   File "mlproj/lazy.py", line 2, in f' in shown and '  |   File "mlproj/bad.py", line 5' in shown
    )
    assert "line 5)" not in "\n".join(shown)
    listed = magnus("runs", "--status", "FAIL").stdout
    assert "r2: a: SyntaxError: '(' was never closed (at mlproj/bad.py:5)" in listed, listed
    logs = magnus("logs", "r2", "a").stderr
    assert "SyntaxError: '(' was never closed, at mlproj/bad.py:5" in logs and "line 5)" not in logs, logs
