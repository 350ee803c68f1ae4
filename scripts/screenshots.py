"""Make screenshots/*.svg: every workbench screen, from the real app, on runs of the bundled examples.

    python scripts/screenshots.py   # writes screenshots/*.svg (runs, run, run-tab, run-live, stop, quit,
                                    # rerun, diff, step-pair, ...)

The examples are copied into a temporary git repository and executed with the real `magnus execute`
(fixed run ids), then the app is driven headless at 100x30 and at 80x24 and each screen is saved as SVG
(`runs.svg`, `runs-80x24.svg`, ...).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "screenshots"
SIZES = {"": (100, 30), "-80x24": (80, 24)}  # each screen at 100x30 and as the smallest layout


def sh(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(cwd), str(ROOT))),  # this checkout's magnus, installed or not
        "NO_COLOR": "1",
        "GIT_AUTHOR_NAME": "magnus",
        "GIT_AUTHOR_EMAIL": "magnus@example.com",
        "GIT_COMMITTER_NAME": "magnus",
        "GIT_COMMITTER_EMAIL": "magnus@example.com",
    }
    subprocess.run(args, cwd=cwd, env=env, check=False, capture_output=True)


# A pipeline to watch live: `train` prints a line every 0.2 s until the file `go` exists; `publish` fails
# until the file `fixed` exists.
WATCH = """
dag:
  description: train, evaluate and publish
  start_at: prepare
  steps:
    prepare: {type: task, command_type: shell, command: "echo preparing data", next: train}
    train:
      type: task
      command_type: shell
      command: "i=0; while [ ! -f go ]; do i=$((i+1)); echo epoch $i loss 0.$((100 - i)); sleep 0.2; done"
      next: evaluate
    evaluate: {type: task, command_type: shell, command: "echo accuracy 0.93", next: publish}
    publish:
      type: task
      command_type: shell
      command: "if [ -f fixed ]; then echo published; else echo 'registry refused: 403' >&2; exit 3; fi"
      next: success
    success: {type: success}
    fail: {type: fail}
"""


def make_project(folder: Path) -> None:
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n")
    sh(folder, "git", "init", "-q", "-b", "main")
    sh(folder, "git", "add", "-A")
    sh(folder, "git", "commit", "-qm", "examples")
    magnus = [sys.executable, "-m", "magnus_core", "execute"]
    sh(
        folder,
        *magnus,
        "--file",
        "examples/getting-started.yaml",
        "--tag",
        "example",
        "--run-id",
        "getting-started",
    )
    sh(
        folder,
        *magnus,
        "--file",
        "examples/getting-started.yaml",
        "-p",
        "examples/parameters.yaml",
        "--arg1",
        "hello",
        "--arg2",
        "world",
        "--tag",
        "example",
        "--run-id",
        "getting-started-x3",
    )
    sh(
        folder,
        *magnus,
        "--file",
        "examples/composite.yaml",
        "-p",
        "examples/parameters.yaml",
        "--run-id",
        "composite",
    )
    # a run that failed, for the re-run form: `publish` exits 3 the first time
    (folder / "watch.yaml").write_text(WATCH)
    sh(folder, "git", "add", "-A")
    sh(folder, "git", "commit", "-qm", "watch")
    (folder / "go").write_text("")
    sh(folder, *magnus, "--file", "watch.yaml", "--run-id", "watch-failed")
    (folder / "go").unlink()
    for i, lr in enumerate(("0.01", "0.1", "0.5", "2.0")):  # examples/experiments: a learning-rate sweep
        sh(
            folder,
            *magnus,
            "--file",
            "examples/experiments/pipeline.yaml",
            "--tag",
            "lr-sweep",
            "--lr",
            lr,
            "--run-id",
            f"sweep-{i + 1}",
        )


async def shoot(folder: Path, size: tuple[int, int], suffix: str) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from magnus_core.runner import RunRequest
    from magnus_tui.app import MagnusApp
    from magnus_tui.dialogs.secret import SecretPrompt
    from magnus_tui.source import Project

    app = MagnusApp(Project.open(None, folder), poll_interval=3600)
    app.theme = "textual-dark"
    saved: list[Path] = []

    async with app.run_test(size=size) as pilot:

        async def save(name: str) -> None:
            for widget in app.screen.query("Input, TextArea"):
                widget.cursor_blink = False  # type: ignore[attr-defined]
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause(0.2)
            saved.append(Path(app.save_screenshot(f"{name}{suffix}.svg", path=str(OUT))))

        await save("runs")
        app.open_experiments("lr-sweep")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.screen.loaded is not None:
                break
        app.screen.query_one("#exp-table").move_cursor(column=3)  # params.lr: the chart's x axis
        await pilot.press("c")
        await save("experiments")
        app.screen.query_one("#exp-table").move_cursor(column=6)  # metrics.loss: its history in each run
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await save("experiments-history")
        await pilot.press("escape")
        app.open_run("composite")
        await pilot.pause()
        app.screen.query_one("#dag").select_key("map step.b.m1")
        await save("run")
        await pilot.press("p")
        await save("run-tab")
        await pilot.press("escape")
        app.open_diff("getting-started", "getting-started-x3")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.screen.diff is not None:
                break
        app.screen.query_one("TabbedContent").active = "tab-parameters"
        await save("diff")
        await pilot.press("a")  # every item, equal ones too: the steps' timings
        app.screen.query_one("TabbedContent").active = "tab-steps"
        await pilot.pause()
        steps = app.screen.query_one("#group-steps")
        steps.focus()
        steps.highlighted = 2
        await pilot.press("s")
        await save("step-pair")
        await pilot.press("escape", "escape")
        await pilot.press("s")  # on the highlighted run's pipeline and parameters
        for _ in range(200):
            await pilot.pause(0.02)
            if app.screen.query("#start-note") and str(app.screen.query_one("#start-note").render()):
                break
        await save("start")
        await pilot.press("ctrl+o", *"exp")  # the picker filters as you type
        await save("pick")
        await pilot.press("escape", "escape", "f1")
        await save("help")
        await pilot.press("escape")
        # the re-run form of a failed run: the plan the CLI prints, what changed since
        app.open_run("watch-failed")
        await pilot.pause(0.5)
        await pilot.press("R")
        for _ in range(300):
            await pilot.pause(0.05)
            plan = app.screen.query("#plan")
            if plan and "reused" in str(plan.first().render()):
                break
        await save("rerun")
        await pilot.press("escape", "escape")
        # a run followed live, started here (a `magnus execute` process): the whole dag, progress, times
        (folder / "go").unlink(missing_ok=True)
        live = f"watch-live{suffix}"
        app.start_run(RunRequest(file="watch.yaml", run_id=live))
        for _ in range(600):
            await pilot.pause(0.05)
            tree = app.screen.query("#dag").first() if app.screen.query("#dag") else None
            if tree is not None and "train" in tree.nodes_by_key and "running" in tree.label("train").plain:
                break
        await pilot.pause(1.5)
        await save("run-live")
        await pilot.press("o")
        await pilot.pause(1.2)
        await save("output")
        await pilot.press("i")
        await pilot.press("x")
        await save("stop")
        await pilot.press("n")
        await pilot.press("q")
        await save("quit")
        await pilot.press("escape")
        (folder / "go").write_text("")
        for _ in range(600):
            await pilot.pause(0.05)
            if not app.launched[live].running:
                break
        await pilot.press("escape")
        app.push_screen(SecretPrompt("api_key", "getting-started"))
        await pilot.press(*"not-shown")
        await save("secret")
    return saved


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "project"
        folder.mkdir()
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")  # the start form's memory: not the user's
        make_project(folder)
        os.chdir(folder)
        for suffix, size in SIZES.items():
            for path in asyncio.run(shoot(folder, size, suffix)):
                print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
