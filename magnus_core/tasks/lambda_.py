"""command_type python-lambda: a lambda expression whose arguments come from the parameters."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from magnus_core.errors import UsageError
from magnus_core.interaction import StepScope
from magnus_core.tasks.python import call_bound

if TYPE_CHECKING:
    from magnus_core.context import RunContext

_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "enumerate",
        "filter",
        "float",
        "int",
        "len",
        "list",
        "map",
        "max",
        "min",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
    )
}


def compile_lambda(command: str) -> Any:
    text = command.strip()
    if "_" in text:
        raise UsageError("a python-lambda command must not contain '_' (no dunder access)", field="command")
    if not text.startswith("lambda"):
        raise UsageError(
            "a python-lambda command must be a lambda expression, e.g. 'lambda x: {\"y\": x + 1}'",
            field="command",
        )
    try:
        func = eval(text, {"__builtins__": _SAFE_BUILTINS}, {})
    except SyntaxError as exc:
        raise UsageError(f"python-lambda command is not valid python: {exc.msg}", field="command") from None
    if not callable(func):
        raise UsageError("python-lambda command is not callable", field="command")
    return func


def run(command: str, command_config: dict[str, Any], scope: StepScope, ctx: RunContext) -> None:
    call_bound(compile_lambda(command), command, scope)
