"""Cost of keeping each step's output (issue 16): capture on against off, measured in the same run.

    python bench/output.py                      # 10,000 printing steps, a 100 MB step, peak memory
    BENCH_OUTPUT_STEPS=1000 BENCH_OUTPUT_MB=20 python bench/output.py --repeat 3   # smaller
    python bench/steps.py --capture             # the printing pair alone (issue 16's words), see there

1. N steps (BENCH_OUTPUT_STEPS, default 10,000) that print one line each (`bench_steps.say`), with capture
   on (the file-system catalog keeps each attempt's output: one file per attempt) and off (the do-nothing
   catalog keeps none; everything else the same), run in-process through prepare()/execute() with the
   output seam installed as `magnus execute` installs it (file descriptors too), the steps' output streamed
   to /dev/null as a piped run's is: target on/off <= 1.2. `--repeat` pairs (default 5), each an off run
   then an on run, one pair after the other (so a change of load falls on both of a pair); each figure is
   the median of the pairs with its spread (min-max), and the ratio is the median of the pairs' own ratios,
   given as wall (the target's) and as the CPU of the thread that runs the steps (what the load changes
   least). A 1,000-step run lasts ~0.1 s and runs of the same code swung x0.9-1.5: at 10,000 steps a run
   lasts about a second. The same pair with steps that print nothing is the control: it shows the two
   catalogs cost the same but for the output they keep (a step printing nothing leaves no file). Both pairs
   run twice: in a folder of TMPDIR (the disk's figure: creating a file there costs what that disk charges
   at that moment, printed beside it) and in a tmpfs mounted for the benchmark (the CPU's figure: no disk;
   needs root, else a line says it was not measured; sized for a pair of 10,000-step runs, and each pair's
   folders are removed after it: deleting files there does not slow later creations, unlike the disk's).
2. One step printing 100 MB (100-byte lines) with capture on, the attempt's own time as its run log records
   it, against writing the same lines to a file in the same process: target <= 1.5. CPU is given too, as
   the marginal CPU of the 100 MB (the whole run's CPU, every thread, less that of the same run whose step
   prints nothing), beside its floor measured in the same sitting: the same step with capture off (the
   seam: encoding, masking, the terminal's copy), plus writing 100 MB to a file, plus the SHA256 of 100 MB
   that the run log records.
3. Memory: the peak RSS of a real `magnus execute` whose step prints 3x the cap (MAGNUS_OUTPUT_CAP, here
   BENCH_OUTPUT_MB MB), against the same run printing one line: flat (the output goes to the file as it
   comes, what passes the cap is counted, not kept).

Every run's folder on the disk is kept until the benchmark ends (see _FOLDERS), and the floor of the
printing steps is printed beside them: creating as many one-line files in a new folder beside (the writer's
work: the writer thread's for a process's first 64 files, then its writer process's; the kernel's). With a
second core free, capture's wall time is the larger of the steps' thread and that floor.

Wall time lies on a loaded machine: each figure is also given in CPU seconds (every thread of the process,
and its output writer process), with the load average beside it, and for the printing steps the CPU of
the thread that runs the steps alone (small output files are created beside it, by a writer thread and
then a writer process: with a second core free, the steps' thread is the run's wall time).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FUNCTIONS = """
import sys


def say():
    print("one line of output from this step")


def quiet():
    return None


def flood(megabytes: int = 100):
    line = "x" * 99 + "\\n"
    write = sys.stdout.write
    for _ in range(megabytes * 10_000):
        write(line)
"""


def write_pipeline(folder: Path, n: int, command: str) -> Path:
    """A dag step0 -> step1 -> ... -> success, every step the same function."""
    (folder / "bench_steps.py").write_text(FUNCTIONS)
    lines = ["dag:", "  start_at: step0", "  steps:"]
    for i in range(n):
        nxt = f"step{i + 1}" if i + 1 < n else "success"
        lines += [f"    step{i}:", "      type: task", f"      command: {command}", f"      next: {nxt}"]
    lines += ["    success:", "      type: success", "    fail:", "      type: fail"]
    path = folder / "pipeline.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# Every run's folder is kept until the benchmark ends, then removed. Removing a run's thousand output files
# right before the next run makes that run's file creations slower, on some disks by 10x: on ext4 without
# a journal (this project's machine), the kernel skips every inode freed in the last 60-300 s when it picks
# a new one (ext4 find_inode_bit's recently_deleted, about 0.3 us per inode skipped, per creation): a cost of
# the benchmark's own clean-up, not of magnus, that a user's runs (which keep their output) do not pay.
_FOLDERS: list[str] = []
_BASE: list[str | None] = [None]  # where runs' folders are made: None for the disk's (TMPDIR), else a tmpfs
# Folders made in the tmpfs since the last _remove_tmpfs_runs(): removed after each pair there, so that a
# 10,000-step pair (10,000 output files, a page each, and two run logs of 10-15 MB) fits however many pairs
# run. Deleting in a tmpfs does not slow the next creations (no inode table to skip freed inodes in).
_TMPFS_RUNS: list[str] = []


def _folder() -> str:
    """A new folder for one run (on the disk, or in the tmpfs _BASE names), removed when the benchmark
    ends (in the tmpfs: after its pair, by _remove_tmpfs_runs)."""
    base = _BASE[0]
    if base is not None:
        folder = tempfile.mkdtemp(dir=base)
        _TMPFS_RUNS.append(folder)
        return folder
    if not _FOLDERS:
        _FOLDERS.append(tempfile.mkdtemp(prefix="magnus-bench-"))
        atexit.register(shutil.rmtree, _FOLDERS[0], True)
    return tempfile.mkdtemp(dir=_FOLDERS[0])


def _remove_tmpfs_runs() -> None:
    """Remove the runs' folders made in the tmpfs so far (a no-op for the disk's, kept until the end)."""
    while _TMPFS_RUNS:
        shutil.rmtree(_TMPFS_RUNS.pop(), ignore_errors=True)


def _file_system(path: str) -> str:
    """The type of the file system `path` is on, as /proc/mounts says (Linux), else "?"."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    real = os.path.realpath(path)
    best = ("", "?")
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best[1]


# A pair of 10,000-step runs holds about 90 MB at once in the tmpfs (10,000 files of one line take a page
# each; two run logs of 10-15 MB, each written beside its old version and renamed over it; the pipeline); a
# 256 MB tmpfs ran out with the folders of five such pairs kept ("No space left on device"). Each pair's
# folders are removed after it now (_remove_tmpfs_runs); 1 GB leaves room for 100,000 steps a run.
TMPFS_SIZE = "1g"


def mounted_tmpfs() -> tuple[str | None, str]:
    """(a folder with a tmpfs freshly mounted on it, "") or (None, why not): a file system in memory where
    creating a file costs what the kernel's own work costs (no disk, no inode table, no recently freed
    inodes to skip), so capture's figure there is the CPU's, not the disk's. Needs root (or CAP_SYS_ADMIN);
    unmounted when the benchmark ends. Sized for TMPFS_SIZE (a tmpfs takes memory only for what it holds)."""
    folder = tempfile.mkdtemp(prefix="magnus-bench-tmpfs-")
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", folder],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        os.rmdir(folder)
        return None, str(exc)
    if done.returncode != 0:
        os.rmdir(folder)
        return None, (done.stderr.strip() or f"mount exited with {done.returncode}")

    def unmount() -> None:
        subprocess.run(["umount", folder], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            os.rmdir(folder)

    atexit.register(unmount)
    return folder, ""


def run_output(
    n: int,
    command: str,
    catalog: str,
    parameters: dict[str, object] | None = None,
    *,
    step_only: bool = False,
) -> float:
    """Seconds to execute a pipeline of n steps running `command`, keeping output with `catalog`
    (file-system: captured; do-nothing: not), steps' output streamed to /dev/null as a piped run's is, the
    output seam installed as `magnus execute` installs it (file descriptors too). With `step_only`, the
    seconds the steps' attempts took as their run log records them (the run's own fixed costs left out:
    creating the run log, its final fsync)."""
    from magnus_core import output
    from magnus_core.runner import RunRequest, execute, prepare

    tmp = _folder()
    here = os.getcwd()
    os.chdir(tmp)
    try:
        pipeline = write_pipeline(Path(tmp), n, command)
        Path(tmp, "config.yaml").write_text(f"catalog:\n  type: {catalog}\n")
        request = RunRequest(file=str(pipeline), config_file="config.yaml", parameters=parameters or {})
        prepared = prepare(request)
        with open(os.devnull, "w") as sink, output.installed(fds=True):
            s0 = _switches()
            w0 = _writer_cpu()
            t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
            log = execute(prepared, output=sink)
            seconds = time.perf_counter() - t0
            # every thread of the process (keeper, spool, pumps), and its writer process (capture._Writer)
            CPU.append(time.process_time() - c0 + _writer_cpu() - w0)
            STEPS_THREAD.append(time.thread_time() - m0)  # the run's own thread only
            SWITCHES.append(_switches() - s0)
        assert log.status == "SUCCESS", [s.message for s in log.walk()]
        kept = [a.output for s in log.walk() for a in s.attempts if a.output is not None]
        assert (catalog == "file-system") == bool(kept), "capture on keeps output, off keeps none"
        if step_only:
            from magnus_core.models.run_log import seconds_between

            return sum(
                seconds_between(a.start_time, a.end_time) or 0.0
                for s in log.walk()
                if s.step_type == "task"
                for a in s.attempts
            )
        return seconds
    finally:
        os.chdir(here)


CPU: list[float] = []  # CPU seconds of each measurement, in order (the machine may be loaded: wall lies)
# CPU seconds of the thread that runs the steps, per run_output: the run's critical path when a second core
# is free for the threads beside it (the writer of output files, the spool, the pumps); a figure the load
# changes less than wall time
STEPS_THREAD: list[float] = []
# context switches of the process (every thread, voluntary and not; not its writer process's) per
# run_output: a thread woken per attempt (the writer of output files, before it was woken per batch) costs
# two or three per step, and a thread creating files beside the steps about six (the GIL passed back and
# forth at each of its system calls: why a writer process creates them now)
SWITCHES: list[int] = []


def _writer_cpu() -> float:
    """CPU seconds the output writer process (capture._Writer: it creates small output files once a
    process has kept 64) has used so far, 0 when there is none (Linux: /proc)."""
    from magnus_core import capture

    pid = capture.WRITER._pid
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _switches() -> int:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def write_file_mb(megabytes: int) -> float:
    """Seconds to write the same 100-byte lines to a file in this process: the baseline of a printing step."""
    with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        with open(Path(tmp, "out.log"), "w") as handle:
            line = "x" * 99 + "\n"
            write = handle.write
            for _ in range(megabytes * 10_000):
                write(line)
        CPU.append(time.process_time() - c0)
        return time.perf_counter() - t0


def output_figures(repeat: int) -> None:
    """Capture on against off for printing steps (in the disk's folder, then in a fresh tmpfs), and a
    100 MB printing step against writing a file."""
    steps = printing_steps()
    megabytes = int(os.environ.get("BENCH_OUTPUT_MB", "100"))
    run_output(1, "bench_steps.say", "file-system")  # warm-up
    disk = os.path.dirname(_folder())
    print(f"in a folder of TMPDIR ({disk}, {_file_system(disk)}):", flush=True)
    printing_figures(steps, repeat)
    tmpfs, why = mounted_tmpfs()
    if tmpfs is None:
        print(f"in a fresh tmpfs: not measured, mounting one was refused ({why}): needs root", flush=True)
    else:
        print(f"in a fresh tmpfs ({tmpfs}: creating a file is the kernel's work alone, no disk):", flush=True)
        _BASE[0] = tmpfs
        try:
            printing_figures(steps, repeat)
        finally:
            _BASE[0] = None
    flood_figures(megabytes, repeat)


def printing_steps() -> int:
    """BENCH_OUTPUT_STEPS, default 10,000: the printing pair's number of steps per run."""
    return int(os.environ.get("BENCH_OUTPUT_STEPS", "10000"))


class Measured(NamedTuple):
    """One run_output of the printing pair: wall s, CPU s (every thread and the writer process), the steps'
    thread's CPU s, context switches of the process."""

    wall: float
    cpu: float
    thread: float
    switches: int


def measured(steps: int, command: str, catalog: str) -> Measured:
    """run_output, with the figures it appended."""
    wall = run_output(steps, command, catalog)
    return Measured(wall, CPU[-1], STEPS_THREAD[-1], SWITCHES[-1])


def printing_pairs(steps: int, repeat: int, command: str) -> list[tuple[Measured, Measured]]:
    """`repeat` pairs (off, on) of `steps`-step runs of `command`, each pair an off run then an on run, one
    pair after the other, so that a change of the machine's load falls on both of a pair alike; in a tmpfs
    each pair's folders are removed after it (_remove_tmpfs_runs)."""
    pairs = []
    for _ in range(repeat):
        off = measured(steps, command, "do-nothing")
        on = measured(steps, command, "file-system")
        pairs.append((off, on))
        _remove_tmpfs_runs()
    return pairs


def _spread(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    """The median of `values` times `scale`, with their min-max: "0.105 [0.101-0.112]"."""
    return (
        f"{_median(values) * scale:.{digits}f} "
        f"[{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}]"
    )


def printing_report(steps: int, what: str, pairs: list[tuple[Measured, Measured]], *, control: bool) -> float:
    """Print the pairs' figures: medians with their spread (min-max), the ratio on/off as the median of
    the pairs' own ratios, in wall time and on the steps' thread; the wall ratio comes back."""
    per_step = 1000 / steps  # seconds a run -> ms a step
    wall_ratios = [on.wall / off.wall for off, on in pairs]
    thread_ratios = [on.thread / off.thread for off, on in pairs]
    cpu_ratios = [on.cpu / off.cpu for off, on in pairs]
    ratio = _median(wall_ratios)
    verdict = "(control)" if control else ("ok" if ratio <= 1.2 else "MISSED (target <= 1.2)")
    print(
        f"output capture, {steps} steps {what}, median of {len(pairs)} pairs [min-max]: on/off "
        f"x{_spread(wall_ratios, digits=2)} wall  {verdict}, x{_spread(thread_ratios, digits=2)} on the "
        f"steps' thread  {_load()}\n"
        f"  wall: on {_spread([on.wall for _, on in pairs], per_step)}, off "
        f"{_spread([off.wall for off, _ in pairs], per_step)} ms/step\n"
        f"  the steps' thread: on {_spread([on.thread for _, on in pairs], per_step)}, off "
        f"{_spread([off.thread for off, _ in pairs], per_step)} ms/step; on - off "
        f"{_spread([on.thread - off.thread for off, on in pairs], 1e6 / steps, 0)} us a step\n"
        f"  CPU (every thread and the writer process): on {_spread([on.cpu for _, on in pairs], per_step)}, "
        f"off {_spread([off.cpu for off, _ in pairs], per_step)} ms/step, on/off x{_spread(cpu_ratios, digits=2)}"
        f"; context switches a step on {_median([on.switches for _, on in pairs]) / steps:.2f}, off "
        f"{_median([off.switches for off, _ in pairs]) / steps:.2f}",
        flush=True,
    )
    return ratio


def printing_figures(steps: int, repeat: int) -> None:
    """Capture on against off, steps printing a line each and steps printing nothing (the control), in the
    folder _folder() makes runs in, with the floor of creating as many files there."""
    for command, what in (
        ("bench_steps.say", "printing a line each"),
        ("bench_steps.quiet", "printing nothing"),
    ):
        pairs = printing_pairs(steps, repeat, command)
        printing_report(steps, what, pairs, control=not command.endswith("say"))
        if command.endswith("say"):
            cpu, wall = create_files_cost(steps)
            _remove_tmpfs_runs()
            on_s = _median([on.wall for _, on in pairs])
            off_s = _median([off.wall for off, _ in pairs])
            print(
                f"  its floor: creating {steps} files of one line in a new folder beside the runs' (what the "
                f"writer does for the printing steps, the kernel's work): {cpu * 1e6:.0f} us CPU, "
                f"{wall * 1e6:.0f} us wall per file; on - off per step: {(on_s - off_s) * 1e6 / steps:.0f} us "
                "wall (medians)",
                flush=True,
            )


def capture_pair(steps: int, repeat: int) -> float:
    """The printing pair alone (bench/steps.py --capture): in a fresh tmpfs when one can be mounted (the
    CPU's figure), else in a folder of TMPDIR; the median wall ratio comes back. BENCH_PIN=0 (a CPU's
    number) runs every thread, and the writer process started from them, on that one CPU: what capture
    costs when nothing runs beside the steps (the writer then takes its time from theirs)."""
    pin = os.environ.get("BENCH_PIN")
    if pin:
        os.sched_setaffinity(0, {int(pin)})
        print(f"every thread and the writer process on CPU {pin} (BENCH_PIN)", flush=True)
    run_output(1, "bench_steps.say", "file-system")  # warm-up: one-time imports are not per-step costs
    run_output(1, "bench_steps.say", "do-nothing")
    tmpfs, why = mounted_tmpfs()
    if tmpfs is None:
        disk = os.path.dirname(_folder())
        print(f"in a folder of TMPDIR ({disk}, {_file_system(disk)}; no tmpfs: {why}):", flush=True)
    else:
        print(f"in a fresh tmpfs ({tmpfs}: creating a file is the kernel's work alone, no disk):", flush=True)
        _BASE[0] = tmpfs
    try:
        pairs = printing_pairs(steps, repeat, "bench_steps.say")
        return printing_report(steps, "printing a line each", pairs, control=False)
    finally:
        _BASE[0] = None


def flood_figures(megabytes: int, repeat: int) -> None:
    """A step printing `megabytes` MB against writing them to a file (the disk's folder)."""
    flood, plain, flood_cpu, plain_cpu, seam_cpu, quiet_cpu, quiet_off_cpu = [], [], [], [], [], [], []
    flood_thread: list[float] = []
    quiet_thread: list[float] = []
    parameters = {"megabytes": megabytes}
    for _ in range(repeat):
        plain.append(write_file_mb(megabytes))
        plain_cpu.append(CPU[-1])
        flood.append(run_output(1, "bench_steps.flood", "file-system", parameters, step_only=True))
        flood_cpu.append(CPU[-1])
        flood_thread.append(STEPS_THREAD[-1])
        run_output(1, "bench_steps.quiet", "file-system")
        quiet_cpu.append(CPU[-1])
        quiet_thread.append(STEPS_THREAD[-1])
        run_output(1, "bench_steps.flood", "do-nothing", parameters)
        seam_cpu.append(CPU[-1])
        run_output(1, "bench_steps.quiet", "do-nothing")
        quiet_off_cpu.append(CPU[-1])
    flood_s, plain_s = _median(flood), _median(plain)
    ratio = flood_s / plain_s
    marginal = _median(flood_cpu) - _median(quiet_cpu)
    seam = _median(seam_cpu) - _median(quiet_off_cpu)
    sha, raw = sha256_cpu(megabytes), raw_write_cpu(megabytes)
    floor = seam + raw + sha
    step_thread = _median(flood_thread) - _median(quiet_thread)
    print(
        f"a step printing {megabytes} MB, captured: the step took {flood_s:.2f} s (its attempt, as the run "
        f"log records it); writing {megabytes} MB to a file: {plain_s:.2f} s; ratio {ratio:.2f} wall  "
        f"{'ok' if ratio <= 1.5 else 'MISSED (target <= 1.5)'}  {_load()}\n"
        f"  marginal CPU of the {megabytes} MB (every thread; the run with a step printing nothing taken "
        f"off): captured {marginal:.3f} s, against {_median(plain_cpu):.3f} s for the file: ratio "
        f"{marginal / _median(plain_cpu):.2f} CPU\n"
        f"  its floor: through the seam with capture off {seam:.3f} s + writing {megabytes} MB of bytes to "
        f"a file {raw:.3f} s + their SHA256 {sha:.3f} s = {floor:.3f} s (ratio {floor / _median(plain_cpu):.2f} "
        f"CPU); captured is {marginal / floor:.2f} of the floor\n"
        f"  the step's thread, marginal (the run's thread less that of the run whose step prints nothing; the "
        f"write and the SHA256 run on the spool thread beside it): {step_thread:.3f} s CPU, against "
        f"{_median(plain_cpu):.3f} s for the file: ratio {step_thread / _median(plain_cpu):.2f}",
        flush=True,
    )


def create_files_cost(count: int) -> tuple[float, float]:
    """(CPU s, wall s) per file to create `count` new files of one line in a new folder beside the runs',
    as the output writer does (os.open O_CREAT|O_TRUNC|O_NOFOLLOW, write, close): the floor of "one file per
    attempt" on this disk at this moment (13-30 us on a quiet journaled ext4; far more where many inodes
    were freed in the last minutes on ext4 without a journal, see _FOLDERS)."""
    from magnus_core.capture import NEW_FILE

    folder = _folder()
    data = b"one line of output from this step\n"
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(count):
        fd = os.open(os.path.join(folder, f"step{i}.0.log"), NEW_FILE, 0o666)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return (time.process_time() - c0) / count, (time.perf_counter() - t0) / count


def sha256_cpu(megabytes: int) -> float:
    """CPU seconds to hash `megabytes` MB in 1 MB blocks (hashlib, as capture does)."""
    import hashlib

    block = b"x" * 99 + b"\n"
    block *= 2**20 // len(block)
    digest = hashlib.sha256()
    c0 = time.process_time()
    for _ in range(megabytes * 10**6 // len(block)):
        digest.update(block)
    return time.process_time() - c0


def raw_write_cpu(megabytes: int) -> float:
    """CPU seconds to write `megabytes` MB of bytes to a new file in 1 MB blocks (what the spool does)."""
    block = b"x" * 99 + b"\n"
    block *= 2**20 // len(block)
    with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
        c0 = time.process_time()
        fd = os.open(Path(tmp, "raw.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for _ in range(megabytes * 10**6 // len(block)):
                os.write(fd, block)
        finally:
            os.close(fd)
        return time.process_time() - c0


def _load() -> str:
    return f"(load average {os.getloadavg()[0]:.1f})"


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def peak_rss_mb(megabytes: int) -> tuple[float, float, int]:
    """(peak RSS in MB of `magnus execute` whose step prints 3 x `megabytes` MB with the cap at `megabytes`
    MB, the same for a step printing one line, bytes kept in the catalog for the big step)."""
    figures = []
    kept = 0
    for command, parameters in (
        ("bench_steps.flood", ["--megabytes", str(3 * megabytes)]),
        ("bench_steps.say", []),
    ):
        with tempfile.TemporaryDirectory(prefix="magnus-bench-") as tmp:
            subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
            write_pipeline(Path(tmp), 1, command)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "MAGNUS_OUTPUT_CAP": f"{megabytes}MB"}
            script = (
                "import resource, subprocess, sys; "
                "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)"
            )
            argv = [sys.executable, "-m", "magnus_core", "execute", "-f", "pipeline.yaml", "--run-id", "r"]
            done = subprocess.run(
                [sys.executable, "-c", script, *argv, *parameters],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
            )
            rss_kb, code = (int(x) for x in done.stdout.split())
            assert code == 0, done.stderr
            figures.append(rss_kb / 1024)
            if command == "bench_steps.flood":
                kept = (Path(tmp) / ".catalog" / "r" / ".magnus" / "output" / "step0.0.log").stat().st_size
    return figures[0], figures[1], kept


def main(argv: list[str]) -> int:
    repeat = 5
    if "--repeat" in argv:
        repeat = int(argv[argv.index("--repeat") + 1])
    output_figures(repeat)
    megabytes = int(os.environ.get("BENCH_OUTPUT_MB", "100"))
    big, small, kept = peak_rss_mb(megabytes)
    print(
        f"peak RSS of magnus execute: a step printing {3 * megabytes} MB (cap {megabytes} MB, {kept:,} bytes "
        f"kept) {big:.0f} MB; a step printing one line {small:.0f} MB  "
        f"{'ok' if big <= small + 64 else 'MISSED (flat: within 64 MB)'}  {_load()}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
