"""The json functions magnus uses, bound when magnus is imported (issue 16, point 4).

A python step runs in magnus's own process, so a step (or a library it calls) that replaces `json.dumps`,
`json.loads`, `json.dump` or `json.load`, or the `encode`/`decode` of `json.JSONEncoder`/`json.JSONDecoder`,
replaced them for magnus too: before this module, every later step failed in magnus's own code (a shell
step's parameters, a python step's returned parameters) with the step's exception, located in the step
that patched. magnus's modules import this one as `json` (`from magnus_core import jsonio as json`): the
functions here are the standard library's, taken before any step ran, and go through encoder and decoder
classes whose methods were copied then, so a later patch of the `json` module or its classes does not
reach them. What json does in C (`_json`) and the module's private helpers are not guarded; a step that
patches those is not one a user writes.
"""

from __future__ import annotations

import json as _json
from json import JSONDecodeError, encoder
from typing import IO, Any

__all__ = ["JSONDecodeError", "JSONDecoder", "JSONEncoder", "dump", "dumps", "encoder", "load", "loads"]

_detect_encoding = _json.detect_encoding


class JSONEncoder(_json.JSONEncoder):
    """json.JSONEncoder with its methods as they were when magnus was imported."""

    __init__ = _json.JSONEncoder.__init__
    default = _json.JSONEncoder.default
    encode = _json.JSONEncoder.encode
    iterencode = _json.JSONEncoder.iterencode


class JSONDecoder(_json.JSONDecoder):
    """json.JSONDecoder with its methods as they were when magnus was imported."""

    __init__ = _json.JSONDecoder.__init__
    decode = _json.JSONDecoder.decode
    raw_decode = _json.JSONDecoder.raw_decode


_DEFAULT_ENCODER = JSONEncoder()
_DEFAULT_DECODER = JSONDecoder()


def dumps(obj: Any, *, cls: type[JSONEncoder] | None = None, **options: Any) -> str:
    """`json.dumps(obj, **options)`, immune to a step's patch of the json module (see the module's doc)."""
    if cls is None and not options:
        return _DEFAULT_ENCODER.encode(obj)
    return (cls or JSONEncoder)(**options).encode(obj)


def dump(obj: Any, fp: IO[str], *, cls: type[JSONEncoder] | None = None, **options: Any) -> None:
    """`json.dump(obj, fp, **options)`: the text of `dumps`, written in chunks as json.dump writes it."""
    for chunk in (cls or JSONEncoder)(**options).iterencode(obj):
        fp.write(chunk)


def loads(s: str | bytes | bytearray, *, cls: type[JSONDecoder] | None = None, **options: Any) -> Any:
    """`json.loads(s, **options)`, immune to a step's patch of the json module (see the module's doc)."""
    if isinstance(s, str):
        if s.startswith("\ufeff"):
            raise JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    else:
        if not isinstance(s, (bytes, bytearray)):
            raise TypeError(f"the JSON object must be str, bytes or bytearray, not {s.__class__.__name__}")
        s = s.decode(_detect_encoding(s), "surrogatepass")
    if cls is None and not options:
        return _DEFAULT_DECODER.decode(s)
    return (cls or JSONDecoder)(**options).decode(s)


def load(fp: IO[str] | IO[bytes], *, cls: type[JSONDecoder] | None = None, **options: Any) -> Any:
    """`json.load(fp, **options)`: `loads` of what `fp` holds."""
    return loads(fp.read(), cls=cls, **options)
