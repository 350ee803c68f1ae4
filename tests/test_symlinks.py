"""A symlink planted in a folder magnus writes into never redirects a write outside the folder it belongs to.

Folders magnus writes into, and what a link planted there does now:
- the catalog: `<catalog>/<run_id>` (a link, even to a folder inside the catalog), a sub-folder of it, or a
  file in it leading elsewhere: the put is refused (the step fails), nothing is written outside;
  a re-run copying the original's catalog into a planted folder is refused the same way;
- the fsspec catalog on a local path (`url: file:///...`): the same;
- gets: the destination in the data folder leading outside the project is refused;
- chunked-fs: `<log_folder>/<run_id>` and its `steps/`, `branches/`, `parameters/` sub-folders;
- file-system: `<log_folder>/<run_id>.json` itself (the write replaces the link, never its target);
- scratch: the branch-parameters folder of the per-step entry points, in the store's folder;
- notebook output paths.
The configured folder itself (`.catalog`, `.run_log_store`) may be a link: that is the user's choice (a
catalog on another disk); what is beneath it must stay beneath it.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.errors import MagnusError, UsageError
from magnus_core.models.run_log import SUCCESS, RunLog, StepLog
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from magnus_core.stores.file_system import FileSystemRunLogStore, atomic_write
from tests.conftest import ROOT, run_magnus

FUNCTIONS = """
from pathlib import Path

def make():
    Path("data/sub").mkdir(parents=True, exist_ok=True)
    Path("data/out.csv").write_text("a,b\\n")
    Path("data/sub/deep.csv").write_text("deep\\n")
"""


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the project, with one file that must stay as it is."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("unchanged\n")
    return folder


def untouched(outside: Path) -> bool:
    return (
        sorted(p.name for p in outside.rglob("*")) == ["keep.txt"]
        and (outside / "keep.txt").read_text() == "unchanged\n"
    )


def put_pipeline(repo: Path, run_id: str, puts: str = '["*.csv", "sub/*.csv"]') -> RunLog:
    mod = f"sym_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    (repo / "p.yaml").write_text(
        textwrap.dedent(f"""
        dag:
          start_at: first
          steps:
            first: {{type: task, command: {mod}.make, catalog: {{put: {puts}}}, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
        """)
    )
    return execute(prepare(RunRequest(file="p.yaml", run_id=run_id)))


# -- the catalog -----------------------------------------------------------------------------------------
def test_a_run_catalog_folder_planted_as_a_link_refuses_the_put(git_repo: Path, outside: Path) -> None:
    (git_repo / ".catalog").mkdir()
    (git_repo / ".catalog" / "r1").symlink_to(outside)
    log = put_pipeline(git_repo, "r1")
    assert log.status == "FAIL"
    assert "catalog folder of run 'r1'" in log.steps["first"].message
    assert "is a symbolic link" in log.steps["first"].message
    assert untouched(outside)


@pytest.mark.parametrize("planted", ["run", "sub"])
def test_an_fsspec_catalog_on_a_local_path_refuses_a_planted_link_too(
    git_repo: Path, outside: Path, planted: str
) -> None:
    catalog = git_repo / "shared-catalog"
    (catalog / "r1").mkdir(parents=True)
    if planted == "run":
        (catalog / "r1").rmdir()
        (catalog / "r1").symlink_to(outside)
    else:
        (catalog / "r1" / "sub").symlink_to(outside)
    (git_repo / "c.yaml").write_text(f"catalog:\n  type: fsspec\n  config: {{url: 'file://{catalog}'}}\n")
    mod = f"sym_{uuid.uuid4().hex[:8]}"
    (git_repo / f"{mod}.py").write_text(FUNCTIONS)
    (git_repo / "p.yaml").write_text(
        f"dag:\n  start_at: first\n  steps:\n"
        f"    first: {{type: task, command: {mod}.make, catalog: {{put: ['sub/*.csv']}}, next: success}}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    log = execute(prepare(RunRequest(file="p.yaml", config_file="c.yaml", run_id="r1")))
    assert log.status == "FAIL"
    message = log.steps["first"].message
    assert ("catalog folder of run 'r1'" if planted == "run" else "catalog file 'sub/deep.csv'") in message
    assert untouched(outside)


def test_a_run_catalog_folder_linked_to_another_run_is_refused_too(git_repo: Path) -> None:
    assert put_pipeline(git_repo, "r0").status == SUCCESS
    before = sorted(p.name for p in (git_repo / ".catalog" / "r0").rglob("*"))
    (git_repo / ".catalog" / "r1").symlink_to(git_repo / ".catalog" / "r0")
    log = put_pipeline(git_repo, "r1")
    assert log.status == "FAIL" and "is a symbolic link" in log.steps["first"].message
    assert sorted(p.name for p in (git_repo / ".catalog" / "r0").rglob("*")) == before


def test_a_sub_folder_planted_as_a_link_refuses_the_put(git_repo: Path, outside: Path) -> None:
    (git_repo / ".catalog" / "r1").mkdir(parents=True)
    (git_repo / ".catalog" / "r1" / "sub").symlink_to(outside)
    log = put_pipeline(git_repo, "r1")
    assert log.status == "FAIL"
    assert (
        "catalog file 'sub/deep.csv'" in log.steps["first"].message
        and "outside" in log.steps["first"].message
    )
    assert not (git_repo / ".catalog" / "r1" / "out.csv").exists()  # checked before anything was copied
    assert untouched(outside)


def test_a_catalog_file_planted_as_a_link_is_refused(git_repo: Path, outside: Path) -> None:
    (git_repo / ".catalog" / "r1").mkdir(parents=True)
    (git_repo / ".catalog" / "r1" / "out.csv").symlink_to(outside / "keep.txt")
    log = put_pipeline(git_repo, "r1")
    assert log.status == "FAIL" and "catalog file 'out.csv'" in log.steps["first"].message
    assert untouched(outside)


def test_a_rerun_copying_into_a_planted_catalog_folder_is_refused(git_repo: Path, outside: Path) -> None:
    assert put_pipeline(git_repo, "r1", '["*.csv"]').status == SUCCESS
    (git_repo / ".catalog" / "r2").symlink_to(outside)
    result = run_magnus("execute", "-f", "p.yaml", "--use-cached", "r1", "--run-id", "r2", cwd=git_repo)
    assert result.returncode == 1, result.stderr
    assert "catalog folder of run 'r2'" in result.stderr and "is a symbolic link" in result.stderr
    assert "internal error" not in result.stderr
    assert json.loads((git_repo / ".run_log_store" / "r2.json").read_text())["status"] == "FAIL"
    assert untouched(outside)


def test_a_get_into_a_data_folder_linked_outside_is_refused(git_repo: Path, outside: Path) -> None:
    mod = f"sym_{uuid.uuid4().hex[:8]}"
    (git_repo / f"{mod}.py").write_text(
        FUNCTIONS + "\ndef relink():\n    import shutil, os\n    shutil.rmtree('data/sub')\n"
        f"    os.symlink({str(outside)!r}, 'data/sub')\n"
    )
    (git_repo / "p.yaml").write_text(
        textwrap.dedent(f"""
        dag:
          start_at: first
          steps:
            first: {{type: task, command: {mod}.make, catalog: {{put: ["sub/*.csv"]}}, next: relink}}
            relink: {{type: task, command: {mod}.relink, next: get}}
            get: {{type: task, command: {mod}.make, catalog: {{get: ["sub/*.csv"]}}, next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
        """)
    )
    log = execute(prepare(RunRequest(file="p.yaml")))
    assert log.steps["get"].status == "FAIL"
    assert "outside the working folder" in log.steps["get"].message
    assert untouched(outside)


def test_the_catalog_location_itself_may_be_a_link(git_repo: Path, tmp_path: Path) -> None:
    """The user's choice (a catalog on another disk): honoured, and what is beneath it stays beneath it."""
    disk = tmp_path / "big-disk"
    disk.mkdir()
    (git_repo / ".catalog").symlink_to(disk)
    assert put_pipeline(git_repo, "r1").status == SUCCESS
    assert (disk / "r1" / "out.csv").read_text() == "a,b\n"


# -- the chunked-fs store --------------------------------------------------------------------------------
def _new_run(store: ChunkedFileSystemRunLogStore, run_id: str) -> None:
    store.create_run(RunLog(run_id=run_id, status="PROCESSING"))


def _step(name: str) -> StepLog:
    return StepLog(name=name, internal_name=name, status=SUCCESS)


def test_a_chunked_run_folder_planted_as_a_link_is_never_written(git_repo: Path, outside: Path) -> None:
    (git_repo / "runs").mkdir()
    (git_repo / "runs" / "r1").symlink_to(outside)
    store = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    with pytest.raises(UsageError, match="already exists"):
        _new_run(store, "r1")
    assert untouched(outside)


def test_a_chunked_run_folder_swapped_for_a_link_during_a_run_is_refused(
    git_repo: Path, outside: Path
) -> None:
    store = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    _new_run(store, "r1")
    shutil.rmtree(git_repo / "runs" / "r1")
    (git_repo / "runs" / "r1").symlink_to(outside)
    with pytest.raises(UsageError, match=r"folder of run 'r1'.*is a symbolic link"):
        store.put_step_log("r1", _step("a"))
    with pytest.raises(UsageError, match="is a symbolic link"):
        store.update_run("r1", status=SUCCESS)
    assert untouched(outside)


@pytest.mark.parametrize("sub", ["steps", "branches", "parameters"])
def test_a_chunked_part_folder_planted_as_a_link_is_refused(git_repo: Path, outside: Path, sub: str) -> None:
    store = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    _new_run(store, "r1")
    shutil.rmtree(git_repo / "runs" / "r1" / sub, ignore_errors=True)
    (git_repo / "runs" / "r1" / sub).symlink_to(outside)
    with pytest.raises(UsageError, match="outside"):
        if sub == "steps":
            store.put_step_log("r1", _step("a"))
        elif sub == "parameters":
            store.update_run("r1", parameters={"x": 1})
        else:
            store.put_step_log("r1", _step("p"))
            from magnus_core.models.run_log import BranchLog

            store.put_branch_log("r1", BranchLog(internal_name="p.b"), "p")
    assert untouched(outside)


@pytest.mark.parametrize("sub", ["steps", "branches"])
def test_a_chunked_part_folder_swapped_after_writes_is_checked_again(
    git_repo: Path, outside: Path, sub: str
) -> None:
    """chunked-fs checks a part folder in full once, then by its device and inode per write (issue 19): a
    folder swapped for a link after many writes is refused all the same, and one removed and made again
    is checked again and written."""
    from magnus_core.models.run_log import BranchLog

    store = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    _new_run(store, "r1")

    def write(name: str) -> None:
        store.put_step_log("r1", _step("p"))
        if sub == "branches":
            store.put_branch_log("r1", BranchLog(internal_name=f"p.{name}"), "p")
        else:
            store.put_step_log("r1", _step(name))

    for name in ("a", "b", "c"):
        write(name)
    folder = git_repo / "runs" / "r1" / sub
    shutil.rmtree(folder)
    folder.mkdir()
    write("d")
    assert (folder / ("p%2Ed.json" if sub == "branches" else "d.json")).is_file()
    shutil.rmtree(folder)
    folder.symlink_to(outside)
    with pytest.raises(UsageError, match="outside"):
        write("e")
    assert untouched(outside)


def test_a_chunked_run_attached_through_a_link_is_refused(git_repo: Path, outside: Path) -> None:
    """Per-step entry points attach to a run another process created: the run's folder is checked too."""
    first = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    _new_run(first, "r1")
    first.close("r1")
    shutil.move(str(git_repo / "runs" / "r1"), str(outside / "r1"))
    (git_repo / "runs" / "r1").symlink_to(outside / "r1")
    before = {p.name: p.read_text() for p in (outside / "r1").rglob("*.json")}
    second = ChunkedFileSystemRunLogStore({"log_folder": "runs"})
    second.attach("r1")  # reading through the link is allowed (a user may link a run in to look at it)
    with pytest.raises(UsageError, match="is a symbolic link"):
        second.put_step_log("r1", _step("a"))
    assert {p.name: p.read_text() for p in (outside / "r1").rglob("*.json")} == before


# -- the file-system store -------------------------------------------------------------------------------
def test_a_run_log_planted_as_a_link_before_the_run_is_refused(git_repo: Path, outside: Path) -> None:
    (git_repo / ".run_log_store").mkdir()
    (git_repo / ".run_log_store" / "r1.json").symlink_to(outside / "keep.txt")
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n"
        "    fail: {type: fail}\n"
    )
    result = run_magnus("execute", "-f", "p.yaml", "--run-id", "r1", cwd=git_repo)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert untouched(outside)


def test_a_run_log_swapped_for_a_link_during_a_run_is_replaced_not_followed(
    git_repo: Path, outside: Path
) -> None:
    store = FileSystemRunLogStore({"log_folder": "logs"})
    store.create_run(RunLog(run_id="r1", status="PROCESSING"))
    path = git_repo / "logs" / "r1.json"
    path.unlink()
    path.symlink_to(outside / "keep.txt")
    store.update_run("r1", status=SUCCESS)  # a final write: always made
    assert not path.is_symlink() and json.loads(path.read_text())["status"] == SUCCESS
    assert untouched(outside)


# -- scratch folders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("store_type", ["chunked-fs", "file-system"])
def test_the_branch_parameters_scratch_folder_planted_as_a_link_is_refused(
    git_repo: Path, outside: Path, store_type: str
) -> None:
    from magnus_core.single import execute_single_node, fan_out, job_from_files

    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (git_repo / "shared.yaml").write_text(
        f"run_log_store: {{type: {store_type}, config: {{log_folder: runs}}}}\ncatalog: {{type: do-nothing}}\n"
    )

    def job(step: str):  # type: ignore[no-untyped-def]
        return job_from_files("r1", step, file="examples/composite.yaml", config_file="shared.yaml")

    assert execute_single_node(job("prepare")) == 0
    scratch = (
        git_repo
        / "runs"
        / ("r1/branch-parameters" if store_type == "chunked-fs" else ".r1.branch-parameters")
    )
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.symlink_to(outside)
    with pytest.raises(MagnusError, match="outside"):
        fan_out(job("parallel%step"))
    assert untouched(outside)


def test_atomic_write_with_a_root_never_leaves_it(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(UsageError, match="outside"):
        atomic_write(root / "sub" / "x.json", "{}", root=root)
    atomic_write(root / "fine" / "x.json", "{}", root=root)
    assert (root / "fine" / "x.json").read_text() == "{}"
    assert untouched(outside)


# -- notebook outputs ------------------------------------------------------------------------------------
def test_a_notebook_output_path_planted_as_a_link_is_refused(git_repo: Path, outside: Path) -> None:
    pytest.importorskip("papermill")  # the optional extra magnus[notebook]; .ci/run installs it
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, git_repo / "nb.ipynb")
    (git_repo / "nb_out.ipynb").symlink_to(outside / "keep.txt")
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: n\n  steps:\n    n: {type: task, command_type: notebook, command: nb.ipynb, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    log = execute(prepare(RunRequest(file="p.yaml")))
    assert log.status == "FAIL" and "notebook output 'nb_out.ipynb' is outside" in log.steps["n"].message
    assert untouched(outside)
    assert os.path.islink(git_repo / "nb_out.ipynb")
