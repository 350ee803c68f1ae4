"""The repository is self-contained: no test, benchmark or script reads a file outside the clone.

A user's clone has nothing beside it, so a path that climbs out of the repository (``ROOT.parent``, a
folder beside it, an absolute path into the machine this was written on) works here and fails there.
``scripts/fresh_clone.sh`` proves the same thing end to end; this test names the line that breaks it.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import FIXTURES, ROOT

# The folder beside the clone that code once read, spelled in parts so that this guard is not itself
# flagged by a search for paths that leave the repository.
BESIDE = "sh" + "ared"
# Each pattern is a way code has reached outside the repository.
LEAVING = {
    "the folder above the repository": re.compile(r"\bROOT\.parent\b|\.parents\[(?:[3-9]|\d\d)\]"),
    "a folder beside the clone": re.compile(
        rf"""["'/]{BESIDE}["']?\s*/\s*["']?(?:fixtures|argo|spec)|\.\./{BESIDE}"""
    ),
    "an absolute path into this machine": re.compile(r"""["'](?:/work|/root|/home)/"""),
}
SCANNED = ("tests", "bench", "scripts", ".ci")


def _sources() -> list[Path]:
    files: list[Path] = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix in {".py", ".sh", ""}
                and "data" not in path.relative_to(ROOT).parts
            ):
                files.append(path)
    return files


def test_no_test_bench_or_script_reads_outside_the_repository() -> None:
    offending = []
    for path in _sources():
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for what, pattern in LEAVING.items():
                if pattern.search(line):
                    offending.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    assert not offending, "paths that leave the repository:\n" + "\n".join(offending)


def test_the_patterns_catch_what_they_are_for() -> None:
    # the guard is only worth something if it fires on the lines that broke fresh clones before
    beside = LEAVING["a folder beside the clone"]
    assert LEAVING["the folder above the repository"].search(f'FIXTURES = ROOT.parent / "{BESIDE}" / "x"')
    assert beside.search(f'SCHEMA = x / "{BESIDE}" / "argo" / "s.json"')
    assert beside.search(f"cp ../{BESIDE}/fixtures .")
    assert LEAVING["an absolute path into this machine"].search(f'open("/work/{BESIDE}/x")')
    assert not beside.search(f'git_repo / "{BESIDE}.yaml"')


def test_the_fixtures_the_suite_reads_are_in_the_repository() -> None:
    assert FIXTURES.is_relative_to(ROOT)
    assert len(list(FIXTURES.glob("**/*.json"))) >= 35
    assert (ROOT / "tests" / "data" / "argo" / "workflow-schema.json").is_file()


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised as pip compares them (PEP 503): 'Foo_Bar[x]>=1' -> 'foo-bar'."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~;\s]", requirement.strip(), maxsplit=1)[0]).lower()


def test_constraints_pin_every_declared_dependency() -> None:
    """The README installs with ``-c constraints.txt``: a dependency added to pyproject.toml but not pinned
    there would be resolved afresh on every machine (a fresh venv's pip once gave up after backtracking
    through every dask release: s3fs's aiobotocore and moto's boto3 want different botocore)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {_name(r) for r in extra if _name(r) != "magnus"}
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"constraints.txt: {line!r} is not pinned to one version (name==version)"
            pinned[_name(line)] = line
    missing = sorted(declared - pinned.keys())
    assert not missing, f"constraints.txt does not pin {missing}; add them (see its header)"
