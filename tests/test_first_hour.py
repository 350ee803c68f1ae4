"""A newcomer's first hour, exactly as the README says, from a clean clone in a fresh virtual environment:
install, run the example, list runs, run again with another parameter, diff the two, open the workbench."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    """The README opens with two fenced bash blocks: the install-and-run command, then the test command."""
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_opens_with_the_two_commands() -> None:
    run, test = readme_commands()
    assert run.startswith("pip install .") and "magnus execute --file examples/getting-started.yaml" in run
    assert test == "pip install -e '.[dev]' -c constraints.txt && pytest"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    # CI runs the README's test command, as fresh_clone.sh reads it, in a clone with nothing beside it
    assert any(line.startswith("bash scripts/fresh_clone.sh") for line in ci)
    script = (ROOT / "scripts" / "fresh_clone.sh").read_text()
    assert "n==2{print; exit}" in script  # the second fenced bash block: the test command above


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A clean clone of this repository's last commit and an empty virtual environment."""
    base = tmp_path_factory.mktemp("first-hour")
    clone = base / "magnus"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        NO_COLOR="1",
        COLUMNS="120",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return clone, env


def sh(
    command: str, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_first_hour_from_a_clean_clone(fresh: tuple[Path, dict[str, str]]) -> None:
    clone, env = fresh
    install_and_run = readme_commands()[0]
    first = sh(install_and_run, clone, env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "SUCCESS" in first.stdout

    second = sh("magnus execute --file examples/getting-started.yaml --x 5", clone, env)
    assert second.returncode == 0, second.stderr

    listed = sh("magnus runs --json", clone, env)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    assert len(runs) == 2
    newest, oldest = runs[0]["run_id"], runs[1]["run_id"]

    human = sh("magnus runs", clone, env)
    assert newest in human.stdout and oldest in human.stdout

    diff = sh(f"magnus diff {oldest} {newest}", clone, env)
    assert diff.returncode == 0, diff.stderr
    assert "x" in diff.stdout and "5" in diff.stdout
    differs = sh(f"magnus diff {oldest} {newest} --exit-code", clone, env)
    assert differs.returncode == 1

    workbench = textwrap.dedent("""
        import asyncio
        from magnus_tui.app import MagnusApp
        from textual.widgets import DataTable

        async def main():
            app = MagnusApp()
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.pause()
                table = app.screen.query_one("#runs", DataTable)
                print("ROWS", table.row_count)
                await pilot.press("q")

        asyncio.run(main())
    """)
    opened = subprocess.run(
        ["python", "-c", workbench], cwd=clone, env=env, capture_output=True, text=True, timeout=120
    )
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert "ROWS 2" in opened.stdout
