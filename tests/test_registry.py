"""Providers by entry point: built-ins come from magnus's own pyproject.toml (a source tree) or its installed
metadata, a third-party distribution's provider is found by its `type`, and a lookup imports one provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from magnus_core.errors import ConfigError
from magnus_core.registry import SERVICES, builtin_providers, known_types, load_provider, provider_class
from tests.conftest import ROOT, run_magnus

TINY = ROOT / "tests" / "data" / "tiny_provider"


def python(code: str, *, path: list[Path] | None = None, cwd: Path | None = None) -> str:
    """Run `code` in a fresh interpreter with `path` (then the source tree) on PYTHONPATH; its stdout."""
    entries = [str(p) for p in (path or [])] + [str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(entries)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_builtins_are_the_entry_points_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    for service in SERVICES:
        table = declared[f"magnus.{service}"]
        assert builtin_providers(service) == table
        for name in table:  # each resolves to a provider that calls itself by that name
            assert provider_class(service, name).service_name == name, (service, name)
    assert set(builtin_providers("run_log_store")) == {"buffered", "file-system", "chunked-fs", "postgres"}
    assert set(builtin_providers("catalog")) == {"do-nothing", "file-system", "fsspec"}


def test_the_own_providers_table_is_what_pyproject_declares_and_reads_no_metadata() -> None:
    """registry.OWN_PROVIDERS, where a built-in type is looked up, is a copy of pyproject.toml's entry
    points (the truth), and looking a built-in up reads neither pyproject.toml nor installed metadata: a step
    run alone pays for neither (issue 19)."""
    from magnus_core.registry import OWN_PROVIDERS

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert {service: declared[f"magnus.{service}"] for service in SERVICES} == OWN_PROVIDERS
    out = python(
        """
        import sys
        from magnus_core.registry import load_provider
        load_provider("run_log_store", {"type": "chunked-fs", "config": {}})
        load_provider("catalog", {"type": "do-nothing", "config": {}})
        load_provider("secrets", {"type": "env-secrets-manager", "config": {}})
        load_provider("executor", {"type": "local", "config": {}})
        print(sorted(m for m in ("tomllib", "importlib.metadata") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_provider("run_log_store", {"type": "s3", "config": {}})
    assert "unknown type 's3' (known: buffered, chunked-fs, file-system, postgres)" in str(info.value)
    assert info.value.field == "run_log_store.type"
    with pytest.raises(ConfigError, match="expected a provider name"):
        load_provider("catalog", {"type": ["file-system"]})
    assert known_types("secrets") == ["do-nothing", "dotenv", "env-and-dotenv", "env-secrets-manager"]


def test_looking_up_a_builtin_imports_that_provider_only() -> None:
    out = python(
        """
        import sys
        from magnus_core.stores import make_store
        from magnus_core.executors import make_executor
        make_store({"type": "file-system", "config": {}})
        make_executor({"type": "local", "config": {}})
        print(sorted(m for m in sys.modules if m.startswith(("magnus_core.executors.", "magnus_core.stores.",
              "hera", "distributed", "dask"))))
        """
    )
    loaded = json.loads(out.replace("'", '"'))
    assert "magnus_core.stores.file_system" in loaded and "magnus_core.executors.local" in loaded
    for other in ("magnus_core.executors.argo", "magnus_core.executors.dask", "magnus_core.stores.chunked"):
        assert other not in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("hera", "distributed", "dask")]


def test_builtins_resolve_from_a_source_tree_without_installed_metadata(tmp_path: Path) -> None:
    (tmp_path / "x.env").write_text("a=b\n")
    out = python(
        """
        from importlib import metadata
        def missing(name):
            raise metadata.PackageNotFoundError(name)
        metadata.distribution = missing           # as if magnus were not installed at all
        metadata.entry_points = lambda **kw: []   # and no distribution registered anything
        from magnus_core.stores import make_store
        from magnus_core.secrets import make_secrets
        print(make_store({"type": "chunked-fs", "config": {}}).service_name, make_secrets({"type": "dotenv",
              "config": {"location": "x.env"}}).service_name)
        """,
        cwd=tmp_path,
    )
    assert out.split() == ["chunked-fs", "dotenv"]


def test_builtins_come_from_installed_metadata_without_a_source_tree(tmp_path: Path) -> None:
    # An installed magnus: its dist-info lists the entry points (here a stand-in distribution, found first).
    info = tmp_path / "site" / "magnus-9.9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: magnus\nVersion: 9.9.9\n")
    (info / "entry_points.txt").write_text(
        "[magnus.executor]\nlocal = magnus_core.executors.local:LocalExecutor\n"
        "[magnus.catalog]\ndo-nothing = magnus_core.catalog:DoNothingCatalog\n"
    )
    out = python(
        f"""
        import sys
        from pathlib import Path
        from magnus_core.registry import builtin_providers
        print(builtin_providers("executor", Path({str(tmp_path / "no-tree")!r})))
        print("tomllib" in sys.modules)  # no pyproject.toml to read: no TOML parser either (start-up)
        print(builtin_providers("executor", Path({str(ROOT)!r})) == builtin_providers("executor"))
        """,
        path=[tmp_path / "site"],
        cwd=tmp_path,  # not the source tree: `pip install -e .` may leave a magnus.egg-info there, found first
    )
    first, toml, second = out.splitlines()
    assert first == "{'local': 'magnus_core.executors.local:LocalExecutor'}"
    assert toml == "False"
    assert second == "True"  # with the source tree beside the package, its pyproject.toml wins


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel of the one-module distribution at `source`, made from its pyproject.toml without a build
    backend (no setuptools, no network): the module, METADATA, WHEEL, entry_points.txt and RECORD."""
    import base64
    import hashlib
    import zipfile

    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    name, version = project["name"].replace("-", "_"), project["version"]
    info = f"{name}-{version}.dist-info"
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in table.items())
        for group, table in project["entry-points"].items()
    )
    files = {
        f"{name}.py": (source / f"{name}.py").read_bytes(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": entry_points.encode(),
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}\n"
        for path, data in files.items()
    )
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return wheel


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test distribution, installed by pip (offline, from its wheel) into a folder of its own."""
    base = tmp_path_factory.mktemp("tiny")
    site = base / "site"
    wheel = build_wheel(TINY, base)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "tiny_magnus_provider-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


def test_a_provider_from_another_distribution_is_found_by_its_type(tiny_site: Path, git_repo: Path) -> None:
    (git_repo / "pipeline.yaml").write_text(
        textwrap.dedent(
            """
            dag:
              start_at: a
              steps:
                a: {type: stub, next: success}
                success: {type: success}
                fail: {type: fail}
            run_log_store: {type: tiny, config: {log_folder: logs}}
            """
        )
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tiny_site), str(ROOT)])}
    result = run_magnus(
        "execute", "--file", "pipeline.yaml", "--run-id", "r1", "--json", cwd=git_repo, env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_config"]["run_log_store"] == {
        "type": "tiny",
        "config": {"log_folder": "logs"},
    }
    assert (git_repo / "logs" / "r1.tiny.json").is_file()
    # and an unknown type's message now lists it beside the built-ins
    (git_repo / "bad.yaml").write_text("run_log_store: {type: tinyy}\n")
    bad = run_magnus("execute", "--file", "pipeline.yaml", "--config-file", "bad.yaml", cwd=git_repo, env=env)
    assert bad.returncode == 2
    assert "unknown type 'tinyy' (known: buffered, chunked-fs, file-system, postgres, tiny)" in bad.stderr


def test_a_third_party_provider_is_imported_only_when_named(tiny_site: Path) -> None:
    out = python(
        """
        import sys
        from magnus_core.stores import make_store
        make_store({"type": "buffered", "config": {}})
        before = "tiny_magnus_provider" in sys.modules
        make_store({"type": "tiny", "config": {}})
        print(before, "tiny_magnus_provider" in sys.modules)
        """,
        path=[tiny_site],
    )
    assert out.split() == ["False", "True"]
