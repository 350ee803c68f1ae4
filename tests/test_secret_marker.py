"""Every example pipeline, run with a secret whose value is a unique marker: the marker appears nowhere the
tool writes (run-log store, catalog, logs, stdout/stderr of execute, runs/diff --json, the workbench)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import uuid
from pathlib import Path

import yaml

from tests.conftest import ROOT, git

EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.yaml") if "dag" in (yaml.safe_load(p.read_text()) or {})
)


def _declared(path: Path) -> set[str]:
    return set(yaml.safe_load(path.read_text())["dag"].get("secrets", []))


def test_a_secret_marker_appears_nowhere(git_repo: Path, magnus) -> None:
    marker = f"MARKER{uuid.uuid4().hex}"
    shutil.copytree(ROOT / "examples", git_repo / "examples")
    names = {"api_token", "api_key", "password"}.union(*(_declared(p) for p in EXAMPLES))
    (git_repo / ".env").write_text("".join(f"{name}={marker}\n" for name in sorted(names)))
    (git_repo / "config.yaml").write_text("secrets: {type: dotenv, config: {location: .env}}\n")
    git(git_repo, "add", "examples", "config.yaml")
    git(git_repo, "commit", "-qm", "examples")
    outputs: list[str] = []
    run_ids: list[str] = []
    # Each example once, the summary and --json (the run log printed) taking turns: every example's steps
    # see the secret, and both ways of printing a run see it in several examples (CI's time: each run is a
    # process of about half a second, and the loop ran every example twice, listing runs after each).
    for index, example in enumerate(EXAMPLES):
        rel = f"examples/{example.name}"
        extra = ["--json"] if index % 2 else []
        result = magnus(
            "execute",
            "--file",
            rel,
            "-c",
            "config.yaml",
            "--log-level",
            "DEBUG",
            *extra,
            env={"MAGNUS_SECRET_MARKER_TEST": "1"},
        )
        outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, f"{rel}: {result.stdout}{result.stderr}"
    listed = magnus("runs", "--json", "-c", "config.yaml")
    outputs.append(listed.stdout)
    data = json.loads(outputs[-1])
    runs = data["runs"] if isinstance(data, dict) else data
    run_ids = [r["run_id"] for r in runs]
    assert len(run_ids) == len(EXAMPLES) >= 2
    for a, b in itertools.pairwise(run_ids):
        result = magnus("diff", a, b, "--json", "--all", "-c", "config.yaml")
        outputs += [result.stdout, result.stderr]
    # The secret did reach the steps (they print it, masked), so the test would see a leak.
    assert any("*****" in out for out in outputs)

    outputs.append(_workbench_exports(git_repo, run_ids))
    for text in outputs:
        assert marker not in text
    written = [p for p in git_repo.rglob("*") if p.is_file() and ".git" not in p.parts and p.name != ".env"]
    assert any(".run_log_store" in p.parts for p in written) and any(".catalog" in p.parts for p in written)
    for path in written:
        assert marker.encode() not in path.read_bytes(), f"the secret leaked into {path}"


def _workbench_exports(cwd: Path, run_ids: list[str]) -> str:
    """SVG exports of the runs screen and of each run's screen."""
    from magnus_tui.app import MagnusApp

    async def main() -> str:
        app = MagnusApp(config_file=str(cwd / "config.yaml"))
        screens = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screens.append(app.export_screenshot())
            for run_id in run_ids:
                app.open_run(run_id)
                await pilot.pause()
                screens.append(app.export_screenshot())
                app.pop_screen()
                await pilot.pause()
        return "\n".join(screens)

    return asyncio.run(main())
