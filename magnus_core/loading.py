"""Files in, validated models out: pipeline YAML, var files, parameter files and config precedence.

Every problem becomes a `UsageError` (or `PipelineError`) naming the file, the step and the field.
"""

from __future__ import annotations

import hashlib
import re
import string
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from magnus_core import jsonio as json
from magnus_core.errors import ConfigError, MagnusError, PipelineError, UsageError
from magnus_core.parameters import TYPED_FLOAT, TYPED_INT
from magnus_core.paths import find_nul, is_within, read_regular_file
from magnus_core.suggest import did_you_mean

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

    from magnus_core.models.pipeline import BranchSpec, Dag

# The pipeline models (and graph, which uses them) are imported by the functions that read a pipeline:
# commands that only read the config (`magnus runs`, `compare`, `diff`, `show`) never build them, and
# pydantic itself is imported by those functions only (load_config does not need it).

MAX_FILE_BYTES = 20 * 1024 * 1024
# Composite steps (parallel, map, dag) one inside another: at most this many levels (docs/pipeline.md). Real
# pipelines use a handful; the limit keeps every run log well inside what JSON readers and writers nest.
MAX_NESTING = 20
SERVICES = ("executor", "run_log_store", "catalog", "secrets", "experiment_tracker")
DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "executor": {"type": "local", "config": {}},
    "run_log_store": {"type": "file-system", "config": {}},
    "catalog": {"type": "file-system", "config": {}},
    "secrets": {"type": "env-and-dotenv", "config": {}},
    "experiment_tracker": {"type": "do-nothing", "config": {}},  # magnus 0.4's service
}
USER_CONFIG_FILE = "magnus-config.yaml"


# libyaml's parser when PyYAML has it: ten times faster on a 10,000-step pipeline than the pure-python one.
_SafeBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeBase):
    """A safe loader that refuses documents whose aliases expand beyond a budget (YAML bombs)."""

    max_aliases = 10_000
    max_expanded_nodes = 2_000_000

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        # An alias is written `*name`: a text without '*' has none, and needs no expansion check.
        self._may_alias = not isinstance(stream, str) or "*" in stream
        self._keys: dict[int, str] = {}  # id of a value node -> the key it is written under (messages)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag of a plain scalar by its first character's resolvers, as BaseResolver.resolve finds it,
        for schemas without path or catch-all resolvers (ours): libyaml calls this once per scalar, 80,000
        times for a 10,000-step pipeline."""
        if kind is yaml.ScalarNode and implicit[0] and self._first_char_only:
            for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                if regexp.match(value):
                    return tag
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)

    @property
    def _first_char_only(self) -> bool:
        return None not in self.yaml_implicit_resolvers and not self.yaml_path_resolvers

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and self._may_alias:
            _check_expansion(node, self.max_aliases, self.max_expanded_nodes)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # YAML silently keeps the last of two equal keys; two steps or branches with one name is a mistake.
        # Only the keys written in this mapping count: a key that a merge (`<<: *defaults`) brings in and
        # this mapping sets again is overridden, as YAML defines it.
        seen: dict[str, int] = {}  # key -> the line it is first written on
        keys = self._keys
        merges = False
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                keys[id(value_node)] = key_node.value  # names the field when its value is refused
                if key_node.tag == MERGE_TAG:
                    merges = True
                    continue
                key = key_node.value
                if key in seen:  # the message gives the line of the second (the mark): name the first
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {seen[key]})", key_node.start_mark
                    )
                seen[key] = key_node.start_mark.line + 1
        if merges or not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)  # the merge keys, now: after it every key is a plain one
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    # Keys name steps, branches and parameters: `no:` is the step "no", not False.
                    key_node.tag = STR_TAG
            return super().construct_mapping(node, deep=deep)
        # No merge key (the usual mapping): every key is one written here, built in one pass; a scalar key is
        # its text (what the str tag above makes of it), any other key is built and must be hashable.
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key_node.tag = STR_TAG
                key = key_node.value
            else:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found unhashable key",
                        key_node.start_mark,
                    )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
_DIGITS = list("-+0123456789")


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    """YAML 1.2 integers: decimal (a leading zero is still decimal), 0o octal, 0x hexadecimal.

    Python reads and prints integers of at most 4300 digits (sys.get_int_max_str_digits()), and its
    ValueError names no file or line: a longer one (in any base) is refused here with the line and the key,
    so nothing downstream (the dag hash, the run log) meets one."""
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    limit = sys.get_int_max_str_digits() or 4300
    try:
        if digits.startswith("0o"):
            value = sign * int(digits[2:], 8)
        elif digits.startswith("0x"):
            value = sign * int(digits[2:], 16)
        else:
            value = sign * int(digits, 10)
    except ValueError:
        value = None
    if value is None or abs(value).bit_length() > limit * 3.32:
        keys = getattr(loader, "_keys", {})
        raise _Refused(f"a number with more than {limit} digits", node.start_mark, keys.get(id(node)))
    return value


class _Refused(yaml.constructor.ConstructorError):
    """A well-formed value magnus refuses (e.g. a 5,000-digit number): said without 'malformed YAML'."""

    def __init__(self, problem: str, mark: Any, key: str | None) -> None:
        super().__init__(None, None, problem, mark)
        self.key = key


def _schema(name: str, resolvers: list[tuple[str, str, list[str]]], doc: str) -> type:
    """A loader like _Loader (duplicate keys, alias budget, merge keys) resolving plain scalars only by
    `resolvers` ((tag, regex, first characters)); any other plain scalar is a string."""

    loader: Any = type(name, (_Loader,), {"__doc__": doc, "yaml_implicit_resolvers": {}})
    loader.add_implicit_resolver(MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])
    for tag, regex, first in resolvers:
        loader.add_implicit_resolver(tag, re.compile(regex), first)
    loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    return loader


_BOOL = ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF"))
Yaml12Loader = _schema(
    "Yaml12Loader",
    [
        _BOOL,
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", _DIGITS),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            [*_DIGITS, "."],
        ),
    ],
    "YAML 1.2's core schema: no octal `010`, no base-60 `1:30`, no `yes`/`no` booleans, no dates (text).",
)
TypedTextLoader = _schema(
    "TypedTextLoader",
    [
        _BOOL,
        ("tag:yaml.org,2002:null", r"^(?:null|Null|NULL|)$", ["n", "N", ""]),
        ("tag:yaml.org,2002:int", rf"^{TYPED_INT}$", _DIGITS),
        ("tag:yaml.org,2002:float", rf"^{TYPED_FLOAT}$", [*_DIGITS, "."]),
    ],
    "Values typed by hand (the command line, the workbench's form, MAGNUS_PRM_ set before a run): only "
    "decimal numbers without leading zeros, true/false and null are typed; everything else is its text.",
)
TextLoader = _schema(
    "TextLoader", [], "Every scalar is the text written (var files: `${name}` is replaced by that text)."
)


def _check_expansion(root: yaml.Node, max_aliases: int, max_nodes: int) -> None:
    """A node reached twice is an alias: count aliases, and the size of the document with every alias
    expanded (what json.dumps or a substitution would walk), without expanding anything."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    aliases = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > max_aliases:
                raise yaml.YAMLError(f"more than {max_aliases} aliases (a YAML bomb?)")
            return sizes[key]
        if key in in_progress:
            raise yaml.YAMLError("an alias refers to a node that contains it (a recursive document)")
        in_progress.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        in_progress.discard(key)
        sizes[key] = total
        if total > max_nodes:
            raise yaml.YAMLError(f"aliases expand to more than {max_nodes} values (a YAML bomb?)")
        return total

    size(root)


class _NotPlain(Exception):
    """The document needs the loader's full composition (see _plain_load)."""


_PLAIN_DEPTH = 200  # deeper documents are left to the loader (its recursion decides: "nested too deeply")


def _plain_load(text: str, loader: Any) -> Any:
    """The data `yaml.load(text, Loader=loader)` gives, built from libyaml's events without the node graph
    (a Python node and two marks per value: three quarters of a large pipeline's parse), for documents of
    plain mappings, sequences and scalars: no anchor or alias, no explicit tag, no merge key (`<<`), no key
    that is a mapping or a sequence, no key twice, nesting at most _PLAIN_DEPTH. Anything else, and any
    error (malformed YAML, a refused number), raises _NotPlain: the loader then reads the text again and
    says what it says. Scalars are resolved by the loader's own resolvers (by first character, as
    _Loader.resolve does) and built by its own constructors; a key is its text (_Loader.construct_mapping)."""
    if not (isinstance(loader, type) and issubclass(loader, _Loader)):  # keys as text, typing by first
        raise _NotPlain  # character: what _Loader does; another loader (PyYAML's own) types keys too
    if None in loader.yaml_implicit_resolvers or loader.yaml_path_resolvers:
        raise _NotPlain
    resolvers = loader.yaml_implicit_resolvers
    constructors = loader.yaml_constructors
    events = yaml.events
    scalar_event, mapping_start, sequence_start = (
        events.ScalarEvent,
        events.MappingStartEvent,
        events.SequenceStartEvent,
    )
    ends = (events.MappingEndEvent, events.SequenceEndEvent)
    parser = loader(text)
    try:
        get = parser.get_event
        get()  # the stream's start
        if isinstance(get(), events.StreamEndEvent):  # (else: the document's start)
            return None
        # each open container: [its dict or list, the key a mapping's next value goes under (None: a key)]
        stack: list[list[Any]] = []
        while True:
            event = get()
            kind = event.__class__
            if kind is scalar_event:
                if event.anchor is not None or event.tag is not None:
                    raise _NotPlain
                value = event.value
                tag = STR_TAG
                if event.implicit[0]:  # a plain scalar: typed by the resolvers of its first character
                    for candidate, regexp in resolvers.get(value[:1], ()):
                        if regexp.match(value):
                            tag = candidate
                            break
                top = stack[-1] if stack else None
                if top is not None and top[1] is None and top[0].__class__ is dict:  # a key: its text
                    if tag == MERGE_TAG or value in top[0]:
                        raise _NotPlain
                    top[1] = value
                    continue
                if tag != STR_TAG:
                    value = constructors[tag](
                        parser, yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
                    )
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None or len(stack) >= _PLAIN_DEPTH:
                    raise _NotPlain
                key_next = stack and stack[-1][1] is None and stack[-1][0].__class__ is dict
                if key_next:  # a key that is a mapping or a sequence
                    raise _NotPlain
                stack.append([{} if kind is mapping_start else [], None])
                continue
            elif kind in ends:
                value = stack.pop()[0]
            else:  # an alias, or the document's end before its content
                raise _NotPlain
            if not stack:  # the document's content: then its end, then the stream's (a single document)
                document_end, stream_end = get(), get()
                if not (
                    isinstance(document_end, events.DocumentEndEvent)
                    and isinstance(stream_end, events.StreamEndEvent)
                ):
                    raise _NotPlain
                return value
            top = stack[-1]
            if top[0].__class__ is dict:
                top[0][top[1]] = value
                top[1] = None
            else:
                top[0].append(value)
    except _NotPlain:
        raise
    except Exception:  # malformed YAML, a refused number...: the loader says it, with its line
        raise _NotPlain from None
    finally:
        parser.dispose()


def read_yaml(
    path: str | Path, what: str = "file", loader: type | None = None, cache: _CacheUse | None = None
) -> Any:
    """Read one YAML file (YAML 1.2's core schema unless `loader` says otherwise), or raise a one-line
    UsageError naming it.

    The file must be a regular file (a FIFO or a device is refused before it is read) of at most
    MAX_FILE_BYTES, counted while reading; aliases may not expand past a budget (YAML bombs), integers may
    not have more than 4300 digits, and nesting may not exhaust Python's recursion limit.

    With `cache` (pipeline and dag_definition files), a file of at least parse_cache.MIN_BYTES read with
    the default loader comes from the parse cache when it holds these bytes (`cache.hits` counts it), and
    its data is kept there after a parse (magnus_core/parse_cache.py).
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        from magnus_core.suggest import files_hint

        raise UsageError(f"{what} not found{files_hint(path)}", file=str(path))
    # a regular file of at most MAX_FILE_BYTES, counted while reading: a FIFO or /dev/zero is refused at once
    raw = read_regular_file(path, limit=MAX_FILE_BYTES, what=what)
    cached = None
    if cache is not None and cache.enabled and loader is None:
        from magnus_core import parse_cache

        if len(raw) >= parse_cache.MIN_BYTES:
            cached = parse_cache
            data = parse_cache.get(raw, Yaml12Loader)
            if data is not parse_cache.MISSING:
                cache.hits += 1
                return data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} is not UTF-8 text", file=str(path)) from None
    try:
        try:
            data = _plain_load(text, loader or Yaml12Loader)
        except _NotPlain:
            data = yaml.load(text, Loader=loader or Yaml12Loader)
        if cached is not None:
            cached.put(raw, Yaml12Loader, data)
        return data
    except _Refused as exc:
        refused = UsageError(str(exc.problem), file=str(path), field=exc.key)
        refused.line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise refused from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{line}malformed YAML: {problem}{_indent_hint(exc, text)}", file=str(path)
        ) from None
    except RecursionError:
        raise UsageError("YAML nested too deeply", file=str(path)) from None


def _indent_hint(exc: yaml.YAMLError, text: str) -> str:
    """For libyaml's `did not find expected key` (a key indented unlike the others of its mapping: trial 6's
    over-indented `type:`, reported on the line after it), the two lines whose indents disagree:
    ' (line 4513 is indented 7 spaces, line 4514 6: the keys of one mapping line up)'."""
    mark = getattr(exc, "problem_mark", None)
    if getattr(exc, "problem", None) != "did not find expected key" or mark is None:
        return ""
    lines = text.splitlines()
    if not 0 < mark.line < len(lines):
        return ""
    here = lines[mark.line]
    above = next(
        (
            n
            for n in range(mark.line - 1, -1, -1)
            if lines[n].strip() and not lines[n].lstrip().startswith("#")
        ),
        None,
    )
    if above is None:
        return ""
    indent_here = len(here) - len(here.lstrip(" "))
    indent_above = len(lines[above]) - len(lines[above].lstrip(" "))
    if indent_here == indent_above or lines[above].rstrip().endswith(":"):
        return ""
    return (
        f" (line {above + 1} is indented {indent_above} spaces, line {mark.line + 1} {indent_here}: "
        "the keys of one mapping line up)"
    )


def read_mapping(path: str | Path, what: str, loader: type | None = None) -> dict[str, Any]:
    data = read_yaml(path, what, loader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{what} must be a mapping of names to values, got {_kind(data)}", file=str(path))
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise UsageError(f"{what} keys must be strings, got {bad[0]!r}", file=str(path))
    return data


def read_variables(path: str | Path | None) -> dict[str, Any]:
    """A var file's values for `${name}` placeholders, each scalar the text written (`version: 1.10` is
    "1.10", `day: 2024-01-31` is "2024-01-31": no YAML typing between the file and the placeholder)."""
    return read_mapping(path, "var file", TextLoader) if path else {}


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace ${name} in every string; unknown names stay as written (safe substitution)."""
    if not variables:
        return value
    if isinstance(value, str):
        return string.Template(value).safe_substitute({k: str(v) for k, v in variables.items()})
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def dag_hash(dag_block: Any) -> str:
    """SHA1 of the dag block as sorted-key JSON: key order and comments do not change it."""
    return _text_hash(_dag_text(dag_block))


def _dag_text(dag_block: Any) -> str:
    """The text dag_hash hashes: sorted-key, ASCII-only JSON (a NUL in any string or key is `\\u0000`)."""
    return json.dumps(dag_block, sort_keys=True, ensure_ascii=True, default=str)


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class Pipeline:
    """A loaded, validated pipeline: the dag, its hash, the raw blocks and where it came from."""

    dag: Dag
    dag_hash: str
    dag_block: dict[str, Any]
    file: str
    config_blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    sub_dags: dict[str, dict[str, Any]] = field(default_factory=dict)


PIPELINE_KEYS = ("dag", "mode", "executor", "run_log_store", "catalog", "secrets")
CONFIG_KEYS = ("mode", *SERVICES)
USER_CONFIG_KEYS = (*CONFIG_KEYS, "defaults", "extensions")


def is_extension_key(key: Any) -> bool:
    """A top-level `x-...` key: where users keep YAML anchors (as in Docker Compose files); ignored."""
    return isinstance(key, str) and key.startswith("x-")


def check_top_level(
    raw: dict[str, Any], known: tuple[str, ...], file: str, what: str, root: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The mapping without its `x-` keys; any other unknown key is a typo, refused with a suggestion and
    its line (ConfigError). `root`: the keys above the mapping in `file` (`("defaults",)` for a config
    file's defaults block). A dag field written at the top (`steps:` dedented out of `dag:`) or a config
    block's field (`type:`) is said to be misplaced."""
    from magnus_core.suggest import did_you_mean

    for key in raw:
        if not is_extension_key(key) and key not in known:
            line = _line_of(_compose(file), (*root, str(key)))
            raise ConfigError(
                f"{f'line {line}: ' if line else ''}unknown top-level key '{key}' in the {what}"
                f"{did_you_mean(str(key), known)}{_misplaced(str(key), known)} "
                f"(expected: {', '.join(known)}; keys starting with 'x-' are ignored, for YAML anchors)",
                file=file,
            )
    return {k: v for k, v in raw.items() if not is_extension_key(k)}


def _misplaced(key: str, known: tuple[str, ...]) -> str:
    """' (is `steps:` indented under `dag:`?)' for a key that belongs one level down: a dag's field at a
    pipeline file's top, a config block's `type`/`config` at a config file's (or defaults block's) top."""
    from magnus_core.models.pipeline import Dag

    if "dag" in known and key in Dag.model_fields:
        return f" (is `{key}:` indented under `dag:`?)"
    if key in ("type", "config") and "run_log_store" in known:
        return f" (`{key}:` goes under a block's name, e.g. `run_log_store:`)"
    return ""


def _empty(path: str | Path, what: str) -> UsageError:
    return UsageError(f"{what} is empty (expected a mapping with a 'dag' key)", file=str(path))


@dataclass
class _CacheUse:
    """Whether one load may use the parse cache, and how many files it took from it."""

    enabled: bool = True
    hits: int = 0


def load_pipeline(path: str | Path, variables: dict[str, Any] | None = None) -> Pipeline:
    """Load and validate a pipeline file (and every dag_definition it names).

    A large file's YAML may come from the parse cache (magnus_core/parse_cache.py); a load that used it
    and is refused is made again without it, so every message is the one a fresh parse gives."""
    cache = _CacheUse()
    try:
        return _load_pipeline(path, variables, cache)
    except MagnusError:
        if not cache.hits:
            raise
    return _load_pipeline(path, variables, _CacheUse(enabled=False))


def checked_raw_pipeline(
    path: str | Path, variables: dict[str, Any] | None, cache: _CacheUse | None = None
) -> tuple[dict[str, Any], str | None]:
    """A pipeline file's YAML as plain values, variables substituted, checked as far as no model is needed
    (a mapping with a `dag` and known top-level keys, no NUL, not nested too deeply), and its dag's JSON
    text (None when it has none: dag_hash then walks it). Raises what load_pipeline raises for those."""
    file = str(path)
    raw = read_yaml(path, "pipeline file", cache=cache or _CacheUse())
    if raw is None:
        raise _empty(path, "pipeline file")
    if not isinstance(raw, dict):
        raise UsageError(f"a pipeline file must be a mapping with a 'dag' key, got {_kind(raw)}", file=file)
    raw = substitute(raw, variables or {})
    if "dag" not in raw:
        raise PipelineError(
            ["missing the 'dag' block (expected dag: {start_at: ..., steps: ...})"], file=file
        )
    raw = check_top_level(raw, PIPELINE_KEYS, file, "pipeline file")
    try:  # the dag's JSON, made once: its hash, and a NUL anywhere in it shows as \u0000
        text: str | None = _dag_text(raw["dag"])
    except (ValueError, TypeError, RecursionError):
        text = None
    if text is None or "\\u0000" in text:  # (a `\\u0000` written as text too: then walk it all)
        _refuse_nul(raw, file)
    else:
        _refuse_nul({key: value for key, value in raw.items() if key != "dag"}, file)
    _refuse_deep_nesting(raw.get("dag"), file)
    return raw, text


def config_blocks(raw: dict[str, Any]) -> dict[str, Any]:
    """The config blocks a pipeline file holds beside its dag, by service (`mode` is the executor's)."""
    blocks: dict[str, Any] = {}
    for name in ("mode", "executor", "run_log_store", "catalog", "secrets"):
        if raw.get(name) is not None:
            blocks["executor" if name == "mode" else name] = raw[name]
    return blocks


def _load_pipeline(path: str | Path, variables: dict[str, Any] | None, cache: _CacheUse) -> Pipeline:
    file = str(path)
    raw, text = checked_raw_pipeline(path, variables, cache)
    from magnus_core.models.pipeline import PipelineFile
    from magnus_core.models.pipeline_plain import plain_model

    model = plain_model(PipelineFile, raw)  # (None: the models validate it, and say what is wrong)
    if model is None:
        model = _parse(PipelineFile, raw, file)
    sub_dags: dict[str, dict[str, Any]] = {}
    _resolve_dag_definitions(model.dag, Path(file), [Path(file).resolve()], sub_dags, cache=cache)
    problems = validate_dag(model.dag)
    if problems:
        raise PipelineError(located(problems, file), file=file)
    blocks: dict[str, dict[str, Any]] = {}
    for name in ("mode", "executor", "run_log_store", "catalog", "secrets"):
        if raw.get(name) is not None:
            blocks["executor" if name == "mode" else name] = raw[name]
    return Pipeline(
        dag=model.dag,
        dag_hash=_text_hash(text) if text is not None else dag_hash(raw["dag"]),
        dag_block=raw["dag"],
        file=file,
        config_blocks=config_blocks(raw),
        sub_dags=sub_dags,
    )


def _refuse_nul(raw: Any, file: str, prefix: str = "", root: tuple[str, ...] = ()) -> None:
    """No string of a pipeline file may hold NUL: paths, commands and environment variables cannot.
    `root`: the keys above `raw` in `file`, for the line."""
    where = find_nul(raw)
    if where is not None:
        error: ErrorDetails = {
            "type": "value_error",
            "loc": where,
            "msg": "must not contain a NUL character (\\0)",
            "input": None,
        }
        raise PipelineError([f"{_line_note(file, (*root, *where))()}{_explain(error, prefix)}"], file=file)


def _refuse_deep_nesting(
    dag: Any, file: str, depth: int = 0, prefix: str = "", holder: str | None = None
) -> None:
    """Composite steps nest at most MAX_NESTING deep: a first check on the raw YAML (`branches` and `branch`
    blocks), before anything recursive reads it. The models' own branches are checked again, across
    dag_definition files, in _resolve_dag_definitions. `dag` is the `dag:` block of `holder` (a
    dag_definition file; None: `file`, the pipeline file the message names), for the step's line."""
    stack: list[tuple[Any, int, str, tuple[str, ...]]] = [(dag, depth, prefix, ("dag",))]
    while stack:
        block, level, where, keys = stack.pop()
        steps = block.get("steps") if isinstance(block, dict) else None
        if not isinstance(steps, dict):
            continue
        for name, node in steps.items():
            if not isinstance(node, dict):
                continue
            at = (*keys, "steps", str(name))
            inner: list[tuple[Any, str, tuple[str, ...]]] = []
            if isinstance(node.get("branches"), dict):
                inner = [
                    (b, f"{where}{name}.{bname}.", (*at, "branches", str(bname)))
                    for bname, b in node["branches"].items()
                ]
            elif "branch" in node:
                inner = [(node["branch"], f"{where}{name}.<item>.", (*at, "branch"))]
            if not inner:
                continue
            if level + 1 > MAX_NESTING:
                raise _too_deep(f"{where}{name}", file, at, holder)
            stack.extend((b, level + 1, w, k) for b, w, k in inner)


def _too_deep(step: str, file: str, at: tuple[str, ...] = (), holder: str | None = None) -> PipelineError:
    """The step nested too deep, with the line of `at` (its keys) in `holder` (None: `file`)."""
    text = (
        f"step '{step}': composite steps (parallel, map, dag) are nested more than {MAX_NESTING} "
        "deep, the most magnus runs (see docs/pipeline.md)"
    )
    return PipelineError(located([Problem(text, at, holder)], file) if at else [text], file=file)


def _parse(model: type[BaseModel], raw: Any, file: str, prefix: str = "", root: tuple[str, ...] = ()) -> Any:
    """`model` made from `raw` (the YAML of `file`; `root`: the keys above `raw` in it), or a PipelineError
    with each problem in our words (_explain) and the line of the key it is about (_line_of)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()[:20]
    tree = _compose(file)
    problems = []
    for err in errors:
        line = _line_of(tree, (*root, *err["loc"]))
        problems.append(f"{f'line {line}: ' if line else ''}{_explain(err, prefix)}")
    raise PipelineError(problems, file=file)


def _compose(file: str) -> Any:
    """The YAML node tree of `file` (keys with their marks), read again when a problem needs a line: the
    data a pipeline is checked against may come from the parse cache or the fast event-based reader,
    which keep no marks. None when it cannot be read (then problems go without a line)."""
    try:
        text = read_regular_file(file, limit=MAX_FILE_BYTES, what="file").decode("utf-8")
        return yaml.compose(text, Loader=Yaml12Loader)
    except Exception:  # the data was read from it a moment ago; a file changed since gives no line
        return None


def _line_of(tree: Any, loc: Iterable[Any]) -> int | None:
    """The line (1-based) of the deepest key of `loc` (a pydantic error's location: keys, list indexes, and
    the tags pydantic adds, which the file does not have and are passed over) written in `tree`: the
    unknown key itself, the key of a refused value, the step a required field is missing from."""
    node, line = tree, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]  # (an index, or its digits in a config error's dotted field)
            line = node.start_mark.line + 1
        else:
            break
    return line


def _explain(err: ErrorDetails, prefix: str = "") -> str:
    """Turn one pydantic error into 'step X: field Y: what was expected'."""
    from magnus_core.models.pipeline import NODE_TYPES, Dag

    dag_fields = Dag.model_fields
    loc = list(err["loc"])
    if loc and loc[0] == "dag":
        loc = loc[1:]
    step_parts: list[str] = [prefix] if prefix else []
    field_parts: list[str] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        if part == "steps" and i + 1 < len(loc):
            step_parts.append(str(loc[i + 1]))
            field_parts = []
            i += 2
            if i < len(loc) and loc[i] in NODE_TYPES:  # the discriminator's tag
                i += 1
            continue
        if part == "branches" and i + 1 < len(loc) and isinstance(loc[i + 1], str) and step_parts:
            step_parts.append(str(loc[i + 1]))
            field_parts = []
            i += 2
            continue
        if step_parts and i + 1 < len(loc) and loc[i + 1] in dag_fields and isinstance(part, str):
            # a node's field holding one graph: a map's or loop's `branch` (run per item), a `default`
            step_parts.append("<item>" if part == "branch" else part)
            field_parts = []
            i += 1
            continue
        field_parts.append(str(part))
        i += 1
    etype = err["type"]
    field_name = ".".join(field_parts) or None
    last = field_parts[-1] if field_parts else "?"
    if etype == "missing":
        what = f"missing required field '{last}'" if field_parts else "missing required field"
        field_name = None
    elif etype == "extra_forbidden":
        hint = _EXECUTOR_FIELDS.get(last) or did_you_mean(last, _known_fields()) or " (a typo?)"
        what = f"unknown field '{last}'{hint}"
        field_name = None
    elif etype == "union_tag_invalid":
        tag = str(err.get("ctx", {}).get("tag"))
        what = f"unknown node type '{tag}'{did_you_mean(tag, NODE_TYPES)} (known: {', '.join(NODE_TYPES)})"
        field_name = "type"
    elif etype == "union_tag_not_found":
        what = f"missing field 'type' (one of: {', '.join(NODE_TYPES)})"
        field_name = None
    elif etype == "literal_error":
        expected = err.get("ctx", {}).get("expected", "one of the allowed values")
        hint = did_you_mean(str(err["input"]), re.findall(r"'([^']*)'", str(expected)))
        what = f"got {err['input']!r}{hint}, expected {expected}"
    elif etype in _MAPPING_TYPES and step_parts and not field_parts:
        # a step whose value is not a mapping: often a field dedented to step level (`next:` under steps)
        name = step_parts[-1]
        what = f"step '{'.'.join(step_parts)}' under steps is not a mapping (got {_short(err.get('input'))})"
        if name in _known_fields():
            what += f": is `{name}:` indented under its step?"
        step_parts = []
    elif etype in _EXPECTED:
        try:
            expected = _EXPECTED[etype].format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            expected = _EXPECTED[etype].split(" {")[0]
        what = f"expected {expected}, got {_short(err.get('input'))}"
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        what = f"{msg} (got {_short(err.get('input'))})" if etype != "value_error" else msg
    where = []
    if step_parts:
        where.append(f"step '{'.'.join(step_parts)}'")
    if field_name:
        where.append(f"field '{field_name}'")
    return ": ".join([*where, what])


# pydantic's error types, said as what was expected (its own texts, `Input should be a valid integer, unable
# to parse string as an integer`, read as a traceback's; trial 6): `field 'retry': expected a whole number,
# got 'two'`. A type not here keeps pydantic's text.
_EXPECTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "greater_than": "a number greater than {gt}",
    "greater_than_equal": "a number of at least {ge}",
    "less_than": "a number less than {lt}",
    "less_than_equal": "a number of at most {le}",
}
_MAPPING_TYPES = ("dict_type", "model_type", "model_attributes_type")


# Fields a step does not take because they are the executor's (a run's, in the config file): said so where
# a step has one (trial 23 F12: `max_workers` on a map step read "unknown field 'max_workers' (a typo?)";
# Prefect's and Kedro's users look for it on the step first).
_EXECUTOR_FIELDS = {
    "max_workers": ": how many branches run at once is the executor's, in the config file: "
    "`executor: {type: local, config: {max_workers: 4}}` (docs/parallel.md)",
}


def _known_fields() -> list[str]:
    """Every field name a pipeline file may use, for "did you mean" on an unknown one."""
    from magnus_core.models import pipeline as models

    names: list[str] = []
    others: tuple[type[BaseModel], ...] = (
        models.Dag,
        models.CatalogSettings,
        models.PipelineFile,
        models.ServiceConfig,
    )
    for model in (*models.NODE_CLASSES, *others):
        names += [info.alias or name for name, info in model.model_fields.items()]
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve_dag_definitions(
    dag: Dag,
    file: Path,
    stack: list[Path],
    out: dict[str, dict[str, Any]],
    depth: int = 0,
    prefix: str = "",
    cache: _CacheUse | None = None,
    path: tuple[str, ...] = ("dag",),
) -> None:
    """Load every dag node's sub-pipeline, relative to the file naming it; refuse inclusion cycles and
    composite steps nested more than MAX_NESTING deep (across files, for every kind of composite).
    `path`: the keys to `dag` in `file`, for the line of a `dag_definition` refused."""
    from magnus_core.graph import branches
    from magnus_core.models.pipeline import Dag, DagNode
    from magnus_core.models.pipeline_plain import plain_model

    for name, node in dag.steps.items():
        if (isinstance(node, DagNode) or branches(node)) and depth + 1 > MAX_NESTING:
            holder = None if file.resolve() == stack[0] else str(file)
            raise _too_deep(f"{prefix}{name}", str(stack[0]), (*path, "steps", name), holder)
        if isinstance(node, DagNode):
            at = _line_note(str(file), (*path, "steps", name, "dag_definition"))
            target = file.parent / node.dag_definition
            resolved = target.resolve()
            if not any(is_within(resolved, root) for root in (Path.cwd(), stack[0].parent)):
                raise PipelineError(
                    [
                        f"{at()}step '{name}': field 'dag_definition': '{node.dag_definition}' is outside "
                        "the project (the working folder and the pipeline's folder)"
                    ],
                    file=str(file),
                )
            if resolved in stack:
                chain = " -> ".join(p.name for p in [*stack, resolved])
                raise PipelineError(
                    [f"{at()}step '{name}': field 'dag_definition': includes itself ({chain})"],
                    file=str(file),
                )
            if not target.exists():
                raise PipelineError(
                    [
                        f"{at()}step '{name}': field 'dag_definition': file '{node.dag_definition}' "
                        f"not found (looked for {target})"
                    ],
                    file=str(file),
                )
            raw = read_yaml(target, "dag_definition file", cache=cache)
            if raw is None:
                raise _empty(target, f"dag_definition file (named by step '{name}')")
            if not isinstance(raw, dict) or "dag" not in raw:
                raise PipelineError(
                    [f"no 'dag' block in {target} (named by step '{name}')"], file=str(target)
                )
            raw = check_top_level(raw, PIPELINE_KEYS, str(target), "dag_definition file")
            _refuse_nul(raw["dag"], str(target), root=("dag",))
            _refuse_deep_nesting(raw["dag"], str(stack[0]), depth + 1, f"{prefix}{name}.dag.", str(target))
            sub = plain_model(Dag, raw["dag"]) or _parse(Dag, raw["dag"], str(target), root=("dag",))
            node._sub_dag = sub
            node._sub_file = str(target)
            out[str(target)] = raw["dag"]
            _resolve_dag_definitions(
                sub, target, [*stack, resolved], out, depth + 1, f"{prefix}{name}.dag.", cache
            )
        else:  # every other node's branches are written in this file
            for branch in branches(node):
                inner = f"{prefix}{name}.{branch.name if branch.name is not None else '<item>'}."
                sub_path = branch_place(node, branch, None, (*path, "steps", name))[1]
                _resolve_dag_definitions(branch.dag, file, stack, out, depth + 1, inner, cache, sub_path)


def _line_note(file: str, path: tuple[Any, ...]) -> Callable[[], str]:
    """'line N: ' for the key at `path` of `file` (read again with marks when called, for a message only),
    or '' when the file does not write it."""

    def note() -> str:
        line = _line_of(_compose(file), path)
        return f"line {line}: " if line else ""

    return note


def _list(names: Any, limit: int = 12) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass(frozen=True)
class Problem:
    """One rule a pipeline breaks, and where: `text` as it is said (`step 'a': field 'next': ...`, a
    branch's label first), `path` the keys from the root of the file holding it to what it is about
    (`("dag", "steps", "a", "next")`; a key the file does not write falls back to the nearest one above it),
    `file` that file (None: the pipeline file itself; a dag_definition file otherwise). `located` turns
    problems into lines of text with the line number of `path` in `file`."""

    text: str
    path: tuple[str, ...]
    file: str | None = None

    def __str__(self) -> str:
        return self.text


def validate_dag(
    dag: Dag,
    prefix: str = "",
    items: tuple[str, ...] = (),
    *,
    path: tuple[str, ...] = ("dag",),
    file: str | None = None,
    names: str = "",
) -> list[Problem]:
    """Every rule a dag (and each branch in it) breaks, all at once, each with where it is (Problem).
    `prefix`: the label its problems start with (`step 'par.b1'`, `dag 'sub.yaml'`; "" for the top-level
    dag); `items`: the map variables of the branches run per item that hold this dag (a nested one must not
    reuse a name: both would be one --map-variable key); `path` and `file`: where the dag is written;
    `names`: its internal name (`par.b1`, `inner.dag`; "" at top level), which nested labels build on."""
    from magnus_core.graph import branches

    problems: list[Problem] = []
    here = f"{prefix}: " if prefix else ""
    steps = dag.steps
    counts = {"success": 0, "fail": 0}
    references: list[Problem] = []  # next / on_failure naming no step, in the order written
    for name, node in steps.items():  # one pass for the per-step rules (each message kept in its place)
        if not name or not name.strip():
            problems.append(Problem(f"{here}a step name must not be empty", (*path, "steps", name), file))
        if "." in name:
            problems.append(
                Problem(
                    f"{here}step '{name}': a step name must not contain '.'", (*path, "steps", name), file
                )
            )
        if "%" in name:
            problems.append(
                Problem(
                    f"{here}step '{name}': a step name must not contain '%'", (*path, "steps", name), file
                )
            )
        kind = node.type
        if kind in counts:
            counts[kind] += 1
        for attr in ("next", "on_failure"):
            target = getattr(node, attr, None)
            if target and target not in steps:
                references.append(
                    Problem(
                        f"{here}step '{name}': field '{attr}': '{target}' is not a step of this dag"
                        f"{did_you_mean(target, steps)} (steps: {_list(steps)})",
                        (*path, "steps", name, attr),
                        file,
                    )
                )
    if dag.start_at not in steps:
        problems.append(
            Problem(
                f"{here}field 'start_at': '{dag.start_at}' is not a step of this dag"
                f"{did_you_mean(dag.start_at, steps)} (steps: {_list(steps)})",
                (*path, "start_at"),
                file,
            )
        )
    for terminal, count in counts.items():
        if count != 1:
            problems.append(
                Problem(
                    f"{here}there must be exactly one {terminal} node, found {count}", (*path, "steps"), file
                )
            )
    problems.extend(references)
    if not references and not _acyclic(dag):  # graphlib names the cycle as it always did
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for name, node in steps.items():
            sorter.add(name, *node.neighbours())
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = list(dict.fromkeys(exc.args[1]))
            problems.append(
                Problem(
                    f"{here}the dag has a cycle: {' -> '.join(cycle + cycle[:1])}",
                    (*path, "steps", cycle[0]),
                    file,
                )
            )
    for name, node in steps.items():
        found = node.problems()
        if found:
            at = (*path, "steps", name)
            problems.extend(Problem(f"{here}step '{name}': {problem}", at, file) for problem in found)
        if not node.declared_branches():  # a leaf: no branch to check, no catalog name shared
            continue
        at = (*path, "steps", name)
        inner_name = f"{names}.{name}" if names else name
        for branch in branches(node):
            if branch.source is not None:  # a graph from another file: its problems are that file's
                label = f"dag '{branch.source}'"
            elif branch.per_item:
                label = f"step '{inner_name}' branch"
            else:
                label = f"step '{inner_name}.{branch.name}'"
            inner = items
            if branch.per_item and branch.item_variable is not None:
                if branch.item_variable in items:
                    problems.append(
                        Problem(
                            f"{here}step '{name}': its item name '{branch.item_variable}' is already the "
                            "item name of a branch holding it; nested branches run per item need names of "
                            "their own",
                            at,
                            file,
                        )
                    )
                inner = (*items, branch.item_variable)
            sub_file, sub_path = branch_place(node, branch, file, at)
            sub_names = f"{inner_name}.{branch.name if branch.name is not None else '<item>'}"
            problems.extend(
                validate_dag(branch.dag, label, inner, path=sub_path, file=sub_file, names=sub_names)
            )
        problems.extend(
            Problem(f"{here}step '{name}': {problem}", at, file) for problem in _shared_puts(node)
        )
    return problems


def branch_place(
    node: Any, branch: BranchSpec, file: str | None, at: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...]]:
    """Where `branch` of `node` (written at keys `at` of `file`) is written: its file (a dag_definition's,
    else `file`) and the keys to its graph (`(*at, "branches", "b1")`, `(*at, "branch")`; `("dag",)` in a
    dag_definition file). Found by the graph's identity among the node's fields, so no node type is named."""
    if branch.source is not None:
        return branch.source, ("dag",)
    for name, info in type(node).model_fields.items():
        value = getattr(node, name, None)
        key = info.alias or name
        if value is branch.dag:
            return file, (*at, key)
        if isinstance(value, dict):
            for sub, graph in value.items():
                if graph is branch.dag:
                    return file, (*at, key, str(sub))
    return file, at


def step_places(
    dag: Dag, file: str | None = None, path: tuple[str, ...] = ("dag",)
) -> Iterator[tuple[Any, str | None, tuple[str, ...]]]:
    """Every node of `dag` and its branches, in graph.walk's order, with the file holding it (None: the
    pipeline file) and the keys to it there (`("dag", "steps", "par", "branches", "b1", "steps", "x")`)."""
    for name, node in dag.steps.items():
        at = (*path, "steps", name)
        yield node, file, at
        for branch in node.declared_branches():
            sub_file, sub_path = branch_place(node, branch, file, at)
            yield from step_places(branch.dag, sub_file, sub_path)


def located(problems: Iterable[Problem], pipeline_file: str) -> list[str]:
    """Each problem's text with the line of what it is about: `line 5702: step 's1900': field 'next': ...`
    in the pipeline file, `line 7 of sub.yaml: dag 'sub.yaml': ...` in another file. Each file is read
    again with marks (_compose) once, and only here: a valid pipeline never pays for it. A file that
    cannot be read again gives its problems without a line (none is made up)."""
    trees: dict[str, Any] = {}
    out = []
    for problem in problems:
        file = problem.file or pipeline_file
        if file not in trees:
            trees[file] = _compose(file)
        line = _line_of(trees[file], problem.path)
        if line is None:
            out.append(problem.text)
        elif problem.file is None or problem.file == pipeline_file:
            out.append(f"line {line}: {problem.text}")
        else:
            out.append(f"line {line} of {problem.file}: {problem.text}")
    return out


def _acyclic(dag: Dag) -> bool:
    """True when no path of `next` / `on_failure` edges (each naming a step of `dag`) comes back to a step
    (graphlib's prepare() is run only on a cycle, for the message)."""
    from magnus_core.models.pipeline_table import acyclic

    return acyclic(dag.steps, lambda node: node.neighbours())


def _literal_puts(dag: Dag) -> set[str]:
    """Catalog names a graph's steps put by name (patterns without a wildcard), nested graphs included."""
    from magnus_core.graph import walk

    names: set[str] = set()
    for visit in walk(dag):
        catalog = getattr(visit.node, "catalog", None)
        if catalog is not None:
            names.update(p.strip("/") for p in catalog.put if not any(ch in p for ch in "*?["))
    return names


def _shared_puts(node: Any) -> list[str]:
    """A catalog name is put by one branch only (docs/catalog.md): two branches of a parallel step naming
    the same file in `put`, or a map's branch naming one (every item would put it), are refused here; what
    globs and put_in_catalog put is checked as the run goes (catalog.FileSystemCatalog._claim)."""
    from magnus_core.graph import branches

    specs = branches(node)
    if not specs:
        return []
    if any(spec.per_item for spec in specs):  # every item (a map's, a loop's iterations) would put it
        named = sorted(set().union(*(_literal_puts(spec.dag) for spec in specs)))
        return [
            f"catalog put '{n}' in a branch run per item: every item would put the same name (name each "
            "item's file apart, e.g. put_in_catalog(f'data/out_{item}.csv'))"
            for n in named
        ]
    if len(specs) < 2 or not node.concurrent_branches:  # one of them runs (a conditional's), or one by one
        return []
    seen: dict[str, str] = {}
    problems = []
    for spec in specs:
        for n in sorted(_literal_puts(spec.dag)):
            if n in seen:
                problems.append(
                    f"catalog put '{n}' in branches '{seen[n]}' and '{spec.name}': a catalog name is put by "
                    "one branch only (branches share the data folder and may run at the same time)"
                )
            else:
                seen[n] = str(spec.name)
    return problems


class EffectiveConfig(dict[str, Any]):
    """The service blocks in force; `sources` says which file gave each block (absent: built-in default);
    `overridden`: one line for each block of magnus-config.yaml that the pipeline file replaced with another
    (a team's catalog silently swapped for a pipeline's own: `magnus execute` warns with it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sources: dict[str, str] = {}
        self.overridden: list[str] = []


def config_source(config: Any, field: str | None) -> str | None:
    """The file a block came from, for a ConfigError about `field` (e.g. 'run_log_store.config.x')."""
    sources = getattr(config, "sources", {})
    return sources.get((field or "").split(".")[0])


def locate_config_error(exc: MagnusError, config: Any = None) -> MagnusError:
    """`exc`, about config field `exc.field` (`run_log_store.config.log_foldr`; an error about any other
    field is left as it is), given the file that set it (config_source, when it names none) and the line
    of that field there: the deepest of its keys the file writes, at its top level or in its `defaults:`
    block (`mode:` for `executor`). The file is read again with marks, only for this message; no line when
    it does not write the field or cannot be read. The command line calls it for every error it prints."""
    exc.file = exc.file or config_source(config, exc.field)
    if not exc.file or not exc.field or exc.line or exc.field.split(".")[0] not in (*CONFIG_KEYS, "defaults"):
        return exc
    tree = _compose(exc.file)
    if not isinstance(tree, yaml.MappingNode):
        return exc
    parts = exc.field.split(".")
    top = {key.value for key, _ in tree.value if isinstance(key, yaml.ScalarNode)}
    if parts[0] == "executor" and "executor" not in top and "mode" in top:
        parts[0] = "mode"
    if parts[0] not in top and "defaults" in top:
        parts.insert(0, "defaults")
    elif parts[0] not in top:
        return exc
    exc.line = _line_of(tree, parts)
    return exc


def load_config(
    config_file: str | None, pipeline: Pipeline | None, cwd: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Effective service config, per block: defaults < magnus-config.yaml < pipeline file < --config-file."""
    result = EffectiveConfig({k: dict(v) for k, v in DEFAULT_CONFIG.items()})
    layers: list[tuple[str, dict[str, Any]]] = []
    user = (cwd or Path.cwd()) / USER_CONFIG_FILE
    if user.exists():
        raw = check_top_level(read_mapping(user, "config file"), USER_CONFIG_KEYS, str(user), "config file")
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise ConfigError(
                "'defaults' must be a mapping of config blocks", file=str(user), field="defaults"
            )
        defaults = check_top_level(
            defaults, (*CONFIG_KEYS, "extensions"), str(user), "'defaults' block", ("defaults",)
        )
        layers.append((str(user), {**defaults, **{k: v for k, v in raw.items() if k != "defaults"}}))
    if pipeline is not None:
        layers.append((pipeline.file, pipeline.config_blocks))
    if config_file:
        raw = read_mapping(config_file, "config file")
        layers.append(
            (config_file, check_top_level(raw, (*CONFIG_KEYS, "extensions"), config_file, "config file"))
        )
    replaced: dict[str, str] = {}  # block -> the warning, when the pipeline's replaced magnus-config.yaml's
    pipeline_file = pipeline.file if pipeline is not None else None
    for file, blocks in layers:
        for key, block in blocks.items():
            if key in ("extensions",):
                continue
            name = "executor" if key == "mode" else key
            try:
                made = _service_block(block, file, key)
            except ConfigError as exc:
                locate_config_error(exc)
                raise
            before = result.sources.get(name)
            if file == pipeline_file and before == str(user) and made != result[name]:
                replaced[name] = _overridden(name, file, made, before, result[name])
            result[name] = made
            result.sources[name] = file
    # said only when the pipeline's block is the one in force (a --config-file's replaces it in turn)
    result.overridden = [text for name, text in replaced.items() if result.sources[name] == pipeline_file]
    return result


def _overridden(name: str, file: str, made: dict[str, Any], user: str, replaced: dict[str, Any]) -> str:
    """The warning for a pipeline file's block that replaces magnus-config.yaml's (docs/configuration.md)."""
    kinds = f" ({made['type']})" if made["type"] != replaced["type"] else ""
    theirs = f" ({replaced['type']})" if kinds else ""
    return (
        f"the pipeline file {file} has its own {name} block{kinds}, which replaces the one in {user}{theirs} "
        f"for this run (a pipeline file's blocks win over {USER_CONFIG_FILE}); remove it from the pipeline "
        f"file to use {USER_CONFIG_FILE}'s, or give --config-file to choose"
    )


def _service_block(block: Any, file: str, key: str) -> dict[str, Any]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise ConfigError(
            f"block '{key}' must be a mapping with a 'type' (e.g. {key}: {{type: ...}})", file=file, field=key
        )
    unknown = set(block) - {"type", "config"}
    if unknown:
        first = str(sorted(unknown, key=str)[0])  # its own field, for its own line (locate_config_error)
        raise ConfigError(
            f"unknown key{did_you_mean(first, ('type', 'config'))}; a block holds 'type' and 'config'",
            file=file,
            field=f"{key}.{first}",
        )
    config = block.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError("'config' must be a mapping", file=file, field=f"{key}.config")
    where = find_nul(block)
    if where is not None:  # folders, commands and names reach the operating system, which reads NUL as an end
        field = ".".join(str(part) for part in (key, *where))
        raise ConfigError("must not contain a NUL character (\\0)", file=file, field=field)
    return {"type": block["type"], "config": dict(config)}
