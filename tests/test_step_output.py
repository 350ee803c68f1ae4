"""Every step's output is kept, per attempt, in the run's catalog, and `magnus logs` prints it.

End to end with the real command in subprocesses, in a temporary git repository: python steps (print,
stderr, logging, a subprocess they start), shell steps (and the processes they start), notebooks' cells,
retries, concurrent branches, a map, secrets, the cap, binary output, `--follow` from a second process, the
per-step entry point and a closed or broken standard output."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from magnus_core.models.run_log import AttemptOutput
from tests.conftest import ROOT

STEPS = """
import logging
import os
import signal
import subprocess
import sys
import time

from magnus import get_secret

log = logging.getLogger("mylib")


def talk():
    print("to stdout")
    print("to stderr", file=sys.stderr)
    log.warning("a library warns")
    subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)


def silent():
    return None


def fails():
    print("loading data")
    print("3 rows")
    data = {}
    return data["z"]


def flaky():
    first = not os.path.exists("tried")
    open("tried", "w").close()
    print("attempt says", "first" if first else "second")
    if first:
        raise ValueError("first attempt fails")


def branch(name: str = "", times: int = 30):
    for index in range(times):
        print(f"{name} line {index}")
        time.sleep(0.002)


def item(chunk):
    print(f"item {chunk}")


def leak():
    print("the token is", get_secret("API_TOKEN"))


def lots(size: int = 100_000):
    for _ in range(size // 100):
        sys.stdout.write("x" * 99 + "\\n")


def slow():
    print("tick 0", flush=True)
    deadline = time.time() + 120
    while not os.path.exists("go") and time.time() < deadline:  # until the test has seen tick 0
        time.sleep(0.02)
    for index in (1, 2):
        print(f"tick {index}", flush=True)


def binary():
    sys.stdout.flush()
    os.write(1, b"bytes \\xff\\xfe here\\n")


def closes_stdout():
    print("before closing")
    sys.stdout.close()
    print("after closing", file=sys.stderr)


def closes_fd():
    print("before closing fd 1", flush=True)
    os.close(1)
    print("to stderr after", file=sys.stderr)


def merges_fds():
    print("before merging", flush=True)
    os.dup2(2, 1)  # fd 1 now the same pipe as fd 2 (as 2>&1 would, the other way round)
    subprocess.run([sys.executable, "-c", "print('child after merging')"], check=True)
"""


def dag(*steps: str, extra: str = "") -> str:
    """A linear dag of task steps given as YAML flow mappings without `next`."""
    names = [s.split(":", 1)[0].strip() for s in steps]
    lines = ["dag:", f"  start_at: {names[0]}", "  steps:"]
    for index, text in enumerate(steps):
        name, body = text.split(":", 1)
        following = names[index + 1] if index + 1 < len(names) else "success"
        inner = body.strip().removeprefix("{").removesuffix("}")
        lines.append(f"    {name.strip()}: {{{inner}, next: {following}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    return git_repo


def run_log(project: Path, run_id: str = "r") -> dict[str, Any]:
    return json.loads((project / ".run_log_store" / f"{run_id}.json").read_text())


def attempts(log: dict[str, Any], step: str) -> list[dict[str, Any]]:
    def walk(steps: dict[str, Any]) -> Any:
        for s in steps.values():
            yield s
            for b in s.get("branches", {}).values():
                yield from walk(b["steps"])

    return next(s for s in walk(log["steps"]) if s["internal_name"] == step)["attempts"]


def kept(project: Path, record: dict[str, Any]) -> bytes:
    """The bytes of an attempt's output file, checked against its record."""
    path = project / record["catalog_handler_location"] / record["catalog_relative_path"]
    data = path.read_bytes()
    assert len(data) == record["size"]
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    return data


def test_python_output_is_kept_per_attempt_and_still_streams(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("talk: {type: task, command: steps.talk}"))
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 0, result.stderr
    assert "to stdout" in result.stdout and "to stderr" in result.stderr  # streamed as the run went
    log = run_log(project)
    record = attempts(log, "talk")[0]["output"]
    assert record["name"] == ".magnus/output/talk.0.log"
    assert record["catalog_relative_path"] == "r/.magnus/output/talk.0.log"
    text = kept(project, record).decode()
    for line in ("to stdout", "to stderr", "a library warns", "from a child process"):
        assert line in text
    assert record["written"] == record["size"]
    assert log["steps"]["talk"]["data_catalog"] == []  # output is not data


def test_a_step_that_prints_nothing_leaves_no_file(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("quiet: {type: task, command: steps.silent}"))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    record = attempts(run_log(project), "quiet")[0]["output"]
    assert record == {}  # capture was on, nothing kept: empty fields are left out of the run log
    assert not (project / ".catalog" / "r" / ".magnus" / "output" / "quiet.0.log").exists()
    result = magnus("logs", "r", "quiet")
    assert result.returncode == 0 and result.stdout == ""
    assert "printed nothing" in result.stderr


def test_logs_of_a_whole_run_says_once_which_steps_printed_nothing(project: Path, magnus: Any) -> None:
    steps = ["q1: {type: task, command: steps.silent}", "talk: {type: task, command: steps.talk}"]
    steps += ["q2: {type: task, command: steps.silent}"]
    (project / "p.yaml").write_text(dag(*steps))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    result = magnus("logs", "r")
    assert result.returncode == 0
    assert "==> talk (attempt 0) <==" in result.stdout and "q1" not in result.stdout
    notes = [line for line in result.stderr.splitlines() if "printed nothing" in line]
    assert notes == ["magnus: printed nothing: q1 (attempt 0), q2 (attempt 0)"]


def test_a_run_log_that_writes_every_output_field_reads_the_same(project: Path, magnus: Any) -> None:
    """New logs leave an output record's empty fields out (`"output": {}` for a step that printed
    nothing); logs written before, with every field, give the same `magnus logs`, text and --json."""
    steps = ["q1: {type: task, command: steps.silent}", "talk: {type: task, command: steps.talk}"]
    (project / "p.yaml").write_text(dag(*steps))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    log = run_log(project)
    talk = attempts(log, "talk")[0]["output"]
    assert set(talk) == {*AttemptOutput.model_fields} - {"error"}
    new = [magnus("logs", "r", *flags) for flags in ((), ("--json",), ("q1",))]
    every = {"name": "", "catalog_relative_path": "", "catalog_handler_location": "", "size": 0, "sha256": ""}
    attempts(log, "q1")[0]["output"] = {**every, "written": 0}
    path = project / ".run_log_store" / "r.json"
    path.write_text(json.dumps(log, indent=4))
    old = [magnus("logs", "r", *flags) for flags in ((), ("--json",), ("q1",))]
    for before, after in zip(new, old, strict=True):
        assert (after.returncode, after.stdout, after.stderr) == (
            before.returncode,
            before.stdout,
            before.stderr,
        )
    shown = json.loads(old[1].stdout)["attempts"]
    assert shown[0]["output"] == {**every, "written": 0} and shown[1]["output"] == talk
    assert "printed nothing" in old[2].stderr and old[2].stdout == ""


def test_shell_output_and_its_failure_are_in_the_summary(project: Path, magnus: Any) -> None:
    command = "echo starting; python -c 'import sys; print(\"disk full on /data\", file=sys.stderr)'; exit 6"
    (project / "p.yaml").write_text(
        dag(f"sh: {{type: task, command_type: shell, command: {json.dumps(command)}}}")
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 1
    text = kept(project, attempts(run_log(project), "sh")[0]["output"]).decode()
    assert text == "starting\ndisk full on /data\n"
    summary = result.stdout
    assert "sh: shell command exited with code 6" in summary
    assert "at exit code" not in summary  # the message already says the code
    assert "  | disk full on /data" in summary  # the stderr that said why
    assert "all of it: magnus logs r sh" in summary


def test_a_python_failure_shows_where_its_last_lines_and_the_command(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("train: {type: task, command: steps.fails}"))
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    line = STEPS.splitlines().index('    return data["z"]') + 1
    assert f"  at steps.py:{line} in fails" in result.stdout
    assert "  | 3 rows" in result.stdout
    assert "  | KeyError: 'z'" in result.stdout  # the traceback ends the kept output, as python prints it
    text = kept(project, attempts(run_log(project), "train")[0]["output"]).decode()
    assert "loading data\n3 rows\nTraceback (most recent call last):" in text
    assert f'File "steps.py", line {line}, in fails' in text
    assert "magnus_core" not in text  # magnus's own frames are not the user's traceback


def test_retries_keep_each_attempt_apart_and_logs_picks_one(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("flaky: {type: task, command: steps.flaky, retry: 2}"))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    first, second = attempts(run_log(project), "flaky")
    assert b"attempt says first" in kept(project, first["output"])
    assert b"attempt says second" in kept(project, second["output"])
    assert b"first" not in kept(project, second["output"])
    both = magnus("logs", "r", "flaky")
    assert "==> flaky (attempt 0) <==" in both.stdout and "==> flaky (attempt 1) <==" in both.stdout
    one = magnus("logs", "r", "flaky", "--attempt", "1")
    assert one.returncode == 0 and one.stdout == "attempt says second\n"  # one attempt: as written
    missing = magnus("logs", "r", "flaky", "--attempt", "5")
    assert missing.returncode == 2
    assert "step 'flaky' of run 'r' has no attempt 5 (attempts: 0, 1)" in missing.stderr


def test_logs_of_every_step_in_order_with_tail(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        dag("talk: {type: task, command: steps.talk}", "train: {type: task, command: steps.fails}")
    )
    magnus("execute", "-f", "p.yaml", "--run-id", "r")
    every = magnus("logs", "r")
    assert every.returncode == 0
    out = every.stdout
    assert out.index("==> talk (attempt 0) <==") < out.index("==> train (attempt 0) <==")
    tail = magnus("logs", "r", "train", "--tail", "1")
    assert tail.stdout == "KeyError: 'z'\n"
    as_json = json.loads(magnus("logs", "r", "--json").stdout)
    assert [a["step"] for a in as_json["attempts"]] == ["talk", "train"]
    assert "loading data" in as_json["attempts"][1]["text"]


def test_unknown_run_and_step_are_usage_errors(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("train: {type: task, command: steps.fails}"))
    magnus("execute", "-f", "p.yaml", "--run-id", "r")
    run = magnus("logs", "nope")
    assert run.returncode == 2 and "no run 'nope'" in run.stderr
    step = magnus("logs", "r", "trian")
    assert step.returncode == 2
    assert "run 'r' has no step 'trian'; did you mean train?" in step.stderr


def test_concurrent_branches_and_map_items_keep_their_output_apart(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        textwrap.dedent(
            """
            dag:
              start_at: both
              steps:
                both:
                  type: parallel
                  next: each
                  branches:
                    left:
                      start_at: work
                      steps:
                        work: {type: task, command: "lambda: None", command_type: python-lambda, next: say}
                        say: {type: task, command_type: shell, command: "for i in $(seq 40); do echo left $i; sleep 0.005; done", next: success}
                        success: {type: success}
                        fail: {type: fail}
                    right:
                      start_at: say
                      steps:
                        say: {type: task, command: steps.branch, next: success}
                        success: {type: success}
                        fail: {type: fail}
                each:
                  type: map
                  iterate_on: chunks
                  iterate_as: chunk
                  next: success
                  branch:
                    start_at: work
                    steps:
                      work: {type: task, command: steps.item, next: success}
                      success: {type: success}
                      fail: {type: fail}
                success: {type: success}
                fail: {type: fail}
            """
        )
    )
    (project / "config.yaml").write_text("executor:\n  type: local\n  config:\n    max_workers: 2\n")
    result = magnus(
        "execute",
        "-f",
        "p.yaml",
        "-c",
        "config.yaml",
        "--run-id",
        "r",
        "--chunks",
        "[a, b]",
        "--name",
        "right",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = run_log(project)
    left = kept(project, attempts(log, "both.left.say")[0]["output"]).decode().splitlines()
    right = kept(project, attempts(log, "both.right.say")[0]["output"]).decode().splitlines()
    assert left == [f"left {i}" for i in range(1, 41)]
    assert right == [f"right line {i}" for i in range(30)]
    assert kept(project, attempts(log, "each.a.work")[0]["output"]) == b"item a\n"
    assert magnus("logs", "r", "each.b.work").stdout == "item b\n"


def test_secrets_are_masked_in_the_kept_output(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("leak: {type: task, command: steps.leak}"))
    (project / "config.yaml").write_text("secrets:\n  type: env-secrets-manager\n")
    result = magnus(
        "execute", "-f", "p.yaml", "-c", "config.yaml", "--run-id", "r", env={"API_TOKEN": "tok-9f8e7d6c"}
    )
    assert result.returncode == 0, result.stderr
    text = kept(project, attempts(run_log(project), "leak")[0]["output"]).decode()
    assert text == "the token is *****\n"
    assert "tok-9f8e7d6c" not in result.stdout


def test_output_is_cut_at_the_cap_with_a_marker(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("lots: {type: task, command: steps.lots}"))
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r", env={"MAGNUS_OUTPUT_CAP": "10KB"})
    assert result.returncode == 0
    record = attempts(run_log(project), "lots")[0]["output"]
    data = kept(project, record)
    assert record["written"] == 100_000
    assert data.startswith(b"x" * 99 + b"\n") and data[:10240].count(b"\n") == 102
    # sizes as the rest of the CLI says them, each with its exact count (a script may compare it)
    assert (
        b"[magnus: output cut here at 10 KB (10240 bytes); the step wrote 98 KB (100000 bytes)"
        in data[10240:]
    )


def test_a_bad_cap_is_a_usage_error(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("lots: {type: task, command: steps.lots}"))
    (project / "config.yaml").write_text("catalog:\n  type: file-system\n  config:\n    output_cap: lots\n")
    result = magnus("execute", "-f", "p.yaml", "-c", "config.yaml")
    assert result.returncode == 2
    assert "field 'catalog.config.output_cap': expected a size such as 100MB" in result.stderr
    env = magnus("execute", "-f", "p.yaml", env={"MAGNUS_OUTPUT_CAP": "a lot"})
    assert env.returncode == 2 and "MAGNUS_OUTPUT_CAP" in env.stderr


def test_binary_output_is_kept_as_bytes_and_shown_with_replacements(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("bin: {type: task, command: steps.binary}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"]
    run = subprocess.run(command, cwd=project, env=env, capture_output=True)
    assert run.returncode == 0
    assert b"bytes \xff\xfe here\n" in run.stdout  # streamed as they were
    assert kept(project, attempts(run_log(project), "bin")[0]["output"]) == b"bytes \xff\xfe here\n"
    assert magnus("logs", "r", "bin").stdout == "bytes \ufffd\ufffd here\n"


def test_with_the_do_nothing_catalog_no_output_is_kept_and_logs_says_so(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("train: {type: task, command: steps.fails}"))
    (project / "config.yaml").write_text("catalog:\n  type: do-nothing\n")
    result = magnus("execute", "-f", "p.yaml", "-c", "config.yaml", "--run-id", "r")
    assert "loading data" in result.stdout  # it still streamed
    assert "output" not in attempts(run_log(project), "train")[0]
    assert "(no output is kept: the run's catalog is do-nothing" in result.stdout
    logs = magnus("logs", "r", "-c", "config.yaml")
    assert logs.returncode == 0 and "no output is kept: the run's catalog is do-nothing" in logs.stderr


def test_a_missing_output_file_is_said_plainly(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(dag("talk: {type: task, command: steps.talk}"))
    magnus("execute", "-f", "p.yaml", "--run-id", "r")
    (project / ".catalog" / "r" / ".magnus" / "output" / "talk.0.log").unlink()
    result = magnus("logs", "r", "talk")
    assert result.returncode == 1
    assert (
        "talk (attempt 0): output file cannot be read: no file '.magnus/output/talk.0.log'" in result.stderr
    )
    (project / ".catalog" / "r" / ".magnus" / "output" / "talk.0.log").mkdir()  # there, but unreadable
    unreadable = magnus("logs", "r", "talk", "--tail", "2")
    assert unreadable.returncode == 1 and "output file cannot be read" in unreadable.stderr
    assert "Is a directory" in unreadable.stderr and "Traceback" not in unreadable.stderr
    as_json = magnus("logs", "r", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["attempts"][0]["state"] == "missing"


@pytest.mark.parametrize(
    ("size", "planted"),
    [(100, "lots.0.log"), (400_000, "lots.0.log.live")],  # held in memory, then written; a growing file
)
def test_a_link_planted_in_the_output_folder_is_never_followed(
    project: Path, magnus: Any, size: int, planted: str, tmp_path: Path
) -> None:
    """The run's output folder is checked once per run (not at each attempt): a link planted at an
    attempt's file name, or as the output folder itself, still never leads a write outside the run."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me\n")
    (project / "p.yaml").write_text(
        dag("talk: {type: task, command: steps.talk}", "lots: {type: task, command: steps.lots}")
    )
    folder = project / ".catalog" / "r" / ".magnus" / "output"
    folder.mkdir(parents=True)
    (folder / "talk.0.log").symlink_to(outside / "victim")
    (folder / planted).symlink_to(outside / "victim")
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r", "--size", str(size))
    assert result.returncode == 0, result.stderr
    log = run_log(project)
    assert (outside / "victim").read_text() == "keep me\n"
    for step in ("talk", "lots"):
        record = attempts(log, step)[0]["output"]
        if record.get("name"):  # the link was replaced by the kept file (an output spilled to a growing file)
            assert not (folder / f"{step}.0.log").is_symlink() and kept(project, record)
        else:  # the link was refused: the step went on, its record says why
            assert "Too many levels of symbolic links" in record["error"], record
    # the output folder itself a link to another place: refused too, nothing written there
    (project / ".catalog" / "r2" / ".magnus").mkdir(parents=True)
    (project / ".catalog" / "r2" / ".magnus" / "output").symlink_to(outside, target_is_directory=True)
    second = magnus("execute", "-f", "p.yaml", "--run-id", "r2", "--size", str(size))
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert "symbolic link" in attempts(run_log(project, "r2"), "talk")[0]["output"]["error"]


def written(path: Path, data: bytes) -> bool:
    """`path` holds `data` (False while it is missing or not written yet)."""
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def ended(pid: int) -> bool:
    """Process `pid` has ended: a zombie, or already reaped (by the writer's thread: no /proc entry)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.parametrize("how", ["thread", "process", "no-python"])
def test_the_writer_thread_writes_small_outputs_and_says_what_it_could_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Small outputs of a folder catalog are created by a thread (the step does not wait for the file
    system), or, once it has created WRITER_PROCESS_AFTER files, by a writer process it hands each batch
    to (when none can be started, no python executable here, the thread goes on creating them); settled()
    waits for them; one that cannot be written is a warning, not a failure; past WRITER_HOLDS bytes
    waiting the caller writes it itself."""
    from magnus_core import capture

    process = how == "process"
    monkeypatch.setattr(capture, "WRITER_PROCESS_AFTER", 10**9 if how == "thread" else 1)
    if how == "no-python":
        monkeypatch.setattr(sys, "executable", "")
    writer = capture._Writer()
    try:
        # the thread writes a file by itself shortly after (it gathers for WRITER_WAIT s), settled() or not
        assert writer.submit(str(tmp_path / "first.log"), b"first\n")
        deadline = time.monotonic() + 10
        # (its contents, not only its name: the file exists from the open() before the write, and a loaded
        # machine read it empty in between: flaky at load 11)
        while not written(tmp_path / "first.log", b"first\n") and time.monotonic() < deadline:
            time.sleep(0.005)
        assert (tmp_path / "first.log").read_bytes() == b"first\n"
        # a batch of more files than wake it at once, handed over faster than it writes: every one written
        batch = [tmp_path / f"batch{i}.log" for i in range(2 * capture.WRITER_BATCH + 3)]
        for i, path in enumerate(batch):
            assert writer.submit(str(path), f"{i}\n".encode())
        assert writer.submit(str(tmp_path / "a.log"), b"one\n")
        assert writer.submit(str(tmp_path / "gone" / "b.log"), bytearray(b"two\n"))
        if not writer._pid:  # (a running process takes each file at once: nothing waits in memory)
            monkeypatch.setattr(capture, "WRITER_HOLDS", 10)
            assert not writer.submit(str(tmp_path / "c.log"), b"x" * 11)
        writer.settle()
        assert bool(writer._pid) == process  # (the first file was the thread's own)
        if process:  # once it runs, the steps' thread writes each file's frame to it: the thread sleeps
            made, frames = writer.made, writer._direct_frames
            direct = [tmp_path / f"direct{i}.log" for i in range(5)]
            for i, path in enumerate(direct):
                assert writer.submit(str(path), f"{i}\n".encode())
            assert (writer.made, writer._direct_frames) == (made, frames + 5) and not writer._files
            # gathered by this thread, then written to the process's pipe in one write: by the thread
            # within WRITER_WAIT seconds when no more come (here, without settle())
            deadline = time.monotonic() + 10
            while not written(direct[-1], b"4\n") and time.monotonic() < deadline:
                time.sleep(0.005)
            assert [path.read_bytes() for path in direct] == [f"{i}\n".encode() for i in range(5)]
            assert writer.made == made  # (the process wrote them: the thread only handed them over)
        assert writer._no_process == (how == "no-python")
        assert (tmp_path / "a.log").read_bytes() == b"one\n" and not (tmp_path / "c.log").exists()
        assert [path.read_bytes() for path in batch] == [f"{i}\n".encode() for i in range(len(batch))]
        assert writer.waiting == 0
        assert "could not be kept in" in caplog.text and "b.log" in caplog.text
        if process:  # a link planted where a file goes is not followed by the process either
            (tmp_path / "outside").write_text("keep me\n")
            (tmp_path / "planted.log").symlink_to(tmp_path / "outside")
            assert writer.submit(str(tmp_path / "planted.log"), b"nope\n")
            writer.settle()
            assert (tmp_path / "outside").read_text() == "keep me\n"
            assert "planted.log" in caplog.text
            # the process killed: the thread creates the files again, and says so once
            started = writer._pid
            os.kill(started, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not ended(started):
                time.sleep(0.005)
            after = [tmp_path / f"after{i}.log" for i in range(5)]
            for i, path in enumerate(after):
                assert writer.submit(str(path), f"{i}\n".encode())
            writer.settle()
            assert [path.read_bytes() for path in after] == [f"{i}\n".encode() for i in range(5)]
            assert not writer._pid and writer._no_process
            assert caplog.text.count("the output writer process ended") == 1
    finally:
        writer.close()
    if process:  # reaped, not left a zombie
        with pytest.raises(ChildProcessError):
            os.waitpid(started, os.WNOHANG)
    # a process forked while the writer's lock was held (by its thread) gets a writer of its own
    with capture.WRITER._lock:
        pid = os.fork()
        if pid == 0:  # the child: the lock is free, a file can be handed over and is written
            code = 1
            try:
                if capture.WRITER._lock.acquire(timeout=2):
                    capture.WRITER._lock.release()
                    code = 0 if capture.WRITER.submit(str(tmp_path / "child.log"), b"child\n") else 2
                    capture.WRITER.settle()
            finally:
                os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert (tmp_path / "child.log").read_bytes() == b"child\n"


def test_a_killed_run_s_writer_process_still_writes_what_it_was_given(project: Path) -> None:
    """The writer process ends at the end of its pipe, having written every whole batch: outputs handed to it
    and not written yet (here: it is stopped) are written after magnus was killed outright (SIGKILL)."""
    code = textwrap.dedent(
        """
        import os, signal, sys, time
        from magnus_core import capture
        capture.WRITER_PROCESS_AFTER = 1
        capture.WRITER.submit(sys.argv[1] + "/first.log", b"first\\n")
        capture.WRITER.settle()  # the thread made the first itself; the process takes the rest
        for i in range(50):
            capture.WRITER.submit(sys.argv[1] + f"/f{i}.log", b"x" * 1000)
        capture.WRITER.settle()
        os.kill(capture.WRITER._pid, signal.SIGSTOP)
        for i in range(50, 100):
            capture.WRITER.submit(sys.argv[1] + f"/f{i}.log", b"y" * 1000)
        capture.WRITER.hand_over()  # (the frames gathered by this thread: in its pipe now)
        while capture.WRITER._files or capture.WRITER._busy:  # in its pipe, not written
            time.sleep(0.001)
        print(capture.WRITER._pid, len(os.listdir(sys.argv[1])), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    folder = project / "out"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(folder)], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    writer, count = (int(word) for word in done.stdout.split())
    assert count == 51  # the first 50 and first.log: the rest were in the pipe
    os.kill(writer, signal.SIGCONT)
    expected = [b"x" * 1000] * 50 + [b"y" * 1000] * 50
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _contents(folder, 100) != expected:
        time.sleep(0.01)
    assert _contents(folder, 100) == expected


def _contents(folder: Path, count: int) -> list[bytes | None]:
    return [
        (folder / f"f{i}.log").read_bytes() if (folder / f"f{i}.log").exists() else None for i in range(count)
    ]


def test_catalog_globs_never_match_output_files(project: Path, magnus: Any) -> None:
    (project / "data").mkdir()
    (project / "data" / "a.csv").write_text("1\n")
    (project / "p.yaml").write_text(
        dag(
            "talk: {type: task, command: steps.talk, catalog: {put: ['**/*']}}",
            "take: {type: task, command: steps.talk, catalog: {get: ['**/*']}}",
        )
    )
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    log = run_log(project)
    names = [r["name"] for s in log["steps"].values() for r in s["data_catalog"]]
    assert names == ["a.csv", "a.csv"]  # put, then get: never .magnus/...
    assert not (project / "data" / ".magnus").exists()


def test_follow_prints_a_running_step_from_another_process(project: Path) -> None:
    (project / "p.yaml").write_text(
        dag("slow: {type: task, command: steps.slow}", "talk: {type: task, command: steps.talk}")
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "magnus_core"]
    run = subprocess.Popen(
        [*command, "execute", "-f", "p.yaml", "--run-id", "r"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while not (project / ".run_log_store" / "r.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        follow = subprocess.Popen(
            [*command, "logs", "r", "--follow"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert first == "==> slow (attempt 0) <==\n"
        assert follow.stdout.readline() == "tick 0\n"
        assert run.poll() is None  # printed while the step was still running (it waits for "go")
        (project / "go").touch()
        rest = follow.stdout.read()  # (communicate() would skip what readline() buffered)
        follow.wait(timeout=60)
        assert follow.stderr is not None
        err = follow.stderr.read()
    finally:
        run.wait(timeout=60)
    assert follow.returncode == 0, err
    assert err.strip().splitlines()[-1] == "run r ended SUCCESS"  # how it ended, on stderr (trial 4)
    assert "tick 2\n" in rest and "==> talk (attempt 0) <==\nto stdout\n" in rest
    one = subprocess.run(  # one step followed: printed as written, as without --follow (no heading)
        [*command, "logs", "r", "talk", "--follow"], cwd=project, env=env, capture_output=True, text=True
    )
    assert one.returncode == 0 and one.stdout.startswith("to stdout\n") and "==>" not in one.stdout


def test_follow_ends_with_how_the_run_ended_and_its_exit_code(project: Path, magnus: Any) -> None:
    # trial 4: `magnus logs R --follow` of a run that failed exited 0 with no word of the failure
    (project / "p.yaml").write_text(
        dag("talk: {type: task, command: steps.talk}", "train: {type: task, command: steps.fails}")
    )
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 1
    followed = magnus("logs", "r", "--follow")
    assert followed.returncode == 1
    assert "to stdout\n" in followed.stdout
    last = followed.stderr.strip().splitlines()[-1]
    assert last.startswith("run r ended FAIL: train: ") and "Error" in last, followed.stderr
    plain = magnus("logs", "r")  # without --follow the exit code is about the output only
    assert plain.returncode == 0 and "ended" not in plain.stderr
    node = magnus("logs", "r", "fail")  # the fail node ran no command (it said "the run log predates ...")
    assert node.returncode == 0 and "fail (attempt 0): a fail step runs no command" in node.stderr


def test_a_whole_run_is_headed_even_when_one_step_printed(project: Path, magnus: Any) -> None:
    # trial 4: with one step's output, `magnus logs R` printed no heading though --help says each is headed
    (project / "p.yaml").write_text(dag("talk: {type: task, command: steps.talk}"))
    assert magnus("execute", "-f", "p.yaml", "--run-id", "r").returncode == 0
    assert magnus("logs", "r").stdout.startswith("==> talk (attempt 0) <==\nto stdout\n")
    assert magnus("logs", "r", "talk").stdout.startswith("to stdout\n")  # one step: as written, to pipe


def test_the_per_step_entry_point_keeps_the_same_output(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        dag("talk: {type: task, command: steps.talk}", "train: {type: task, command: steps.fails}")
    )
    (project / "config.yaml").write_text("run_log_store:\n  type: chunked-fs\n")
    for step in ("talk", "train", "fail"):
        magnus("execute_single_node", "r", step, "-f", "p.yaml", "-c", "config.yaml")
    logs = magnus("logs", "r", "-c", "config.yaml")
    assert "==> talk (attempt 0) <==\nto stdout\n" in logs.stdout
    assert "from a child process" in logs.stdout
    assert "loading data\n3 rows\nTraceback" in logs.stdout


def test_a_closed_stdout_changes_nothing(project: Path) -> None:
    (project / "p.yaml").write_text(dag("talk: {type: task, command: steps.talk}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # `magnus execute ... >&-`: the command starts with file descriptor 1 closed
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" -m magnus_core execute -f p.yaml --run-id r >&-', sys.executable],
        cwd=project,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert run_log(project)["status"] == "SUCCESS"
    assert b"to stdout" in kept(project, attempts(run_log(project), "talk")[0]["output"])


@pytest.mark.parametrize("command", ["runs", "show r", "logs r", "logs r talk --tail 1", "diff r r"])
def test_commands_that_print_data_work_with_stdout_or_stderr_closed(project: Path, command: str) -> None:
    """`magnus runs >&-` (and show, logs, diff) ended in 'internal error (AttributeError ...)': Python sets
    sys.stdout to None when it starts with descriptor 1 closed. Now they print nowhere and exit 0."""
    (project / "p.yaml").write_text(dag("talk: {type: task, command: steps.talk}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        cwd=project,
        env=env,
        capture_output=True,
    )
    assert ran.returncode == 0, ran.stderr
    for closing in (">&-", "2>&-"):
        result = subprocess.run(
            ["sh", "-c", f'exec "$0" -m magnus_core {command} {closing}', sys.executable],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (closing, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["steps.closes_stdout", "steps.closes_fd"])
def test_a_step_closing_its_stdout_changes_nothing(project: Path, magnus: Any, command: str) -> None:
    (project / "p.yaml").write_text(
        dag(f"close: {{type: task, command: {command}}}", "talk: {type: task, command: steps.talk}")
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    log = run_log(project)
    assert log["status"] == "SUCCESS" and log["steps"]["close"]["status"] == "SUCCESS"
    text = kept(project, attempts(log, "close")[0]["output"]).decode()
    assert "before closing" in text and "after" in text
    assert "Run r: SUCCESS" in result.stdout  # the summary was printed after the step closed stdout


def test_a_step_that_points_fd_1_at_fd_2_gives_it_back(project: Path, magnus: Any) -> None:
    """fd 1 made a copy of fd 2 (the seam's stderr pipe) by a step is noticed at its end (not only a closed
    or replaced fd: each pump's pipe is told apart) and given back: the next step's child prints on stdout."""
    (project / "p.yaml").write_text(
        dag("merge: {type: task, command: steps.merges_fds}", "talk: {type: task, command: steps.talk}")
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from a child process" in result.stdout and "from a child process" not in result.stderr
    assert "child after merging" in result.stderr  # the step's own merge held while it ran
    log = run_log(project)
    assert "child after merging" in kept(project, attempts(log, "merge")[0]["output"]).decode()
    assert "from a child process" in kept(project, attempts(log, "talk")[0]["output"]).decode()


def test_notebook_cells_output_is_kept_and_a_failing_cell_located(project: Path, magnus: Any) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("papermill")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell("print('cell one says hi')"),
        nbformat.v4.new_code_cell("import sys\nprint('to stderr', file=sys.stderr)"),
        # a child process writes to the kernel's fd 1: kept once (trial 24: ipykernel forwarded it as the
        # cell's output too, so it was kept twice; it does not under pytest, PYTEST_CURRENT_TEST)
        nbformat.v4.new_code_cell(
            "import subprocess, time\nsubprocess.run(['echo', 'from a child'])\ntime.sleep(0.5)"
        ),
        nbformat.v4.new_code_cell("rows = []\nrows[3]"),
    ]
    nbformat.write(notebook, project / "nb.ipynb")
    (project / "p.yaml").write_text(dag("nb: {type: task, command_type: notebook, command: nb.ipynb}"))
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r", unset=("PYTEST_CURRENT_TEST",))
    assert result.returncode == 1
    attempt = attempts(run_log(project), "nb")[0]
    assert attempt["error"]["type"] == "IndexError" and attempt["error"]["cell"] == 4
    text = kept(project, attempt["output"]).decode()
    assert "cell one says hi\n" in text and "to stderr\n" in text
    assert text.count("from a child\n") == 1, text
    assert "IndexError: list index out of range" in text  # the cell's traceback ends the output
    assert "  at cell 4, line 2" in result.stdout
    assert "  | IndexError: list index out of range" in result.stdout


def test_a_rerun_shows_the_output_of_the_steps_it_reused(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        dag("talk: {type: task, command: steps.talk}", "train: {type: task, command: steps.fails}")
    )
    magnus("execute", "-f", "p.yaml", "--run-id", "first")
    again = magnus("execute", "-f", "p.yaml", "--use-cached", "first", "--run-id", "second")
    assert again.returncode == 1
    log = run_log(project, "second")
    assert log["steps"]["talk"]["mock"] is True and attempts(log, "talk") == []  # it ran in "first"
    assert not (project / ".catalog" / "second" / ".magnus" / "output" / "talk.0.log").exists()  # not copied
    shown = magnus("logs", "second")
    assert "==> talk (attempt 0, reused from run first) <==\nto stdout\n" in shown.stdout
    assert "==> train (attempt 0) <==\nloading data\n" in shown.stdout


def test_logs_takes_the_escaped_name_of_the_per_step_entry_point(project: Path, magnus: Any) -> None:
    (project / "p.yaml").write_text(
        textwrap.dedent(
            """
            dag:
              start_at: each
              steps:
                each:
                  type: map
                  iterate_on: chunks
                  iterate_as: chunk
                  next: success
                  branch:
                    start_at: work
                    steps:
                      work: {type: task, command: steps.item, next: success}
                      success: {type: success}
                      fail: {type: fail}
                success: {type: success}
                fail: {type: fail}
            """
        )
    )
    result = magnus("execute", "-f", "p.yaml", "--run-id", "r", "--chunks", '["x y"]')
    assert result.returncode == 0, result.stdout + result.stderr
    assert magnus("logs", "r", "each.x y.work").stdout == "item x y\n"
    assert magnus("logs", "r", "each.x%y.work").stdout == "item x y\n"  # as execute_single_node takes it
    wrong = magnus("logs", "r", "each.x%z.work")
    assert wrong.returncode == 2 and "has no step 'each.x%z.work'" in wrong.stderr


@pytest.mark.parametrize(
    ("args", "keywords", "fields"),
    [
        ((0,), {}, {"written": 0}),
        ((7, 5, "disk full"), {}, {"size": 5, "written": 7, "error": "disk full"}),
        (
            (9, 9),
            {"name": "n", "where": ("r/n", ".catalog"), "sha256": "ab"},
            {
                "name": "n",
                "catalog_relative_path": "r/n",
                "catalog_handler_location": ".catalog",
                "size": 9,
                "sha256": "ab",
                "written": 9,
            },
        ),
    ],
    ids=["nothing", "error", "kept"],
)
def test_an_attempt_s_record_is_the_model_s(args: Any, keywords: Any, fields: Any) -> None:
    """Capture makes each attempt's record without pydantic (one per attempt): the same object, the same
    fields given, the same JSON as the validated model's."""
    from magnus_core.capture import _record

    made, validated = _record(*args, **keywords), AttemptOutput(**fields)
    assert made == validated and made.__pydantic_fields_set__ == validated.__pydantic_fields_set__
    assert made.model_dump_json() == validated.model_dump_json()


def test_a_kept_output_s_quick_record_and_digest_are_the_usual_ones() -> None:
    """A printing attempt's record is made by capture._kept_record (arguments by position: one per printing
    attempt) and its held bytes hashed by python's own SHA256 (capture.SMALL_SHA256, not OpenSSL's): the
    same record as _record's (fields, fields given, JSON) and the same digest as hashlib's, for any bytes."""
    import hashlib

    from magnus_core.capture import SMALL_SHA256, _kept_record, _record

    quick = _kept_record(9, 9, "n", ("r/n", ".catalog"), "ab")
    usual = _record(9, 9, name="n", where=("r/n", ".catalog"), sha256="ab")
    assert quick == usual and quick.__pydantic_fields_set__ is usual.__pydantic_fields_set__
    assert quick.model_dump_json() == usual.model_dump_json()
    for data in (b"", b"one line\n", bytes(range(256)) * 300, bytearray(b"\xff\xfe" * 1000)):
        assert SMALL_SHA256(data).hexdigest() == hashlib.sha256(data).hexdigest()


def test_attempts_records_share_their_fields_given_and_are_frozen() -> None:
    """Capture's records of one shape share one set of fields given (no set of 472 bytes made and kept in
    the run log per attempt, capture._GIVEN); safe because a record is frozen: assigning to one raises,
    and a copy with other values (masking's model_copy) gets a set of its own."""
    from pydantic import ValidationError

    from magnus_core.capture import _record

    one = _record(9, 9, name="n", where=("r/n", ".catalog"), sha256="ab")
    two = _record(3, 3, name="m", where=("r/m", ".catalog"), sha256="cd")
    assert one.__pydantic_fields_set__ is two.__pydantic_fields_set__
    assert _record(0).__pydantic_fields_set__ is _record(5).__pydantic_fields_set__ == {"written"}
    with pytest.raises(ValidationError):
        one.error = "changed"
    copy = one.model_copy(update={"name": "*****"})
    assert copy.__pydantic_fields_set__ is not one.__pydantic_fields_set__
    assert (copy.name, one.name, two.name) == ("*****", "n", "m")
    assert one.__pydantic_fields_set__ == AttemptOutput(**one.shown()).__pydantic_fields_set__ - {"error"}
