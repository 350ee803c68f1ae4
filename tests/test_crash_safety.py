"""Kill a run at random instants (SIGKILL; SIGINT too) on every store, with parallel and map branches
running concurrently and catalog puts under way, resume it with --use-cached (sometimes killing the resume
as well, then resuming that), and check the FINAL COMPUTED RESULT of every resume against a clean run's.
Every run log stays readable and every catalog file is whole or absent.

The stores: file-system and chunked-fs with the file-system catalog; PostgreSQL with the catalog in S3 (the
team setup: real servers the suite starts on 127.0.0.1). MAGNUS_CRASH_FULL=1 runs the full count (30 kills
per store, a 20 MB file; the figures are in docs/crash-safety.md); CI kills twice per store with a 1 MB file.
MAGNUS_CRASH_KILLS and MAGNUS_CRASH_MB set either alone (at most 4 MB on the S3 server, which holds objects
in memory). Every wrong result is counted before the test fails, so a full count reports how many.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

FULL = os.environ.get("MAGNUS_CRASH_FULL") == "1"
KILLS = int(os.environ.get("MAGNUS_CRASH_KILLS", "30" if FULL else "2"))
MEGABYTES = int(os.environ.get("MAGNUS_CRASH_MB", "20" if FULL else "1"))

FUNCS = """
import hashlib, os, random, time
from pathlib import Path

def pause():
    time.sleep(random.uniform(0.0, 0.08))

def start(n, mb):
    Path("data").mkdir(exist_ok=True)
    block = hashlib.sha256(b"magnus").digest() * 32768           # 1 MiB
    with open("data/big.bin", "wb") as f:
        for _ in range(mb):
            f.write(block)
    return {"n": n + 1, "items": [1, 2, 3, 4, 5, 6]}

def a1(n):
    pause()
    return {"a": n * 2}

def a2(a):
    pause()
    return {"a": a + 1}                                            # run twice, a is wrong

def c1(n):
    pause()
    Path("data/c.txt").write_text(str(n * 7))
    return {}

def c2():
    pause()
    return {"c": int(Path("data/c.txt").read_text())}

def w(item, n):
    pause()
    return {"w" + str(item): item * n}

def check(mb):
    data = Path("data/big.bin").read_bytes()
    block = hashlib.sha256(b"magnus").digest() * 32768
    assert data == block * mb, "the catalog file is not whole"

def mid(n, a, b, c, w1, w2, w3, w4, w5, w6, v1, v2, v3, v4, v5, v6):
    pause()
    return {"m": n + a + b + c + w1 + w2 + w3 + w4 + w5 + w6 + v1 + v2 + v3 + v4 + v5 + v6}

def bump(m):
    pause()
    return {"m": m + 1}                                            # run twice, m is wrong

def last(n, a, b, c, m):
    return {"result": [n, a, b, c, m]}
"""


def _task(name: str, nxt: str, **extra: str) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in extra.items())
    return f"{name}: {{type: task, command: cf.{name}, next: {nxt}{', ' + fields if fields else ''}}}"


PIPELINE = f"""
dag:
  start_at: start
  steps:
    {_task("start", "par", catalog="{put: [big.bin]}")}
    par:
      type: parallel
      next: each
      branches:
        a:
          start_at: a1
          steps:
            {_task("a1", "a2")}
            {_task("a2", "success")}
            success: {{type: success}}
            fail: {{type: fail}}
        b:
          start_at: b1
          steps:
            b1: {{type: task, command_type: shell, command: 'sleep 0.05; export MAGNUS_PRM_b=$((MAGNUS_PRM_n * 3))', next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
        c:
          start_at: c1
          steps:
            {_task("c1", "c2", catalog="{put: [c.txt]}")}
            {_task("c2", "success", catalog="{get: [c.txt]}")}
            success: {{type: success}}
            fail: {{type: fail}}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: check
      branch:
        start_at: w
        steps:
          {_task("w", "v")}
          v: {{type: task, command_type: shell, command: 'export MAGNUS_PRM_v$MAGNUS_PRM_item=$((MAGNUS_PRM_item + MAGNUS_PRM_n))', next: success}}
          success: {{type: success}}
          fail: {{type: fail}}
    {_task("check", "mid", catalog="{get: [big.bin]}")}
    {_task("mid", "bump")}
    {_task("bump", "last")}
    {_task("last", "success")}
    success: {{type: success}}
    fail: {{type: fail}}
"""
# n = 1, a = 2n + 1, b = 3n, c = 7n, m = n + a + b + c + sum(item * n) + sum(item + n) + 1
CLEAN = [1, 3, 3, 7, 1 + 3 + 3 + 7 + 21 + 27 + 1]
STORES = ["file-system", "chunked-fs", "postgres"]
MAGNUS = [sys.executable, "-m", "magnus_core", "execute", "-f", "crash.yaml", "-p", "params.yaml"]


@dataclass
class Target:
    """One store under test: its config file, a store object to read runs back, and its catalog."""

    root: Path
    name: str
    store: Any
    mb: int
    objects: Callable[[], dict[str, bytes]]  # catalog file path -> content, every big.bin
    forget: Callable[[str], None]  # drop a run's catalog files (the full count would fill the disk)


@pytest.fixture
def crash_project(git_repo: Path) -> Path:
    (git_repo / "cf.py").write_text(FUNCS)
    (git_repo / "crash.yaml").write_text(PIPELINE)
    return git_repo


def _target(root: Path, name: str, request: pytest.FixtureRequest) -> Target:
    import shutil

    import yaml

    from magnus_core.stores import make_store

    executor = {"type": "local", "config": {"max_workers": 4}}
    if name == "postgres":
        from tests.conftest import fresh_schema

        server, bucket, s3 = (request.getfixturevalue(f) for f in ("postgres", "bucket", "s3"))
        block = {"type": "postgres", "config": {"dsn": server.dsn, "schema": fresh_schema()}}
        catalog = {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}}
        fs = s3.filesystem()
        mb = min(MEGABYTES, 4)

        def objects() -> dict[str, bytes]:
            return {p: fs.cat_file(p) for p in fs.find(f"{bucket}/catalog") if p.endswith("/big.bin")}

        def forget(run_id: str) -> None:
            if fs.exists(f"{bucket}/catalog/{run_id}"):
                fs.rm(f"{bucket}/catalog/{run_id}", recursive=True)

    else:
        block = {"type": name, "config": {"log_folder": str(root / f"logs-{name}")}}
        catalog = {"type": "file-system", "config": {"catalog_location": f".catalog-{name}"}}
        mb = MEGABYTES

        def objects() -> dict[str, bytes]:
            return {str(p): p.read_bytes() for p in (root / f".catalog-{name}").rglob("big.bin")}

        def forget(run_id: str) -> None:
            shutil.rmtree(root / f".catalog-{name}" / run_id, ignore_errors=True)

    config = {"executor": executor, "run_log_store": block, "catalog": catalog}
    (root / f"{name}.yaml").write_text(yaml.safe_dump(config))
    (root / "params.yaml").write_text(f"n: 0\nmb: {mb}\n")
    return Target(root, name, make_store(block), mb, objects, forget)


def _magnus(target: Target, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*MAGNUS, "-c", f"{target.name}.yaml", *args],
        cwd=target.root,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log(target: Target, run_id: str) -> dict:
    return target.store.get_run(run_id).model_dump()


def _run_and_maybe_kill(target: Target, rng: random.Random, window: float, sig: int, *args: str) -> bool:
    """Start a run, kill it at a random instant of its expected duration; True if the signal landed."""
    run_id = args[args.index("--run-id") + 1]
    proc = _magnus(target, *args)
    deadline = time.time() + 90
    while not target.store.exists(run_id) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)  # start-up is slow on a loaded machine: time the kill from the run's start
    time.sleep(rng.uniform(0.0, window))
    if proc.poll() is not None:
        proc.communicate()
        return False  # it finished first: no kill at this instant
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if _log(target, run_id)["status"] == "SUCCESS":
        return False  # the signal came as the process was exiting, the run done
    if sig == signal.SIGINT:
        assert proc.returncode == 130, (proc.returncode, err)
    return True


def _check_catalog_whole(target: Target) -> None:
    block = hashlib.sha256(b"magnus").digest() * 32768
    expected = hashlib.sha256(block * target.mb).hexdigest()
    for path, data in target.objects().items():
        assert hashlib.sha256(data).hexdigest() == expected, f"half-copied file {path}"


def _clean_duration(target: Target) -> float:
    """Seconds from the clean run's log appearing to its SUCCESS being written: the window kills are drawn
    in (after it, the process only tidies up)."""
    proc = _magnus(target, "--run-id", "clean")
    deadline = time.time() + 120
    while not target.store.exists("clean") and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    began = time.time()
    while proc.poll() is None and _log(target, "clean")["status"] != "SUCCESS":
        time.sleep(0.01)
    window = time.time() - began
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _log(target, "clean")["parameters"]["result"] == CLEAN
    return window


@pytest.mark.parametrize("store", STORES)
def test_killed_at_random_instants_then_resumed_computes_the_clean_result(
    crash_project: Path, store: str, request: pytest.FixtureRequest
) -> None:
    target = _target(crash_project, store, request)
    window = _clean_duration(target)
    rng = random.Random(f"{store}-20261129")
    kills, attempts, chains = 0, 0, 0
    wrong: list[tuple[str, Any]] = []
    while kills < KILLS:
        attempts += 1
        assert attempts < KILLS * 4 + 10, f"only {kills} of {attempts} signals landed before the run ended"
        run_id = f"k{attempts}"
        if not _run_and_maybe_kill(target, rng, window, signal.SIGKILL, "--run-id", run_id):
            target.forget(run_id)
            continue
        kills += 1
        _log(target, run_id)  # whatever instant it died at, the log reads
        _check_catalog_whole(target)
        resume = run_id
        if rng.random() < 0.3:  # kill the resume too, then resume that
            chains += 1
            again = ("--run-id", f"{run_id}-r1", "--use-cached", run_id)
            if _run_and_maybe_kill(target, rng, window, signal.SIGKILL, *again):
                kills += 1
                resume = f"{run_id}-r1"
        proc = _magnus(target, "--run-id", f"{run_id}-final", "--use-cached", resume)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        result = _log(target, f"{run_id}-final")["parameters"].get("result")
        if result != CLEAN:
            wrong.append((run_id, result))
        for done in (run_id, f"{run_id}-r1", f"{run_id}-final"):
            target.forget(done)
    print(
        f"\n{store}: {kills} kills landed in {attempts} runs ({chains} resumes killed too), "
        f"{len(wrong)} wrong results"
    )
    assert wrong == [], f"{len(wrong)} resumes computed a wrong result (clean: {CLEAN}): {wrong}"


def test_sigint_at_random_instants_then_resumed_computes_the_clean_result(
    crash_project: Path, request: pytest.FixtureRequest
) -> None:
    target = _target(crash_project, "chunked-fs", request)
    window = _clean_duration(target)
    rng = random.Random("sigint-20261129")
    stopped = attempts = 0
    wrong: list[tuple[str, Any]] = []
    while stopped < max(1, KILLS // 2):
        attempts += 1
        assert attempts < KILLS * 4 + 10
        run_id = f"i{attempts}"
        if not _run_and_maybe_kill(target, rng, window, signal.SIGINT, "--run-id", run_id):
            continue
        stopped += 1
        assert _log(target, run_id)["status"] == "INTERRUPTED"
        proc = _magnus(target, "--run-id", f"{run_id}-final", "--use-cached", run_id)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        result = _log(target, f"{run_id}-final")["parameters"].get("result")
        if result != CLEAN:
            wrong.append((run_id, result))
        for done in (run_id, f"{run_id}-final"):
            target.forget(done)
    print(f"\nSIGINT: {stopped} stops landed in {attempts} runs, {len(wrong)} wrong results")
    assert wrong == [], f"{len(wrong)} resumes computed a wrong result (clean: {CLEAN}): {wrong}"
