"""Faults while writing (a full disk, a read-only folder, the store's folder removed) lose nothing: the step
that hit one records it with its attempt kept, or the run stops with a store error naming the path; never
"internal error"; once the cause is fixed, `--use-cached` computes what a clean run computes.

A full disk is a small tmpfs and a read-only folder a read-only bind mount, both in a private mount namespace
(`unshare -rm`: CI runs as root, and root ignores permissions). Where this machine does not permit mounting
there, the tests are skipped and say so. Each scenario runs in one namespace, as one shell script: the
mounts live only as long as it does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

FUNCS = """
import time
from pathlib import Path

def make(n, mb=0, note_kb=0):
    if Path("wait").exists():                       # the test changes the world while this step runs
        Path("waiting").write_text("")
        deadline = time.time() + 60
        while not Path("go").exists() and time.time() < deadline:
            time.sleep(0.02)
    Path("data").mkdir(exist_ok=True)
    Path("data/blob.bin").write_bytes(b"x" * (mb * 1024 * 1024 + 1))
    return {"n": n + 1, "note": "y" * (note_kb * 1024)}

def use(n):
    assert Path("data/blob.bin").exists()
    return {"result": n * 10}
"""

PIPELINE = """
dag:
  start_at: make
  steps:
    make: {type: task, command: wf.make, next: use, catalog: {put: [blob.bin]}}
    use: {type: task, command: wf.use, next: success, catalog: {get: [blob.bin]}}
    success: {type: success}
    fail: {type: fail}
"""
CLEAN_RESULT = 10  # n: 0 -> 1 -> result 10


def _mounting_problem() -> str:
    """Why a private tmpfs cannot be mounted here ('' when it can)."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed, so no private mount namespace can be made"
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(folder)}"],
            capture_output=True,
            text=True,
        )
    return (
        ""
        if done.returncode == 0
        else f"mounting in a private namespace is not permitted here: {done.stderr}"
    )


MOUNT_PROBLEM = _mounting_problem()
needs_mounts = pytest.mark.skipif(bool(MOUNT_PROBLEM), reason=MOUNT_PROBLEM or "mounts work")


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "wf.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "params.yaml").write_text("n: 0\n")
    (git_repo / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\nsaved/\ndata/\n")
    return git_repo


def config(root: Path, store: str = "file-system") -> None:
    (root / "magnus-config.yaml").write_text(
        f"run_log_store: {{type: {store}}}\ncatalog: {{type: file-system}}\n"
    )


def magnus_line(*args: str) -> str:
    return shlex.join(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-p", "params.yaml", *args]
    )


def script(root: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` (sh) in `root` in a private mount namespace; `saved/` keeps what outlives it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    full = f"set -u\ncd {shlex.quote(str(root))}\nmkdir -p saved\n{body}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", full], env=env, capture_output=True, text=True, timeout=300
    )


def outcome(root: Path, name: str) -> tuple[int, str]:
    return int((root / "saved" / f"{name}.rc").read_text()), (root / "saved" / f"{name}.err").read_text()


def run_log(path: Path) -> dict:
    from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
    from magnus_core.stores.file_system import load_run_log

    if path.is_dir():
        return ChunkedFileSystemRunLogStore({"log_folder": str(path.parent)}).get_run(path.name).model_dump()
    return load_run_log(path).model_dump()


def step(name: str, *args: str) -> str:
    """Run magnus in the script, keeping its exit code and stderr in saved/."""
    return f"{magnus_line(*args)} > saved/{name}.out 2> saved/{name}.err; echo $? > saved/{name}.rc\n"


def start(root: Path, *args: str, prefix: list[str] | None = None) -> subprocess.Popen[str]:
    """magnus in the background, outside any namespace (`prefix`: a command it runs under)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [*(prefix or []), *shlex.split(magnus_line(*args))],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_the_step(root: Path, proc: subprocess.Popen[str]) -> None:
    """Until `make` waits for the test (the file `wait` exists): the test then changes the world."""
    import time

    deadline = time.time() + 90
    while not (root / "waiting").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)


def remove_while_written(folder: Path) -> None:
    """Remove `folder` while a run may be writing in it (its store: a run log's chunk, a temporary file
    renamed): rmtree lists a folder and then removes it, and a file made in between is ENOTEMPTY, one
    renamed away is ENOENT (flaky under -n 2). Tried again until one rmtree removed it whole."""
    import errno
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            shutil.rmtree(folder)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.ENOENT) or time.monotonic() > deadline:
                raise
            if not folder.exists():
                return


def assert_plain(err: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err


@needs_mounts
def test_a_full_disk_during_a_catalog_put_fails_that_step_and_the_run_resumes(project: Path) -> None:
    config(project)
    done = script(
        project,
        "mkdir -p .catalog && mount -t tmpfs -o size=1m tmpfs .catalog\n"
        + step("first", "--run-id", "first", "--mb", "3")
        + "mount -o remount,size=64m .catalog\n"  # the fix: more room
        + step("resumed", "--run-id", "resumed", "--use-cached", "first", "--mb", "3"),
    )
    assert done.returncode == 0, done.stderr
    code, err = outcome(project, "first")
    assert code == 1
    assert_plain(err)
    log = run_log(project / ".run_log_store" / "first.json")
    make = log["steps"]["make"]
    assert make["status"] == "FAIL" and "No space left on device" in make["message"]
    # the catalog file and its folder, by name (issue 15: never a temporary name)
    assert "'blob.bin'" in make["message"] and "'.catalog/first'" in make["message"]
    assert [a["status"] for a in make["attempts"]] == ["SUCCESS"]  # the attempt is kept
    assert log["parameters"]["n"] == 0  # what make returned was not committed
    code, err = outcome(project, "resumed")
    assert code == 0, err
    assert run_log(project / ".run_log_store" / "resumed.json")["parameters"]["result"] == CLEAN_RESULT


@needs_mounts
@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_full_disk_under_the_run_log_store_stops_the_run_naming_the_path(project: Path, store: str) -> None:
    config(project, store)
    done = script(
        project,
        "mkdir -p .run_log_store && mount -t tmpfs -o size=64k tmpfs .run_log_store\n"
        + step("first", "--run-id", "first", "--note-kb", "200")
        + "cp -r .run_log_store saved/after-first\n"
        + "mount -o remount,size=64m .run_log_store\n"
        + step("resumed", "--run-id", "resumed", "--use-cached", "first", "--note-kb", "200")
        + "cp -r .run_log_store saved/after-resume\n",
    )
    assert done.returncode == 0, done.stderr
    code, err = outcome(project, "first")
    assert code == 1
    assert_plain(err)
    assert "run-log store: cannot write" in err and "No space left on device" in err, err
    assert ".run_log_store" in err and "Once the cause is fixed, resume with:" in err
    first = project / "saved" / "after-first" / ("first.json" if store == "file-system" else "first")
    log = run_log(first)  # what was written before the fault is whole and readable
    # its last write (the run's status) may or may not have fitted
    assert log["status"] in ("PROCESSING", "FAIL") and "result" not in log["parameters"]
    code, err = outcome(project, "resumed")
    assert code == 0, err
    again = project / "saved" / "after-resume" / ("resumed.json" if store == "file-system" else "resumed")
    assert run_log(again)["parameters"]["result"] == CLEAN_RESULT


@needs_mounts
def test_a_read_only_catalog_folder_fails_the_step_with_the_reason_and_the_run_resumes(project: Path) -> None:
    config(project)
    done = script(
        project,
        "mkdir -p .catalog/first && mount --bind .catalog/first .catalog/first "
        "&& mount -o remount,bind,ro .catalog/first\n"
        + step("first", "--run-id", "first")
        + "umount .catalog/first\n"
        + step("resumed", "--run-id", "resumed", "--use-cached", "first"),
    )
    assert done.returncode == 0, done.stderr
    code, err = outcome(project, "first")
    assert code == 1
    assert_plain(err)
    make = run_log(project / ".run_log_store" / "first.json")["steps"]["make"]
    assert make["status"] == "FAIL" and "Read-only file system" in make["message"]
    assert [a["status"] for a in make["attempts"]] == ["SUCCESS"]
    code, err = outcome(project, "resumed")
    assert code == 0, err
    assert run_log(project / ".run_log_store" / "resumed.json")["parameters"]["result"] == CLEAN_RESULT


WAIT_THEN = (
    "touch wait\n{start} &\nMAGNUS=$!\n"
    "while [ ! -e waiting ]; do sleep 0.05; done\n"
    "{change}\n"
    "touch go\nwait $MAGNUS; echo $? > saved/first.rc\nrm -f wait waiting go\n"
)


@needs_mounts
@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_a_run_log_store_made_read_only_while_a_step_runs_stops_the_run_and_it_resumes(
    project: Path, store: str
) -> None:
    config(project, store)
    start = f"{magnus_line('--run-id', 'first')} > saved/first.out 2> saved/first.err"
    done = script(
        project,
        "mkdir -p .run_log_store && mount --bind .run_log_store .run_log_store\n"
        + WAIT_THEN.format(start=start, change="mount -o remount,bind,ro .run_log_store")
        + "mount -o remount,bind,rw .run_log_store\n"
        + step("resumed", "--run-id", "resumed", "--use-cached", "first"),
    )
    assert done.returncode == 0, done.stderr
    code, err = outcome(project, "first")
    assert code == 1
    assert_plain(err)
    assert "run-log store: cannot write" in err and "Read-only file system" in err, err
    code, err = outcome(project, "resumed")
    assert code == 0, err
    path = project / ".run_log_store" / ("resumed.json" if store == "file-system" else "resumed")
    assert run_log(path)["parameters"]["result"] == CLEAN_RESULT


@pytest.mark.parametrize("store", ["file-system", "chunked-fs"])
def test_the_store_folder_removed_while_a_step_runs_loses_nothing(project: Path, store: str) -> None:
    """No mount needed: the folder is removed under the running run, which writes it again whole."""
    config(project, store)
    (project / "wait").write_text("")
    proc = start(project, "--run-id", "r")
    wait_for_the_step(project, proc)
    remove_while_written(project / ".run_log_store")
    (project / "go").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert_plain(err)
    path = project / ".run_log_store" / ("r.json" if store == "file-system" else "r")
    log = run_log(path)
    assert log["status"] == "SUCCESS" and list(log["steps"]) == ["make", "use", "success"]
    assert log["parameters"]["result"] == CLEAN_RESULT
    assert json.loads(json.dumps(log["run_config"]))["parameters"] == {"n": 0}


# -- permission denied: magnus as an unprivileged user --------------------------------------------------
# `unshare -U` without a uid map runs a command as `nobody` with no capability over root's files, so the
# permission bits hold for it (CI runs as root, which ignores them).
UNPRIVILEGED_PROBLEM = "" if shutil.which("unshare") else "unshare(1) is not installed"
if not UNPRIVILEGED_PROBLEM:
    _probe = subprocess.run(["unshare", "-U", "true"], capture_output=True, text=True)
    if _probe.returncode:
        UNPRIVILEGED_PROBLEM = f"a user namespace is not permitted here: {_probe.stderr}"
needs_unprivileged = pytest.mark.skipif(bool(UNPRIVILEGED_PROBLEM), reason=UNPRIVILEGED_PROBLEM or "ok")


def unprivileged(root: Path, *args: str) -> subprocess.Popen[str]:
    return start(root, *args, prefix=["unshare", "-U"])


def resume_as_root(root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        shlex.split(magnus_line("--run-id", "resumed", "--use-cached", "first")),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return run_log(root / ".run_log_store" / "resumed.json")


@needs_unprivileged
def test_a_catalog_folder_without_write_permission_fails_the_step_and_the_run_resumes(project: Path) -> None:
    config(project)
    locked = project / ".catalog" / "first"
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    _, err = unprivileged(project, "--run-id", "first").communicate(timeout=120)
    assert_plain(err)
    make = run_log(project / ".run_log_store" / "first.json")["steps"]["make"]
    assert make["status"] == "FAIL" and "Permission denied" in make["message"], make
    # the catalog file and its folder, by name (issue 15: never a temporary name)
    assert "'blob.bin'" in make["message"] and "'.catalog/first'" in make["message"]
    assert [a["status"] for a in make["attempts"]] == ["SUCCESS"]  # the attempt is kept
    locked.chmod(0o755)  # the fix
    assert resume_as_root(project)["parameters"]["result"] == CLEAN_RESULT


@needs_unprivileged
def test_a_run_log_store_without_write_permission_stops_the_run_naming_the_path(project: Path) -> None:
    config(project)
    (project / "wait").write_text("")
    proc = unprivileged(project, "--run-id", "first")
    wait_for_the_step(project, proc)
    store = project / ".run_log_store"
    store.chmod(0o555)  # taken away while the step runs
    (project / "go").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert_plain(err)
    assert "run-log store: cannot write" in err and "Permission denied" in err and ".run_log_store" in err
    assert "Once the cause is fixed, resume with:" in err
    log = run_log(store / "first.json")  # the last write that succeeded is whole
    # the step is not recorded as done: written as started, or not yet written at all (the file-system
    # store spaces its writes, and the store was taken away before the next one)
    assert log["steps"].get("make", {}).get("status", "PROCESSING") == "PROCESSING", log["steps"]
    store.chmod(0o755)
    for name in ("wait", "waiting", "go"):
        (project / name).unlink()
    assert resume_as_root(project)["parameters"]["result"] == CLEAN_RESULT


PRINTING = """
from pathlib import Path


def fill():
    # the catalog's disk filled while the step runs, the step then goes on printing (trial 17 F11)
    try:
        with open(".catalog/filler", "wb") as handle:
            while True:
                handle.write(b"f" * 65536)
                handle.flush()
    except OSError as exc:
        print(f"disk full: {exc.strerror}", flush=True)
    for i in range(2000):
        print(f"line {i} " + "x" * 100, flush=True)


def more(i=0):
    for j in range(3000):  # 300 KB an attempt: five of them pass the held file's first reserved MB
        print(f"more {j} " + "y" * 90)
"""

PRINTING_PIPELINE = """
dag:
  start_at: fill
  steps:
    fill: {type: task, command: pr.fill, next: m1}
    m1: {type: task, command: pr.more, next: m2}
    m2: {type: task, command: pr.more, next: m3}
    m3: {type: task, command: pr.more, next: m4}
    m4: {type: task, command: pr.more, next: m5}
    m5: {type: task, command: pr.more, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@needs_mounts
def test_a_step_printing_on_a_full_disk_never_takes_magnus_down(project: Path) -> None:
    """The held output file (fatal.py) is written through a memory map: a page of it the file system has
    no room for was a SIGBUS that killed magnus (exit 135), the run log left PROCESSING and the user's
    print blamed as a crash (session 12, trial 17 F11). Its space is reserved ahead now: the run ends as
    its steps did, each attempt's output that could not be kept says why, the held file is given up once,
    said in one warning."""
    config(project)
    (project / "pr.py").write_text(PRINTING)
    (project / "pp.yaml").write_text(PRINTING_PIPELINE)
    line = shlex.join([sys.executable, "-m", "magnus_core", "execute", "-f", "pp.yaml", "--run-id", "full"])
    done = script(
        project,
        "mkdir -p .catalog && mount -t tmpfs -o size=3m tmpfs .catalog\n"
        f"{line} > saved/full.out 2> saved/full.err; echo $? > saved/full.rc\n",
    )
    assert done.returncode == 0, done.stderr
    code, err = outcome(project, "full")
    assert "Bus error" not in err and code == 0, (code, err)
    assert_plain(err)
    log = run_log(project / ".run_log_store" / "full.json")
    assert log["status"] == "SUCCESS"
    assert [log["steps"][s]["status"] for s in ("fill", "m1", "m2", "m3", "m4", "m5")] == ["SUCCESS"] * 6
    # an output that found no room says so in its record (space comes and goes as cut files are removed:
    # which ones found none varies)
    errors = [log["steps"][f"m{i}"]["attempts"][0]["output"].get("error", "") for i in range(1, 6)]
    assert any("No space left on device" in error for error in errors), errors
    assert err.count("no space was left for the run's held output file") == 1, err
    assert "disk full: No space left on device" in (project / "saved" / "full.out").read_text()
