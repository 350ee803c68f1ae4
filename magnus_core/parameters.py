"""Parameters: their sources, their precedence, and how they travel in the environment.

Sources, later wins: the parameters file, MAGNUS_PRM_* variables present at start, command-line
`--name value`, then what each step returns. Names are lower-cased once, at the source; two names of one
source that differ only in case (or in `-`/`_`) with different values are refused (fold_names).

Values typed by hand (the command line, the workbench's form, MAGNUS_PRM_* set before the run) follow one
rule, `type_value`; parameters files are YAML 1.2 (loading.Yaml12Loader); values magnus itself put in the
environment (JSON) are read back with `decode`.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from magnus_core import jsonio as json
from magnus_core.errors import UsageError, a_or_an

# Parameter and metric values nest at most this many levels (lists and mappings one inside another): with
# the 20 composite levels a pipeline may have (loading.MAX_NESTING), a run log stays inside what JSON readers
# and writers nest (stores.file_system.MAX_RUN_LOG_DEPTH). docs/parameters.md says so.
MAX_VALUE_DEPTH = 64
PRM_PREFIX = "MAGNUS_PRM_"
TRACK_PREFIX = "MAGNUS_TRACK_"
MAP_VARIABLE = "MAGNUS_PRM_MAP_VARIABLE"


_ENCODER = json.JSONEncoder(default=str)  # json.dumps(value, default=str) without an encoder made per call


def encode(value: Any) -> str:
    """`json.dumps(value, default=str)`. A plain number or None is written straight (the text json writes),
    without the encoder's Python layers: two of them per parameter per step, as MAGNUS_PRM_* (issue 19)."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return _ENCODER.encode(value)


class _TooDeep(Exception):
    """json_value met a value nested deeper than MAX_VALUE_DEPTH (or one containing itself)."""


def json_value(value: Any, keys: list[Any] | None = None) -> Any:
    """`value` as the run log will hold it, so that the steps after this one receive what the log records
    (and what a re-run reads from there). JSON values stay; tuples and sets become lists, mapping keys
    text; numpy scalars and arrays their Python values (`.item()`, `.tolist()`); dates, times, decimals,
    paths, UUIDs and enums their text (`str`). Anything else (bytes, a DataFrame, an object) is returned as
    it is: the step then fails naming it (failure.value_message), before anything records it. So is a value
    nested deeper than MAX_VALUE_DEPTH, or one that contains itself (trial 16 F5: a bare RecursionError
    here): failure.value_message names it. `keys`, when given, receives each mapping key that was not text
    (made text: `1`, `(2, 3)`), for the step to warn about (stepguard._warn_changed)."""
    if value is None or isinstance(value, (bool, int, float, str)):  # (before the imports: most values)
        return value
    try:
        return _json_value(value, 0, keys)
    except _TooDeep:
        return value


def _json_value(value: Any, depth: int, keys: list[Any] | None) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    import datetime
    import decimal
    import enum
    import pathlib
    import uuid

    if isinstance(value, (dict, list, tuple, set, frozenset)):
        if depth >= MAX_VALUE_DEPTH:
            raise _TooDeep
        depth += 1
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                if keys is not None:
                    keys.append(k)
                k = str(k)
            out[k] = _json_value(v, depth, keys)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(v, depth, keys) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_json_value(v, depth, keys) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (datetime.date, datetime.time, decimal.Decimal, pathlib.PurePath, uuid.UUID)):
        return str(value)
    if isinstance(value, enum.Enum):
        return _json_value(value.value, depth, keys)
    if type(value).__module__.split(".")[0] == "numpy":
        convert = getattr(value, "tolist", None) or getattr(value, "item", None)
        if convert is not None:
            return _json_value(convert(), depth, keys)
    return value


def decode(text: str) -> Any:
    """JSON-decode an environment value; a value that is not JSON stays the string it is."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError, ValueError, RecursionError):
        return text


def nesting_problem(value: Any) -> str | None:
    """Why `value` is too deep for a run log, or None: lists and mappings nested more than MAX_VALUE_DEPTH
    levels, or a mapping key holding NUL (names become environment variables). Iterative: any depth is
    measured without recursion. What JSON itself cannot hold (objects, huge integers, lone surrogates) is
    failure.json_problem's; failure.value_message asks both."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_VALUE_DEPTH:
                return f"is nested more than {MAX_VALUE_DEPTH} levels deep"
            if isinstance(item, dict):
                if any(isinstance(key, str) and "\0" in key for key in item):
                    return "has a key holding a NUL character"
                stack.extend((sub, depth + 1) for sub in item.values())
            else:
                stack.extend((sub, depth + 1) for sub in item)
    return None


def cycle_in(value: Any) -> tuple[str, Any] | None:
    """Where `value` contains itself: the path to the mapping or list that holds one of its own enclosing
    containers (`['self']`) and that container, or None. Iterative, so any depth is walked; asked only once
    nesting_problem found a value too deep (a value containing itself is infinitely deep)."""
    stack: list[tuple[Any, str, frozenset[int]]] = [(value, "", frozenset())]
    while stack:
        item, path, above = stack.pop()
        if not isinstance(item, dict | list | tuple):
            continue
        if id(item) in above:
            return path, item
        if len(above) > MAX_VALUE_DEPTH:
            continue
        inside = above | {id(item)}
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend(reversed([(sub, f"{path}[{key!r}]", inside) for key, sub in pairs]))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_values(values: Mapping[str, Any], source: str | None, what: str = "parameter") -> None:
    """UsageError naming the first value (and `source`, a file) a run log could not hold and read back
    (failure.value_message: objects, huge integers, lone surrogates, nesting deeper than MAX_VALUE_DEPTH)."""
    from magnus_core.failure import value_message

    for key, value in values.items():
        problem = value_message(what, _printable(key), value)
        if problem:
            raise UsageError(problem, file=source)


# What type_value types as numbers (also loading.TypedTextLoader's, for items of flow lists and mappings)
TYPED_INT = r"[-+]?(?:0|[1-9][0-9]*)"
TYPED_FLOAT = r"[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
_INT, _FLOAT = re.compile(TYPED_INT), re.compile(TYPED_FLOAT)
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("null", "Null", "NULL"), None),
}


def type_value(text: str) -> Any:
    """A value typed by hand (`--name value`, the workbench's form, MAGNUS_PRM_ set before the run).

    Typed: decimal integers without leading zeros (`3`, `-12`), decimals and exponents (`0.5`, `1e-3`),
    `true`/`false` (also `True`, `TRUE`, ...), `null`, and flow lists and mappings (`[a, 2]`, `{k: 1}`) whose
    items follow this same rule. A JSON string (`"hello"` with its quotes) is that string, as the original
    encoded them. Everything else is exactly the text typed: `03303560`, `02142`, `2024-01-31`, `1:30`,
    `yes`, `0x1F`, `1_000` stay text (YAML 1.1 would make them numbers, dates and booleans).
    """
    if _INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more than 4300 digits: Python reads no more, and a run log could not hold it
            raise UsageError(
                f"value {text[:20]}... is a number with more than {sys.get_int_max_str_digits()} digits"
            ) from None
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in _WORDS:
        return _WORDS[text]
    if text[:1] in ("[", "{"):
        import yaml

        from magnus_core.loading import TypedTextLoader

        try:
            value = yaml.load(text, Loader=TypedTextLoader)
        except (yaml.YAMLError, RecursionError):
            return text
        return value if isinstance(value, (list, dict)) else text
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


parse_cli_value = type_value


# Characters a YAML flow collection may not hold raw (non-printable, or a line break to PyYAML): written as
# \\u / \\U escapes, which JSON and YAML's double-quoted strings read alike. Compiled when first used: a
# class spanning all of Unicode takes tens of milliseconds to compile, paid by every start-up otherwise.
@functools.cache
def _yaml_unsafe() -> re.Pattern[str]:
    return re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def cli_text(value: Any) -> str:
    """The text that type_value reads back as `value` (the inverse of type_value): how a program hands a typed
    parameter to `magnus execute -- --name=TEXT` (the workbench starting a run). Strings are written as JSON
    strings (`"02142"` stays text, `"3"` stays text), numbers, booleans and null as type_value types them,
    lists and mappings as JSON flow collections. ValueError for what a run log cannot hold either (NaN,
    infinity, other types)."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be given as a parameter (not a finite number)")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple | dict):
        return _yaml_unsafe().sub(_escape, json.dumps(value, ensure_ascii=False, allow_nan=False))
    raise ValueError(f"{a_or_an(type(value).__name__)} cannot be given as a parameter")


def typed_text(value: Any) -> str:
    """The text a user types on a command line for `value` (`--name TEXT`), which type_value reads back as
    the same value: a string as it is when type_value reads it back unchanged (`b`, `02142`, `hello
    world`: shell quoting is the caller's), else cli_text's form (`"3"` for the text 3, `"true"`, `"-x"`,
    `""`: a JSON string, and a value starting with '-' is never read as an option); numbers, booleans,
    null, lists and mappings as cli_text writes them. The resume command a failed run prints uses it
    (rerun.command_words: trial 10 read `--name '"b"'` for `--name b`). ValueError as cli_text."""
    if isinstance(value, str) and value and not value.startswith("-"):
        try:
            back = type_value(value)
        except UsageError:
            back = None
        if isinstance(back, str) and back == value:
            return value
    return cli_text(value)


def parse_typed_mapping(text: str, source: str = "parameters") -> dict[str, Any]:
    """A YAML mapping of parameters typed by hand (the workbench's form): values follow type_value's rule
    (loading.TypedTextLoader), names fold_names'. UsageError in one line when it is not such a mapping."""
    import yaml

    from magnus_core.loading import TypedTextLoader

    if not text.strip():
        return {}
    try:
        data = yaml.load(text, Loader=TypedTextLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"{source}: {where}malformed YAML ({getattr(exc, 'problem', '') or exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of names to values, e.g. x: 3")
    return fold_names(data.items(), source)


def fold_names(
    items: Iterable[tuple[Any, Any]], source: str, *, file: str | None = None, dashes: bool = False
) -> dict[str, Any]:
    """Parameter names lower-cased (`-` as `_` too when `dashes`), values kept; two names of one source
    that fold to one name with different values are a UsageError naming both (`LR` and `lr`), instead of
    one silently winning by order."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise UsageError(f"parameter names must be non-empty strings, got {key!r}", file=file)
        if "\0" in key or "=" in key or not _encodable(key):
            raise UsageError(
                f"parameter name {_printable(key)!r} must not contain '=', NUL or invalid text "
                "(names become environment variables)",
                file=file,
            )
        name = key.lower().replace("-", "_") if dashes else key.lower()
        if name in out and spelled[name] != key and out[name] != value:
            raise UsageError(
                f"{source} gives parameter '{name}' twice, as '{spelled[name]}' and '{key}' with different "
                f"values ({_short(out[name])} and {_short(value)}); names are not case-sensitive: keep one",
                file=file,
            )
        out[name] = value
        spelled[name] = key
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def lower_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The keys of a parameters file lower-cased (fold_names: a case collision is refused)."""
    return fold_names(values.items(), "the parameters file", file=source)


def from_environment(environ: Mapping[str, str] | None = None, *, typed: bool = False) -> dict[str, Any]:
    """MAGNUS_PRM_<name> variables as parameters (not MAGNUS_PRM_MAP_VARIABLE). `typed`: values a user set
    before the run, read by type_value; otherwise values magnus put there (JSON), read by decode."""
    environ = os.environ if environ is None else environ
    read = type_value if typed else decode
    return fold_names(
        (
            (k[len(PRM_PREFIX) :], read(v))
            for k, v in environ.items()
            if k.startswith(PRM_PREFIX) and k != MAP_VARIABLE and len(k) > len(PRM_PREFIX)
        ),
        "the environment (MAGNUS_PRM_*)",
    )


def parse_cli_args(args: list[str], options: Iterable[str] = ()) -> dict[str, Any]:
    """Every unknown `--name value` (or `--name=value`) pair becomes a parameter.

    `options` are the command's own long options (without `--`): a name that looks like a mistyped one
    (suggest.is_typo_of_option: `--fiel`, `--use-cache`) is a UsageError, not a parameter; a parameter of
    such a name is given after `--` (parsed with no `options`) or in a parameters file.
    """
    from magnus_core.suggest import is_typo_of_option

    pairs: list[tuple[str, Any]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) <= 2:
            raise UsageError(f"unexpected argument {arg!r}: parameters are given as --name value")
        name, eq, value = arg[2:].partition("=")
        option = next((o for o in options if is_typo_of_option(name, o)), None)
        if option is not None:
            raise UsageError(
                f"unknown option --{name} (did you mean --{option}?); a parameter named '{name}' is "
                f"given after '--' (magnus execute ... -- --{name} VALUE) or in a parameters file"
            )
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise UsageError(f"parameter --{name} needs a value (--{name} VALUE)")
            value = args[i + 1]
            i += 1
        if not name.replace("_", "").replace("-", "").isalnum():
            raise UsageError(f"parameter name {name!r} must be letters, digits, '_' or '-'")
        pairs.append((name, type_value(value)))
        i += 1
    return fold_names(pairs, "the command line", dashes=True)


def initial_parameters(
    parameters_file: str | None, cli: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    from magnus_core.loading import read_mapping

    params: dict[str, Any] = {}
    if parameters_file:
        from_file = lower_keys(read_mapping(parameters_file, "parameters file"), parameters_file)
        check_values(from_file, parameters_file)  # what a run log cannot hold is refused before the run
        params.update(from_file)
    from_env = from_environment(environ, typed=True)
    check_values(from_env, None, "parameter (from a MAGNUS_PRM_ variable)")
    params.update(from_env)
    check_values(cli, None, "parameter (from the command line)")
    params.update(cli)
    return params


def parameter_source(
    name: str, parameters_file: str | None, cli: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> str:
    """Where initial parameter `name` was given, for a message: `--name` (the command line wins), the
    MAGNUS_PRM_ variable as spelled, or `FILE:LINE` of its key in the parameters file (initial_parameters'
    precedence). The file is read again only here, when a message needs its line."""
    if name in cli:
        return f"--{name}"
    environ = os.environ if environ is None else environ
    for key in environ:
        if key.startswith(PRM_PREFIX) and key != MAP_VARIABLE and key[len(PRM_PREFIX) :].lower() == name:
            return key
    if parameters_file:
        line = _key_line(parameters_file, name)
        return f"{parameters_file}:{line}" if line else parameters_file
    return f"parameter '{name}'"


def _key_line(path: str, name: str) -> int | None:
    """The line (from 1) of top-level key `name` (compared lower-cased) of a YAML mapping file, or None."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            root = yaml.compose(handle, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError, ValueError):
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, _ in root.value:
        if isinstance(key, yaml.ScalarNode) and str(key.value).lower() == name:
            return int(key.start_mark.line) + 1
    return None


def starting_parameters(run_log: Any) -> dict[str, Any]:
    """The parameters a run started with: `run_config["parameters"]` (ours, written when the run is created
    and never changed). A log without them (the original tool's, magnus before 0.5) gives its final
    `parameters`, the best there is."""
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    start = config.get("parameters")
    return dict(start) if isinstance(start, dict) else dict(run_log.parameters)


def scope_parameters(start: Mapping[str, Any], steps: Iterable[Any]) -> dict[str, Any]:
    """The parameters of a scope (the run's top-level dag, or one branch) as its committed steps left them.

    `start`: the scope's parameters before its first step (a run's initial_parameters, a branch's copy of
    its composite's). `steps`: the scope's step logs in the order they ran. Each step that succeeded
    applies its `returned_parameters` (written with its SUCCESS, in one store write: the commit point), so
    the result never holds what a step returned unless that step is done (docs/crash-safety.md).
    """
    params = dict(start)
    for step in steps:
        if step.status == "SUCCESS":
            params.update(step.returned_parameters)
    return params


def command_parameters(parameters: dict[str, Any]) -> list[str]:
    """`["--", "--name=value", ...]`: parameters as a pod's `magnus execute_single_node` (or `fan`, or a
    command a refusal prints: single.hint_command) reads them back to the same values (type_value): a
    string as typed when it reads back as itself, anything else as JSON (`--lr=0.4`, `--zip="02142"`,
    `--layers=[64, 32]`). After `--`, so no name is taken for an option of the command. A value that would
    not read back the same is refused (exit 2)."""
    if not parameters:
        return []
    args = ["--"]
    for name, value in parameters.items():
        plain = isinstance(value, str) and type_value(value) == value
        text = value if plain else json.dumps(value, ensure_ascii=False)
        if json.dumps(type_value(text), sort_keys=True) != json.dumps(value, sort_keys=True):
            raise UsageError(
                f"parameter '{name}' cannot be written in the workflow's commands so that it reads back "
                "the same; give it in a parameters file (-p FILE) instead",
                field=name,
            )
        args.append(f"--{name}={text}")
    return args
