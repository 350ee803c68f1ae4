"""The parse cache of large pipeline files (magnus_core/parse_cache.py): a second load of the same bytes
reads marshal instead of YAML and gives the same data, models and hash; anything else (a changed file, a
changed loader, data that is not plain, a damaged entry, a folder that cannot be written, the cache turned
off) parses the file, with the same outcome and the same messages as without the cache."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from magnus_core import loading, parse_cache
from magnus_core.errors import PipelineError
from magnus_core.loading import load_pipeline
from tests.conftest import run_magnus
from tests.test_plain_yaml import same  # equal data: types, key order and NaN included

# every YAML feature the loader gives a meaning to: anchors shared by aliases, merge keys (the step's own
# keys win), `no:` keys as text, YAML 1.2 scalars (no octal 010, no yes/no, no dates), floats, big numbers
HEAD = """\
x-defaults: &defaults
  type: task
  command: fns.ok
x-shared: &shared {values: [1, 2.5, .nan, .inf, -.inf, 010, 0o17, 0x1F, null, ~, true, False, yes, no]}
dag:
  description: "unicode é ☃, a big number 123456789012345678901234567890, a date 2024-01-31"
  start_at: step0
  steps:
"""


def big_pipeline(folder: Path, steps: int = 520, extra: str = "") -> Path:
    """A linear pipeline of `steps` task steps (520 steps is above parse_cache.MIN_BYTES)."""
    lines = [HEAD.rstrip("\n")]
    for i in range(steps):
        nxt = f"step{i + 1}" if i + 1 < steps else "success"
        lines.append(f"    step{i}: {{<<: *defaults, next: {nxt}, mode_config: *shared}}")
    lines += ["    success: {type: success}", "    fail: {type: fail}"]
    path = folder / "pipeline.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    (folder / "fns.py").write_text("def ok():\n    return None\n")
    assert path.stat().st_size >= parse_cache.MIN_BYTES
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(parse_cache.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each YAML parse of a file, by its first characters (every parse goes through _plain_load first)."""
    seen: list[str] = []
    real = loading._plain_load

    def counting(text: str, loader: Any) -> Any:
        seen.append(text[:12])
        return real(text, loader)

    monkeypatch.setattr(loading, "_plain_load", counting)
    return seen


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{parse_cache.SUFFIX}")) if folder.exists() else []


def test_second_load_reads_the_cache_and_gives_the_same_pipeline(
    tmp_path: Path, cache_dir: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = big_pipeline(tmp_path)
    first = load_pipeline(path)
    assert len(parses) == 1 and len(entries(cache_dir)) == 1
    second = load_pipeline(path)
    assert len(parses) == 1, "the second load parsed the YAML again"
    assert same(first.dag_block, second.dag_block)
    assert first.dag_hash == second.dag_hash
    assert repr(first.dag.model_dump()) == repr(second.dag.model_dump())
    values = second.dag_block["steps"]["step0"]["mode_config"]["values"]
    assert math.isnan(values[2]) and values[3:8] == [math.inf, -math.inf, 10, 15, 31]
    assert values[8:] == [None, None, True, False, "yes", "no"]
    assert type(values[10]) is bool and type(values[4]) is float
    assert "123456789012345678901234567890" in second.dag_block["description"]
    # an alias's objects stay shared, as the parser makes them
    steps = second.dag_block["steps"]
    assert steps["step0"]["mode_config"] is steps["step1"]["mode_config"]


def test_a_changed_file_or_loader_is_another_entry(
    tmp_path: Path, cache_dir: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = big_pipeline(tmp_path)
    load_pipeline(path)
    big_pipeline(tmp_path, extra="# a comment changes the bytes\n")
    load_pipeline(path)
    assert len(parses) == 2 and len(entries(cache_dir)) == 2
    monkeypatch.setattr(parse_cache, "_loader_keys", {loading.Yaml12Loader: b"another loader"})
    load_pipeline(path)
    assert len(parses) == 3, "a changed loader read an entry made by another"


def test_data_that_is_not_plain_is_never_cached(tmp_path: Path, cache_dir: Path, parses: list[str]) -> None:
    path = big_pipeline(tmp_path, extra="x-blob: !!binary aGVsbG8=\n")
    for _ in range(2):
        assert loading.read_yaml(path, "pipeline file", cache=loading._CacheUse())["x-blob"] == b"hello"
    assert len(parses) == 2 and entries(cache_dir) == []
    assert not parse_cache.plain({"a": {1, 2}}) and not parse_cache.plain({1: "a"})
    assert parse_cache.plain({"a": [1, 2.0, None, True, "x", {"b": []}]})


def test_small_files_and_other_readers_are_not_cached(
    tmp_path: Path, cache_dir: Path, parses: list[str]
) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("a: 1\n")
    loading.read_yaml(small, "pipeline file", cache=loading._CacheUse())
    big = big_pipeline(tmp_path)
    loading.read_yaml(big, "config file")  # a reader that does not ask for the cache
    loading.read_yaml(big, "var file", loading.TextLoader, cache=loading._CacheUse())  # another loader
    assert entries(cache_dir) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_damaged_entry_is_a_miss_and_is_written_again(
    tmp_path: Path, cache_dir: Path, parses: list[str], damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = big_pipeline(tmp_path)
    first = load_pipeline(path)
    (entry,) = entries(cache_dir)
    blob = entry.read_bytes()
    entry.write_bytes(
        {
            "truncate": blob[: len(blob) // 2],
            "flip": blob[:-10] + bytes([blob[-10] ^ 0xFF]) + blob[-9:],
            "garbage": b"\x00\xff" * 100,
            "empty": b"",
        }[damage]
    )
    second = load_pipeline(path)
    assert len(parses) == 2 and same(first.dag_block, second.dag_block)
    assert entry.read_bytes() == blob, "the damaged entry was not written again"
    load_pipeline(path)
    assert len(parses) == 2


def test_a_folder_that_cannot_be_written_is_skipped(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(parse_cache.CACHE_ENV, str(blocker / "cache"))  # mkdir fails: NotADirectoryError
    path = big_pipeline(tmp_path)
    assert load_pipeline(path).dag.start_at == "step0"
    assert load_pipeline(path).dag.start_at == "step0"
    assert len(parses) == 2


@pytest.mark.parametrize("value", ["off", "0", "no", ""])
def test_turned_off(tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(parse_cache.CACHE_ENV, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = big_pipeline(tmp_path)
    load_pipeline(path)
    load_pipeline(path)
    assert len(parses) == 2 and not (tmp_path / "xdg").exists()


def test_default_folder_is_the_xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parse_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert parse_cache.folder() == tmp_path / "xdg" / "magnus" / "yaml"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_cache.folder() == tmp_path / "home" / ".cache" / "magnus" / "yaml"


def test_a_refused_pipeline_is_read_again_and_says_the_same(
    tmp_path: Path, cache_dir: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that parses but is refused (here: a step of an unknown type, an unknown field, a missing
    `next`) is kept like any other; its second load takes the cache, is refused, and is made again
    without it: the message is the fresh parse's, word for word."""
    monkeypatch.chdir(tmp_path)
    path = big_pipeline(tmp_path, extra="")
    text = path.read_text().replace(
        "    step7: {<<: *defaults,", "    step7: {<<: *defaults, type: taks, nxt: 1,"
    )
    path.write_text(text)
    with pytest.raises(PipelineError) as fresh:
        load_pipeline(path)
    assert len(parses) == 1 and len(entries(cache_dir)) == 1
    with pytest.raises(PipelineError) as again:
        load_pipeline(path)
    assert str(again.value) == str(fresh.value)
    assert "step 'step7'" in str(again.value) and "taks" in str(again.value)
    assert len(parses) == 2, "the refused load that used the cache was not made again without it"


def test_the_folder_keeps_at_most_keep_entries(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parse_cache, "KEEP", 3)
    for i in range(5):
        assert parse_cache.put(f"bytes {i}".encode(), loading.Yaml12Loader, {"i": i})
    assert len(entries(cache_dir)) == 3
    assert parse_cache.get(b"bytes 4", loading.Yaml12Loader) == {"i": 4}
    assert parse_cache.get(b"bytes 0", loading.Yaml12Loader) is parse_cache.MISSING


def test_magnus_execute_twice_runs_the_same_from_the_cache(tmp_path: Path) -> None:
    """The real command line: the first run writes the entry, the second reads it; both runs record the
    same dag hash and run_config dag."""
    big_pipeline(tmp_path, steps=520)
    env = {parse_cache.CACHE_ENV: str(tmp_path / "cache")}
    runs = []
    for _ in range(2):
        proc = run_magnus("execute", "-f", "pipeline.yaml", "--json", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
        assert len(entries(tmp_path / "cache")) == 1
    assert runs[0]["dag_hash"] == runs[1]["dag_hash"]
    assert runs[0]["run_config"]["dag"] == runs[1]["run_config"]["dag"]
    assert len(runs[1]["steps"]) == 521 and runs[1]["status"] == "SUCCESS"


def test_an_entry_another_user_owns_is_not_read(
    tmp_path: Path, cache_dir: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """marshal is trusted as Python trusts __pycache__: only entries this user wrote (CI runs as root,
    which may give a file to another user)."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    monkeypatch.chdir(tmp_path)
    path = big_pipeline(tmp_path)
    load_pipeline(path)
    (entry,) = entries(cache_dir)
    os.chown(entry, 54321, -1)
    load_pipeline(path)
    assert len(parses) == 2
    assert oct(cache_dir.stat().st_mode & 0o777) == "0o700" and oct(entry.stat().st_mode & 0o777) == "0o600"


def test_a_dag_definition_file_is_cached_too(
    tmp_path: Path, cache_dir: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inner = big_pipeline(tmp_path).rename(tmp_path / "inner.yaml")
    outer = tmp_path / "outer.yaml"
    outer.write_text(
        "dag:\n  start_at: nested\n  steps:\n"
        "    nested: {type: dag, dag_definition: inner.yaml, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    first = load_pipeline(outer)
    assert len(parses) == 2 and len(entries(cache_dir)) == 1  # the outer file is small: never cached
    second = load_pipeline(outer)
    assert len(parses) == 3, "the dag_definition file was parsed again"
    assert list(first.sub_dags) == list(second.sub_dags) == [str(inner)]
    assert same(first.sub_dags[str(inner)], second.sub_dags[str(inner)])
