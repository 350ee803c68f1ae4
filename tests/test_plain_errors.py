"""Exit codes and plain errors: what a user can reach with a plausible mistake is one line that says what to
do, with exit code 2, never "internal error" and exit 1 (the code of a failed run) (issue 18, item 7)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, read_only, run_magnus

PIPELINE = """
dag:
  start_at: s
  steps:
    s: {type: task, command_type: shell, command: "echo hi", next: success}
    success: {type: success}
    fail: {type: fail}
"""
WITH_CATALOG = PIPELINE.replace(
    'command: "echo hi",', 'command: "echo hi > data/out.txt", catalog: {put: [out.txt]},'
)


def test_no_write_permission_names_the_folder_and_the_key_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    done = read_only(tmp_path, "execute", "--file", "p.yaml")
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert "internal error" not in err and len(err.splitlines()) == 1, err
    assert "cannot write the run-log store folder '.run_log_store'" in err
    assert "read-only file system" in err or "not writable" in err
    assert "run_log_store.config.log_folder" in err
    assert not (tmp_path / ".run_log_store").exists()


def test_with_the_store_moved_the_run_goes_on_and_a_catalog_folder_is_named_the_same_way(
    tmp_path: Path,
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "writable"
    project.mkdir()
    elsewhere.mkdir()
    (project / "p.yaml").write_text(PIPELINE)
    (project / "c.yaml").write_text(
        f"run_log_store: {{type: file-system, config: {{log_folder: {elsewhere}/runs}}}}\n"
    )
    done = read_only(project, "execute", "--file", "p.yaml", "-c", "c.yaml")
    assert done.returncode == 0, done.stderr
    assert len(list((elsewhere / "runs").glob("*.json"))) == 1
    (project / "data").mkdir()
    (project / "q.yaml").write_text(WITH_CATALOG)
    done = read_only(project, "execute", "--file", "q.yaml", "-c", "c.yaml")
    assert done.returncode == 2, done.stderr
    assert "cannot write the catalog folder '.catalog'" in done.stderr
    assert "catalog.config.catalog_location" in done.stderr


def test_a_file_where_a_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / ".run_log_store").write_text("not a folder")
    done = run_magnus("execute", "--file", "p.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "'.run_log_store' is a file, not a folder" in done.stderr and "log_folder" in done.stderr


@pytest.mark.parametrize("args", [[], ["tui"], ["-c", "x.yaml"]])
def test_the_workbench_without_a_terminal_says_so_and_does_not_hang(tmp_path: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "the workbench needs a terminal (stdin is not one)" in done.stderr
    assert "\x1b[" not in done.stdout  # no escape codes
    if not args or args[0] != "tui":
        assert "magnus execute --file pipeline.yaml" in done.stdout  # the help


def test_the_workbench_with_stdout_piped_says_so(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    child = pexpect.spawn(
        "sh",
        ["-c", f"{shlex.quote(sys.executable)} -m magnus_core | cat"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
    )
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert "the workbench needs a terminal (stdout is not one)" in child.before


def test_text_the_terminal_could_not_decode_is_refused_plainly(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"magnus_core",
            b"execute",
            b"--file",
            b"p.yaml",
            b"--tag",
            b"caf\xe9",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"argument 'caf\\xe9' is not valid UTF-8 text" in done.stderr
    assert not (tmp_path / ".run_log_store").exists()


FUNCTIONS = """
def returns_python_values():
    import datetime, decimal
    return {"day": datetime.date(2024, 1, 31), "price": decimal.Decimal("1.50"), "tags": {"b", "a"}, "pair": (1, 2)}

def shows(day, price, tags, pair):
    import json
    with open("seen.json", "w") as f:
        json.dump([day, price, tags, pair], f)
"""


def test_python_values_reach_later_steps_as_the_run_log_records_them(tmp_path: Path) -> None:
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    (tmp_path / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: fns.returns_python_values, next: b}\n"
        "    b: {type: task, command: fns.shows, next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == ["2024-01-31", "1.50", ["a", "b"], [1, 2]]
    recorded = json.loads(done.stdout)["parameters"]
    assert [recorded[k] for k in ("day", "price", "tags", "pair")] == seen


def test_numpy_values_are_their_python_values() -> None:
    np = pytest.importorskip("numpy")
    from magnus_core.parameters import json_value

    assert json_value(np.float64(0.5)) == 0.5 and type(json_value(np.int64(3))) is int
    assert json_value(np.arange(3)) == [0, 1, 2]
    assert json_value({1: {"a", "b"}}) == {"1": ["a", "b"]}
