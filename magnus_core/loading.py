"""Files in, validated models out: pipeline YAML, var files, parameter files and config precedence.

Every problem becomes a `UsageError` (or `PipelineError`) naming the file, the step and the field.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from magnus_core.errors import ConfigError, PipelineError, UsageError
from magnus_core.graph import branches
from magnus_core.models.pipeline import NODE_TYPES, Dag, DagNode, PipelineFile

MAX_FILE_BYTES = 20 * 1024 * 1024
SERVICES = ("executor", "run_log_store", "catalog", "secrets", "experiment_tracker")
DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "executor": {"type": "local", "config": {}},
    "run_log_store": {"type": "file-system", "config": {}},
    "catalog": {"type": "file-system", "config": {}},
    "secrets": {"type": "do-nothing", "config": {}},
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

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and self._may_alias:
            _check_expansion(node, self.max_aliases, self.max_expanded_nodes)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # YAML silently keeps the last of two equal keys; two steps or branches with one name is a mistake.
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (line {line})", key_node.start_mark
                    )
                seen.add(key)
                # Keys name steps, branches and parameters: `no:` is the step "no", not False.
                key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep=deep)


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


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read one YAML file, or raise a one-line UsageError naming it."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found", file=str(path))
    if p.is_dir():
        raise UsageError(f"{what} is a folder, expected a YAML file", file=str(path))
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(
                f"{what} is {size} bytes, more than the {MAX_FILE_BYTES} allowed", file=str(path)
            )
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} is not UTF-8 text", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {what}: {exc.strerror}", file=str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{line}malformed YAML: {problem}", file=str(path)) from None
    except RecursionError:
        raise UsageError("YAML nested too deeply", file=str(path)) from None


def read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    data = read_yaml(path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{what} must be a mapping of names to values, got {_kind(data)}", file=str(path))
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise UsageError(f"{what} keys must be strings, got {bad[0]!r}", file=str(path))
    return data


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
    text = json.dumps(dag_block, sort_keys=True, ensure_ascii=True, default=str)
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


def load_pipeline(path: str | Path, variables: dict[str, Any] | None = None) -> Pipeline:
    """Load and validate a pipeline file (and every dag_definition it names)."""
    file = str(path)
    raw = read_yaml(path, "pipeline file")
    if not isinstance(raw, dict):
        raise UsageError(f"a pipeline file must be a mapping with a 'dag' key, got {_kind(raw)}", file=file)
    raw = substitute(raw, variables or {})
    if "dag" not in raw:
        raise PipelineError(
            ["missing the 'dag' block (expected dag: {start_at: ..., steps: ...})"], file=file
        )
    model = _parse(PipelineFile, raw, file)
    sub_dags: dict[str, dict[str, Any]] = {}
    _resolve_dag_definitions(model.dag, Path(file), [Path(file).resolve()], sub_dags)
    problems = validate_dag(model.dag)
    if problems:
        raise PipelineError(problems, file=file)
    blocks: dict[str, dict[str, Any]] = {}
    for name in ("mode", "executor", "run_log_store", "catalog", "secrets"):
        if raw.get(name) is not None:
            blocks["executor" if name == "mode" else name] = raw[name]
    return Pipeline(
        dag=model.dag,
        dag_hash=dag_hash(raw["dag"]),
        dag_block=raw["dag"],
        file=file,
        config_blocks=blocks,
        sub_dags=sub_dags,
    )


def _parse(model: type[BaseModel], raw: Any, file: str, prefix: str = "") -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PipelineError([_explain(err, prefix) for err in exc.errors()][:20], file=file) from None


def _explain(err: ErrorDetails, prefix: str = "") -> str:
    """Turn one pydantic error into 'step X: field Y: what was expected'."""
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
        if part == "branch" and step_parts and i + 1 < len(loc):
            step_parts.append("<item>")
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
        what = f"unknown field '{last}' (a typo?)"
        field_name = None
    elif etype == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        what = f"unknown node type '{tag}' (known: {', '.join(NODE_TYPES)})"
        field_name = "type"
    elif etype == "union_tag_not_found":
        what = f"missing field 'type' (one of: {', '.join(NODE_TYPES)})"
        field_name = None
    elif etype == "literal_error":
        expected = err.get("ctx", {}).get("expected", "one of the allowed values")
        what = f"got {err['input']!r}, expected {expected}"
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _within(path: Path, root: Path) -> bool:
    root = root.resolve()
    return path == root or root in path.parents


def _resolve_dag_definitions(dag: Dag, file: Path, stack: list[Path], out: dict[str, dict[str, Any]]) -> None:
    """Load every dag node's sub-pipeline, relative to the file naming it; refuse inclusion cycles."""
    for name, node in dag.steps.items():
        if isinstance(node, DagNode):
            target = file.parent / node.dag_definition
            resolved = target.resolve()
            if not any(_within(resolved, root) for root in (Path.cwd(), stack[0].parent)):
                raise PipelineError(
                    [
                        f"step '{name}': field 'dag_definition': '{node.dag_definition}' is outside "
                        "the project (the working folder and the pipeline's folder)"
                    ],
                    file=str(file),
                )
            if resolved in stack:
                chain = " -> ".join(p.name for p in [*stack, resolved])
                raise PipelineError(
                    [f"step '{name}': field 'dag_definition': includes itself ({chain})"], file=str(file)
                )
            if not target.exists():
                raise PipelineError(
                    [
                        f"step '{name}': field 'dag_definition': file '{node.dag_definition}' "
                        f"not found (looked for {target})"
                    ],
                    file=str(file),
                )
            raw = read_yaml(target, "dag_definition file")
            if not isinstance(raw, dict) or "dag" not in raw:
                raise PipelineError(
                    [f"no 'dag' block in {target} (named by step '{name}')"], file=str(target)
                )
            sub = _parse(Dag, raw["dag"], str(target))
            node._sub_dag = sub
            node._sub_file = str(target)
            out[str(target)] = raw["dag"]
            _resolve_dag_definitions(sub, target, [*stack, resolved], out)
        else:  # every other node's branches are written in this file
            for branch in branches(node):
                _resolve_dag_definitions(branch.dag, file, stack, out)


def validate_dag(dag: Dag, prefix: str = "") -> list[str]:
    """Every rule a dag (and each branch in it) breaks, all at once."""
    problems: list[str] = []
    here = f"{prefix}: " if prefix else ""
    for name in dag.steps:
        if not name or not name.strip():
            problems.append(f"{here}a step name must not be empty")
        for ch in (".", "%"):
            if ch in name:
                problems.append(f"{here}step '{name}': a step name must not contain '{ch}'")
    if dag.start_at not in dag.steps:
        problems.append(
            f"{here}field 'start_at': '{dag.start_at}' is not a step of this dag "
            f"(steps: {', '.join(list(dag.steps)[:10])})"
        )
    for kind in ("success", "fail"):
        count = sum(1 for n in dag.steps.values() if n.type == kind)
        if count != 1:
            problems.append(f"{here}there must be exactly one {kind} node, found {count}")
    missing = False
    for name, node in dag.steps.items():
        for attr in ("next", "on_failure"):
            target = getattr(node, attr, None)
            if target and target not in dag.steps:
                missing = True
                problems.append(f"{here}step '{name}': field '{attr}': '{target}' is not a step of this dag")
    if not missing:
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for name, node in dag.steps.items():
            sorter.add(name, *node.neighbours())
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = list(dict.fromkeys(exc.args[1]))
            problems.append(f"{here}the dag has a cycle: {' -> '.join(cycle + cycle[:1])}")
    for name, node in dag.steps.items():
        sub_prefix = f"{prefix}.{name}" if prefix else name
        problems.extend(f"{here}step '{name}': {problem}" for problem in node.problems())
        for branch in branches(node):
            if branch.source is not None:  # a graph from another file: its problems are that file's
                label = f"dag '{branch.source}'"
            elif branch.per_item:
                label = f"step '{sub_prefix}' branch"
            else:
                label = f"step '{sub_prefix}.{branch.name}'"
            problems.extend(validate_dag(branch.dag, label))
    return problems


class EffectiveConfig(dict[str, Any]):
    """The service blocks in force; `sources` says which file gave each block (absent: built-in default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sources: dict[str, str] = {}


def config_source(config: Any, field: str | None) -> str | None:
    """The file a block came from, for a ConfigError about `field` (e.g. 'run_log_store.config.x')."""
    sources = getattr(config, "sources", {})
    return sources.get((field or "").split(".")[0])


def load_config(
    config_file: str | None, pipeline: Pipeline | None, cwd: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Effective service config, per block: defaults < magnus-config.yaml < pipeline file < --config-file."""
    result = EffectiveConfig({k: dict(v) for k, v in DEFAULT_CONFIG.items()})
    layers: list[tuple[str, dict[str, Any]]] = []
    user = (cwd or Path.cwd()) / USER_CONFIG_FILE
    if user.exists():
        raw = read_mapping(user, "config file")
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise ConfigError(
                "'defaults' must be a mapping of config blocks", file=str(user), field="defaults"
            )
        layers.append((str(user), {**defaults, **{k: v for k, v in raw.items() if k != "defaults"}}))
    if pipeline is not None:
        layers.append((pipeline.file, pipeline.config_blocks))
    if config_file:
        layers.append((config_file, read_mapping(config_file, "config file")))
    for file, blocks in layers:
        for key, block in blocks.items():
            if key in ("extensions",):
                continue
            name = "executor" if key == "mode" else key
            if name not in SERVICES:
                if file == config_file:
                    raise ConfigError(
                        f"unknown config block '{key}' (expected one of: mode/executor, "
                        "run_log_store, catalog, secrets, experiment_tracker)",
                        file=file,
                    )
                continue
            result[name] = _service_block(block, file, key)
            result.sources[name] = file
    return result


def _service_block(block: Any, file: str, key: str) -> dict[str, Any]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise ConfigError(
            f"block '{key}' must be a mapping with a 'type' (e.g. {key}: {{type: ...}})", file=file, field=key
        )
    unknown = set(block) - {"type", "config"}
    if unknown:
        raise ConfigError(
            f"unknown key '{sorted(unknown)[0]}' (expected 'type' and 'config')", file=file, field=key
        )
    config = block.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError("'config' must be a mapping", file=file, field=f"{key}.config")
    return {"type": block["type"], "config": dict(config)}
