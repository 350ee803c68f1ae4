"""Parameters checked against the annotations of the python functions that take them (trial8 finding 5).

A python step's function gets each parameter its signature names (tasks.python.bind), as the run log holds
it: JSON values. The original passed them as they were, whatever the annotation said (the spec, section
5.4: no casting), so `--lr abc` for `train(lr: float)` reached the function as the text 'abc' and failed
inside it. Ours casts nothing either (a value stays what the run log records), but refuses a value that
cannot be what the annotation says, naming the parameter, its source, the function and what was
expected:

- before anything runs (runner.prepare, beside the check that imports every step's module): each initial
  parameter (the parameters file, MAGNUS_PRM_*, `--name value`) against every python step function
  taking it, a UsageError (exit 2) naming its source: `--lr`, `params.yaml:3`, `MAGNUS_PRM_LR`;
- when a step runs (tasks.python.call_bound): its arguments, whatever made them (a parameter an earlier
  step returned cannot be checked before it exists): the step fails with the same message.

What is checked: int (not a bool), float (an int too), bool, str, None, list (also tuple, set, Sequence:
JSON holds lists) and dict (also Mapping) with their item types, Literal, Optional and unions of these,
Annotated. Anything else (Any, a class such as a pydantic model or a DataFrame, a TypeVar, an annotation
that cannot be evaluated) is not checked: it fits.
"""

from __future__ import annotations

import functools
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from magnus_core import jsonio as json

NOT_CHECKED = object()  # an annotation this module does not judge

_SEQUENCES = {list, tuple, set, frozenset}
_ABSTRACT_SEQUENCES = {"Sequence", "MutableSequence", "Collection", "Iterable", "AbstractSet", "Set"}
_ABSTRACT_MAPPINGS = {"Mapping", "MutableMapping"}


def fits(value: Any, annotation: Any) -> bool | None:
    """Can `value` (a JSON value: what the run log holds) be what `annotation` says? None: not judged."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return None
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation in _SEQUENCES:
        return isinstance(value, list)
    if annotation is dict:
        return isinstance(value, dict)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return fits(value, args[0])
    if origin is typing.Union or origin is types.UnionType:
        verdicts = [fits(value, arg) for arg in args]
        if any(v is True for v in verdicts):
            return True
        return None if any(v is None for v in verdicts) else False
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    name = getattr(origin, "__name__", "")
    if origin in _SEQUENCES or (origin is not None and name in _ABSTRACT_SEQUENCES):
        if not isinstance(value, list):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return False
            return _all(fits(v, a) for v, a in zip(value, args, strict=True))
        return _all(fits(v, args[0]) for v in value) if args else True
    if origin is dict or (origin is not None and name in _ABSTRACT_MAPPINGS):
        if not isinstance(value, dict):
            return False
        return _all(fits(v, args[1]) for v in value.values()) if len(args) == 2 else True
    if origin is None and getattr(annotation, "__module__", "") in ("collections.abc", "typing"):
        bare = getattr(annotation, "__name__", "")  # collections.abc.Sequence, Mapping without items
        if bare in _ABSTRACT_SEQUENCES:
            return isinstance(value, list)
        if bare in _ABSTRACT_MAPPINGS:
            return isinstance(value, dict)
    return None


def _all(verdicts: Any) -> bool | None:
    """False when one item does not fit, None when none fails but one is not judged, else True."""
    out: bool | None = True
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is None:
            out = None
    return out


def describe(annotation: Any) -> str:
    """An annotation as its source reads (`float`, `int | None`, `list[str]`)."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    if annotation is None or annotation is type(None):
        return "None"
    text = repr(annotation).replace("typing.", "")
    return text.replace("NoneType", "None")


def given(value: Any) -> str:
    """What was given, for the message: `'abc' (text)`, `3 (a number)`, `true (a boolean)`."""
    kind = (
        "text"
        if isinstance(value, str)
        else "a boolean"
        if isinstance(value, bool)
        else "a number"
        if isinstance(value, int | float)
        else "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, dict)
        else "null"
        if value is None
        else type(value).__name__
    )
    shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return shown if value is None else f"{shown} ({kind})"


@functools.lru_cache(maxsize=4096)
def checked_arguments(func: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    """(argument name, annotation) for each argument of `func` whose annotation is judged (fits), read once
    per function. Annotations written as text (`from __future__ import annotations`) are evaluated in the
    function's module; one that cannot be is not checked."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return ()
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # an annotation naming what the module does not define: each one on its own
        hints = {}
    out = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, param.annotation)
        if isinstance(annotation, str):
            annotation = _evaluate(annotation, func)
        if annotation is NOT_CHECKED or annotation is inspect.Parameter.empty:
            continue
        if _judged(annotation):
            out.append((name, annotation))
    return tuple(out)


def _evaluate(text: str, func: Callable[..., Any]) -> Any:
    try:
        scope = dict(vars(__import__("builtins")))
        scope.update(getattr(inspect.unwrap(func), "__globals__", {}))
        return eval(text, scope)  # the user's own annotation, in the user's own module (as get_type_hints)
    except Exception:
        return NOT_CHECKED


def _judged(annotation: Any) -> bool:
    """Does `fits` judge some value for this annotation (so checking it is worth a look per call)?"""
    probes: tuple[Any, ...] = (0, 0.5, True, "x", None, [], {})
    return any(fits(probe, annotation) is not None for probe in probes)


def where(func: Callable[..., Any], root: str | None = None) -> str:
    """`mlp/steps.py:12 train`: the function's file (relative to `root`, the working folder, when inside
    it), its first line and its name."""
    target = inspect.unwrap(func)
    code = getattr(target, "__code__", None)
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", "function")
    name = str(name).rsplit("<locals>.", 1)[-1]  # a function made inside another: its own name
    if code is None:
        return name
    path = code.co_filename
    here = root or os.getcwd()
    try:
        relative = os.path.relpath(path, here)
        if not relative.startswith(".."):
            path = relative
    except ValueError:
        pass
    return f"{path}:{code.co_firstlineno} {name}"


def problem(name: str, value: Any, func: Callable[..., Any], annotation: Any, argument: str) -> str:
    """One line: `parameter 'lr': mlp/steps.py:12 train expects lr: float, got 'abc' (text)`."""
    return f"parameter '{name}': {where(func)} expects {argument}: {describe(annotation)}, got {given(value)}"


def check_arguments(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> str | None:
    """When a step runs: the first bound argument whose value cannot be what its annotation says, as
    `problem` words it; None when all fit (or nothing is judged)."""
    for argument, annotation in checked_arguments(func):
        if argument in kwargs and fits(kwargs[argument], annotation) is False:
            return problem(argument.lower(), kwargs[argument], func, annotation, argument)
    return None


def check_initial(
    functions: Mapping[str, Callable[..., Any]],
    parameters: Mapping[str, Any],
    source: Callable[[str], str],
    skip: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Before the run: each initial parameter against every function (command -> function) taking it by
    name (tasks.python.bind: the name, or its lower-cased form), but `skip` (names a map or loop gives its
    branch's steps, set over the parameter of that name). One line per problem, `source(name): problem`."""
    found: list[str] = []
    for func in functions.values():
        for argument, annotation in checked_arguments(func):
            key = argument if argument in parameters else argument.lower()
            if key in skip or key not in parameters:
                continue
            value = parameters[key]
            if fits(value, annotation) is False:
                line = f"{source(key)}: {problem(key, value, func, annotation, argument)}"
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if number and fits(str(value), annotation):  # typed by hand, read as a number
                    line += f' (text that reads as a number is given in double quotes: "{value}")'
                if line not in found:
                    found.append(line)
    return found
