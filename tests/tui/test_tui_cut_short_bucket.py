"""The workbench on a run killed with `kill -9` while a step ran, its catalog in a bucket (issue 16 point 2):
the step's output pushed to the bucket in pieces as it ran is what the Output tab shows, and the Step tab
points to it (it said `none of its output reached its file`: it looked for a `.live` file only, which a
bucket never has). A real run in a subprocess against a real S3-compatible server (moto), killed with
SIGKILL; the real app under App.run_test()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

STEPS = """
import time


def s1():
    for i in range(600):
        print(f"sleepy {i}", flush=True)
        time.sleep(0.1)
"""

PIPELINE = """dag:
  start_at: s1
  steps:
    s1: {type: task, command: live.s1, next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_a_cut_short_step_shows_what_its_bucket_holds(
    tmp_path: Path, monkeypatch, s3: Any, bucket: str
) -> None:
    (tmp_path / "live.py").write_text(STEPS)
    (tmp_path / "live.yaml").write_text(PIPELINE)
    config = {
        "run_log_store": {"type": "chunked-fs"},
        "catalog": {"type": "fsspec", "config": {"url": f"s3://{bucket}/catalog"}},
    }
    (tmp_path / "magnus-config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", "killed"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    fs = s3.filesystem()
    prefix = f"{bucket}/catalog/killed/.magnus/output/s1.0.log.live"
    try:
        deadline = time.monotonic() + 60
        while True:  # a piece of its output is in the bucket
            fs.invalidate_cache()
            if fs.exists(prefix) and fs.find(prefix):
                break
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_run("killed")
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, RunScreen) and app.screen.ready):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        screen = app.screen
        assert screen.selected == "s1"
        message = screen.view.rows["s1"].message
        assert "what it wrote until then: Output (o)" in message, message
        await pilot.press("o")  # the Output tab
        output = screen.query_one(OutputView)
        deadline = time.monotonic() + 30
        while "sleepy 0" not in output.lines:
            assert time.monotonic() < deadline, output.lines
            await pilot.pause(0.05)
