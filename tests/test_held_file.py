"""The run's held file (magnus_core.fatal.hold / held_output): what attempts hold in memory, written through
into a file mapped into memory, read back after the process died. End-to-end deaths (a segfault, kill -9)
are in test_crash_hints.py and test_cut_short.py; these pin the file's own rules: frames in order per
attempt, a frame cut short read as the end, the file starting again past its size without stale frames,
a forked child writing nothing into it, and held files of the earlier text format still read."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from magnus_core import fatal
from magnus_core.catalog import FileSystemCatalog


def _catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileSystemCatalog:
    monkeypatch.chdir(tmp_path)
    catalog = FileSystemCatalog({})
    catalog.bind(types.SimpleNamespace(catalog=catalog, run_id="r1", concurrent=False))  # type: ignore[arg-type]
    return catalog


def _held_path(tmp_path: Path) -> Path:
    return tmp_path / ".catalog" / "r1" / ".magnus" / "held.log"


def test_frames_of_each_attempt_are_joined_in_order_and_the_file_goes_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path, monkeypatch)
    with fatal.recorded(catalog, "r1"):
        fatal.hold(".magnus/output/a.0.log", b"one\n")
        fatal.hold(".magnus/output/b.0.log", b"\x00\xffbinary")
        fatal.hold(".magnus/output/a.0.log", b"two\n")
        fatal.hold(".magnus/output/caf\u00e9.0.log", "th\u00e9\n".encode())
        assert _held_path(tmp_path).read_bytes().startswith(fatal.HELD_MAGIC)
        assert fatal.held_output(catalog, "r1") == {
            ".magnus/output/a.0.log": b"one\ntwo\n",
            ".magnus/output/b.0.log": b"\x00\xffbinary",
            ".magnus/output/caf\u00e9.0.log": "th\u00e9\n".encode(),
        }
    assert not _held_path(tmp_path).exists()  # a run that ends leaves no held file
    assert fatal.held_output(catalog, "r1") == {}
    fatal.hold(".magnus/output/a.1.log", b"after the run\n")  # nothing recorded: nothing written, no error


def test_a_frame_cut_short_reads_as_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = _catalog(tmp_path, monkeypatch)
    with fatal.recorded(catalog, "r1"):
        fatal.hold(".magnus/output/a.0.log", b"kept\n")
        at = fatal._held_at
        fatal.hold(".magnus/output/a.0.log", b"also kept\n")
        fatal.hold(".magnus/output/b.0.log", b"cut short by the death\n")
        held_map = fatal._held_map
        assert held_map is not None
        end = fatal._held_at
        # a death while the last frame was copied: its header (written last) not there yet
        second_end = at + 8 + len(".magnus/output/a.0.log") + len(b"also kept\n")
        held_map[second_end : second_end + 8] = bytes(8)
        assert fatal.held_output(catalog, "r1") == {".magnus/output/a.0.log": b"kept\nalso kept\n"}
        assert end > second_end


def test_past_its_size_the_file_starts_again_without_the_frames_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path, monkeypatch)
    monkeypatch.setattr(fatal, "HELD_MAX", 4 * 65536)
    with fatal.recorded(catalog, "r1"):
        for number in range(40):  # 40 x 10 KB: the file (256 KB) starts again once
            fatal.hold(f".magnus/output/s{number}.0.log", bytes([65 + number % 26]) * 10_000)
        fatal.hold(".magnus/output/last.0.log", b"the last\n")
        held = fatal.held_output(catalog, "r1")
        assert held[".magnus/output/last.0.log"] == b"the last\n"
        assert ".magnus/output/s0.0.log" not in held  # (before the start again: reached its file long before)
        assert ".magnus/output/s39.0.log" in held
        # no frame of before the start again is read after those of after it
        names = list(held)
        assert names[-1] == ".magnus/output/last.0.log", names
        assert all(data == bytes([data[0]]) * 10_000 for name, data in held.items() if "/s" in name)
        assert os.path.getsize(_held_path(tmp_path)) == 4 * 65536


def test_a_forked_child_writes_nothing_into_the_parent_s_held_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path, monkeypatch)
    with fatal.recorded(catalog, "r1"):
        fatal.hold(".magnus/output/parent.0.log", b"the parent's\n")
        pid = os.fork()
        if pid == 0:  # the child: its hold writes nowhere
            try:
                fatal.hold(".magnus/output/child.0.log", b"the child's\n")
            finally:
                os._exit(0 if fatal._held_map is None else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        fatal.hold(".magnus/output/parent.0.log", b"the parent's again\n")
        assert fatal.held_output(catalog, "r1") == {
            ".magnus/output/parent.0.log": b"the parent's\nthe parent's again\n"
        }


def test_a_held_file_of_the_earlier_text_format_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path, monkeypatch)
    path = _held_path(tmp_path)
    path.parent.mkdir(parents=True)
    name = b".magnus/output/prep.0.log"
    frame = b"%d %d\n%s%s" % (len(name), 18, name, b"loading 3 columns\n")
    path.write_bytes(frame + frame[:-5])  # (the second cut short by the death)
    assert fatal.held_output(catalog, "r1") == {".magnus/output/prep.0.log": b"loading 3 columns\n"}
