"""Cost of the data catalog against a plain baseline (masking: bench/masking.py).

    python bench/catalog.py          # 200 MB file
    python bench/catalog.py 50       # chosen MB
    python bench/catalog.py --s3 1024   # the fsspec catalog on a local S3 server (moto), 1 GB file

Catalog: put and get of one file through FileSystemCatalog (copy under a temporary name, SHA256, rename)
against the baseline shutil.copyfile + hashlib.sha256 of the same file (ratio target <= 1.3).
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


def bench_s3(megabytes: int) -> None:
    """Put and get of one file through the fsspec catalog into a local S3 server, against a plain s3fs
    put_file/get_file of the same file; and the process's peak memory during the catalog's put and get."""
    import resource

    from magnus_core.catalog_fsspec import FsspecCatalog
    from tests.servers import S3Server

    class Ctx:
        run_id = "bench"
        secrets = None

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with S3Server() as server, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(server.env)
        bucket = server.make_bucket("bench-bucket")
        os.chdir(tmp)
        Path("data").mkdir()
        block = os.urandom(1 << 20)
        with open("data/big.bin", "wb") as handle:
            for _ in range(megabytes):
                handle.write(block)
        del block
        catalog = FsspecCatalog({"url": f"s3://{bucket}/catalog"})
        catalog.bind(Ctx())
        before = peak_mb()
        start = time.perf_counter()
        put_record = catalog.put_patterns(["big.bin"], None)[0]
        put = time.perf_counter() - start
        start = time.perf_counter()
        get_record = catalog.get_patterns(["big.bin"], None, destination="fetched")[0]
        get = time.perf_counter() - start
        grown = peak_mb() - before
        assert put_record.data_hash == get_record.data_hash
        fs = server.filesystem()
        start = time.perf_counter()
        fs.put_file("data/big.bin", f"{bucket}/plain/big.bin")
        base_put = time.perf_counter() - start
        start = time.perf_counter()
        fs.get_file(f"{bucket}/plain/big.bin", "plain.bin")  # s3fs's defaults: 10 parts at once
        base_get = time.perf_counter() - start
        os.chdir(ROOT)
    print(
        f"fsspec catalog on S3 (moto on 127.0.0.1), {megabytes} MB: put {put:.1f}s ({megabytes / put:.0f} MB/s), "
        f"get {get:.1f}s ({megabytes / get:.0f} MB/s), SHA256 included; plain s3fs put_file {base_put:.1f}s, "
        f"get_file {base_get:.1f}s; ratio put {put / base_put:.2f}, get {get / base_get:.2f}; peak memory "
        f"grew {grown:.0f} MB during the catalog's put and get"
    )


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--s3":
        bench_s3(int(argv[1]) if len(argv) > 1 else 1024)
        return
    megabytes = int(argv[0]) if argv else 200
    bench_catalog(megabytes)


if __name__ == "__main__":
    main(sys.argv[1:])
