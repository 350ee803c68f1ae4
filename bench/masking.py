"""Cost of masking secrets in step output (issue 17), against the same output unmasked, same process.

    python bench/masking.py              # 100 MB, 10 secrets, and the earlier quadratic cases
    MAGNUS_BENCH_MB=20 python bench/masking.py

1. A python step printing MB of log-like lines through the output seam (sys.stdout -> masker -> a file):
   10 secrets configured against none (target <= 2x), and against print() with no seam at all.
2. A child process (a shell step) writing the same MB through the seam's pipe: 10 secrets against none.
3. The cases that were quadratic before (issue 17 #8), as figures: 2,000,000 dots printed without a
   newline; 20 MB written without a newline in 4 KB writes; and the peak memory (RSS) of a real
   `magnus execute` whose shell step prints one 200 MB line, against the same run printing 1 KB.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = int(os.environ.get("MAGNUS_BENCH_MB", "100"))
SECRETS = [f"s3cr3t-{i}-{random.Random(i).getrandbits(64):016x}" for i in range(10)]
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dogs",
    "epoch",
    "step",
    "loss=0.1234",
    "INFO",
    "WARNING",
    "saving",
    "model",
]


def log_lines(megabytes: int) -> list[str]:
    """Lines like a training step's output (with near-misses: words starting as the secrets do)."""
    rnd = random.Random(17)
    lines, size = [], 0
    while size < megabytes * 1_000_000:
        line = " ".join(rnd.choice(WORDS) for _ in range(12)) + f" s3cr3t-{rnd.randrange(10)}"
        lines.append(line)
        size += len(line) + 1
    return lines


def timed_prints(lines: list[str], values: list[str] | None, sink_path: Path) -> float:
    """print() every line, through the seam with `values` as secrets (None: no seam at all)."""
    from magnus_core import output
    from magnus_core.masking import fixed

    with open(sink_path, "w", encoding="utf-8") as sink:
        if values is None:
            saved, sys.stdout = sys.stdout, sink
            try:
                start = time.perf_counter()
                for line in lines:
                    print(line)
                sink.flush()
                return time.perf_counter() - start
            finally:
                sys.stdout = saved
        with output.installed(), output.routed(fixed(values), sink):
            start = time.perf_counter()
            for line in lines:
                print(line)
            sys.stdout.flush()
        return time.perf_counter() - start


def timed_pipe(data_file: Path, values: list[str], sink_path: Path) -> float:
    """A child process (cat) writes the file into the seam's pipe; the masked bytes go to a file."""
    from magnus_core import output
    from magnus_core.masking import fixed

    with open(sink_path, "w", encoding="utf-8") as sink, output.installed():
        with output.routed(fixed(values), sink) as route:
            start = time.perf_counter()
            pipe = route.child_pipe("stdout")
            subprocess.run(["cat", str(data_file)], stdout=pipe.fileno(), check=True)
            pipe.close(timeout=600)
            route.flush(final=True)
        return time.perf_counter() - start


def best(fn, *args, repeat: int = 3) -> float:
    return min(fn(*args) for _ in range(repeat))


def bench_throughput(folder: Path) -> None:
    lines = log_lines(MB)
    sink = folder / "sink.txt"
    plain = best(timed_prints, lines, None, sink)
    none = best(timed_prints, lines, [], sink)
    ten = best(timed_prints, lines, SECRETS, sink)
    print(
        f"python print(), {MB} MB in {len(lines):,} lines: no seam {plain:.2f}s; seam, no secret {none:.2f}s; "
        f"seam, 10 secrets {ten:.2f}s -> 10 secrets / no secret {ten / none:.2f}x, / no seam {ten / plain:.2f}x"
    )
    data = folder / "data.txt"
    data.write_text("\n".join(lines) + "\n")
    none = best(timed_pipe, data, [], sink)
    ten = best(timed_pipe, data, SECRETS, sink)
    start = time.perf_counter()
    with open(sink, "wb") as out:
        subprocess.run(["cat", str(data)], stdout=out, check=True)
    direct = time.perf_counter() - start
    print(
        f"child process through the seam's pipe, {MB} MB: no secret {none:.2f}s, 10 secrets {ten:.2f}s -> "
        f"{ten / none:.2f}x (cat straight to the file: {direct:.2f}s)"
    )


def bench_no_newline(folder: Path) -> None:
    from magnus_core import output
    from magnus_core.masking import fixed

    sink = folder / "sink.txt"
    for values, label in (([], "no secret"), (SECRETS, "10 secrets")):
        with open(sink, "w") as out, output.installed(), output.routed(fixed(values), out):
            start = time.perf_counter()
            for _ in range(2_000_000):
                print(".", end="")
            sys.stdout.flush()
            dots = time.perf_counter() - start
            chunk = "x" * 4096
            start = time.perf_counter()
            for _ in range(20_000_000 // 4096):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            twenty = time.perf_counter() - start
        print(
            f"no newline, {label}: 2,000,000 dots {dots:.2f}s (was 162 s); 20 MB in 4 KB writes {twenty:.2f}s (was 133 s)"
        )


def bench_one_long_line(folder: Path) -> None:
    """Peak RSS of `magnus execute` (a child process) whose shell step prints one line of N MB."""
    (folder / ".env").write_text("".join(f"s{i}={v}\n" for i, v in enumerate(SECRETS)))

    def peak(megabytes: int) -> float:
        (folder / "p.yaml").write_text(
            "dag:\n  start_at: s\n  steps:\n"
            f"    s: {{type: task, command_type: shell, command: \"head -c {megabytes}000000 /dev/zero | tr '\\\\0' x\", next: success}}\n"
            "    success: {type: success}\n    fail: {type: fail}\n"
        )
        code = (
            "import resource, subprocess, sys\n"
            "subprocess.run([sys.executable, '-m', 'magnus_core', 'execute', '--file', 'p.yaml'],"
            " stdout=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        return int(out.stdout.split()[-1]) / 1024

    small, large = peak(0), peak(200)
    print(
        f"one 200 MB line from a shell step, 10 secrets: magnus peak RSS {large:.0f} MB (1 KB line: {small:.0f} MB; was 514 MB)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        bench_throughput(folder)
        bench_no_newline(folder)
        bench_one_long_line(folder)
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
