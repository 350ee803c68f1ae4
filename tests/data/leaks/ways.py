"""Every way a step has been seen to leak a secret (issue 17), as steps of tests/data/leaks/pipeline.yaml.

Each step gets the secret with get_secret("api_token") (or a multi-line one, "ssh_key") and hands it out
one way; the test greps everything magnus wrote for it.
"""

import logging
import os
import subprocess
import sys

from magnus import get_from_catalog, get_secret, put_in_catalog, track_this

# A handler made at import time, on the stream as it was then (before magnus's seam).
_early = logging.getLogger("ways.early")
_early.addHandler(logging.StreamHandler(sys.stderr))
_early.propagate = False


def token() -> str:
    return get_secret("api_token")


def print_whole():
    print(f"whole {token()}")
    print(f"to stderr {token()}", file=sys.stderr)


def print_in_pieces():
    t = token()
    sys.stdout.write(t[:6])
    sys.stdout.flush()
    sys.stdout.write(t[6:] + "\n")
    for char in t:  # one character at a time, flushed, no newline
        print(char, end="", flush=True)
    sys.stdout.buffer.write(t.encode())  # bytes, through sys.stdout.buffer
    sys.stdout.write(t)  # and nothing after it: no newline before the step ends


def multi_line():
    key = get_secret("ssh_key")
    print(key)
    print(key.replace("\n", "\r\n"))  # the same key with other line ends
    print(key.splitlines()[1])  # one line of it


def raise_plain():
    raise ValueError(f"could not connect with {token()}")


def raise_key_error():
    raise KeyError(token())


def exit_with_it():
    sys.exit(f"fatal {token()}")


def log_early():
    _early.warning("early handler %s", token())


def log_late():
    late = logging.getLogger("ways.late")
    late.addHandler(logging.StreamHandler())
    late.propagate = False
    late.warning("late handler %s", token())
    logging.getLogger("ways.late.child").error("exc", exc_info=ValueError(token()))


def file_descriptors():
    os.write(1, f"fd1 {token()}\n".encode())
    os.write(2, f"fd2 {token()}\n".encode())
    subprocess.run(["echo", "subprocess", token()], check=True)
    subprocess.run(["sh", "-c", 'echo subprocess-stderr "$1" >&2', "sh", token()], check=True)


def return_parameters():
    t = token()
    return {
        "as_string": f"user:{t}",
        "as_tuple": ("user", t),
        "text": f"user:{t}",  # for the lambda step (whose command may not hold '_')
        "pair": ("user", t),
        "nested": {"deep": [{"value": t}]},
        "keyed": {t: 1},
        f"name_{t}": 1,
        "items": [t, "plain"],
        "dups": [t, t],
    }


def return_bytes():
    return {"as_bytes": token().encode()}


def colliding_keys():
    return {"cfg": {f"a{token()}": 1, "a*****": 2}}  # one key once the secret is masked


def track_metrics():
    t = token()
    track_this(as_string=f"m {t}", as_tuple=("u", t))
    track_this(**{t: 1})


def use_item(item):
    print(f"item {item}")


def catalog_name():
    path = f"data/{token()}.csv"  # the step's own data: a file named after the secret
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("a,b\n")
    put_in_catalog(path)


def catalog_missing():
    get_from_catalog(f"{token()}.csv")
