"""Every optional extra's "needs" message says how to install it both ways (a clone with constraints.txt, as
README's first command installs, and the package index), in one line with exit code 2, before anything runs.

The extra's modules are made unimportable in the real command's process (a sitecustomize on PYTHONPATH sets
them to None in sys.modules, so `import x` raises ImportError as when the extra is not installed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_magnus

STUB = "dag:\n  start_at: a\n  steps:\n    a: {type: stub, next: success}\n    success: {type: success}\n"
NOTEBOOK = (
    "dag:\n  start_at: nb\n  steps:\n    nb: {type: task, command_type: notebook, command: nb.ipynb, next: success}\n"
    "    success: {type: success}\n"
)
# extra -> (the modules it brings that magnus imports, the pipeline, the config file that needs it)
NEEDS = {
    "notebook": (("papermill", "nbformat"), NOTEBOOK, ""),
    "argo": (
        ("hera",),
        STUB,
        "executor: {type: argo, config: {image: 'x:1', volumes: [{claim_name: c, mount_path: /mnt/s}]}}\n"
        "run_log_store: {type: chunked-fs, config: {log_folder: /mnt/s/runs}}\n"
        "catalog: {type: file-system, config: {catalog_location: /mnt/s/catalog}}\n",
    ),
    "dask": (("distributed", "dask"), STUB, "executor: {type: dask}\nrun_log_store: {type: chunked-fs}\n"),
    "mlflow": (("mlflow",), STUB, "experiment_tracker: {type: mlflow}\n"),
    "postgres": (
        ("psycopg",),
        STUB,
        "run_log_store: {type: postgres, config: {dsn: 'host=127.0.0.1 port=1'}}\n",
    ),
    "s3": (("fsspec", "s3fs"), STUB, "catalog: {type: fsspec, config: {url: 's3://bucket/c'}}\n"),
}


def extras() -> list[str]:
    """The extras pyproject.toml declares, but the developers' one."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        declared = tomllib.load(handle)["project"]["optional-dependencies"]
    return sorted(name for name in declared if name != "dev")


def test_every_extra_has_a_case() -> None:
    assert sorted(NEEDS) == extras()


@pytest.mark.parametrize("extra", extras())
def test_a_missing_extra_is_one_line_naming_both_ways_to_install_it(tmp_path: Path, extra: str) -> None:
    modules, pipeline, config = NEEDS[extra]
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        f"import sys\nfor name in {list(modules)!r}:\n    sys.modules[name] = None\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "p.yaml").write_text(pipeline + "    fail: {type: fail}\n")
    (project / "nb.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    args = ["execute", "--file", "p.yaml"]
    if config:
        (project / "c.yaml").write_text(config)
        args += ["-c", "c.yaml"]
    done = run_magnus(*args, cwd=project, env={"PYTHONPATH": f"{blocker}:{ROOT}"})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"pip install -e '.[{extra}]' -c constraints.txt" in lines[0]
    assert f"pip install 'magnus[{extra}]'" in lines[0]
    assert not (project / ".run_log_store").exists()  # nothing ran, no run was made
