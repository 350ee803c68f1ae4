"""A cache of parsed pipeline files, as Python keeps .pyc files: the data a large YAML file reads to, kept
with `marshal` in the user's cache folder, keyed by the SHA256 of the file's bytes and of the loader.

Reading YAML is the slowest part of loading a large pipeline (libyaml's parser through PyYAML makes a Python
object per event and per position: 0.13 s of CPU for a plain 10,000-step, 840 KB file through
loading._plain_load, 0.4-0.5 s when it has anchors, merge keys or tags), while loading the same data with
marshal takes about 10 ms. `loading.read_yaml(..., cache=True)` (the pipeline file and its
dag_definition files) asks `get` before parsing and calls `put` after a parse that succeeded.

What makes it safe (docs/pipeline.md, "The parse cache"):
- The key is the SHA256 of the file's bytes, of the loader (its class, its resolvers' patterns), of the
  source of `magnus_core/loading.py` (the constructors), of PyYAML's and Python's versions: a changed file or
  a changed loader is another key, never a stale entry.
- Only plain data is kept (dicts with string keys, lists, str, int, float, bool, None): anything else (a
  `!!binary` or `!!set` value) is parsed every time. Objects a YAML alias shares stay shared (marshal keeps
  references).
- An entry carries the SHA256 of its payload, checked before marshal reads it: a truncated or damaged entry
  is a miss, and is written again.
- Files under MIN_BYTES are not cached: parsing them costs a few ms, less than an entry is worth.
- An entry is read only when this user owns it (the folder is made private, its files 0600): marshal is
  trusted here as Python trusts its __pycache__, so an entry another user planted is a miss.
- Any error reading or writing the folder (missing, read-only, full) is a miss or a skipped write: the cache
  never fails a load and never changes its outcome. The loader re-reads a file without the cache whenever
  a load that used it is refused, so every message is the one a fresh parse gives.

`MAGNUS_YAML_CACHE=off` turns it off; `MAGNUS_YAML_CACHE=/some/folder` moves it (the tests use a temporary
folder). Default: `$XDG_CACHE_HOME/magnus/yaml`, else `~/.cache/magnus/yaml`. Deleting the folder is safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

CACHE_ENV = "MAGNUS_YAML_CACHE"
MIN_BYTES = 32 * 1024  # about 400 steps; a smaller file parses in a few ms
KEEP = 64  # entries kept in the folder; the least recently used go first
MAGIC = b"magnus-yaml-cache/1\n"
MARSHAL_VERSION = 4  # keeps the objects an alias shares shared
OFF = ("", "0", "off", "no", "false")
SUFFIX = ".marshal"


class _Missing:
    """What `get` returns for a file it does not hold (None is a file's data: an empty document)."""


MISSING: Any = _Missing()

_loader_keys: dict[type, bytes] = {}


def folder() -> Path | None:
    """Where entries are kept: $MAGNUS_YAML_CACHE (None when it is 'off', '0', 'no', 'false' or empty),
    else $XDG_CACHE_HOME/magnus/yaml, else ~/.cache/magnus/yaml; None when no home folder is known."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit is not None:
        return None if explicit.strip().lower() in OFF else Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError, OSError):  # no HOME and no passwd entry
            return None
    return Path(base) / "magnus" / "yaml"


def _loader_key(loader: type) -> bytes:
    """What the data of a file depends on besides its bytes: the loader's class and resolvers, the loading
    module's source (its constructors), PyYAML's, marshal's and Python's versions. Raises OSError when the
    loading module's source cannot be read (then nothing is cached)."""
    known = _loader_keys.get(loader)
    if known is not None:
        return known
    import yaml

    from magnus_core import loading

    resolvers = sorted(
        (str(first), [(tag, getattr(regex, "pattern", str(regex))) for tag, regex in entries])
        for first, entries in getattr(loader, "yaml_implicit_resolvers", {}).items()
    )
    source = Path(loading.__file__).read_bytes()
    parts = [
        f"{loader.__module__}.{loader.__qualname__}",
        repr(resolvers),
        hashlib.sha256(source).hexdigest(),
        getattr(yaml, "__version__", "?"),
        str(bool(getattr(yaml, "__with_libyaml__", False))),
        sys.version,
        f"marshal {marshal.version}/{MARSHAL_VERSION}",
    ]
    key = hashlib.sha256("\n".join(parts).encode("utf-8")).digest()
    _loader_keys[loader] = key
    return key


def _entry(directory: Path, data: bytes, loader: type) -> tuple[Path, bytes]:
    key = hashlib.sha256(_loader_key(loader) + hashlib.sha256(data).digest()).hexdigest()
    return directory / f"{key[:40]}{SUFFIX}", key.encode("ascii")


def get(data: bytes, loader: type) -> Any:
    """The data a file of bytes `data` read to with `loader`, as kept by `put`; MISSING when there is no
    sound entry (or no cache)."""
    directory = folder()
    if directory is None:
        return MISSING
    try:
        path, key = _entry(directory, data, loader)
        with open(path, "rb") as f:
            if hasattr(os, "geteuid") and os.fstat(f.fileno()).st_uid != os.geteuid():
                return MISSING  # trusted as Python trusts __pycache__: only an entry this user wrote
            blob = f.read()
    except (OSError, ValueError):
        return MISSING
    head = MAGIC + key + b"\n"
    if not blob.startswith(head):
        return MISSING
    digest, payload = blob[len(head) : len(head) + 32], blob[len(head) + 32 :]
    if len(digest) != 32 or hashlib.sha256(payload).digest() != digest:
        return MISSING
    try:
        value = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return MISSING
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept when the folder is pruned
    return value


def put(data: bytes, loader: type, value: Any) -> bool:
    """Keep `value`, what bytes `data` read to with `loader`, when it is plain data; True when kept.
    Never raises: a folder that cannot be written is skipped."""
    directory = folder()
    if directory is None or not plain(value):
        return False
    import tempfile

    try:
        payload = marshal.dumps(value, MARSHAL_VERSION)
        path, key = _entry(directory, data, loader)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + key + b"\n" + hashlib.sha256(payload).digest() + payload)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _prune(directory, path)
    except (OSError, ValueError, TypeError, RecursionError):
        return False
    return True


def _prune(directory: Path, kept: Path) -> None:
    """At most KEEP entries: the least recently used others are removed."""
    entries = []
    with os.scandir(directory) as found:
        for item in found:
            if item.name.endswith(SUFFIX) and item.path != str(kept):
                with contextlib.suppress(OSError):
                    entries.append((item.stat().st_mtime, item.path))
    entries.sort()
    for _, path in entries[: max(0, len(entries) - (KEEP - 1))]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def plain(value: Any) -> bool:
    """True when `value` is dicts with string keys, lists, str, int, float, bool and None only (each object
    a YAML alias shares is looked at once)."""
    scalars = (str, int, float, bool, type(None))
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if id(item) in seen:
                continue
            seen.add(id(item))
            for key, sub in item.items():
                if type(key) is not str:
                    return False
                if type(sub) in (dict, list):
                    stack.append(sub)
                elif type(sub) not in scalars:
                    return False
        elif kind is list:
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item)
        elif kind not in scalars:
            return False
    return True
