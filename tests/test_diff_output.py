"""What one step printed in two runs, compared (trial 4: the diff screen's "step logs" were run-log
records and nothing put two runs' output side by side): `magnus diff A B --output STEP` as a unified
diff, its JSON, exit codes and completion, over real runs whose output the catalog kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from magnus_core.diff_output import CHANGED, SAME, line_pairs, step_output, unified
from magnus_core.stores.file_system import FileSystemRunLogStore
from tests.conftest import git, run_magnus

STEPS = """
import os


def train():
    lr = float(os.environ["LR"])
    for epoch in range(4):
        print(f"epoch {epoch} loss={1 - lr * epoch:.3f}")
    print("saved model")


def quiet():
    return None
"""

PIPELINE = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: quiet}
    quiet: {type: task, command: steps.quiet, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def make_two_runs(project: Path) -> tuple[str, str]:
    """Runs `ra` (lr 0.1) and `rb` (lr 0.15) of one pipeline in `project` (a git repository, the working
    directory): the step `train` prints 5 lines, 3 of which differ; `quiet` prints nothing."""
    (project / "steps.py").write_text(STEPS)
    (project / "p.yaml").write_text(PIPELINE)
    for run_id, lr in (("ra", "0.1"), ("rb", "0.15")):
        out = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=project, env={"LR": lr})
        assert out.returncode == 0, out.stderr
    return "ra", "rb"


def git_project(folder: Path) -> Path:
    """A git repository with one commit in `folder` (tests.conftest's git_repo, for any scope)."""
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "init")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs made once for the module's tests (each test only reads them)."""
    project = git_project(tmp_path_factory.mktemp("output-diff") / "project")
    make_two_runs(project)
    return project


def diff(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_magnus("diff", *args, cwd=project)


def test_the_output_of_a_step_in_two_runs_as_a_unified_diff(runs: Path) -> None:
    out = diff(runs, "ra", "rb", "--output", "train")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "--- ra/train (attempt 0)",
        "+++ rb/train (attempt 0)",
        "@@ -1,5 +1,5 @@",
        " epoch 0 loss=1.000",
        "-epoch 1 loss=0.900",
        "-epoch 2 loss=0.800",
        "-epoch 3 loss=0.700",
        "+epoch 1 loss=0.850",
        "+epoch 2 loss=0.700",
        "+epoch 3 loss=0.550",
        " saved model",
    ]
    assert diff(runs, "ra", "rb", "--output", "train", "--exit-code").returncode == 1  # as diff(1)
    same = diff(runs, "ra", "ra", "--output", "train", "--exit-code")
    assert same.returncode == 0 and same.stdout.strip() == "train printed the same (5 lines)."
    nothing = diff(runs, "ra", "rb", "--output", "quiet", "--exit-code")
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "quiet printed nothing, in both runs" in nothing.stderr
    data = json.loads(diff(runs, "ra", "rb", "--output", "train", "--json").stdout)
    assert data["schema"] == "magnus-output-diff/1" and data["differs"] is True
    assert data["a"]["lines"][1] == "epoch 1 loss=0.900" and data["b"]["lines"][1] == "epoch 1 loss=0.850"
    assert data["diff"][:2] == ["--- ra/train (attempt 0)", "+++ rb/train (attempt 0)"]


def test_a_step_the_run_does_not_have_is_a_usage_error(runs: Path) -> None:
    out = diff(runs, "ra", "rb", "--output", "trian")
    assert out.returncode == 2
    assert "--output 'trian': run A (ra) has no step 'trian' (did you mean 'train'?)" in out.stderr
    out = diff(runs, "ra", "rb", "--output", "fail")  # not run in A: no record of it
    assert out.returncode == 2 and "run A (ra) has no step 'fail'" in out.stderr


def test_output_step_names_complete_from_run_a(runs: Path) -> None:
    env = {
        "COMP_WORDS": "magnus diff ra rb --output ",
        "COMP_CWORD": "5",
        "_MAGNUS_COMPLETE": "bash_complete",
    }
    out = run_magnus(cwd=runs, env=env)
    assert out.stdout.split() == ["plain,train", "plain,quiet", "plain,success"]


def test_line_pairs_align_the_two_outputs(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileSystemRunLogStore({"log_folder": str(runs / ".run_log_store")})
    monkeypatch.chdir(runs)  # the run's catalog is relative to where it ran
    a = step_output(store.get_run("ra"), "train", runs=store.get_run)
    b = step_output(store.get_run("rb"), "train", runs=store.get_run, side="B")
    rows = line_pairs(a, b)
    assert [kind for kind, _, _ in rows] == [SAME, CHANGED, CHANGED, CHANGED, SAME]
    assert rows[1][1:] == ("epoch 1 loss=0.900", "epoch 1 loss=0.850")
    assert len(unified(a, b)) == 11 and unified(a, a) == []
    quiet = step_output(store.get_run("ra"), "quiet")
    assert quiet.lines == [] and quiet.problem == "the step printed nothing" and quiet.attempt == 0


PARALLEL = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        b1:
          start_at: p1
          steps:
            p1: {type: task, command_type: shell, command: 'echo "lr $LR"; echo same', next: success}
            success: {type: success}
            fail: {type: fail}
        b2:
          start_at: p2
          steps:
            p2: {type: task, command_type: shell, command: 'echo b2 out; exit 3', next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_composite_step_compares_the_steps_inside_it(tmp_path: Path) -> None:
    """Trial 7, finding 3: `--output par` on a parallel that ran and failed said "the step has no attempt
    (it did not run)". It compares the steps inside it, as `magnus logs RUN par` shows them, each under
    its name; the JSON lists them."""
    project = git_project(tmp_path / "p")
    (project / "par.yaml").write_text(PARALLEL)
    for run_id, lr in (("pa", "0.1"), ("pb", "0.2")):
        out = run_magnus("execute", "-f", "par.yaml", "--run-id", run_id, cwd=project, env={"LR": lr})
        assert out.returncode == 1, out.stderr  # b2 fails, and so does par
    shown = run_magnus("diff", "pa", "pb", "--output", "par", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "did not run" not in shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:2] == ["--- pa/par", "+++ pb/par"]
    assert {"-lr 0.1", "+lr 0.2", " ── par.b1.p1", " same"} <= set(lines)
    data = json.loads(run_magnus("diff", "pa", "pb", "--output", "par", "--json", cwd=project).stdout)
    assert data["a"]["steps"] == ["par.b1.p1", "par.b2.p2"] and data["a"]["problem"] == ""
    assert data["b"]["lines"] == ["── par.b1.p1", "lr 0.2", "same", "── par.b2.p2", "b2 out"]


KILLED = """
import os
import signal


def dies():
    print("loading batch 17", flush=True)
    if os.environ.get("DIE"):
        os.kill(os.getpid(), signal.SIGKILL)
    print("batch 17 done")
"""


def test_the_overview_names_a_step_cut_short_by_its_process_dying(git_repo: Path) -> None:
    """Trial 24: a step whose process was killed as it ran has its output in the run's held file, with no
    record (no SHA256) in the run log: the overview compared none and said nothing of it, though
    `--output` showed the difference."""
    (git_repo / "steps.py").write_text(KILLED)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: dies\n  steps:\n    dies: {type: task, command: steps.dies, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    (git_repo / "config.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
    killed = run_magnus(
        "execute", "-c", "config.yaml", "-f", "p.yaml", "--run-id", "a", cwd=git_repo, env={"DIE": "1"}
    )
    assert killed.returncode == -9
    done = run_magnus("execute", "-c", "config.yaml", "-f", "p.yaml", "--run-id", "b", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    overview = run_magnus("diff", "-c", "config.yaml", "a", "b", cwd=git_repo)
    assert "output     1 step printed differently (dies)" in overview.stdout, overview.stdout
    shown = json.loads(run_magnus("diff", "-c", "config.yaml", "a", "b", "--json", cwd=git_repo).stdout)
    assert shown["output"]["steps"] == ["dies"]
    side_by_side = run_magnus("diff", "-c", "config.yaml", "a", "b", "--output", "dies", cwd=git_repo)
    assert "+batch 17 done" in side_by_side.stdout
