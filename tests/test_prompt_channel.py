"""Secrets typed in a front end reach a `magnus execute` process over an inherited socket (--prompt-fd):
never its command line, its environment or a file. And typed parameters reach it on its command line
exactly (parameters.cli_text is type_value's inverse)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from magnus_core.events import RUN_CREATED, RUN_UPDATED, STEP_UPDATED
from magnus_core.parameters import cli_text, type_value
from magnus_core.prompt_channel import MAX_LINE, ChannelPrompt, channel_pair, message_event, serve
from tests.conftest import ROOT, run_magnus

FUNCS = """
from pathlib import Path

from magnus import get_secret


def use():
    Path("reached.txt").write_text(get_secret("api_key") + "|" + get_secret("token"))
"""

PIPELINE = """
dag:
  secrets: [api_key]
  start_at: use
  steps:
    use: {type: task, command: funcs.use, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_secrets_come_over_the_socket_and_nowhere_else(git_repo: Path) -> None:
    (git_repo / "funcs.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    ours, theirs = channel_pair()
    asked: list[str] = []
    answers = {"api_key": "k3y-Alpha-991", "token": "t0k-Beta-772"}

    def answer(name: str) -> str | None:
        asked.append(name)
        return answers.get(name)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "magnus_core", "execute", "--file", "p.yaml", "--run-id", "r",
        "--prompt-fd", str(theirs.fileno()),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=git_repo,
        env=env,
        pass_fds=(theirs.fileno(),),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    server = threading.Thread(target=serve, args=(ours, answer), daemon=True)
    server.start()
    out, err = proc.communicate(timeout=120)
    server.join(10)
    assert proc.returncode == 0, err
    assert asked == ["api_key", "token"]  # declared: before the run; the other when the step asks
    assert (git_repo / "reached.txt").read_text() == "k3y-Alpha-991|t0k-Beta-772"
    for value in answers.values():
        assert value not in " ".join(command) and value not in out + err
        for path in git_repo.rglob("*"):
            if path.is_file() and path.name != "reached.txt" and ".git" not in path.parts:
                assert value.encode() not in path.read_bytes(), path


def test_a_front_end_that_gives_up_stops_the_run_before_it_starts(git_repo: Path) -> None:
    (git_repo / "funcs.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    ours, theirs = channel_pair()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--prompt-fd", str(theirs.fileno())],
        cwd=git_repo,
        env=env,
        pass_fds=(theirs.fileno(),),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    threading.Thread(target=serve, args=(ours, lambda name: None), daemon=True).start()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "api_key" in err
    assert not (git_repo / ".run_log_store").exists() or not list((git_repo / ".run_log_store").iterdir())


def test_a_bad_prompt_fd_is_one_line(git_repo: Path) -> None:
    (git_repo / "funcs.py").write_text(FUNCS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = run_magnus("execute", "--file", "p.yaml", "--prompt-fd", "97", cwd=git_repo)
    assert done.returncode == 2
    assert "--prompt-fd 97: not an open socket" in done.stderr and "Traceback" not in done.stderr


def test_concurrent_questions_are_asked_one_at_a_time() -> None:
    ours, theirs = channel_pair()
    prompt = ChannelPrompt(os.dup(theirs.fileno()))
    theirs.close()
    active = []

    def answer(name: str) -> str:
        active.append(name)
        assert len(active) == 1
        active.pop()
        return name.upper()

    threading.Thread(target=serve, args=(ours, answer), daemon=True).start()
    got: list[str | None] = []
    threads = [threading.Thread(target=lambda n=n: got.append(prompt(n))) for n in ("aa", "bb", "cc", "dd")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(v for v in got if v) == ["AA", "BB", "CC", "DD"]
    prompt.sock.close()


NOTICES = """
from magnus import get_secret


def leak():
    return {"copy": "token=" + get_secret("api_key")}
"""


def test_every_write_of_the_run_comes_back_as_a_notice_masked(git_repo: Path) -> None:
    """The front end that started a run learns of each write from the run's own notices, masked as the
    store keeps them: the secret a step returned never crosses the socket."""
    (git_repo / "leaky.py").write_text(NOTICES)
    (git_repo / "p.yaml").write_text(
        "dag:\n  secrets: [api_key]\n  start_at: leak\n  steps:\n"
        "    leak: {type: task, command: leaky.leak, next: after}\n"
        "    after: {type: stub, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ours, theirs = channel_pair()
    heard: list[dict] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "n", "--prompt-fd",
         str(theirs.fileno())],
        cwd=git_repo, env=env, pass_fds=(theirs.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    theirs.close()
    server = threading.Thread(target=serve, args=(ours, lambda name: "s3cr3t-Gamma-118", heard.append))
    server.start()
    _, err = proc.communicate(timeout=120)
    server.join(10)
    assert proc.returncode == 0, err
    assert "s3cr3t-Gamma-118" not in json.dumps(heard)
    events = [message_event(message, "n") for message in heard]
    assert all(event is not None for event in events), heard
    kinds = [event.kind for event in events if event]
    assert kinds[0] == RUN_CREATED and kinds.count(RUN_UPDATED) >= 2
    finished = {
        e.internal_name: e.step_log for e in events if e and e.kind == STEP_UPDATED and e.status == "SUCCESS"
    }
    assert set(finished) == {"leak", "after", "success"}
    leak = finished["leak"]
    assert leak is not None and leak.attempts and leak.returned_parameters["copy"] != "token=s3cr3t-Gamma-118"
    # the run's parameters travel with the run's updates, masked too
    last = [e for e in events if e and e.kind == RUN_UPDATED][-1]
    assert last.status == "SUCCESS" and "copy" in last.extra["parameters"]


def test_notices_never_hold_the_run_up_and_a_long_one_is_skipped() -> None:
    """A front end busy answering (or gone) never blocks the run's notices; a line over MAX_LINE is skipped
    by the reader whole (never taken for a question) and the front end is told some were lost."""
    ours, theirs = channel_pair()
    prompt = ChannelPrompt(os.dup(theirs.fileno()))
    theirs.close()
    heard: list[dict] = []
    release = threading.Event()

    def answer(name: str) -> str:
        release.wait(10)  # the user takes their time
        return "v"

    threading.Thread(target=serve, args=(ours, answer, heard.append), daemon=True).start()
    got: list[str | None] = []
    asker = threading.Thread(target=lambda: got.append(prompt("slow")))
    asker.start()
    prompt.tell({"event": "run-created", "run_id": "r"})
    prompt.tell({"event": "step-updated", "step": {"blob": "x" * (MAX_LINE + 10)}})  # too long: dropped
    prompt.tell({"event": "run-updated", "status": "SUCCESS"})
    prompt.flush()
    deadline = time.monotonic() + 10
    while len(heard) < 3 and time.monotonic() < deadline:  # heard while the question is still open
        time.sleep(0.01)
    assert [m["event"] for m in heard] == ["run-created", "events-lost", "run-updated"] and not got
    release.set()
    asker.join(10)
    assert got == ["v"]
    prompt.sock.close()


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_cli_text_is_read_back_as_the_same_value(value) -> None:
    assert type_value(cli_text(value)) == value


def test_cli_text_keeps_text_that_looks_like_a_number() -> None:
    assert cli_text("02142") == '"02142"' and type_value(cli_text("3")) == "3"
    assert cli_text(3) == "3" and cli_text(0.5) == "0.5" and cli_text(True) == "true"
    assert type_value(cli_text({"a": [1, "x\u2028y", "\x85"]})) == {"a": [1, "x\u2028y", "\x85"]}
