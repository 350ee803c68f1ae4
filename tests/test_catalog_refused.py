"""A catalog copy the system refuses at run time (permission denied, a read-only file system) fails the step
with one line naming the file and the folder, leaves nothing half-written, and the run can be re-run with
--use-cached once the folder is fixed.

Root ignores a folder's mode, and CI runs as root: there the command runs with CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH dropped from its bounding set (setpriv), so a folder's mode binds it like any user, or
under a read-only bind mount in a private mount namespace (unshare)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_magnus

PIPELINE = """
dag:
  start_at: one
  steps:
    one: {type: task, command_type: shell, command: "echo a > data/a.txt", catalog: {put: [a.txt]}, next: two}
    two:
      type: task
      command_type: shell
      command: "mkdir -p data/sub && echo b > data/sub/b.txt"
      catalog: {put: [sub/b.txt]}
      next: success
    success: {type: success}
    fail: {type: fail}
"""
GET = """
dag:
  start_at: one
  steps:
    one: {type: task, command_type: shell, command: "echo a > data/a.txt", catalog: {put: [a.txt]}, next: two}
    two: {type: task, command_type: shell, command: "true", catalog: {get: [a.txt], compute_data_folder: ro}, next: success}
    success: {type: success}
    fail: {type: fail}
"""
_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}


def as_a_user(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`magnus *args` in `project`, bound by folder modes: as root, without the capabilities that let root
    write anywhere."""
    command = [sys.executable, "-m", "magnus_core", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root, permissions bind only without CAP_DAC_OVERRIDE: needs setpriv(1)")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, cwd=project, env=_ENV, capture_output=True, text=True, timeout=120)
    if done.stderr.startswith("setpriv:"):
        pytest.skip(f"this machine refuses to drop capabilities: {done.stderr.strip()}")
    return done


def read_only_folder(project: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`magnus *args` in `project` with `folder` alone mounted read-only (a private mount namespace)."""
    if shutil.which("unshare") is None:
        pytest.skip("a private read-only mount needs unshare(1)")
    f = shlex.quote(str(folder))
    script = (
        f"mount --bind {f} {f} && mount -o remount,bind,ro {f} && cd {shlex.quote(str(project))} && "
        f"exec {shlex.join([sys.executable, '-m', 'magnus_core', *args])}"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], env=_ENV, capture_output=True, text=True, timeout=120
    )
    if "mount:" in done.stderr and "Error" not in done.stderr:
        pytest.skip(f"this machine refuses a private read-only mount: {done.stderr.strip()}")
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "g.yaml").write_text(GET)
    return tmp_path


def step(project: Path, run_id: str, name: str) -> dict:
    log = json.loads((project / ".run_log_store" / f"{run_id}.json").read_text())
    return log["steps"][name]


def assert_resumable(project: Path, run_id: str) -> None:
    """The failed run re-runs with --use-cached once the folder is fixed: `one` reused, `two` run again."""
    again = run_magnus(
        "execute", "--file", "p.yaml", "--use-cached", run_id, "--run-id", f"{run_id}-again", cwd=project
    )
    assert again.returncode == 0, again.stderr
    assert step(project, f"{run_id}-again", "one")["status"] == "SUCCESS"
    assert "reuse  one" in again.stderr
    assert (project / ".catalog" / f"{run_id}-again" / "sub" / "b.txt").read_text() == "b\n"
    assert (project / ".catalog" / f"{run_id}-again" / "a.txt").read_text() == "a\n"


def test_a_put_into_a_folder_without_permission_fails_the_step_naming_file_and_folder(project: Path) -> None:
    sub = project / ".catalog" / "denied" / "sub"
    sub.mkdir(parents=True)
    sub.chmod(0o555)  # bound by it: as_a_user drops root's override
    done = as_a_user(project, "execute", "--file", "p.yaml", "--run-id", "denied")
    sub.chmod(0o755)
    assert done.returncode == 1, done.stderr  # a failed step, not a crash nor a usage error
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    message = step(project, "denied", "two")["message"]
    assert "\n" not in message
    assert (
        "catalog put: cannot write 'sub/b.txt' into the folder '.catalog/denied/sub': Permission denied"
        in message
    )
    assert step(project, "denied", "one")["status"] == "SUCCESS"
    assert message in done.stdout  # the summary shows it
    assert list(sub.iterdir()) == []  # no temporary file left behind
    assert "--use-cached denied" in done.stderr
    assert_resumable(project, "denied")


def test_a_put_into_a_read_only_mount_fails_the_step_the_same_way(project: Path) -> None:
    sub = project / ".catalog" / "ro" / "sub"
    sub.mkdir(parents=True)
    done = read_only_folder(project, sub, "execute", "--file", "p.yaml", "--run-id", "ro")
    assert done.returncode == 1, done.stderr
    message = step(project, "ro", "two")["message"]
    assert (
        "catalog put: cannot write 'sub/b.txt' into the folder '.catalog/ro/sub': Read-only file system"
        in message
    )
    assert "catalog.config.catalog_location" in message
    assert list(sub.iterdir()) == []
    assert_resumable(project, "ro")


def test_a_rerun_whose_catalog_folder_is_refused_names_the_file_and_the_folder(project: Path) -> None:
    first = run_magnus("execute", "--file", "p.yaml", "--run-id", "first", cwd=project)
    assert first.returncode == 0, first.stderr
    folder = project / ".catalog" / "second"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    done = as_a_user(project, "execute", "--file", "p.yaml", "--use-cached", "first", "--run-id", "second")
    folder.chmod(0o755)
    assert done.returncode == 1, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(
        "Error: catalog copy from run 'first': cannot write 'a.txt' into the folder '.catalog/second'"
    )
    assert "Permission denied" in error and "Traceback" not in done.stderr
    assert list(folder.iterdir()) == []


def test_a_get_into_a_folder_without_permission_fails_the_step_naming_file_and_folder(project: Path) -> None:
    (project / "ro").mkdir()
    (project / "ro").chmod(0o555)
    done = as_a_user(project, "execute", "--file", "g.yaml", "--run-id", "get")
    (project / "ro").chmod(0o755)
    assert done.returncode == 1, done.stderr
    message = step(project, "get", "two")["message"]
    assert "catalog get: cannot write 'a.txt' into the folder 'ro': Permission denied" in message
    assert list((project / "ro").iterdir()) == []
