"""Parameters: their sources, their precedence, and how they travel in the environment.

Sources, later wins: the parameters file, MAGNUS_PRM_* variables present at start, command-line
`--name value`, then what each step returns. Names are lower-cased once, at the source.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from magnus_core.errors import UsageError

PRM_PREFIX = "MAGNUS_PRM_"
TRACK_PREFIX = "MAGNUS_TRACK_"
MAP_VARIABLE = "MAGNUS_PRM_MAP_VARIABLE"


def encode(value: Any) -> str:
    return json.dumps(value, default=str)


def decode(text: str) -> Any:
    """JSON-decode an environment value; a value that is not JSON stays the string it is."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError, ValueError):
        return text


def lower_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"parameter names must be non-empty strings, got {key!r}", file=source)
        out[key.lower()] = value
    return out


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    return {
        k[len(PRM_PREFIX) :].lower(): decode(v)
        for k, v in environ.items()
        if k.startswith(PRM_PREFIX) and k != MAP_VARIABLE and len(k) > len(PRM_PREFIX)
    }


def parse_cli_value(text: str) -> Any:
    """`--x 3` is the number 3, `--flag true` a boolean, `--items "[a, b]"` a list; anything else a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text.strip() not in ("null", "~") else value


def parse_cli_args(args: list[str]) -> dict[str, Any]:
    """Every unknown `--name value` (or `--name=value`) pair becomes a parameter."""
    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) <= 2:
            raise UsageError(f"unexpected argument {arg!r}: parameters are given as --name value")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise UsageError(f"parameter --{name} needs a value (--{name} VALUE)")
            value = args[i + 1]
            i += 1
        if not name.replace("_", "").replace("-", "").isalnum():
            raise UsageError(f"parameter name {name!r} must be letters, digits, '_' or '-'")
        params[name.replace("-", "_").lower()] = parse_cli_value(value)
        i += 1
    return params


def initial_parameters(
    parameters_file: str | None, cli: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    from magnus_core.loading import read_mapping

    params: dict[str, Any] = {}
    if parameters_file:
        params.update(lower_keys(read_mapping(parameters_file, "parameters file"), parameters_file))
    params.update(from_environment(environ))
    params.update(cli)
    return params


@functools.lru_cache(maxsize=4096)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    # One step function is called once per step, 10,000 times in a long pipeline: read its signature once.
    return inspect.signature(func)


def bind(func: Callable[..., Any], params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keyword arguments for `func` taken by name from `params`; and the required ones nobody provides."""
    try:
        try:
            signature = _signature(func)
        except TypeError:  # an unhashable callable: not cached
            signature = inspect.signature(func)
    except (TypeError, ValueError):
        return {}, []
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    for name, p in signature.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in params:
            kwargs[name] = params[name]
        elif name.lower() in params:
            kwargs[name] = params[name.lower()]
        elif p.default is p.empty:
            missing.append(name)
    return kwargs, missing
