"""The commit point of a step (docs/crash-safety.md): a run killed at any window of a step's lifecycle, then
re-run with --use-cached, computes exactly what a clean run computes, on every store.

Each window is hit deterministically by the test-only hook (magnus_core/crashpoints.py): the run SIGKILLs
itself at that instant, as `kill -9` would. The checks are on the FINAL COMPUTED RESULT, not on statuses:
`inc` computes n + 1 from n (run twice on its own output it gives 2), the map's and the parallel's merged
parameters feed `total`, so a lost or doubled effect anywhere changes the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from magnus_core.crashpoints import ENV, WINDOWS
from tests.conftest import ROOT

FUNCS = """
from pathlib import Path

def inc(n):
    Path("data").mkdir(exist_ok=True)
    Path("data/n.txt").write_text(str(n + 1))
    return {"n": n + 1, "items": [1, 2, 3]}

def left(n):
    return {"left": n + 100}

def work(item, n):
    return {"w" + str(item): item * n}

def total(n, left, right, w1, w2, w3):
    if Path("fail_total").exists():
        raise RuntimeError("total is broken")
    return {"result": [n, left, right, w1 + w2 + w3]}
"""

PIPELINE = """
dag:
  start_at: inc
  steps:
    inc: {type: task, command: cp.inc, next: fan, catalog: {put: [n.txt]}}
    fan:
      type: parallel
      next: each
      branches:
        left:
          start_at: l
          steps:
            l: {type: task, command: cp.left, next: success}
            success: {type: success}
            fail: {type: fail}
        right:
          start_at: r
          steps:
            r: {type: task, command_type: shell, command: 'export MAGNUS_PRM_right=$((MAGNUS_PRM_n * 10))', next: success}
            success: {type: success}
            fail: {type: fail}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: total
      branch:
        start_at: w
        steps:
          w: {type: task, command: cp.work, next: success}
          success: {type: success}
          fail: {type: fail}
    total: {type: task, command: cp.total, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CLEAN_RESULT = [1, 101, 10, 6]  # n = 0 + 1; left = n + 100; right = n * 10; w1 + w2 + w3 = 6 * n
STORES = ("file-system", "chunked-fs")
# CI hits every window once, on one store or the other; MAGNUS_CRASH_FULL=1 hits every window on every store
FULL = os.environ.get("MAGNUS_CRASH_FULL") == "1"

# window, the step it is hit in. Every window of crashpoints.WINDOWS is here (checked below).
CASES = [
    ("task:started", "inc"),
    ("task:returned", "inc"),
    ("task:put", "inc"),
    ("task:committed", "inc"),
    ("store:step-part", "inc"),
    ("task:returned", "fan.left.l"),
    ("task:committed", "fan.right.r"),
    ("task:committed", "each.2.w"),
    ("composite:branches", "fan"),
    ("composite:committed", "fan"),
    ("composite:branches", "each"),
    ("composite:committed", "each"),
    ("store:step-part", "each"),
    ("task:committed", "total"),
]


def test_every_window_is_tested() -> None:
    assert {window for window, _ in CASES} | {"rerun:reused"} == set(WINDOWS)


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "cp.py").write_text(FUNCS)
    (git_repo / "pipeline.yaml").write_text(PIPELINE)
    (git_repo / "params.yaml").write_text("n: 0\n")
    return git_repo


def config(root: Path, store: str, request: pytest.FixtureRequest | None = None) -> str:
    """Write `<store>.yaml` (max_workers 2): the file stores with the file-system catalog, postgres with
    the catalog in S3 (the team setup; the servers are the suite's own, on 127.0.0.1)."""
    import yaml

    block: dict = {"type": store, "config": {"log_folder": "logs"}}
    catalog: dict = {"type": "file-system"}
    if store == "postgres":
        assert request is not None
        from tests.conftest import fresh_schema

        server, bucket = request.getfixturevalue("postgres"), request.getfixturevalue("bucket")
        block = {"type": "postgres", "config": {"dsn": server.dsn, "schema": fresh_schema()}}
        catalog = {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}}
    executor = {"type": "local", "config": {"max_workers": 2}}
    (root / f"{store}.yaml").write_text(
        yaml.safe_dump({"executor": executor, "run_log_store": block, "catalog": catalog})
    )
    return f"{store}.yaml"


def _services(root: Path, store: str) -> dict:
    import yaml

    services = yaml.safe_load((root / f"{store}.yaml").read_text())
    folder = services["run_log_store"]["config"].get("log_folder")
    if folder:
        services["run_log_store"]["config"]["log_folder"] = str(root / folder)
    return services


def command(root: Path, argv: list[str], crash: str = "") -> subprocess.CompletedProcess[str]:
    """`magnus *argv` in `root`; `crash`: the MAGNUS_TEST_CRASH_AT it dies at."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop(ENV, None)
    if crash:
        env[ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def magnus(root: Path, *args: str, crash: str = "") -> subprocess.CompletedProcess[str]:
    return command(root, ["execute", "-f", "pipeline.yaml", "-p", "params.yaml", *args], crash)


def final(root: Path, store: str, run_id: str) -> dict:
    from magnus_core.stores import make_store

    return make_store(_services(root, store)["run_log_store"]).get_run(run_id).model_dump(mode="json")


def catalog_text(root: Path, store: str, run_id: str, name: str) -> str:
    from magnus_core.catalog import make_catalog

    with make_catalog(_services(root, store)["catalog"]).open_file(run_id, name) as handle:
        return handle.read().decode()


def test_a_clean_run_computes_the_reference_result(project: Path) -> None:
    result = magnus(project, "-c", config(project, "file-system"), "--run-id", "clean")
    assert result.returncode == 0, result.stderr
    assert final(project, "file-system", "clean")["parameters"]["result"] == CLEAN_RESULT


# store:step-part is a window of chunked-fs only: the file-system store writes a commit as one file, the
# postgres store as one statement. On postgres (with the catalog in S3) the windows of a task, a parallel
# in branches and a map's commit.
POSTGRES = [("task:returned", "inc"), ("task:committed", "inc"), ("task:committed", "fan.right.r")]
POSTGRES += [("composite:branches", "each"), ("composite:committed", "each")]
if FULL:
    STORE_CASES = [
        (st, w, s) for st in STORES for w, s in CASES if w != "store:step-part" or st == "chunked-fs"
    ]
    STORE_CASES += [("postgres", w, s) for w, s in POSTGRES]
else:
    STORE_CASES = [
        ("chunked-fs" if w == "store:step-part" else STORES[i % 2], w, s) for i, (w, s) in enumerate(CASES)
    ]
    STORE_CASES += [("postgres", w, s) for w, s in POSTGRES if w in ("task:returned", "composite:committed")]


@pytest.mark.parametrize(
    "store, window, step", STORE_CASES, ids=[f"{st}-{w}@{s}" for st, w, s in STORE_CASES]
)
def test_killed_in_a_window_then_resumed_computes_the_clean_result(
    project: Path, store: str, window: str, step: str, request: pytest.FixtureRequest
) -> None:
    cfg = config(project, store, request)
    killed = magnus(project, "-c", cfg, "--run-id", "killed", crash=f"{window}@{step}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # the window was reached
    resumed = magnus(project, "-c", cfg, "--run-id", "resumed", "--use-cached", "killed")
    assert resumed.returncode == 0, resumed.stderr
    log = final(project, store, "resumed")
    assert log["parameters"]["result"] == CLEAN_RESULT
    assert catalog_text(project, store, "resumed", "n.txt") == "1"  # the catalog holds what a clean run puts


@pytest.mark.parametrize("store", STORES if FULL else STORES[1:])
def test_a_resume_killed_while_reusing_a_step_resumes_again(project: Path, store: str) -> None:
    cfg = config(project, store)
    (project / "fail_total").write_text("")
    assert magnus(project, "-c", cfg, "--run-id", "first").returncode == 1
    (project / "fail_total").unlink()
    killed = magnus(
        project, "-c", cfg, "--run-id", "second", "--use-cached", "first", crash="rerun:reused@fan"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    third = magnus(project, "-c", cfg, "--run-id", "third", "--use-cached", "second")
    assert third.returncode == 0, third.stderr
    log = final(project, store, "third")
    assert log["parameters"]["result"] == CLEAN_RESULT


def test_a_put_that_fails_after_the_function_returned_does_not_commit_what_it_returned(
    project: Path,
) -> None:
    """The issue's reproduction: the put fails (a different file of that name is already in the run's
    catalog), the cause is fixed, the run is resumed: n is 1, not 2."""
    cfg = config(project, "file-system")
    blocker = project / ".catalog" / "first" / "n.txt"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not what inc writes")
    failed = magnus(project, "-c", cfg, "--run-id", "first")
    assert failed.returncode == 1
    log = final(project, "file-system", "first")
    inc = log["steps"]["inc"]
    assert inc["status"] == "FAIL" and inc["message"].startswith("catalog put:")
    assert [a["status"] for a in inc["attempts"]] == ["SUCCESS"]  # the attempt is kept
    assert "returned_parameters" not in inc and log["parameters"]["n"] == 0
    blocker.unlink()
    resumed = magnus(project, "-c", cfg, "--run-id", "second", "--use-cached", "first")
    assert resumed.returncode == 0, resumed.stderr
    assert final(project, "file-system", "second")["parameters"]["result"] == CLEAN_RESULT


def test_a_composite_commits_its_merged_parameters_with_its_success(project: Path) -> None:
    """The issue's second finding: with chunked-fs, a kill just after a map's SUCCESS lost the parameters
    its branches produced. Now they are in the map's own step part, written in the same rename."""
    cfg = config(project, "chunked-fs")
    killed = magnus(project, "-c", cfg, "--run-id", "killed", crash="store:step-part@each")
    assert killed.returncode == -signal.SIGKILL
    part = project / "logs" / "killed" / "steps" / "each.json"
    data = json.loads(part.read_text())
    assert data["status"] == "SUCCESS"
    assert data["returned_parameters"] == {"w1": 1, "w2": 2, "w3": 3}
    assert not (project / "logs" / "killed" / "parameters" / "w1.json").exists()  # not yet rewritten


# -- the per-step entry point (Argo pods, Dask workers): each step is a process of its own -------------
# (the call, the window it is killed in): a killed call is retried, as an engine retries a pod. CI kills
# a task, a parallel's fan-in and a map's; MAGNUS_CRASH_FULL=1 all six.
PER_STEP_KILLS = {
    "inc": "task:committed",
    "fan.right.r": "task:returned",
    "fan": "composite:committed",
    "each.2.w": "task:committed",
    "each": "store:step-part",
    "total": "task:put",
}
if not FULL:
    PER_STEP_KILLS = {k: v for k, v in PER_STEP_KILLS.items() if k in ("fan.right.r", "fan", "each")}


NODE_FILES = ["-f", "pipeline.yaml", "-c", "chunked-fs.yaml", "-p", "params.yaml"]


def nodes(root: Path, *args: str, crash: str = "") -> subprocess.CompletedProcess[str]:
    return command(root, [*args, *NODE_FILES], crash)


def test_the_per_step_entry_point_killed_in_each_window_then_retried_computes_the_clean_result(
    project: Path,
) -> None:
    config(project, "chunked-fs")
    killed: list[str] = []

    def call(command: str, name: str, *extra: str, key: str = "") -> subprocess.CompletedProcess[str]:
        args = (command, "r", name.replace(" ", "%"), *extra)
        if key in PER_STEP_KILLS:
            first = nodes(project, *args, crash=f"{PER_STEP_KILLS[key]}@{key}")
            assert first.returncode == -signal.SIGKILL, first.stderr
            killed.append(key)
        done = nodes(project, *args)
        assert done.returncode == 0, done.stderr
        return done

    def branch(first: str, name: str, *extra: str, key: str = "") -> None:
        call("execute_single_node", f"{name}.{first}", *extra, key=key)
        call("execute_single_node", f"{name}.success", *extra)

    call("execute_single_node", "inc", key="inc")
    call("fan", "fan", "--mode", "out")
    branch("l", "fan.left")
    branch("r", "fan.right", key="fan.right.r")
    call("fan", "fan", "--mode", "in", key="fan")
    items = json.loads(call("fan", "each", "--mode", "out").stdout)
    for item in items:
        name = json.loads(item)["item"]
        branch(
            "w",
            "each.map_variable_placeholder",
            "--map-variable",
            item,
            key=f"each.{name}.w",
        )
    call("fan", "each", "--mode", "in", key="each")
    call("execute_single_node", "total", key="total")
    call("execute_single_node", "success")
    assert sorted(killed) == sorted(PER_STEP_KILLS)
    log = final(project, "chunked-fs", "r")
    assert log["status"] == "SUCCESS" and log["parameters"]["result"] == CLEAN_RESULT


RANDOM_PUT = """
dag:
  start_at: rnd
  steps:
    rnd: {type: task, command: rp.rnd, next: success, catalog: {put: [r.txt]}}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("store", ["chunked-fs", "postgres"])
def test_a_step_killed_between_its_put_and_its_commit_is_retried_though_it_puts_other_content(
    git_repo: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """What a killed try put is not committed; its retry (an engine retrying the pod) writes other content
    under the same name and replaces it. A file of that name the step did not put stays protected. On
    chunked-fs with the file-system catalog, and on postgres with the catalog in S3."""
    import hashlib
    import io

    from magnus_core.catalog import make_catalog

    (git_repo / "rp.py").write_text(
        "import uuid\nfrom pathlib import Path\n\ndef rnd():\n"
        "    Path('data').mkdir(exist_ok=True)\n    Path('data/r.txt').write_text(uuid.uuid4().hex)\n"
    )
    (git_repo / "pipeline.yaml").write_text(RANDOM_PUT)
    (git_repo / "params.yaml").write_text("{}\n")
    cfg = config(git_repo, store, request)
    run = ["-f", "pipeline.yaml", "-c", cfg, "-p", "params.yaml"]
    assert command(git_repo, ["execute_single_node", "r", "rnd", *run], "task:put@rnd").returncode == -9
    killed_put = catalog_text(git_repo, store, "r", "r.txt")
    retried = command(git_repo, ["execute_single_node", "r", "rnd", *run])
    assert retried.returncode == 0, retried.stderr
    record = final(git_repo, store, "r")["steps"]["rnd"]["data_catalog"][0]
    kept = catalog_text(git_repo, store, "r", "r.txt")
    assert kept != killed_put and hashlib.sha256(kept.encode()).hexdigest() == record["data_hash"]
    # a file of that name that this step did not put (the user's, another step's) is never replaced
    make_catalog(_services(git_repo, store)["catalog"]).put_stream("r.txt", io.BytesIO(b"the user's"), "r2")
    refused = command(git_repo, ["execute_single_node", "r2", "rnd", *run])
    assert refused.returncode == 1 and catalog_text(git_repo, store, "r2", "r.txt") == "the user's"
    assert "never overwritten" in final(git_repo, store, "r2")["steps"]["rnd"]["message"]
