"""The dask executor on a real LocalCluster (worker processes): composites, failures, dead workers and an
unreachable scheduler. One cluster for the module, started in the module's project folder (the workers'
working directory is where they import step functions from)."""

from __future__ import annotations

import os
import shlex
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from magnus_core.errors import ConfigError
from magnus_core.runner import RunRequest, execute, prepare
from magnus_core.stores.chunked import ChunkedFileSystemRunLogStore
from tests.conftest import ROOT, git

distributed = pytest.importorskip("distributed")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    project = tmp_path_factory.mktemp("dask") / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    write(
        project / "killer.py",
        """
        import os, signal
        from pathlib import Path

        def die_once(marker: str = "died"):
            if not Path(marker).exists():
                Path(marker).write_text("1")
                os.kill(os.getpid(), signal.SIGKILL)
            return {"survived": True}

        def always_die():
            os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init")
    old = Path.cwd()
    os.chdir(project)
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
    try:
        yield project, local.scheduler_address
    finally:
        local.close()
        os.chdir(old)


def config(project: Path, address: str, name: str = "dask.yaml") -> str:
    return str(
        write(
            project / name,
            f"""
        executor: {{type: dask, config: {{scheduler_address: "{address}"}}}}
        run_log_store: {{type: chunked-fs, config: {{log_folder: {project / "runs"}}}}}
        catalog: {{type: do-nothing}}
    """,
        )
    )


def run(project: Path, file: str, cfg: str):
    prepared = prepare(RunRequest(file=file, config_file=cfg))
    final = execute(prepared)
    return final, ChunkedFileSystemRunLogStore({"log_folder": str(project / "runs")}).get_run(final.run_id)


def test_composite_example_runs_on_the_cluster(cluster) -> None:
    project, address = cluster
    returned, on_disk = run(project, "examples/composite.yaml", config(project, address))
    assert returned.status == on_disk.status == "SUCCESS"
    assert returned.parameters == on_disk.parameters
    assert on_disk.parameters["seen_c"] is True and on_disk.parameters["result"] == 3
    steps = {s.internal_name: s for s in on_disk.walk()}
    assert steps["map step.b.m1"].user_defined_metrics == {"chunk_len": 1}
    assert {b.status for b in on_disk.steps["map step"].branches.values()} == {"SUCCESS"}


def test_branches_run_at_the_same_time_across_workers(cluster) -> None:
    project, address = cluster
    write(
        project / "sleepy.yaml",
        """
        dag:
          start_at: fan
          steps:
            fan:
              type: parallel
              next: success
              branches:
                one: {start_at: s, steps: {s: {type: task, command_type: shell, command: "sleep 1", next: success},
                      success: {type: success}, fail: {type: fail}}}
                two: {start_at: s, steps: {s: {type: task, command_type: shell, command: "sleep 1", next: success},
                      success: {type: success}, fail: {type: fail}}}
                three: {start_at: s, steps: {s: {type: task, command_type: shell, command: "sleep 1",
                        next: success}, success: {type: success}, fail: {type: fail}}}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    _, log = run(project, "sleepy.yaml", config(project, address))
    assert log.status == "SUCCESS"
    spans = [(s.attempts[0].start_time, s.attempts[0].end_time) for s in log.walk() if s.name == "s"]
    latest_start, earliest_end = max(a for a, _ in spans), min(b for _, b in spans)
    assert latest_start < earliest_end  # all three were running at one moment


def test_failures_route_and_a_dead_worker_is_retried_or_marked(cluster) -> None:
    project, address = cluster
    write(
        project / "dying.yaml",
        """
        dag:
          start_at: dies once
          steps:
            dies once: {type: task, command: killer.die_once, retry: 2, next: always dies}
            always dies: {type: task, command: killer.always_die, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    started = time.monotonic()
    _, log = run(project, "dying.yaml", config(project, address))
    assert time.monotonic() - started < 120  # never hangs
    assert log.status == "FAIL"
    assert log.steps["dies once"].status == "SUCCESS" and log.parameters["survived"] is True
    dead = log.steps["always dies"]
    assert dead.status == "FAIL" and "worker running it died" in dead.message
    assert log.steps["fail"].status == "SUCCESS"


def test_unreachable_scheduler_is_a_clear_error_quickly(git_repo: Path, magnus) -> None:
    with __import__("socket").socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    cfg = config(git_repo, f"tcp://127.0.0.1:{port}")
    started = time.monotonic()
    result = magnus("execute", "--file", "examples/composite.yaml", "--config-file", cfg)
    assert time.monotonic() - started < 10
    assert result.returncode == 2 and "does not answer" in result.stderr and "Traceback" not in result.stderr
    assert not (git_repo / "runs").exists()  # refused before any run log was written


def test_stores_workers_cannot_share_are_refused(git_repo: Path) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    cfg = write(git_repo / "fs.yaml", "executor: {type: dask}\nrun_log_store: {type: file-system}\n")
    with pytest.raises(ConfigError, match="use the postgres store"):
        prepare(RunRequest(file="examples/composite.yaml", config_file=str(cfg)))
    cfg = write(git_repo / "typo.yaml", "executor: {type: dask, config: {n_worker: 2}}\n")
    with pytest.raises(ConfigError, match=r"executor.config.n_worker"):
        prepare(RunRequest(file="examples/composite.yaml", config_file=str(cfg)))


def test_the_resume_command_a_failed_dask_run_prints_works_as_typed(cluster, magnus) -> None:
    """Trial 14 F7: `Resume with: magnus execute ... --config-file dask.yaml --use-cached R` was refused
    (exit 2: the dask executor does not reuse steps). The re-run now runs with the local executor on the
    same store and catalog, says so, and reuses what succeeded."""
    project, address = cluster
    cfg = config(project, address, "resume-dask.yaml")
    write(
        project / "flaky_resume.py",
        """
        from pathlib import Path

        def first():
            Path("first-ran.txt").write_text(str(int(Path("first-ran.txt").read_text() or 0) + 1)
                                             if Path("first-ran.txt").exists() else "1")

        def second():
            if not Path("fixed.txt").exists():
                raise RuntimeError("not fixed yet")
    """,
    )
    write(
        project / "resume.yaml",
        """
        dag:
          start_at: first
          steps:
            first: {type: task, command: flaky_resume.first, next: second}
            second: {type: task, command: flaky_resume.second, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    failed = magnus("execute", "--file", "resume.yaml", "--config-file", cfg, "--run-id", "dres", cwd=project)
    assert failed.returncode == 1, failed.stderr
    hint = next(line for line in failed.stderr.splitlines() if line.startswith("Resume with: "))
    (project / "fixed.txt").write_text("1")
    words = shlex.split(hint.removeprefix("Resume with: "))
    assert words[:2] == ["magnus", "execute"] and "--use-cached" in words
    again = magnus(*words[1:], "--run-id", "dres2", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "the re-run runs with the local executor" in again.stderr
    assert (project / "first-ran.txt").read_text() == "1"  # reused, not run again
    log = ChunkedFileSystemRunLogStore({"log_folder": str(project / "runs")}).get_run("dres2")
    assert log.status == "SUCCESS" and log.original_run_id == "dres"
    assert log.run_config["executor"]["type"] == "local"


@pytest.fixture
def separate_workers(tmp_path: Path) -> Iterator[tuple[str, list[Path]]]:
    """A scheduler and two worker processes, each worker in its own folder holding a copy of the project's
    code (as its image would) and nothing else: no store folder, no catalog folder is shared."""
    import subprocess
    import sys

    from tests.servers import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    folders = []
    address = f"tcp://127.0.0.1:{port}"
    for number in range(2):
        folder = tmp_path / f"worker-{number}"
        shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        folders.append(folder)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "2",
                    "--no-dashboard",
                    "--name",
                    f"worker-{number}",
                    "--local-directory",
                    str(folder / ".dask"),
                ],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    try:
        client = distributed.Client(address, timeout="60s")
        client.wait_for_workers(2, timeout=60)
        client.close()
        yield address, folders
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()


def test_workers_in_separate_folders_share_only_postgres_and_s3(
    git_repo: Path, separate_workers, postgres, bucket, s3
) -> None:
    """The composite and data examples on a cluster whose workers each have their own folder: the same run
    logs and catalog as local runs."""
    from magnus_core.stores import make_store
    from tests.conftest import fresh_schema

    address, folders = separate_workers
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    local_schema, dask_schema = fresh_schema(), fresh_schema()

    def team(name: str, executor: str, schema: str, catalog: str) -> str:
        return str(
            write(
                git_repo / name,
                f"""
            executor: {executor}
            run_log_store: {{type: postgres, config: {{dsn: "{postgres.dsn}", schema: {schema}}}}}
            catalog: {{type: fsspec, config: {{url: "s3://{bucket}/{catalog}"}}}}
        """,
            )
        )

    on_dask = team(
        "dask.yaml", f'{{type: dask, config: {{scheduler_address: "{address}"}}}}', dask_schema, "d"
    )
    on_local = team("local.yaml", "{type: local}", local_schema, "l")
    for example in ("composite", "data"):
        local = execute(prepare(RunRequest(file=f"examples/{example}.yaml", config_file=on_local)))
        remote = execute(prepare(RunRequest(file=f"examples/{example}.yaml", config_file=on_dask)))
        stored = make_store({"type": "postgres", "config": {"dsn": postgres.dsn, "schema": dask_schema}})
        remote = stored.get_run(remote.run_id)
        assert local.status == remote.status == "SUCCESS", [s.message for s in remote.walk()]
        assert remote.parameters == local.parameters

        def shape(log):
            return [
                (
                    s.internal_name,
                    s.status,
                    len(s.attempts),
                    s.user_defined_metrics,
                    sorted((r.name, r.stage, r.data_hash) for r in s.data_catalog),
                )
                for s in log.walk()
            ]

        assert shape(remote) == shape(local)
        fs = s3.filesystem()
        # the per-step entry point also names what each step puts before copying (.magnus/puts: a retried
        # pod may replace what a killed try put), a run in one process does not
        remote_files = [p for p in fs.find(f"{bucket}/d/{remote.run_id}") if "/.magnus/puts/" not in p]
        assert sorted(p.rsplit("/", 1)[1] for p in remote_files) == sorted(
            p.rsplit("/", 1)[1] for p in fs.find(f"{bucket}/l/{local.run_id}")
        )
    # the workers ran steps in their own folders, and kept no run log or catalog there
    assert any((folder / "data").exists() for folder in folders)
    for folder in folders:
        assert not (folder / ".run_log_store").exists() and not (folder / ".catalog").exists()


def test_dask_workers_keep_each_steps_output_in_the_catalog(cluster) -> None:
    project, address = cluster
    write(
        project / "talker.py",
        """
        import subprocess, sys

        def talk(name: str = "x"):
            print(f"python says {name}")
            print(f"warning for {name}", file=sys.stderr)

        def boom():
            print("about to fail")
            raise ValueError("no luck")
    """,
    )
    write(
        project / "talking.yaml",
        """
        dag:
          start_at: fan
          steps:
            fan:
              type: parallel
              next: boom
              branches:
                one: {start_at: t, steps: {t: {type: task, command: talker.talk, next: success},
                      success: {type: success}, fail: {type: fail}}}
                two: {start_at: t, steps: {t: {type: task, command_type: shell, command: "echo shell says two",
                      next: success}, success: {type: success}, fail: {type: fail}}}
            boom: {type: task, command: talker.boom, next: success}
            success: {type: success}
            fail: {type: fail}
    """,
    )
    cfg = write(
        project / "dask-catalog.yaml",
        f"""
        executor: {{type: dask, config: {{scheduler_address: "{address}"}}}}
        run_log_store: {{type: chunked-fs, config: {{log_folder: {project / "runs"}}}}}
        catalog: {{type: file-system, config: {{catalog_location: {project / "catalog"}}}}}
    """,
    )
    _, log = run(project, "talking.yaml", str(cfg))
    from magnus_core.logs import OutputReader

    reader = OutputReader(log)
    steps = {s.internal_name: s for s in log.walk()}

    def text(name: str) -> str:
        return reader.view(steps[name], steps[name].attempts[-1]).read().decode()

    assert text("fan.one.t") == "python says x\nwarning for x\n"
    assert text("fan.two.t") == "shell says two\n"
    assert text("boom").startswith("about to fail\nTraceback (most recent call last):")
    assert "ValueError: no luck" in text("boom")


def test_parameters_given_on_the_command_line_reach_the_workers(cluster) -> None:
    """Trial "team", finding 2 asked every executor: on Dask the run is created by the process that
    traverses, with the command line's parameters over the file's, and each worker reads them from it."""
    project, address = cluster
    write(project / "lr.yaml", "lr: 0.1\nepochs: 3\n")
    write(
        project / "carried.yaml",
        """
        dag:
          start_at: both
          steps:
            both:
              type: parallel
              branches:
                one:
                  start_at: seen
                  steps:
                    seen: {type: task, command_type: shell, command: 'export MAGNUS_TRACK_seen=$MAGNUS_PRM_lr', next: success}
                    success: {type: success}
                    fail: {type: fail}
              next: success
            success: {type: success}
            fail: {type: fail}
        """,
    )
    request = RunRequest(
        file="carried.yaml",
        config_file=config(project, address),
        parameters_file="lr.yaml",
        parameters={"lr": 0.4},
    )
    final = execute(prepare(request))
    assert final.status == "SUCCESS", [s.message for s in final.walk()]
    assert final.parameters == {"lr": 0.4, "epochs": 3}
    assert {s.internal_name: s.user_defined_metrics for s in final.walk()}["both.one.seen"] == {"seen": 0.4}
