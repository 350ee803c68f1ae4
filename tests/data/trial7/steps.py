"""Steps of trial 7's failing pipeline (/work/notes/trial7.md), trimmed: five top-level failures, one in a
parallel branch, one in a map item."""

import sys


def ok():
    print("ok step")


def raises():
    print("about to divide")
    d = {"a": 1}
    return d["z"]


def exit1():
    print("exit1 printing")
    sys.exit(1)


def exittext():
    print("exittext printing")
    sys.exit("bad config: missing key foo")


class Model:
    pass


def nonjson():
    return {"model": Model()}


def branch_print():
    print("branch line")


def items():
    return {"items": [1, 2, 3, 4]}


def item(chunk):
    print(f"map item {chunk}")
    if chunk == 3:
        raise ValueError(f"bad chunk {chunk}")
