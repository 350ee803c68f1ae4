"""The catalog never copies magnus's own folders, and a catalog name belongs to one branch, whatever the
concurrency (issue 18, items 5 and 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import read_only, run_magnus

EVERYTHING = """
catalog:
  type: file-system
  config: {compute_data_folder: ., catalog_location: .catalog}
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "echo one > one.txt", next: second, catalog: {put: ["**/*"]}}
    second: {type: task, command_type: shell, command: "echo two > two.txt", next: success, catalog: {put: ["**/*"]}}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_put_of_everything_never_copies_magnus_folders_git_or_virtual_environments(git_repo: Path) -> None:
    (git_repo / "pipeline.yaml").write_text(EVERYTHING)
    (git_repo / "src").mkdir()
    (git_repo / "src" / "code.py").write_text("x = 1\n")
    for venv in (".venv", "env-py311"):  # any folder holding pyvenv.cfg is a virtual environment
        (git_repo / venv / "lib").mkdir(parents=True)
        (git_repo / venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (git_repo / venv / "lib" / "site.py").write_text("")
    first = run_magnus("execute", "--run-id", "r1", "--json", cwd=git_repo)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr  # the run log changed between steps
    again = run_magnus("execute", "--run-id", "r2", cwd=git_repo)  # r1's catalog is there now too
    assert again.returncode == 0, again.stderr
    kept = sorted(
        p.relative_to(git_repo / ".catalog" / "r2").as_posix()
        for p in (git_repo / ".catalog" / "r2").rglob("*")
        if p.is_file() and ".magnus" not in p.parts  # (the steps' own output, kept apart)
    )
    assert kept == [".gitignore", "one.txt", "pipeline.yaml", "src/code.py", "two.txt"], kept
    names = {r["name"] for s in json.loads(first.stdout)["steps"].values() for r in s["data_catalog"]}
    assert not any(n.startswith((".git/", ".catalog", ".run_log_store", ".venv", "env-py311")) for n in names)


def test_a_moved_store_folder_is_never_copied_either(git_repo: Path) -> None:
    (git_repo / "pipeline.yaml").write_text(EVERYTHING)
    (git_repo / "c.yaml").write_text("run_log_store: {type: chunked-fs, config: {log_folder: runs/kept}}\n")
    done = run_magnus("execute", "-c", "c.yaml", "--run-id", "r1", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    assert not (git_repo / ".catalog" / "r1" / "runs").exists()


def test_naming_a_file_in_a_magnus_folder_is_refused_plainly(git_repo: Path) -> None:
    (git_repo / "fns.py").write_text(
        "from magnus import put_in_catalog\ndef sneak():\n    put_in_catalog('.run_log_store/r0.json')\n"
    )
    (git_repo / ".run_log_store").mkdir()
    (git_repo / ".run_log_store" / "r0.json").write_text("{}")
    (git_repo / "pipeline.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command: fns.sneak, next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    done = run_magnus("execute", "--json", cwd=git_repo)
    assert done.returncode == 1
    message = json.loads(done.stdout)["steps"]["s"]["message"]
    assert (
        "'r0.json' is inside one of magnus's own folders" in message or "magnus's own folders" in message
    ), message


# -- item 13: a name belongs to one branch -------------------------------------------------------------------
FUNCTIONS = """
import time
from pathlib import Path

def write(label, pause=0.0):
    Path("data").mkdir(exist_ok=True)
    Path("data/out.txt").write_text(label)
    time.sleep(pause)

def per_item(chunk):
    from magnus import put_in_catalog
    Path("data").mkdir(exist_ok=True)
    Path(f"data/out_{chunk}.txt").write_text(chunk)
    put_in_catalog(f"data/out_{chunk}.txt")

def items():
    return {"chunks": ["a", "b", "c"]}
"""


def parallel(put: str) -> str:
    return f"""
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: success
      branches:
        a:
          start_at: w
          steps:
            w: {{type: task, command: "lambda: None", command_type: python-lambda, next: s}}
            s: {{type: task, command_type: shell, command: "mkdir -p data; echo A > data/out.txt; sleep 0.3", next: success, catalog: {{put: [{put}]}}}}
            success: {{type: success}}
            fail: {{type: fail}}
        b:
          start_at: s
          steps:
            s: {{type: task, command_type: shell, command: "mkdir -p data; echo B > data/out.txt; sleep 0.3", next: success, catalog: {{put: [{put}]}}}}
            success: {{type: success}}
            fail: {{type: fail}}
    success: {{type: success}}
    fail: {{type: fail}}
"""


def test_two_branches_naming_the_same_file_are_refused_before_the_run(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(parallel("out.txt"))
    done = run_magnus("execute", "--file", "p.yaml", cwd=git_repo)
    assert done.returncode == 2
    assert "step 'par': catalog put 'out.txt' in branches 'a' and 'b'" in done.stderr
    assert not (git_repo / ".run_log_store").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_two_branches_globbing_the_same_name_fail_alike_whatever_the_concurrency(
    git_repo: Path, workers: int
) -> None:
    (git_repo / "p.yaml").write_text(parallel('"out*.txt"'))
    (git_repo / "c.yaml").write_text(f"executor: {{type: local, config: {{max_workers: {workers}}}}}\n")
    messages = set()
    for attempt in range(3):
        done = run_magnus(
            "execute",
            "--file",
            "p.yaml",
            "-c",
            "c.yaml",
            "--run-id",
            f"w{workers}-{attempt}",
            "--json",
            cwd=git_repo,
        )
        assert done.returncode == 1, done.stderr
        log = json.loads(done.stdout)
        messages.add(log["steps"]["par"]["message"])
        records = [
            r
            for s in log["steps"]["par"]["branches"].values()
            for st in s["steps"].values()
            for r in st["data_catalog"]
        ]
        assert (
            len([r for r in records if r["stage"] == "put"]) == 1
        )  # the second put is refused, never recorded
    assert messages == {
        "catalog: 'out.txt' put by branches 'par.a' and 'par.b' (a catalog name is put by one branch only)"
    }


def test_a_map_branch_naming_a_file_is_refused_and_per_item_names_work_concurrently(git_repo: Path) -> None:
    (git_repo / "fns.py").write_text(FUNCTIONS)
    body = """
executor: {type: local, config: {max_workers: 3}}
dag:
  start_at: items
  steps:
    items: {type: task, command: fns.items, next: each}
    each:
      type: map
      iterate_on: chunks
      iterate_as: chunk
      next: success
      branch:
        start_at: w
        steps:
          w: {type: task, command: fns.per_item, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""
    (git_repo / "p.yaml").write_text(
        body.replace(
            "fns.per_item, next: success}", "fns.per_item, next: success, catalog: {put: [out.txt]}}"
        )
    )
    refused = run_magnus("execute", "--file", "p.yaml", cwd=git_repo)
    assert refused.returncode == 2 and "catalog put 'out.txt' in a branch run per item" in refused.stderr
    (git_repo / "p.yaml").write_text(body)
    done = run_magnus("execute", "--file", "p.yaml", "--run-id", "m", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (git_repo / ".catalog" / "m").iterdir() if p.name != ".magnus") == [
        "out_a.txt",
        "out_b.txt",
        "out_c.txt",
    ]
    assert [(git_repo / ".catalog" / "m" / f"out_{c}.txt").read_text() for c in "abc"] == ["a", "b", "c"]


def test_the_same_name_put_again_later_on_one_path_follows_the_content_rule(git_repo: Path) -> None:
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: top\n  steps:\n"
        "    top: {type: task, command_type: shell, command: 'mkdir -p data; echo same > data/out.txt', next: par, catalog: {put: [out.txt]}}\n"
        "    par:\n      type: parallel\n      next: success\n      branches:\n"
        "        only:\n          start_at: s\n          steps:\n"
        "            s: {type: task, command_type: shell, command: 'echo same > data/out.txt', next: success, catalog: {put: ['out*.txt']}}\n"
        "            success: {type: success}\n            fail: {type: fail}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus("execute", "--file", "p.yaml", cwd=git_repo)
    assert done.returncode == 0, done.stderr  # the same content put again by a later step is fine


def test_a_catalog_folder_the_system_refuses_at_run_time_fails_the_step_plainly(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "runs"
    project.mkdir()
    (project / "data").mkdir()
    (project / "data" / "x.txt").write_text("x")
    (project / "fns.py").write_text(
        "from magnus import put_in_catalog\ndef put():\n    put_in_catalog('data/x.txt')\n"
    )
    (project / "c.yaml").write_text(
        f"run_log_store: {{type: file-system, config: {{log_folder: {elsewhere}}}}}\n"
    )
    (project / "p.yaml").write_text(
        "dag: {start_at: s, steps: {s: {type: task, command: fns.put, next: e}, e: {type: success}, f: {type: fail}}}\n"
    )
    done = read_only(project, "execute", "--file", "p.yaml", "-c", "c.yaml", "--json")
    assert done.returncode == 1, done.stderr  # a failed step, not a crash
    assert "internal error" not in done.stderr
    message = json.loads(done.stdout)["steps"]["s"]["message"]
    assert "catalog put: cannot write" in message and "catalog.config.catalog_location" in message, message
