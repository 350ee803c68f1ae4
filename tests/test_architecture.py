"""The core is headless: a static contract (import-linter) and a fresh interpreter that checks sys.modules."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_import_linter_contract_holds() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept" in result.stdout.lower()


def test_core_modules_do_not_load_textual() -> None:
    code = (
        "import sys; import magnus_core.cli, magnus_core.runner, magnus_core.follow, magnus_core.runs; "
        "import magnus_core.stores.chunked, magnus_core.nodes.composite, magnus_core.executors.local; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'magnus_tui')]; print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
