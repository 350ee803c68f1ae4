"""The generated references (pipeline JSON Schema, CLI reference) match the code, and the schema is usable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import ORIGINAL, ROOT


def test_generated_reference_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _schema() -> dict:
    return json.loads((ROOT / "docs" / "pipeline.schema.json").read_text())


def _pipelines() -> list[Path]:
    files = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ORIGINAL / "pipelines").glob("*.yaml"))
    return [p for p in files if "dag" in (yaml.safe_load(p.read_text()) or {})]


@pytest.mark.parametrize("path", _pipelines(), ids=lambda p: p.name)
def test_every_pipeline_validates_against_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), _schema())


def test_the_schema_catches_a_typo() -> None:
    bad = {
        "dag": {
            "start_at": "a",
            "steps": {
                "a": {"type": "task", "comand": "x.y", "next": "success"},
                "success": {"type": "success"},
                "fail": {"type": "fail"},
            },
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())
