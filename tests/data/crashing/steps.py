"""The steps of tests/data/crashing's pipelines (tests/crashing.py copies them into a test's project):
a parallel whose branch `crashy` segfaults (`ctypes.string_at(0)`) with CRASH=segv while `slow` is still
printing, and a retried step killed -9 from outside in its second attempt (HANG=1). Without those variables
every step succeeds (a re-run of the crashed run, a good run)."""

import ctypes
import os
import time
from pathlib import Path


def ok():
    print("fine", flush=True)


def slow():
    for i in range(40):
        print("tick", i, flush=True)
        if os.environ.get("CRASH") != "segv":
            return
        time.sleep(0.1)


def crashy():
    print("branch about to crash", flush=True)
    if os.environ.get("CRASH") == "segv":
        time.sleep(1.0)
        ctypes.string_at(0)


def retried():
    if os.environ.get("HANG") and not Path("tried").exists():
        Path("tried").write_text("")
        raise ValueError("first attempt fails")
    print("attempt running", flush=True)
    while os.environ.get("HANG"):  # killed -9 from outside
        time.sleep(0.05)
