"""command_type python: `module.function`, imported from the working directory, called in this process."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from magnus_core.errors import StepError, UsageError
from magnus_core.interaction import StepScope
from magnus_core.interrupts import from_signal, received
from magnus_core.param_types import check_arguments
from magnus_core.parameters import fold_names, json_value
from magnus_core.stepguard import MODULE_FOLDERS, module_folder
from magnus_core.suggest import did_you_mean

if TYPE_CHECKING:
    from magnus_core.context import RunContext

# (command, working folder) -> (function, its module's file, that file's (mtime_ns, size) when imported,
# the run for which the file was last found unchanged)
_cache: dict[tuple[str, str], tuple[Callable[..., Any], str, tuple[int, int] | None, str | None]] = {}


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size


def _stale_project_module(module_name: str, here: str) -> None:
    """Forget an imported module of the project that no longer matches its file, so the import below
    reads it again: its file changed since it was imported, or it was imported from another folder than
    the one this run works in (a long-lived process, such as a Dask worker, serving runs of edited code
    or of two projects). Without this a run would record the new commit and run the old code.
    Libraries (modules outside `here`) are left alone: only a project's own modules are expected to change."""
    module = sys.modules.get(module_name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if not origin:
        return
    top = module_name.split(".", 1)[0]
    local = any(os.path.exists(os.path.join(here, top + tail)) for tail in (".py", os.sep + "__init__.py"))
    inside = os.path.abspath(origin).startswith(os.path.abspath(here) + os.sep)
    stamp = getattr(module, "__magnus_stamp__", None)
    if (local and not inside) or (inside and stamp is not None and stamp != _stamp(origin)):
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()


def resolve(
    command: str, cwd: str | None = None, run: str | None = None, step: str | Callable[[], str] | None = None
) -> Callable[..., Any]:
    """Import `module.function` (working directory first on sys.path); UsageError if it cannot.

    The function is kept for the next steps (one import per process, not per step), and looked at again
    only when its module's file changed or the working folder is another one: then the module is read
    again (see _stale_project_module). With `run`, the file is looked at once per run: the run's steps
    run the code the run began with, as one python process does (a run of 10,000 steps of one function
    stat-ed its file 10,000 times); a long-lived process (a Dask worker, the workbench) still reads an
    edited module for its next run.

    A module imported outside any step (before the run: runner.check_commands) is imported as a step's
    command runs (stepguard.guarded_import): what its code does at import for the whole process (the working
    folder, sys.stdout, SIGPIPE, a thread left running) is put back or said as a step's is, naming `step`
    (its name, or a function that finds it) and the module.

    Whatever the module's code raises as it is imported is an ImportFailed naming the module and located
    in its file: an exception, and also a SystemExit (sys.exit or os._exit at its top; argparse or click
    refusing magnus's own command line, which a module parsing it as it is imported sees) or a
    KeyboardInterrupt no signal sent, which before trial 20 N1 ended magnus with that code, silently, no
    run log (sys.exit(0): exit 0 and nothing ran). Before the run that refuses it (exit 2, runner.
    check_commands); inside a step the step fails."""
    here = cwd or os.getcwd()
    cached = _cache.get((command, here))
    if cached is not None:
        if run is not None and cached[3] == run:
            return cached[0]
        if cached[2] is None or _stamp(cached[1]) == cached[2]:
            if run is not None:
                _cache[(command, here)] = (*cached[:3], run)
            return cached[0]
    module_name, dot, func_name = command.strip().rpartition(".")
    if not dot or not module_name or not func_name:
        raise UsageError(f"command '{command}' must be module.function", field="command")
    if here not in sys.path:
        sys.path.insert(0, here)
    _stale_project_module(module_name, here)
    signals = received()  # (a KeyboardInterrupt with none since is the module's own: interrupts.py)
    try:
        if module_name in sys.modules:  # (nothing runs: the usual case, every step after the first)
            module = importlib.import_module(module_name)
        else:
            from magnus_core.stepguard import guarded_import

            module = guarded_import(module_name, step)
    except ModuleNotFoundError as exc:
        text = f"cannot import module '{module_name}' of command '{command}': {exc}"
        text += _module_hint(exc.name or "", module_name, here)
        from pathlib import Path

        from magnus_core.failure import error_of, import_failed

        if error_of(exc, Path(here)).frames:  # a module of the project imports what is not installed: where
            raise import_failed(module_name, exc, Path(here), text) from None
        raise UsageError(text, field="command") from None
    except Exception as exc:  # module-level code raised: located in the user's frames (trial 12 fault 4)
        from pathlib import Path

        from magnus_core.failure import import_failed

        raise import_failed(module_name, exc, Path(here)) from None
    except BaseException as exc:  # sys.exit, argparse, os._exit, KeyboardInterrupt at its top (trial 20 N1)
        if isinstance(exc, KeyboardInterrupt) and from_signal(signals):  # Ctrl-C, SIGTERM: the run stops
            raise
        from pathlib import Path

        from magnus_core.failure import import_failed

        raise import_failed(module_name, exc, Path(here)) from None
    func = getattr(module, func_name, None)
    if func is None:
        functions = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise UsageError(
            f"module '{module_name}' has no function '{func_name}'{did_you_mean(func_name, functions)}",
            field="command",
        )
    if not callable(func):
        raise UsageError(f"'{command}' is not callable", field="command")
    origin = getattr(module, "__file__", None) or ""
    stamp = _stamp(origin) if origin else None
    if stamp is not None and getattr(module, "__magnus_stamp__", None) is None:
        with contextlib.suppress(AttributeError, TypeError):  # a module that refuses new attributes
            module.__magnus_stamp__ = stamp  # type: ignore[attr-defined]
    _cache[(command, here)] = (func, origin, stamp, run)
    return func


def _module_hint(missing: str, module_name: str, here: str) -> str:
    """' (did you mean 'steps'?)' when the missing module is the command's first part and a module of the
    working folder is close to it; '' otherwise (a missing library says nothing more)."""
    top = module_name.split(".", 1)[0]
    if missing != top:
        return ""
    import pkgutil

    return did_you_mean(top, (m.name for m in pkgutil.iter_modules([here])))


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
    problem = check_arguments(func, kwargs)  # a value its annotation refuses: the step fails, named
    if problem is not None:
        raise StepError(problem)
    result = func(**kwargs)
    if result is None:
        return
    if not isinstance(result, dict):
        raise StepError(
            f"function '{command}' returned {type(result).__name__}; only a dict (of parameters) "
            "or nothing may be returned"
        )
    for key in result:
        if not isinstance(key, str):  # a parameter named by its text (trial 16 F6: said nowhere)
            scope.text_keys.setdefault(("returned name", str(key).lower()), []).append(key)
    returned = fold_names(((str(k), v) for k, v in result.items()), f"function '{command}'")
    for name, value in returned.items():
        keys: list[Any] = []
        scope.params_out[name] = json_value(value, keys)
        if keys:
            scope.text_keys.setdefault(("returned parameter", name), []).extend(keys)


def run(
    command: str,
    command_config: dict[str, Any],
    scope: StepScope,
    ctx: RunContext,
    _found: Callable[..., Any] | None = None,
) -> None:
    """Call the function in this process with its arguments bound from the parameters by name. Where its
    module changed the working folder as it was imported (stepguard.MODULE_FOLDERS), in that folder
    (stepguard.module_folder; trial 20 N5): run again inside it with the function found (`_found`: not
    looked up again from there, which would put that folder on sys.path); otherwise a dict's truth more
    per step."""
    func = resolve(command, run=scope.run_id, step=scope.internal_name) if _found is None else _found
    if MODULE_FOLDERS and _found is None:
        module = command.strip().rpartition(".")[0]
        chosen = MODULE_FOLDERS.get(module)
        if chosen is not None:
            with module_folder(chosen, module, scope.internal_name, ctx.concurrent):
                run(command, command_config, scope, ctx, func)
            return
    if ctx.concurrent:
        # os.environ is shared by every thread: beside other branches, the step scope carries
        # parameters and metrics (track_this, store_parameter, return values) instead.
        call_bound(func, command, scope)
        return
    bridge = ctx.env_bridge
    bridge.export(scope.parameters, scope.run_id, scope.tag, scope.map_variable)
    try:
        call_bound(func, command, scope)
    finally:
        env_params, env_metrics = bridge.collect()
    # Explicit calls and return values win over raw environment writes, and come first (the original's order).
    scope.track_env(env_metrics, keep_existing=True)
    scope.params_out.update({k: v for k, v in env_params.items() if k not in scope.params_out})
