"""Providers chosen by a config block's `type`: executors, run-log stores, catalogs and secrets.

Every provider, built-in or third-party, is an entry point of the group `magnus.<service>`, as Harlequin
registers its adapters: magnus's own are declared in its pyproject.toml like anyone else's,

    [project.entry-points."magnus.run_log_store"]
    file-system = "magnus_core.stores.file_system:FileSystemRunLogStore"

and a third-party distribution adds its own the same way. Looking a type up imports that provider only.

Where magnus's own entry points come from: the pyproject.toml beside the package when it runs from a source
tree (a clone on PYTHONPATH has no installed metadata, and an editable install's may be older than the
tree); else the installed `magnus` distribution's metadata. Other distributions are read only when a type
is not one of magnus's own (third-party names), so looking up a built-in never scans the environment.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.errors import ConfigError

if TYPE_CHECKING:
    from importlib import metadata

    from pydantic import BaseModel

DISTRIBUTION = "magnus"
SERVICES = ("executor", "run_log_store", "catalog", "secrets", "experiment_tracker")
ENTRY_POINT_GROUP = "magnus.{service}"
_SOURCE_TREE = Path(__file__).resolve().parent.parent  # the folder holding magnus_core/ (and pyproject.toml)


# magnus's own providers as its pyproject.toml declares them (the entry points stay the truth: what
# `known_types` lists and other tools see; tests/test_registry.py checks this copy against them). A built-in
# type is looked up here: reading pyproject.toml (tomllib) or the installed metadata (importlib.metadata)
# for it cost every step run alone 7-25 ms of CPU (issue 19).
OWN_PROVIDERS: dict[str, dict[str, str]] = {
    "executor": {
        "local": "magnus_core.executors.local:LocalExecutor",
        "argo": "magnus_core.executors.argo:ArgoExecutor",
        "dask": "magnus_core.executors.dask:DaskExecutor",
    },
    "run_log_store": {
        "buffered": "magnus_core.stores.buffered:BufferedRunLogStore",
        "file-system": "magnus_core.stores.file_system:FileSystemRunLogStore",
        "chunked-fs": "magnus_core.stores.chunked:ChunkedFileSystemRunLogStore",
        "postgres": "magnus_core.stores.postgres:PostgresRunLogStore",
    },
    "catalog": {
        "do-nothing": "magnus_core.catalog:DoNothingCatalog",
        "file-system": "magnus_core.catalog:FileSystemCatalog",
        "fsspec": "magnus_core.catalog_fsspec:FsspecCatalog",
    },
    "secrets": {
        "env-and-dotenv": "magnus_core.secrets:EnvAndDotEnvSecrets",
        "do-nothing": "magnus_core.secrets:DoNothingSecrets",
        "dotenv": "magnus_core.secrets:DotEnvSecrets",
        "env-secrets-manager": "magnus_core.secrets:EnvSecrets",
    },
    "experiment_tracker": {
        "do-nothing": "magnus_core.tracking:DoNothingTracker",
        "mlflow": "magnus_core.trackers.mlflow:MLflowTracker",
    },
}


def group(service: str) -> str:
    """The entry-point group of a service: 'magnus.run_log_store'."""
    return ENTRY_POINT_GROUP.format(service=service)


@functools.cache
def builtin_providers(service: str, root: Path = _SOURCE_TREE) -> dict[str, str]:
    """magnus's own providers of a service, name -> 'module:attribute', as its pyproject.toml declares them.

    Read from `root`/pyproject.toml when it is magnus's (a source tree), else from the installed magnus
    distribution's entry points; {} when neither is there. Nothing is imported."""
    declared = _from_pyproject(root / "pyproject.toml")
    if declared is not None:
        return dict(declared.get(group(service), {}))
    from importlib import metadata  # (a source tree never needs it: ~10 ms of start-up)

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return {}
    return {ep.name: ep.value for ep in dist.entry_points if ep.group == group(service)}


@functools.cache
def _from_pyproject(path: Path) -> dict[str, dict[str, str]] | None:
    """The entry-point tables of magnus's pyproject.toml; None if `path` is not magnus's pyproject. Read
    once per process (a run looks up five services)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # an installed magnus: no pyproject.toml beside the package
        return None
    import tomllib  # (only then: its import is most of reading the file, ~5 ms of every step's start-up)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    project = data.get("project")
    if not isinstance(project, dict) or project.get("name") != DISTRIBUTION:
        return None
    tables = project.get("entry-points") or {}
    return {name: dict(table) for name, table in tables.items() if isinstance(table, dict)}


def third_party_providers(service: str) -> dict[str, metadata.EntryPoint]:
    """Providers other distributions register for a service, name -> entry point (not loaded)."""
    from importlib import metadata

    return {
        ep.name: ep
        for ep in metadata.entry_points(group=group(service))
        if ep.dist is None or ep.dist.name != DISTRIBUTION
    }


def known_types(service: str) -> list[str]:
    """Every `type` a config block of this service may name, sorted (built-in and third-party)."""
    return sorted(set(builtin_providers(service)) | set(third_party_providers(service)))


def provider_class(service: str, kind: str) -> Any:
    """The class registered for `kind`, importing its module only (a built-in from OWN_PROVIDERS, with no
    look at any metadata). Raises ConfigError naming the known types when no distribution registers it."""
    target = OWN_PROVIDERS.get(service, {}).get(kind) or builtin_providers(service).get(kind)
    if target is not None:
        module, _, attr = target.partition(":")
        return functools.reduce(getattr, attr.split("."), importlib.import_module(module.strip()))
    plugins = third_party_providers(service)
    if kind not in plugins:
        known = ", ".join(sorted(set(builtin_providers(service)) | set(plugins)))
        raise ConfigError(f"unknown type '{kind}' (known: {known})", field=f"{service}.type")
    return plugins[kind].load()


def load_provider(service: str, block: dict[str, Any]) -> Any:
    """Build the provider named by block['type'] with block['config']; unknown types list the known ones."""
    kind = block.get("type")
    if not isinstance(kind, str):
        raise ConfigError(f"expected a provider name, got {kind!r}", field=f"{service}.type")
    return provider_class(service, kind)(block.get("config") or {})


class OptionKeyError(ValueError):
    """Raised by an options model's validator about one key of a mapping option (`secret_options:
    {pasword: X}`): parse_options names that key's field (`run_log_store.config.secret_options.pasword`),
    so the message points at the key's own line, not the option's."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_options(model: type[BaseModel], config: dict[str, Any], where: str) -> Any:
    """Validate a provider's options against its pydantic model; one clear line on error.

    Options whose every value already has its field's type exactly (`plain_options`) are made without
    the model's validator: a process that runs one step (`magnus execute_single_node`, issue 19) then
    builds none (the first build of any model costs a step ~10-25 ms: pydantic's schema machinery and
    plugin loader). Anything else is validated, so every conversion and error is the model's.

    Raises ConfigError whose field is the deepest key the problem is about
    (`executor.config.resources.limts`, a validator's OptionKeyError key included): loading's
    locate_config_error gives that key's line."""
    made = plain_options(model, config)
    if made is not None:
        return made
    from pydantic import ValidationError

    try:
        return model.model_validate(config)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown option comes first: `uri:` for `url:` is about `uri` (a typo), not a missing `url`.
        unknown = [e for e in errors if e["type"] == "extra_forbidden"]
        err = (unknown or errors)[0]
        found = (err.get("ctx") or {}).get("error")
        where_in = (*err["loc"], found.key) if isinstance(found, OptionKeyError) else err["loc"]
        loc = ".".join(str(p) for p in where_in)
        if unknown:
            msg = "unknown option" + _suggestion(model, err["loc"])
            missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
            if missing and missing[0] not in msg:
                msg += f"; option '{missing[0]}' is required"
        else:
            msg = err["msg"].removeprefix("Value error, ")  # a validator's own sentence, without its prefix
        raise ConfigError(msg, field=f"{where}.config.{loc}" if loc else f"{where}.config") from None


_EXACT = (str, int, bool, float)


def plain_options(model: type[BaseModel], config: Any) -> Any:
    """`model.model_validate(config)` made without validating, when that is sure to give the same object;
    else None. Sure means: the model forbids unknown options and has no model validator; every option
    given is a field (no alias, constraint or validator of its own) whose value has the field's type
    exactly (str, int, bool, float, None where the field allows it, dict[str, str], dict[str, Any],
    list[str], another such model, or a list of them: no conversion) and is within its bounds (ge, le, gt,
    lt, min_length, max_length); every field not given has a default that is not
    validated. The object is then what the model's validation makes: the same values, the same fields set
    (tests/test_registry.py compares them on every provider's options)."""
    if not isinstance(config, dict) or model.model_config.get("extra") != "forbid":
        return None
    if model.model_config.get("validate_default"):
        return None
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators or decorators.validators:
        return None
    checked = {name for dec in decorators.field_validators.values() for name in dec.info.fields}
    if "*" in checked:
        return None
    fields = model.model_fields
    values: dict[str, Any] = {}
    for key, value in config.items():
        field = fields.get(key) if key.__class__ is str else None
        if field is None or key in checked or field.alias not in (None, key):
            return None
        if field.metadata and not _within(field.metadata, value):
            return None
        if field.validation_alias is not None or field.discriminator is not None:
            return None
        made = _plain_value(field.annotation, value)
        if made is _REFUSED:
            return None
        values[key] = made
    given = set(values)
    for name, field in fields.items():
        if name in given:
            continue
        if field.is_required() or field.validate_default:
            return None
        # every field given to model_construct: for a default factory it would ask whether the factory
        # takes the validated data, which parses a builtin's signature with tokenize (~10 ms per process)
        factory = field.default_factory
        if factory is None:
            values[name] = field.get_default()
        elif factory is dict or factory is list:
            values[name] = factory()
        else:
            return None
    return model.model_construct(_fields_set=given, **values)


_REFUSED: Any = object()


def _within(metadata: list[Any], value: Any) -> bool:
    """`value` (an int, or a str for lengths) meets every constraint in a field's metadata (False for any
    other constraint or kind)."""
    import operator

    import annotated_types as at

    bounds: dict[type, tuple[str, Any, type]] = {
        at.Ge: ("ge", operator.ge, int),
        at.Le: ("le", operator.le, int),
        at.Gt: ("gt", operator.gt, int),
        at.Lt: ("lt", operator.lt, int),
        at.MinLen: ("min_length", operator.ge, str),
        at.MaxLen: ("max_length", operator.le, str),
    }
    for bound in metadata:
        known = bounds.get(type(bound))
        if known is None or value.__class__ is not known[2]:
            return False
        attribute, holds, kind = known
        measured: Any = len(str(value)) if kind is str else value
        if not holds(measured, getattr(bound, attribute)):
            return False
    return True


def _plain_value(annotation: Any, value: Any) -> Any:
    """`value` as a field of type `annotation` holds it after validation, when no conversion is involved;
    _REFUSED otherwise."""
    import types
    import typing

    if annotation in _EXACT:
        return value if value.__class__ is annotation else _REFUSED
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        if value is None:
            return None if type(None) in args else _REFUSED
        exact = [a for a in args if a in _EXACT]
        if value.__class__ in exact:  # (the smart union keeps a value of exactly one of its types)
            return value
        others = [a for a in args if a is not type(None) and a not in _EXACT]
        if len(others) == 1 and not exact and isinstance(value, dict | list):
            return _plain_value(others[0], value)
        return _REFUSED
    if origin is dict and args in ((str, str), (str, Any)) and value.__class__ is dict:
        if all(k.__class__ is str and (args[1] is Any or v.__class__ is str) for k, v in value.items()):
            return dict(value)
        return _REFUSED
    if origin is list and value.__class__ is list:
        (item,) = args
        made = [_plain_value(item, v) for v in value]
        return _REFUSED if any(m is _REFUSED for m in made) else made
    if isinstance(annotation, type) and hasattr(annotation, "__pydantic_decorators__"):
        made = plain_options(annotation, value)
        return _REFUSED if made is None else made
    return _REFUSED


def _suggestion(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """' (did you mean 'dsn'?)' for an unknown top-level option near one of the model's (by the names a
    config file uses: aliases where they are set), else ' (a typo?)'."""
    from magnus_core.suggest import did_you_mean

    for part in loc[:-1]:  # a nested options model's (executor.config.resources.limts)
        if isinstance(part, int):  # an item of a list of models (volumes.0.nme)
            continue
        field = model.model_fields.get(str(part))
        inner = _options_model(field.annotation) if field is not None else None
        if inner is None:
            return " (a typo?)"
        model = inner
    known = [info.alias or name for name, info in model.model_fields.items()]
    return did_you_mean(str(loc[-1]), known) or " (a typo?)"


def _options_model(annotation: Any) -> Any:
    """The pydantic model an option's annotation holds (`Resources | None` -> Resources), or None."""
    import typing

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
    return None
