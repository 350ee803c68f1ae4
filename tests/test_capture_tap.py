"""The attempt's tap of a run's route (output.tapped, alone): its Tees are the route's, switched per attempt,
and fd 1 and 2 are drained and checked only when one poll() says so. Each check runs in a process of its
own (the seam takes over fd 1 and 2), with real pipes and a real child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, os, subprocess, sys, time
from magnus_core import output
from magnus_core.masking import fixed

class Copy:  # a Sink keeping what it is given (an attempt's file)
    line_buffered = False
    def __init__(self):
        self.data = b""
    def write_bytes(self, data):
        self.data += data
    def write_text(self, text):
        self.data += text.encode()
    def flush(self):
        pass

def attempt(body):
    copy = Copy()
    with output.tapped(copy, alone=True):
        body()
    return copy.data.decode()

found = {}
sink = open("terminal.txt", "w")  # (the run's destination: the terminal)
with output.installed(fds=True), output.routed(fixed(()), sink) as route:
"""


def run(body: str, tmp_path: Path) -> dict[str, object]:
    script = PRELUDE + textwrap.indent(textwrap.dedent(body), "    ") + "\nprint(json.dumps(found))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_writer_handed_the_route_s_destination_in_one_attempt_never_writes_into_the_next(
    tmp_path: Path,
) -> None:
    """A child's pipe or a pump of fd 1 takes the route's destination while an attempt runs and may write
    after it ended: what it writes then goes to that attempt's copy (its file drops it once finished), never
    to the next attempt's, whose Tees are the same objects with another copy."""
    found = run(
        """
        held = []
        found["first"] = attempt(lambda: (print("first"), held.append(route.destination("stdout"))))
        def second():
            held[0].write_bytes(b"late\\n")  # written after the first attempt ended, during the second
            print("second")
        found["second"] = attempt(second)
        found["same_tees"] = route.tees is not None and route.destination("stdout") is route.tees[0].first
        """,
        tmp_path,
    )
    assert found["first"] == "first\n"
    assert found["second"] == "second\n"  # not "late": that was the first attempt's
    assert found["same_tees"]


def test_fd_1_closed_by_a_step_is_given_back_at_its_attempt_s_end(tmp_path: Path) -> None:
    """No other process holds the pipe: closing fd 1 ends it, which the attempt's poll() sees; the next
    attempt's subprocess output reaches its copy."""
    found = run(
        """
        def closes():
            print("before", flush=True)
            os.close(1)
        found["closing"] = attempt(closes)
        found["taken_after"] = output.SEAM.pumps["stdout"].taken()
        child = [sys.executable, "-c", "print('from a child')"]
        found["child"] = attempt(lambda: subprocess.run(child, check=True))
        """,
        tmp_path,
    )
    assert found["closing"] == "before\n"
    assert found["taken_after"] is False
    assert found["child"] == "from a child\n"


def test_fd_1_taken_while_a_child_holds_its_pipe_is_given_back_after_the_flush_thread_sees_it(
    tmp_path: Path,
) -> None:
    """A process started in the background, in a session of its own (so not a child in magnus's process
    group: output.children() does not see it), still holds the pipe's write end: closing fd 1 ends
    nothing, so the poll() at the attempt's end sees nothing; the seam's flush thread checks fd 1 and 2
    every FLUSH_EVERY seconds, and the first attempt to end after that gives fd 1 back."""
    found = run(
        """
        output.FLUSH_EVERY = 0.05
        background = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(5)"], start_new_session=True
        )
        def closes():
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # fd 1 now /dev/null; the child holds the pipe
        attempt(closes)
        found["taken_then"] = output.SEAM.pumps["stdout"].taken()
        deadline = time.monotonic() + 10
        while not output.SEAM.suspect and time.monotonic() < deadline:
            time.sleep(0.01)
        found["suspect"] = output.SEAM.suspect
        attempt(lambda: None)
        found["taken_after"] = output.SEAM.pumps["stdout"].taken()
        child = [sys.executable, "-c", "print('from a child')"]
        found["child"] = attempt(lambda: subprocess.run(child, check=True))
        background.kill()
        background.wait()
        """,
        tmp_path,
    )
    assert found["taken_then"] is True  # (the poll() saw nothing: the child holds the pipe)
    assert found["suspect"] is True
    assert found["taken_after"] is False
    assert found["child"] == "from a child\n"


def test_a_child_still_running_as_its_attempt_ends_writes_to_the_terminal_only(tmp_path: Path) -> None:
    """A step's child that outlives the step (Popen and return, trial 10's fault 3) holds fd 1's pipe: at
    the attempt's end output.children() sees it and /proc says it holds the pipe; the pipe and its pump
    stay with that attempt, writing to the terminal alone, the attempt's copy says so, and fd 1 gets a
    fresh pipe: what the child writes while the next attempt runs is in no copy (the old seam put it in
    whichever attempt was running)."""
    found = run(
        """
        late = "import time; time.sleep(0.3); print('late from the child', flush=True)"
        children = []
        def starts():
            print("starting", flush=True)
            children.append(subprocess.Popen([sys.executable, "-c", late]))
        copies = []
        class Keeping(Copy):
            def __init__(self):
                super().__init__()
                copies.append(self)
        first = Keeping()
        with output.tapped(first, alone=True):
            starts()
        second = Keeping()
        with output.tapped(second, alone=True):
            children[0].wait()
            time.sleep(0.2)
            print("second", flush=True)
        found["children_after"] = output.children()
        time.sleep(0.2)
        found["first"] = first.data.decode()
        found["second"] = second.data.decode()
        found["pid"] = children[0].pid
        child = [sys.executable, "-c", "print('from a child')"]
        found["third"] = attempt(lambda: subprocess.run(child, check=True))
        sink.flush()
        found["terminal"] = open("terminal.txt").read()
        """,
        tmp_path,
    )
    first = str(found["first"]).splitlines()
    assert first[0] == "starting"
    assert first[1].startswith("[magnus: a process still running as this step ended holds its output")
    assert f"(pid {found['pid']}: python" in first[1]
    assert "goes to the terminal only" in first[1]
    assert len(first) == 2
    assert found["second"] == "second\n"
    assert found["children_after"] is False  # (waited for: none left)
    assert found["third"] == "from a child\n"
    assert "late from the child\n" in str(found["terminal"])


def test_a_child_that_does_not_hold_fd_1_or_2_leaves_them_in_place(tmp_path: Path) -> None:
    """A child still running whose output is its own (stdout and stderr to /dev/null; or a pool's worker
    holding a pipe already handed over): nothing is handed over, nothing said, the pipes stay."""
    found = run(
        """
        quiet = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(5)"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pipe = output.SEAM.pumps["stdout"]._read_fd
        found["first"] = attempt(lambda: print("one"))
        found["same_pipe"] = output.SEAM.pumps["stdout"]._read_fd == pipe
        found["children"] = output.children()
        quiet.kill()
        quiet.wait()
        """,
        tmp_path,
    )
    assert found["children"] is True
    assert found["first"] == "one\n"
    assert found["same_pipe"] is True


def test_a_fd_taken_by_a_step_whose_child_holds_the_pipe_is_given_back_at_once(tmp_path: Path) -> None:
    """The same child, when the step also pointed fd 1 elsewhere: handed over at the attempt's end (no
    wait for the flush thread), so the next attempt's subprocesses reach its copy."""
    found = run(
        """
        output.FLUSH_EVERY = 60  # (the flush thread never looks)
        held = []
        def takes():
            held.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"]))
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        attempt(takes)
        found["taken_after"] = output.SEAM.pumps["stdout"].taken()
        child = [sys.executable, "-c", "print('from a child')"]
        found["child"] = attempt(lambda: subprocess.run(child, check=True))
        held[0].kill()
        held[0].wait()
        """,
        tmp_path,
    )
    assert found["taken_after"] is False
    assert found["child"] == "from a child\n"


def test_children_sees_a_child_made_by_any_means_right_after_a_check_that_found_none(tmp_path: Path) -> None:
    """children() skips its waitid when the kernel has given no process id since a check that found no
    child (output._last_pid); a child made right after such a check, by posix_spawn, subprocess's
    fork_exec or os.fork (not all of which python's fork hooks see), is still found, and once it is reaped
    the check says none again. Where /proc/sys/kernel/ns_last_pid cannot be read, every call asks waitid."""
    found = run(
        """
        import signal
        found["none"] = output.children()
        found["again"] = output.children()
        spawned = os.posix_spawn("/bin/sleep", ["sleep", "5"], os.environ)
        found["posix_spawn"] = output.children()
        os.kill(spawned, signal.SIGKILL)
        os.waitpid(spawned, 0)
        found["reaped"] = output.children()
        popen = subprocess.Popen(["sleep", "5"])
        found["popen"] = output.children()
        popen.kill()
        popen.wait()
        found["popen_reaped"] = output.children()
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        found["fork"] = output.children()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        found["fork_reaped"] = output.children()
        """,
        tmp_path,
    )
    assert found == {
        "none": False,
        "again": False,
        "posix_spawn": True,
        "reaped": False,
        "popen": True,
        "popen_reaped": False,
        "fork": True,
        "fork_reaped": False,
    }


def test_children_asks_waitid_only_when_a_process_was_made_since(tmp_path: Path) -> None:
    """The usual attempt's end starts no process: of 200 checks in a row, waitid is asked only when the
    kernel gave a process id since the last (other processes of the machine do too: a few, not 200)."""
    if not os.access("/proc/sys/kernel/ns_last_pid", os.R_OK):
        import pytest

        pytest.skip("no /proc/sys/kernel/ns_last_pid here: every check asks waitid")
    found = run(
        """
        asked = []
        real = output._WAITID
        def counted(*args):
            asked.append(1)
            return real(*args)
        output._WAITID = counted
        results = [output.children() for _ in range(200)]
        output._WAITID = real
        found["any"] = any(results)
        found["asked"] = len(asked)
        """,
        tmp_path,
    )
    assert found["any"] is False
    assert found["asked"] < 100, found


def test_a_failures_traceback_follows_what_the_steps_children_wrote_to_fd_2(tmp_path: Path) -> None:
    """The traceback of a failed attempt is written to its file after what its children wrote to fd 1 and 2
    before it (the pumps drained first: trial 23 F3, under load a child's last stderr line, read late by
    the pump, was kept after the traceback, and shown as the failure's last line). The pump is held busy
    here while the child's line waits in the pipe, as a loaded machine leaves it unscheduled."""
    found = run(
        """
        import threading
        from magnus_core import capture

        class File(Copy):  # the attempt's file: markers go on after what was written
            def write_marker(self, text):
                self.data += text.encode()

        capture._load_seam()
        copy = File()
        with output.tapped(copy, alone=True) as tapped_route:
            kept = capture.Kept(copy)
            kept.route = tapped_route
            pump = output.SEAM.pumps["stderr"]
            busy = threading.Event()
            def hold():
                with pump._processing:
                    busy.set()
                    time.sleep(0.3)
            holder = threading.Thread(target=hold)
            holder.start()
            busy.wait()
            os.write(2, b"child: warning\\n")  # (as a child process writes it: fd 2, the pump's pipe)
            kept.write_text("Traceback (most recent call last):\\nValueError: loss is NaN\\n")
            holder.join()
        found["file"] = copy.data.decode()
        """,
        tmp_path,
    )
    assert found["file"] == "child: warning\nTraceback (most recent call last):\nValueError: loss is NaN\n"
