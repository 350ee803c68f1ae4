"""command_type python: `module.function`, imported from the working directory, called in this process."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from magnus_core.errors import StepError, UsageError
from magnus_core.interaction import StepScope
from magnus_core.parameters import (
    MAP_VARIABLE,
    PRM_PREFIX,
    TRACK_PREFIX,
    bind,
    decode,
    encode,
    fold_names,
    json_value,
)

_cache: dict[str, Callable[..., Any]] = {}
_OURS = (PRM_PREFIX, TRACK_PREFIX, "MAGNUS_RUN_")  # the environment variables a run sets and restores


def resolve(command: str, cwd: str | None = None) -> Callable[..., Any]:
    """Import `module.function` (working directory first on sys.path); UsageError if it cannot."""
    if command in _cache:
        return _cache[command]
    module_name, dot, func_name = command.strip().rpartition(".")
    if not dot or not module_name or not func_name:
        raise UsageError(f"command '{command}' must be module.function", field="command")
    here = cwd or os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"cannot import module '{module_name}' of command '{command}': {exc}", field="command"
        ) from None
    except Exception as exc:
        raise UsageError(
            f"importing module '{module_name}' failed: {exc.__class__.__name__}: {exc}", field="command"
        ) from None
    func = getattr(module, func_name, None)
    if func is None:
        raise UsageError(f"module '{module_name}' has no function '{func_name}'", field="command")
    if not callable(func):
        raise UsageError(f"'{command}' is not callable", field="command")
    _cache[command] = func
    return func


class EnvBridge:
    """Mirrors parameters into MAGNUS_PRM_* for code that reads the environment, and collects what the
    step set there (MAGNUS_TRACK_*, new or changed MAGNUS_PRM_*). Only values that changed are rewritten."""

    def __init__(self) -> None:
        self.exported: dict[str, str] = {}
        self._saved: dict[str, str | None] = {}  # the MAGNUS_* environment before the run

    def _set(self, name: str, text: str) -> None:
        if not self._saved:  # first write of this run: remember the environment's MAGNUS_* variables
            self._saved = {k: v for k, v in os.environ.items() if k.startswith(_OURS)}
            self._saved.setdefault("MAGNUS_RUN_ID", None)
            for stale in [k for k in self._saved if k.startswith(TRACK_PREFIX)]:
                del os.environ[stale]  # set before the run: not a metric of its first step
        os.environ[name] = text

    def export(
        self, params: dict[str, Any], run_id: str, tag: str, map_variable: dict[str, Any] | None = None
    ) -> None:
        """The environment of the step about to run: its parameters as MAGNUS_PRM_<name> (JSON), inside a
        map MAGNUS_PRM_MAP_VARIABLE (every enclosing map's item, as JSON, as the original set it for every
        task type), the run id and tag. What an earlier step had that this one has not (a map's item after
        the map) is taken away."""
        self._set("MAGNUS_RUN_ID", run_id)
        self._set("MAGNUS_RUN_TAG", tag or "")
        wanted = {f"{PRM_PREFIX}{key}": encode(value) for key, value in params.items()}
        if map_variable:
            wanted[MAP_VARIABLE] = encode(map_variable)
        for name in [n for n in self.exported if n not in wanted]:
            os.environ.pop(name, None)
            del self.exported[name]
        for name, text in wanted.items():
            if self.exported.get(name) != text or os.environ.get(name) != text:
                self._set(name, text)
                self.exported[name] = text

    def restore(self) -> None:
        """Put the MAGNUS_* environment back as it was before the run, so a second run in this process
        (the workbench, tests) does not start with the first run's parameters."""
        if not self._saved:
            return
        for name in [k for k in os.environ if k.startswith(_OURS)]:
            if name not in self._saved:
                del os.environ[name]
        for name, before in self._saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        self._saved = {}
        self.exported.clear()

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Parameters the step set (decoded) and its MAGNUS_TRACK_ variables (as text, removed)."""
        changed: list[tuple[str, Any]] = []
        metrics: dict[str, str] = {}
        for name in _names_starting(PRM_PREFIX, TRACK_PREFIX):
            value = os.environ[name]
            if name.startswith(TRACK_PREFIX):
                metrics[name] = value
                del os.environ[name]
            elif name != MAP_VARIABLE and self.exported.get(name) != value:
                changed.append((name[len(PRM_PREFIX) :], decode(value)))
                self.exported[name] = value
        return fold_names(changed, "the step's environment (MAGNUS_PRM_*)"), metrics


_PREFIXES_B: dict[tuple[str, ...], tuple[bytes, ...]] = {}


def _names_starting(*prefixes: str) -> list[str]:
    """Names of environment variables that start with one of `prefixes`. Run once per step: on POSIX it
    looks at os.environ's encoded keys, which avoids decoding every variable of the environment."""
    data = getattr(os.environ, "_data", None)
    if os.name != "posix" or not isinstance(data, dict):
        return [k for k in os.environ if k.startswith(prefixes)]
    encoded = _PREFIXES_B.get(prefixes)
    if encoded is None:
        encoded = _PREFIXES_B[prefixes] = tuple(os.fsencode(p) for p in prefixes)
    return [os.fsdecode(k) for k in data if k.startswith(encoded)]


def call_bound(func: Callable[..., Any], command: str, scope: StepScope) -> None:
    """Call with arguments bound by name; a dict return becomes parameters, anything else but None fails."""
    params = {**scope.parameters}
    kwargs, missing = bind(func, params)
    if missing:
        raise StepError(
            f"function '{command}' needs argument(s) {', '.join(repr(m) for m in missing)}, "
            f"which no parameter provides (known: {', '.join(sorted(params)) or 'none'})"
        )
    scope.inputs = kwargs
    result = func(**kwargs)
    if result is None:
        return
    if not isinstance(result, dict):
        raise StepError(
            f"function '{command}' returned {type(result).__name__}; only a dict (of parameters) "
            "or nothing may be returned"
        )
    returned = fold_names(((str(k), v) for k, v in result.items()), f"function '{command}'")
    scope.params_out.update({k: json_value(v) for k, v in returned.items()})


def run(command: str, command_config: dict[str, Any], scope: StepScope, ctx: Any) -> None:
    func = resolve(command)
    from magnus_core.executors.local import in_concurrent_branch

    if in_concurrent_branch.get():
        # os.environ is shared by every thread: beside other branches, the step scope carries
        # parameters and metrics (track_this, store_parameter, return values) instead.
        call_bound(func, command, scope)
        return
    bridge: EnvBridge = ctx.env_bridge
    bridge.export(scope.parameters, scope.run_id, scope.tag, scope.map_variable)
    try:
        call_bound(func, command, scope)
    finally:
        env_params, env_metrics = bridge.collect()
    # Explicit calls and return values win over raw environment writes, and come first (the original's order).
    scope.track_env(env_metrics, keep_existing=True)
    scope.params_out.update({k: v for k, v in env_params.items() if k not in scope.params_out})
