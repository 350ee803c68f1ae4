"""Providers chosen by a config block's `type`: built-ins by name, third parties by entry point."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from magnus_core.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

ENTRY_POINT_GROUP = "magnus.{service}"


def _entry_points(service: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP.format(service=service))}


def load_provider(service: str, builtin: dict[str, str], block: dict[str, Any]) -> Any:
    """Build the provider named by block['type'] with block['config']; unknown types list the known ones."""
    kind = block.get("type")
    config = block.get("config") or {}
    if kind in builtin:
        module, _, attr = builtin[kind].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        plugins = _entry_points(service)
        if kind not in plugins:
            known = ", ".join(sorted(set(builtin) | set(plugins)))
            raise ConfigError(f"unknown type '{kind}' (known: {known})", field=f"{service}.type")
        cls = plugins[kind].load()
    return cls(config)


def parse_options(model: type[BaseModel], config: dict[str, Any], where: str) -> Any:
    """Validate a provider's options against its pydantic model; one clear line on error."""
    from pydantic import ValidationError

    try:
        return model.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown option (a typo?)" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")  # a validator's own sentence, without pydantic's prefix
        raise ConfigError(msg, field=f"{where}.config.{loc}" if loc else f"{where}.config") from None
