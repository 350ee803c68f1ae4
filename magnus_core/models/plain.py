"""Run logs as plain JSON values (dicts and lists), checked field by field as the run-log models check
them, without building the models. For readers that only look at a log (`magnus diff`): a 10,000-step log
is about half a million model objects, and making them was half of a diff's time.

    read_plain_run_log(path) -> dict          a run-log file (the guards of reading.load_run_log)
    plain_from_json(raw, source) -> dict      the bytes of a run log
    plain_from_model(log: RunLog) -> dict     a RunLog already read (a store's, the workbench's)
    FIELDS                                    the fields each model knows, by model name: what is not
                                              among them is a field this version does not know

The dict is the JSON as written, with the models' fields: times are the text written (models.times.parse_time
reads them), a field the log leaves out is there with the model's default, except those a model writes
only when set (metric_history, returned_parameters, an attempt's error...: read with .get), which are
absent, as in the model's own dump. Each field present is
checked with the type the model gives it (pydantic-core, in one pass over the JSON), fields unknown to
this version are kept unchecked, as the models keep them (extra="allow"). Whatever this check refuses is
read again by the models (reading.run_log_from_dict), so a bad log gets exactly their error: the file, the
field, what was expected (tests/test_plain_reading.py checks both ways agree on any JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.gcpause import paused
from magnus_core.models.reading import parse_run_log_json, read_run_log_bytes, run_log_from_dict

if TYPE_CHECKING:
    from pydantic_core import SchemaValidator

    from magnus_core.models.run_log import RunLog

# Each model's fields as run_log.py declares them: (name, kind, default), REQUIRED when it has none,
# OPTIONAL for one the model leaves out of its JSON when empty (exclude_if): absent when the log leaves it
# out (read it with .get), as in a model's dump; any other field left out is filled with its default.
# Kinds: "str", "int", "bool", "any" (a time: the model reads any value, unreadable ones as None), "dict"
# (of any values), "strs" (a list of text), a model's name, "[Model]" (a list of them), "{Model}" (a dict
# of them); "?" after a kind: or null. tests/test_plain_reading.py checks this table against the models.
REQUIRED, OPTIONAL = object(), object()
_MODELS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "Frame": (("file", "str", REQUIRED), ("line", "int", 0), ("function", "str", ""), ("text", "str", "")),
    "AttemptError": (
        ("type", "str", REQUIRED),
        ("message", "str", ""),
        ("frames", "[Frame]", []),
        ("exit_code", "int?", OPTIONAL),
        ("cell", "int?", OPTIONAL),
        ("stderr", "strs", OPTIONAL),
        ("cause", "AttemptError?", OPTIONAL),
        ("implicit", "bool", OPTIONAL),
    ),
    "AttemptOutput": (
        ("name", "str", OPTIONAL),
        ("catalog_relative_path", "str", OPTIONAL),
        ("catalog_handler_location", "str", OPTIONAL),
        ("size", "int", OPTIONAL),
        ("sha256", "str", OPTIONAL),
        ("written", "int", OPTIONAL),
        ("error", "str", OPTIONAL),
    ),
    "StepAttempt": (
        ("attempt_number", "int", 0),
        ("start_time", "any", None),
        ("end_time", "any", None),
        ("duration", "str", ""),
        ("status", "str", "FAIL"),
        ("message", "str", ""),
        ("parameters", "dict?", OPTIONAL),
        ("error", "AttemptError?", OPTIONAL),
        ("output", "AttemptOutput?", OPTIONAL),
    ),
    "CodeIdentity": (
        ("code_identifier", "str?", None),
        ("code_identifier_type", "str?", "git"),
        ("code_identifier_dependable", "bool", False),
        ("code_identifier_url", "str?", None),
        ("code_identifier_message", "str?", ""),
    ),
    "DataCatalog": (
        ("name", "str", REQUIRED),
        ("data_hash", "str", ""),
        ("catalog_relative_path", "str", ""),
        ("catalog_handler_location", "str", ""),
        ("stage", "str", ""),
    ),
    "MetricPoint": (("step", "int", REQUIRED), ("value", "any", None), ("time", "str", "")),
    "BranchLog": (("internal_name", "str", REQUIRED), ("status", "str", "FAIL"), ("steps", "{StepLog}", {})),
    "StepLog": (
        ("name", "str", REQUIRED),
        ("internal_name", "str", REQUIRED),
        ("status", "str", "FAIL"),
        ("step_type", "str", "task"),
        ("message", "str", ""),
        ("mock", "bool", False),
        ("code_identities", "[CodeIdentity]", []),
        ("attempts", "[StepAttempt]", []),
        ("user_defined_metrics", "dict", {}),
        ("branches", "{BranchLog}", {}),
        ("data_catalog", "[DataCatalog]", []),
        ("metric_history", "{[MetricPoint]}", OPTIONAL),
        ("returned_parameters", "dict", OPTIONAL),
        ("masked_parameters", "strs", OPTIONAL),
        ("start_time", "any", OPTIONAL),
        ("process", "dict?", OPTIONAL),
    ),
    "RunLog": (
        ("run_id", "str", REQUIRED),
        ("dag_hash", "str?", None),
        ("use_cached", "bool", False),
        ("tag", "str?", ""),
        ("original_run_id", "str?", ""),
        ("status", "str", "FAIL"),
        ("steps", "{StepLog}", {}),
        ("parameters", "dict", {}),
        ("run_config", "dict", {}),
        ("masked_parameters", "strs", OPTIONAL),
    ),
}
FIELDS: dict[str, frozenset[str]] = {
    model: frozenset(f[0] for f in fields) for model, fields in _MODELS.items()
}

_VALIDATOR: list[SchemaValidator] = []


def _validator() -> SchemaValidator:
    """The check, built once per process from _MODELS (about a millisecond)."""
    if _VALIDATOR:
        return _VALIDATOR[0]
    from pydantic_core import SchemaValidator
    from pydantic_core import core_schema as cs

    def kind(text: str) -> Any:
        if text.endswith("?"):
            return cs.nullable_schema(kind(text[:-1]))
        if text.startswith("["):
            return cs.list_schema(kind(text[1:-1]))
        if text.startswith("{"):
            return cs.dict_schema(cs.str_schema(), kind(text[1:-1]))
        simple: dict[str, Callable[[], Any]] = {
            "str": cs.str_schema,
            "int": cs.int_schema,
            "bool": cs.bool_schema,
            "any": cs.any_schema,
            "dict": lambda: cs.dict_schema(cs.str_schema(), cs.any_schema()),
            "strs": lambda: cs.list_schema(cs.str_schema()),
        }
        return simple[text]() if text in simple else cs.definition_reference_schema(text)

    def field(text: str, default: Any) -> Any:
        if default is REQUIRED or default is OPTIONAL:
            return cs.typed_dict_field(kind(text), required=default is REQUIRED)
        if isinstance(default, (list, dict)):  # a new one each time (as the models' default_factory)
            filled = cs.with_default_schema(kind(text), default_factory=type(default))
        else:
            filled = cs.with_default_schema(kind(text), default=default)
        return cs.typed_dict_field(filled, required=False)

    models: list[Any] = [
        cs.typed_dict_schema(
            {name: field(k, default) for name, k, default in fields}, extra_behavior="allow", ref=model
        )
        for model, fields in _MODELS.items()
    ]
    _VALIDATOR.append(
        SchemaValidator(cs.definitions_schema(cs.definition_reference_schema("RunLog"), models))
    )
    return _VALIDATOR[0]


def read_plain_run_log(path: str | Path) -> dict[str, Any]:
    """A run-log file as its plain JSON, checked (plain_from_json); the file is read as load_run_log reads
    it (a regular file, at most MAX_RUN_LOG_BYTES), every fault a RunLogError naming it."""
    raw = read_run_log_bytes(path)
    with paused():  # about a million acyclic objects for 10,000 steps (magnus_core/gcpause.py)
        return plain_from_json(raw, str(path))


def plain_from_json(raw: bytes, source: str) -> dict[str, Any]:
    """The bytes of a run log as checked plain JSON, or the RunLogError reading.run_log_from_json gives.

    pydantic-core parses and checks in one pass (what it refuses at the JSON level, it refuses as the
    models' own fast path does: see reading.run_log_from_json); anything it refuses is read the careful
    way, json.loads and its checks, then the models, which name the fault."""
    from pydantic_core import ValidationError

    validator = _validator()
    try:
        return validator.validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        pass
    data = parse_run_log_json(raw, source)
    try:
        return validator.validate_python(data)
    except (ValidationError, RecursionError):
        pass
    return plain_from_model(run_log_from_dict(data, source))  # raises the models' error (it should)


def plain_from_model(log: RunLog) -> dict[str, Any]:
    """A RunLog as the plain JSON it would be written as (times as text): its dump, which has the shape
    above (the model checked its fields when it was read or made)."""
    return log.model_dump()
