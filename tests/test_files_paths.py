"""The one helper each for atomic writes (files.py) and path containment (paths.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path, PurePosixPath

import pytest

from magnus_core.errors import UsageError
from magnus_core.files import (
    atomic_copy,
    atomic_write,
    atomic_write_stream,
    create_exclusive,
    is_temp,
    temp_file,
)
from magnus_core.paths import check_relative, check_run_id, inside, is_within, relative_problem


def test_atomic_writes_leave_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "run.json"
    atomic_write(target, "one")
    atomic_write(target, b"two", durable=True)
    assert target.read_text() == "two"
    digest = atomic_write_stream(tmp_path / "big.bin", io.BytesIO(b"x" * 3_000_000), chunk=1 << 16)
    assert len(digest) == 64 and (tmp_path / "big.bin").stat().st_size == 3_000_000
    copy = tmp_path / "copy.bin"
    assert atomic_copy(tmp_path / "big.bin", copy) == digest
    create_exclusive(tmp_path / "new.json", "{}")
    with pytest.raises(FileExistsError):
        create_exclusive(tmp_path / "new.json", "[]")
    assert (tmp_path / "new.json").read_text() == "{}"
    left = [p.name for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert left == []  # every temporary file was renamed, linked or removed


def test_a_write_that_fails_removes_its_temporary_file(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readinto(self, buffer: object) -> int:
            raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        atomic_write_stream(tmp_path / "out.bin", Broken())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_one_temporary_name_scheme_recognised_everywhere(tmp_path: Path) -> None:
    with temp_file(tmp_path / "data.csv") as (fd, tmp):
        os.write(fd, b"half")
        assert is_temp(tmp) and tmp.parent == tmp_path and tmp.name.startswith(".data.csv.magnus-")
    assert not tmp.exists()
    for name in ("data.csv", ".hidden", ".data.csv.tmp", "x.magnus-1.tmp"):
        assert not is_temp(Path(name)), name


def test_relative_paths_and_run_ids() -> None:
    assert relative_problem("data/x.csv", "catalog pattern") is None
    for bad in ("/etc/passwd", "\\\\server\\share", "C:x", "a/../../b", "..\\x", "  "):
        assert relative_problem(bad, "catalog pattern") is not None, bad
    assert check_relative("a\\b.csv", "pattern") == "a/b.csv"
    with pytest.raises(UsageError, match="must not contain '\\.\\.'"):
        check_relative("a/../b", "pattern")
    assert check_run_id("20260101_abc.1") == "20260101_abc.1"
    for bad in ("", ".hidden", "a/b", "a..b", "x" * 129):
        with pytest.raises(UsageError):
            check_run_id(bad)


def test_containment_follows_symlinks_unless_asked_not_to(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "data" / "link").symlink_to(outside)
    assert is_within(root / "data", root) and is_within(root, root)
    assert not is_within(root / "data" / "link", root)  # a link that leaves the project is outside
    assert not is_within(tmp_path, root)
    with pytest.raises(UsageError, match="is outside"):
        inside("data/link/x", root, what="notebook")
    assert inside("data/x", root, what="notebook") == (root / "data" / "x").resolve()
    # paths on another machine (a pod's mounts) are compared as written
    assert is_within(PurePosixPath("/mnt/team/runs"), PurePosixPath("/mnt/team"), resolve=False)
    assert not is_within(PurePosixPath("/mnt/sharedx"), PurePosixPath("/mnt/shared"), resolve=False)
