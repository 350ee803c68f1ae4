"""Cost of the data catalog and of secret masking, against plain baselines.

    python bench/catalog.py          # 200 MB file, 200,000 printed lines
    python bench/catalog.py 50 20000 # chosen MB and lines

Catalog: put and get of one file through FileSystemCatalog (copy under a temporary name, SHA256, rename)
against the baseline shutil.copyfile + hashlib.sha256 of the same file (ratio target <= 1.3).
Masking: a python step's print() through the run's MaskingStream, with no secret and with one, against
print() straight to the same file (ratio printed; the line buffering costs a few microseconds a write).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_catalog(megabytes: int) -> None:
    from magnus_core.catalog import FileSystemCatalog

    class Ctx:
        run_id = "bench"

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("data").mkdir()
        Path("data/big.bin").write_bytes(os.urandom(1 << 20) * megabytes)
        catalog = FileSystemCatalog({})
        catalog.bind(Ctx())
        start = time.perf_counter()
        catalog.put_patterns(["big.bin"], None)
        put = time.perf_counter() - start
        start = time.perf_counter()
        catalog.get_patterns(["big.bin"], None, destination="fetched")
        get = time.perf_counter() - start
        start = time.perf_counter()
        shutil.copyfile("data/big.bin", "plain.bin")
        with open("data/big.bin", "rb") as handle:
            hashlib.file_digest(handle, "sha256")
        base = time.perf_counter() - start
        os.chdir(ROOT)
    print(
        f"catalog, {megabytes} MB: put {put:.2f}s ({megabytes / put:.0f} MB/s), get {get:.2f}s; "
        f"baseline copyfile+sha256 {base:.2f}s; ratio put {put / base:.2f}, get {get / base:.2f}"
    )


def bench_masking(lines: int) -> None:
    from magnus_core.secrets import DoNothingSecrets, MaskingStream

    with_secret = DoNothingSecrets({})
    with_secret.overrides["token"] = "s3cr3t-value"
    with open(os.devnull, "w") as sink:

        def timed(stream: object) -> float:
            saved, sys.stdout = sys.stdout, stream  # type: ignore[assignment]
            try:
                start = time.perf_counter()
                for i in range(lines):
                    print("line", i, "of output")
                return time.perf_counter() - start
            finally:
                sys.stdout = saved

        plain = timed(sink)
        none = timed(MaskingStream(sink, DoNothingSecrets({})))
        one = timed(MaskingStream(sink, with_secret))
    print(
        f"masking, {lines} print() lines: plain {plain:.2f}s, no secret {none:.2f}s (ratio {none / plain:.2f}), "
        f"one secret {one:.2f}s (ratio {one / plain:.2f})"
    )


def main(argv: list[str]) -> None:
    megabytes = int(argv[0]) if argv else 200
    lines = int(argv[1]) if len(argv) > 1 else 200_000
    bench_catalog(megabytes)
    bench_masking(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
