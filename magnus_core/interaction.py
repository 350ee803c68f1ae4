"""What user code may import: `from magnus import track_this, get_parameter, ...`.

Inside a step run by magnus in this process, the functions talk to the step's scope (a context variable,
so concurrent branches in threads do not see each other's values). Anywhere else (a shell step's child
process, a notebook kernel) they fall back to the MAGNUS_* environment variables, which magnus sets.
"""

from __future__ import annotations

import contextvars
import os
from dataclasses import dataclass, field
from typing import Any

from magnus_core.errors import NotBuiltError, UsageError
from magnus_core.parameters import PRM_PREFIX, TRACK_PREFIX, encode, from_environment


@dataclass
class StepScope:
    """What one executing step sees and produces."""

    run_id: str
    tag: str
    parameters: dict[str, Any]
    internal_name: str = ""
    map_variable: dict[str, Any] = field(default_factory=dict)
    params_out: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    services: Any = None  # the run's services: catalog, secrets (set by the executor)
    catalog_records: list[Any] = field(default_factory=list)
    inputs: dict[str, Any] | None = (
        None  # the parameters the command actually received (recorded per attempt)
    )


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar("magnus_step_scope", default=None)


def current_scope() -> StepScope | None:
    return _scope.get()


def enter_scope(scope: StepScope) -> contextvars.Token[StepScope | None]:
    return _scope.set(scope)


def exit_scope(token: contextvars.Token[StepScope | None]) -> None:
    _scope.reset(token)


def track_this(**kwargs: Any) -> None:
    """Record metrics for the current step (names lower-cased)."""
    scope = _scope.get()
    for key, value in kwargs.items():
        if scope is not None:
            scope.metrics[key.lower()] = value
        else:
            os.environ[f"{TRACK_PREFIX}{key}"] = encode(value)


def store_parameter(**kwargs: Any) -> None:
    """Add or update parameters for the steps that follow."""
    scope = _scope.get()
    for key, value in kwargs.items():
        if scope is not None:
            scope.params_out[key.lower()] = value
        else:
            os.environ[f"{PRM_PREFIX}{key}"] = encode(value)


def get_parameter(key: str | None = None) -> Any:
    """One parameter by name, or all of them as a dict when no name is given."""
    scope = _scope.get()
    params = {**scope.parameters, **scope.params_out} if scope is not None else from_environment()
    if key is None:
        return params
    if key in params:
        return params[key]
    if key.lower() in params:
        return params[key.lower()]
    raise UsageError(f"parameter '{key}' is not set (known: {', '.join(sorted(params)) or 'none'})")


def get_run_id() -> str:
    """The id of the run this step belongs to."""
    scope = _scope.get()
    return scope.run_id if scope is not None else os.environ.get("MAGNUS_RUN_ID", "")


def get_tag() -> str:
    """The run's tag (`--tag`), or "" when none was given."""
    scope = _scope.get()
    return scope.tag if scope is not None else os.environ.get("MAGNUS_RUN_TAG", "")


def _services() -> Any:
    scope = _scope.get()
    if scope is None or scope.services is None:
        return None
    return scope.services


def get_secret(name: str | None = None) -> Any:
    """One secret by name, or all the provider will list (a dict) when no name is given."""
    services = _services()
    if services is None or getattr(services, "secrets", None) is None:
        from magnus_core.secrets import secrets_from_environment

        provider = secrets_from_environment()
    else:
        provider = services.secrets
    return provider.get(name) if name is not None else provider.get_all()


def get_from_catalog(name: str, destination_folder: str | None = None) -> list[Any]:
    """Copy files matching `name` from this run's catalog into the data folder (or `destination_folder`)."""
    services = _services()
    if services is None or getattr(services, "catalog", None) is None:
        raise NotBuiltError("get_from_catalog works inside a step run by magnus (the data catalog)")
    return services.catalog_get(name, destination_folder)


def put_in_catalog(filepath: str) -> list[Any]:
    """Copy the file(s) at `filepath` into this run's catalog."""
    services = _services()
    if services is None or getattr(services, "catalog", None) is None:
        raise NotBuiltError("put_in_catalog works inside a step run by magnus (the data catalog)")
    return services.catalog_put(filepath)
