"""The data catalog: put then get with hashes checked, one name per file, tampering shows, bad input refused.
Each behaviour is checked on the file-system catalog and on the fsspec catalog in a bucket of a real S3 server
(moto, over HTTP, through s3fs)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.models.run_log import FAIL, SUCCESS, RunLog
from magnus_core.runner import RunRequest, execute, prepare
from tests.conftest import ROOT

FUNCTIONS = """
from pathlib import Path
from magnus import get_from_catalog, put_in_catalog

def make(content: str = "a,b\\n1,2\\n"):
    Path("data/sub").mkdir(parents=True, exist_ok=True)
    Path("data/out.csv").write_text(content)
    Path("data/sub/deep.csv").write_text("deep\\n")
    Path("data/notes.txt").write_text("notes\\n")

def check(expected: str = "a,b\\n1,2\\n"):
    assert Path("data/out.csv").read_text() == expected, Path("data/out.csv").read_text()
    assert Path("data/sub/deep.csv").read_text() == "deep\\n"

def remove():
    import shutil
    shutil.rmtree("data")

def from_code():
    Path("elsewhere").mkdir(exist_ok=True)
    Path("elsewhere/report.txt").write_text("report\\n")
    put_in_catalog("elsewhere/report.txt")
    put_in_catalog("data/out.csv")
    get_from_catalog("out.csv", destination_folder="fetched")
    get_from_catalog("report.txt")
    assert Path("fetched/out.csv").is_file() and Path("data/report.txt").is_file()

def tamper():
    import os
    import fsspec
    from magnus import get_run_id
    fs, root = fsspec.core.url_to_fs(os.environ.get("CATALOG_URL", ".catalog"))
    with fs.open(f"{root}/{get_run_id()}/out.csv", "wb") as handle:
        handle.write(b"tampered\\n")

def escape():
    get_from_catalog("../outside.txt")

def per_item(item):
    Path("data").mkdir(exist_ok=True)
    Path(f"data/{item}.csv").write_text(f"{item}\\n")
    put_in_catalog(f"data/{item}.csv")

def items():
    Path("data").mkdir(exist_ok=True)
    Path("data/shared.csv").write_text("same for all\\n")
    put_in_catalog("data/shared.csv")  # a name is put by one branch only: the shared file, before the map
    return {"items": ["a", "b", "c", "d", "e", "f"]}

def change():
    Path("data/out.csv").write_text("changed\\n")
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Catalog:
    """The catalog under test: its config block, and a look at what it holds (as a user would look)."""

    def __init__(self, kind: str, repo: Path, url: str = "") -> None:
        import fsspec

        self.kind = kind
        self.url = url or ".catalog"
        self.config = f"catalog: {{type: fsspec, config: {{url: '{url}'}}}}\n" if url else ""
        self.fs, self.root = fsspec.core.url_to_fs(url or str(repo / ".catalog"))

    @property
    def location(self) -> str:
        return self.url

    def read(self, run_id: str, name: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.root}/{run_id}/{name}"))

    def names(self, run_id: str) -> list[str]:
        """Everything under the run's prefix, temporary files included."""
        prefix = f"{self.root}/{run_id}/"
        if not self.fs.exists(prefix.rstrip("/")):
            return []
        base = self.fs._strip_protocol(prefix).rstrip("/") + "/"
        return sorted(self.fs._strip_protocol(p)[len(base) :] for p in self.fs.find(prefix))


@pytest.fixture(params=["file-system", "s3"])
def catalog(request: pytest.FixtureRequest, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    if request.param == "file-system":
        return Catalog("file-system", git_repo)
    bucket = request.getfixturevalue("bucket")
    url = f"s3://{bucket}/team/catalog"
    monkeypatch.setenv("CATALOG_URL", url)
    return Catalog("s3", git_repo, url)


def run(repo: Path, steps: str, config: str = "", **request: object) -> RunLog:
    mod = f"cat_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    text = (
        "dag:\n  start_at: first\n  steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "    ")
        + "    success: {type: success}\n    fail: {type: fail}\n"
        + textwrap.dedent(config)
    )
    (repo / "pipeline.yaml").write_text(text.replace("MOD", mod))
    return execute(prepare(RunRequest(file="pipeline.yaml", **request)))  # type: ignore[arg-type]


PUT_GET = """
first:
  type: task
  command: MOD.make
  catalog: {put: ["*.csv", "sub/*.csv"]}
  next: wipe
wipe: {type: task, command: MOD.remove, next: second}
second:
  type: task
  command: MOD.check
  catalog: {get: ["*.csv", "sub/*"]}
  next: success
"""


def test_put_then_get_records_one_name_and_the_hash_of_each_file(git_repo: Path, catalog: Catalog) -> None:
    log = run(git_repo, PUT_GET, catalog.config)
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    assert log.run_config["data_hash_algorithm"] == "sha256"
    put = {r.name: r for r in log.steps["first"].data_catalog}
    got = {r.name: r for r in log.steps["second"].data_catalog}
    assert set(put) == set(got) == {"out.csv", "sub/deep.csv"}  # every pattern's files, one name each
    for name, record in put.items():
        assert record.stage == "put" and got[name].stage == "get"
        assert (
            record.data_hash
            == got[name].data_hash
            == hashlib.sha256(catalog.read(log.run_id, name)).hexdigest()
            == sha256(git_repo / "data" / name)
        )
        assert record.catalog_relative_path == got[name].catalog_relative_path == f"{log.run_id}/{name}"
        assert record.catalog_handler_location == catalog.location
    # only what the patterns match, and no temporary copies left behind
    assert catalog.names(log.run_id) == ["out.csv", "sub/deep.csv"]


def test_a_tampered_catalog_file_shows_a_different_hash(git_repo: Path, catalog: Catalog) -> None:
    log = run(git_repo, PUT_GET.replace("MOD.remove", "MOD.tamper"), catalog.config)
    put = {r.name: r.data_hash for r in log.steps["first"].data_catalog}
    got = {r.name: r.data_hash for r in log.steps["second"].data_catalog}
    assert log.steps["second"].status == FAIL  # check() saw the tampered content
    assert got["out.csv"] != put["out.csv"] and got["out.csv"] == hashlib.sha256(b"tampered\n").hexdigest()
    assert got["sub/deep.csv"] == put["sub/deep.csv"]


def test_tampering_is_reported_before_a_rerun(git_repo: Path) -> None:
    log = run(git_repo, PUT_GET)
    (git_repo / ".catalog" / log.run_id / "out.csv").write_text("tampered\n")
    prepared = prepare(RunRequest(file="pipeline.yaml", use_cached=log.run_id))
    assert any("changed since it ran" in w and "out.csv" in w for w in prepared.warnings)


def test_api_put_and_get_name_files_like_the_step_patterns(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.make, next: code}
        code: {type: task, command: MOD.from_code, next: success}
        """,
    )
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    records = [(r.name, r.stage) for r in log.steps["code"].data_catalog]
    assert records == [("report.txt", "put"), ("out.csv", "put"), ("out.csv", "get"), ("report.txt", "get")]


def test_step_level_compute_data_folder_and_config(git_repo: Path) -> None:
    (git_repo / "other").mkdir()
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.make, next: second, catalog: {put: ["*.csv"]}}
        second:
          type: task
          command: MOD.change
          catalog: {get: ["out.csv"], compute_data_folder: other}
          next: success
        """,
        config="""
        catalog:
          type: file-system
          config: {catalog_location: store/cat}
        """,
    )
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    assert (git_repo / "store" / "cat" / log.run_id / "out.csv").is_file()
    assert (git_repo / "other" / "out.csv").read_text() == "a,b\n1,2\n"
    assert log.steps["second"].data_catalog[0].catalog_handler_location == "store/cat"


def test_do_nothing_catalog_moves_nothing(git_repo: Path) -> None:
    log = run(git_repo, PUT_GET.replace("MOD.remove", "MOD.check"), config="catalog: {type: do-nothing}\n")
    assert log.status == SUCCESS
    assert all(not s.data_catalog for s in log.walk())
    assert not (git_repo / ".catalog").exists()


def test_a_get_matching_nothing_fails_naming_the_pattern(git_repo: Path, catalog: Catalog) -> None:
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.make, next: second, catalog: {put: ["*.csv"]}}
        second: {type: task, command: MOD.check, catalog: {get: ["*.parquet"]}, next: success}
        """,
        catalog.config,
    )
    assert log.status == FAIL
    assert "'*.parquet'" in log.steps["second"].message and "matches" in log.steps["second"].message


def test_a_put_never_overwrites_different_content(git_repo: Path, catalog: Catalog) -> None:
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.make, next: same, catalog: {put: ["out.csv"]}}
        same: {type: task, command: MOD.check, next: second, catalog: {put: ["out.csv"]}}
        second: {type: task, command: MOD.change, next: success, catalog: {put: ["out.csv"]}}
        """,
        catalog.config,
    )
    assert log.steps["same"].status == SUCCESS  # the same content again is fine
    assert log.steps["second"].status == FAIL
    assert "never overwritten" in log.steps["second"].message
    assert catalog.read(log.run_id, "out.csv") == b"a,b\n1,2\n"


def test_escaping_patterns_are_refused_by_the_pipeline_check(git_repo: Path, magnus) -> None:
    for pattern in ("../x.csv", "/etc/passwd"):
        (git_repo / "p.yaml").write_text(
            json.dumps(
                {
                    "dag": {
                        "start_at": "a",
                        "steps": {
                            "a": {
                                "type": "task",
                                "command": "x.y",
                                "next": "success",
                                "catalog": {"put": [pattern]},
                            },
                            "success": {"type": "success"},
                            "fail": {"type": "fail"},
                        },
                    }
                }
            )
        )
        result = magnus("execute", "--file", "p.yaml")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert pattern in result.stderr


def test_escaping_names_from_code_are_refused_and_nothing_is_copied(git_repo: Path, catalog: Catalog) -> None:
    (git_repo / "outside.txt").write_text("x")
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.make, next: esc, catalog: {put: ["*.csv"]}}
        esc: {type: task, command: MOD.escape, next: success}
        """,
        catalog.config,
    )
    assert log.steps["esc"].status == FAIL and "'..'" in log.steps["esc"].message
    assert not log.steps["esc"].data_catalog


def test_a_symlink_pointing_outside_is_refused(git_repo: Path, tmp_path: Path, catalog: Catalog) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private\n")
    (git_repo / "data").mkdir()
    os.symlink(secret, git_repo / "data" / "link.csv")
    (git_repo / "data" / "fine.csv").write_text("fine\n")
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.check, next: success, catalog: {put: ["*.csv"]}}
        """,
        catalog.config,
    )
    put_step = log.steps["first"]
    assert put_step.status == FAIL and "outside" in put_step.message
    data = [name for name in catalog.names(log.run_id) if not name.startswith(".magnus/")]
    assert data == []  # nothing copied, not even fine.csv (the step's own output is kept apart, in .magnus/)


def test_the_data_example_runs(git_repo: Path, magnus, catalog: Catalog) -> None:
    shutil.copytree(ROOT / "examples", git_repo / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (git_repo / "c.yaml").write_text(catalog.config or "catalog: {type: file-system}\n")
    result = magnus("execute", "--file", "examples/data.yaml", "--json", "--config-file", "c.yaml")
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout)
    names = {(r["name"], r["stage"]) for s in log["steps"].values() for r in s["data_catalog"]}
    assert names == {("raw.csv", "put"), ("raw.csv", "get"), ("clean.csv", "put"), ("clean.csv", "get")}
    assert log["steps"]["summarise"]["user_defined_metrics"] == {"rows_out": 3, "total": 20}
    assert catalog.names(log["run_id"]) == ["clean.csv", "raw.csv"]


@pytest.mark.parametrize("bad", [{"catalog_location": 3}, {"compute_data_folder": "../up"}, {"colour": "x"}])
def test_bad_catalog_config_is_one_line(git_repo: Path, magnus, bad: dict) -> None:
    (git_repo / "p.yaml").write_text(
        json.dumps(
            {
                "dag": {
                    "start_at": "a",
                    "steps": {
                        "a": {"type": "as-is", "next": "success"},
                        "success": {"type": "success"},
                        "fail": {"type": "fail"},
                    },
                },
                "catalog": {"type": "file-system", "config": bad},
            }
        )
    )
    result = magnus("execute", "--file", "p.yaml")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "catalog" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_concurrent_map_branches_put_into_one_catalog(git_repo: Path, catalog: Catalog) -> None:
    log = run(
        git_repo,
        """
        first: {type: task, command: MOD.items, next: fan}
        fan:
          type: map
          iterate_on: items
          iterate_as: item
          next: success
          branch:
            start_at: p
            steps: {p: {type: task, command: MOD.per_item, next: success}, success: {type: success},
                    fail: {type: fail}}
        """,
        config="executor: {type: local, config: {max_workers: 4}}\n" + catalog.config,
    )
    assert log.status == SUCCESS, [s.message for s in log.walk()]
    for item in "abcdef":
        step = log.find_step(f"fan.{item}.p")
        assert [r.name for r in step.data_catalog] == [f"{item}.csv"]
        assert catalog.read(log.run_id, f"{item}.csv") == f"{item}\n".encode()
    assert catalog.names(log.run_id) == sorted([f"{i}.csv" for i in "abcdef"] + ["shared.csv"])


def test_captured_output_streams_into_either_catalog_whole(git_repo: Path, catalog: Catalog) -> None:
    """What magnus itself stores (a step's captured output): streamed in, read back, whole or absent, and
    never matched by a step's get pattern."""
    import io

    from magnus_core.catalog import CatalogError, make_catalog, output_name

    block = {"type": "file-system", "config": {}}
    if catalog.kind == "s3":
        block = {"type": "fsspec", "config": {"url": catalog.url}}
    store = make_catalog(block)

    from magnus_core.stores import make_store

    class Ctx:  # what a catalog reads of its run context
        run_id = "streams"
        secrets = None
        store = make_store({"type": "buffered", "config": {}})

    store.bind(Ctx())
    name = output_name("step a", 1)
    data = os.urandom(3 * 2**20 + 17)  # more than one chunk
    record = store.put_stream(name, io.BytesIO(data))
    assert record.stage == "put" and record.data_hash == hashlib.sha256(data).hexdigest()
    with store.open_file("streams", name) as handle:
        assert handle.read() == data
    assert catalog.read("streams", name) == data
    with pytest.raises(CatalogError, match="no file"):
        store.open_file("streams", output_name("missing", 1))
    with pytest.raises(CatalogError, match="no file in the catalog"):
        store.get_patterns(["**"], None)  # magnus's own files are never a step's data

    class Broken(io.RawIOBase):  # a stream that fails half-way: nothing is left under the name
        def __init__(self) -> None:
            self.sent = 0

        def read(self, size: int = -1) -> bytes:
            self.sent += 1
            if self.sent > 1:
                raise OSError("the step's pipe broke")
            return b"x" * (2**20)

    with pytest.raises(Exception, match="pipe broke"):
        store.put_stream(output_name("broken", 1), Broken())  # type: ignore[arg-type]
    assert catalog.names("streams") == [name]
