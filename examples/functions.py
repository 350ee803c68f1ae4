"""Plain functions the example pipelines call. They import magnus only to track metrics."""

import os

from magnus import get_parameter, track_this


def prepare(x: int = 1, y: str = "hello"):
    """Double x; returned keys become parameters for later steps."""
    track_this(variance=0.6, alpha=0.1)
    os.environ["MAGNUS_TRACK_beta"] = "0.2"  # metrics may also leave as environment variables (strings)
    return {"z": x * 2, "items": ["a", "b"]}


def consume(z: int, x: int = 1):
    """Keyword arguments are filled by name from the parameters."""
    track_this(total=z + x)
    return {"result": z + x}


def greet(arg1: str = "hi", arg2: str = "there"):
    """Parameters given on the command line: --arg1 hello --arg2 world."""
    print(f"{arg1} {arg2} (all parameters: {sorted(get_parameter())})")
