"""`magnus logs RUN --follow` from another machine of a team (issue 16, point 2: "works on every store").

With the catalog in a bucket, a running attempt's growing output was a temporary file of the machine running
the step: a teammate following the run with only the database and the bucket saw nothing of a step until it
ended (and nothing at all of a step whose process was killed). Now the running side pushes that file to the
bucket in pieces (catalog_fsspec._Pusher) and the follower reads them in order, then the whole object.

Real servers: PostgreSQL (the run log store) and an S3-compatible server (moto), both started by the test
session. The runner is a real `magnus execute` in a temporary git repository; the follower is a second
process in another working folder that cannot see the runner's folder at all (a private mount namespace
puts an empty tmpfs over it, temporary files of the runner included): it has the database and the bucket.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

STEPS = """
import os
import sys
import time

from magnus import get_secret


def wait_for_go(seconds=20):
    deadline = time.time() + seconds  # (the test touches `go` in this folder, which the follower cannot see)
    while not os.path.exists("go") and time.time() < deadline:
        time.sleep(0.02)


def quick():
    print("one line")


def medium():
    print("a line", flush=True)
    time.sleep(0.3)  # past the 50 ms after which output goes to a growing file, well within a second
    print("another line")


def talk():
    print("tick 0 token", get_secret("API_TOKEN"), flush=True)
    index = 1
    deadline = time.time() + 20
    while not os.path.exists("go") and time.time() < deadline:
        print(f"tick {index}", flush=True)
        index += 1
        time.sleep(0.05)
    print("done", flush=True)


def big():
    for _ in range(9):  # 9 MB at once, then the step ends within a second
        sys.stdout.write(("m" * 1023 + "\\n") * 1024)
    sys.stdout.flush()
    time.sleep(0.5)


def lots():
    for index in range(300):  # 30,000 bytes over about 1.5 s, the cap 2 KB
        print(f"{index:05d} " + "y" * 93, flush=True)
        time.sleep(0.005)
    wait_for_go()
"""

TOKEN = "tok-9f8e7d6c5b4a"


def dag(*names: str) -> str:
    lines = ["dag:", f"  start_at: {names[0]}", "  steps:"]
    for index, name in enumerate(names):
        following = names[index + 1] if index + 1 < len(names) else "success"
        lines.append(f"    {name}: {{type: task, command: steps.{name}, next: {following}}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    return "\n".join(lines) + "\n"


class Team:
    """The runner's project (a git repo) and the follower's folder, sharing a database and a bucket."""

    def __init__(self, tmp_path: Path, runner: Path, store: dict[str, Any], s3: Any, bucket: str) -> None:
        self.runner = runner
        self.follower = tmp_path / "elsewhere"
        self.follower.mkdir()
        self.s3 = s3
        self.bucket = bucket
        config = {
            "run_log_store": store,
            "catalog": {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}},
            "secrets": {"type": "env-secrets-manager"},
        }
        (runner / "team.yaml").write_text(yaml.safe_dump(config))
        (runner / "steps.py").write_text(STEPS)
        (self.follower / "team.yaml").write_text(yaml.safe_dump({"run_log_store": store}))
        (runner / "tmp").mkdir()  # the runner's temporary files (its growing output files) go here
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120"}

    def execute(self, pipeline: str, **env: str) -> subprocess.Popen[bytes]:
        (self.runner / "p.yaml").write_text(pipeline)
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "magnus_core",
                "execute",
                "-f",
                "p.yaml",
                "-c",
                "team.yaml",
                "--run-id",
                "r",
            ],
            cwd=self.runner,
            env={**self.env, "TMPDIR": str(self.runner / "tmp"), "API_TOKEN": TOKEN, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def elsewhere(self, *args: str) -> list[str]:
        """A command run in the follower's folder with the runner's folder out of sight (an empty tmpfs)."""
        script = (
            f"mount -t tmpfs none {shlex.quote(str(self.runner))} && cd {shlex.quote(str(self.follower))}"
            f" && exec {shlex.join(args)}"
        )
        return ["unshare", "-rm", "sh", "-c", script]

    def magnus(self, *args: str) -> list[str]:
        return self.elsewhere(sys.executable, "-m", "magnus_core", *args, "-c", "team.yaml")

    def follow(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.magnus("logs", "r", "--follow"),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_started(self, run: subprocess.Popen[bytes]) -> None:
        """Wait until the run is in the database (then --follow needs no --wait)."""
        deadline = time.time() + 60
        while time.time() < deadline:
            shown = subprocess.run(self.magnus("show", "r"), env=self.env, capture_output=True, text=True)
            if shown.returncode == 0:
                return
            assert run.poll() is None, "the run ended before it was in the database"
            time.sleep(0.2)
        raise AssertionError("the run never reached the database")

    def pieces(self, name: str) -> list[tuple[str, bytes]]:
        """The pieces of `name`'s live output in the bucket, in order, with their bytes."""
        fs = self.s3.filesystem()
        prefix = f"{self.bucket}/catalog/r/.magnus/output/{name}.live"
        try:
            found = sorted(fs.find(prefix))
        except FileNotFoundError:
            return []
        return [(path.rsplit("/", 1)[1], fs.cat_file(path)) for path in found]

    def object(self, name: str) -> bytes:
        return bytes(self.s3.filesystem().cat_file(f"{self.bucket}/catalog/r/.magnus/output/{name}"))


@pytest.fixture
def store_kind() -> str:
    return "postgres"


@pytest.fixture
def team(tmp_path: Path, git_repo: Path, store_kind: str, store_block: Any, s3: Any, bucket: str) -> Team:
    """The store: PostgreSQL, or a file-system store in a folder both can reach (outside the runner's)."""
    made = Team(tmp_path, git_repo, store_block(store_kind), s3, bucket)
    hidden = subprocess.run(made.elsewhere("ls", "-A", str(git_repo)), capture_output=True, text=True)
    if hidden.returncode != 0:
        pytest.skip(f"this machine refuses a private mount namespace: {hidden.stderr.strip()}")
    assert hidden.stdout == ""  # the follower sees nothing of the runner's folder
    return made


def read_line(stream: Any, seconds: float) -> str:
    """One line of `stream`, or "" when none came within `seconds` (the old code showed nothing until the
    attempt ended)."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    return found[0] if found else ""


def joined(pieces: list[tuple[str, bytes]]) -> bytes:
    offset = 0
    for name, data in pieces:
        assert int(name) == offset  # named by their offsets, one after another
        offset += len(data)
    return b"".join(data for _, data in pieces)


@pytest.mark.parametrize("store_kind", ["postgres", "chunked-fs"])
def test_a_teammate_follows_a_running_step_from_the_bucket_and_the_store(team: Team) -> None:
    run = team.execute(dag("quick", "medium", "talk"))
    try:
        team.run_started(run)
        follow = team.follow()
        assert follow.stdout is not None and follow.stderr is not None
        started = time.monotonic()
        lines = [read_line(follow.stdout, 15) for _ in range(5)]
        seen_after = time.monotonic() - started
        assert lines[:4] == [
            "==> quick (attempt 0) <==\n",
            "one line\n",
            "==> medium (attempt 0) <==\n",
            "a line\n",
        ]
        lines += [read_line(follow.stdout, 15) for _ in range(2)]
        assert lines[4:7] == ["another line\n", "==> talk (attempt 0) <==\n", "tick 0 token *****\n"], lines
        assert run.poll() is None and seen_after < 15  # printed while the step runs (it waits for `go`)
        lines.append(read_line(follow.stdout, 10))
        assert lines[7] == "tick 1\n"
        pushed = team.pieces("talk.0.log")
        assert pushed, "nothing of the running step in the bucket"
        data = joined(pushed)
        assert data.startswith(b"tick 0 token *****\ntick 1\n") and TOKEN.encode() not in data  # masked
        time.sleep(4)  # (the follower looks 20 times meanwhile)
        (team.runner / "go").touch()
        rest = follow.stdout.read()
        follow.wait(timeout=60)
        followed = time.monotonic() - started
        err = follow.stderr.read()
    finally:
        run.wait(timeout=60)
    assert run.returncode == 0
    assert follow.returncode == 0, err
    assert err.strip().splitlines()[-1] == "run r ended SUCCESS"
    whole = team.object("talk.0.log")
    shown = "".join(lines[6:]) + rest  # the talk section: the pieces, then the rest of the whole object
    assert shown.encode() == whole, "the follower's copy differs from the output kept"
    assert whole.endswith(b"done\n") and TOKEN.encode() not in whole
    assert team.pieces("talk.0.log") == []  # removed once the whole object is kept
    # steps ending within a second wrote one object each, as before: no piece was ever pushed for them
    log = (Path(team.s3.log)).read_text(errors="replace")
    for name in ("quick", "medium"):
        assert not re.search(rf"PUT /{team.bucket}/catalog/r/\.magnus/output/{name}\.0\.log\.live", log)
        assert team.object(f"{name}.0.log")
    assert re.search(rf"PUT /{team.bucket}/catalog/r/\.magnus/output/talk\.0\.log\.live/0{{15}}", log)
    # the follower lists the running attempt's pieces once a second, not at each of its looks (0.2 s)
    listings = log.count(f"GET /{team.bucket}?list-type=2&prefix=catalog/r/.magnus/output/talk.0.log.live/")
    assert listings <= followed + 6, f"{listings} listings in {followed:.1f} s"


def test_a_step_killed_outright_shows_what_the_bucket_holds(team: Team) -> None:
    run = team.execute(dag("talk"))
    try:
        team.run_started(run)
        follow = team.follow()
        assert follow.stdout is not None and follow.stderr is not None
        assert read_line(follow.stdout, 15) == "==> talk (attempt 0) <==\n"
        first = read_line(follow.stdout, 15)
        assert first == "tick 0 token *****\n"
        time.sleep(1.5)  # more pieces
        run.send_signal(signal.SIGKILL)  # the OOM killer: nothing of magnus runs after it
        run.wait(timeout=30)
        rest = follow.stdout.read()
        follow.wait(timeout=60)
        err = follow.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    held = joined(team.pieces("talk.0.log"))
    assert held.startswith(b"tick 0 token *****\ntick 1\n") and TOKEN.encode() not in held
    assert (first + rest).encode() == held  # what the bucket holds is what the follower showed
    assert follow.returncode == 1
    assert (
        err.strip().splitlines()[-1].startswith("run r ended INTERRUPTED: talk: attempt 0 was cut short")
    ), err
    after = subprocess.run(team.magnus("logs", "r", "talk"), env=team.env, capture_output=True)
    assert after.stdout == held  # and so does `magnus logs` afterwards
    assert b"talk (attempt 0) was cut short" in after.stderr, after.stderr
    tail = subprocess.run(team.magnus("logs", "r", "talk", "--tail", "2"), env=team.env, capture_output=True)
    assert tail.stdout == b"".join(held.splitlines(keepends=True)[-2:])  # (read from the pieces' end)
    listed = subprocess.run(team.magnus("logs", "r", "--json"), env=team.env, capture_output=True, text=True)
    assert '"cut_short": true' in listed.stdout and '"state": "live"' in listed.stdout, listed.stdout
    shown = subprocess.run(team.magnus("show", "r"), env=team.env, capture_output=True, text=True)
    assert "its output until then: magnus logs r talk" in shown.stdout + shown.stderr, shown.stdout


def test_pieces_hold_no_more_than_the_cap(team: Team) -> None:
    run = team.execute(dag("lots"), MAGNUS_OUTPUT_CAP="2KB")
    try:
        team.run_started(run)
        deadline = time.time() + 20
        held = b""
        while time.time() < deadline and len(held) < 2048:
            held = joined(team.pieces("lots.0.log"))
            time.sleep(0.2)
        assert len(held) == 2048 and run.poll() is None  # the cap, pushed while the step still runs
        assert held == b"".join(f"{i:05d} ".encode() + b"y" * 93 + b"\n" for i in range(30))[:2048]
        time.sleep(1.5)
        assert joined(team.pieces("lots.0.log")) == held  # nothing past the cap is pushed
        (team.runner / "go").touch()
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    shown = subprocess.run(team.magnus("logs", "r", "lots", "--follow"), env=team.env, capture_output=True)
    whole = team.object("lots.0.log")
    assert whole.startswith(held) and b"[magnus: output cut here at 2.0 KB (2048 bytes)" in whole[2048:]
    assert shown.stdout == whole and shown.returncode == 0


def test_a_step_ending_within_a_second_writes_one_object_however_much_it_printed(team: Team) -> None:
    # 9 MB is past the size at which a running attempt pushes a piece at once (8 MB): a step that ends
    # within its first second still uploads its output once, as one object, not pieces and then the object
    run = team.execute(dag("big"))
    assert run.wait(timeout=120) == 0
    assert len(team.object("big.0.log")) == 9 << 20
    log = Path(team.s3.log).read_text(errors="replace")
    assert f"PUT /{team.bucket}/catalog/r/.magnus/output/big.0.log " in log or "uploadId" in log
    assert not re.search(rf"PUT /{team.bucket}/catalog/r/\.magnus/output/big\.0\.log\.live", log)
