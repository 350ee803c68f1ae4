"""Run-log stores: where run logs live. Chosen by the config's `run_log_store.type` among the entry points
of the group `magnus.run_log_store` (pyproject.toml lists the built-in ones)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magnus_core.registry import load_provider

if TYPE_CHECKING:
    from magnus_core.stores.base import RunLogStore


def make_store(
    block: dict[str, Any], *, source: str | None = None, secrets: Callable[[], Any] | None = None
) -> RunLogStore:
    """The store a config block names, e.g. {"type": "file-system", "config": {"log_folder": "logs"}}.

    `source`: the config file the block came from (loading.config_source), named by the ConfigError raised
    for an unknown type (naming the known ones) or a bad option, and kept as the store's `source` for the
    errors found on first use (a database that refuses the password).
    `secrets`: makes the config's secrets provider (runs.provider_source), called only if the store asks
    it for a credential (the postgres store's password: RunLogStore.use_secrets)."""
    from magnus_core.errors import ConfigError

    try:
        store: RunLogStore = load_provider("run_log_store", block)
    except ConfigError as exc:
        exc.file = exc.file or source
        raise
    store.source = source
    if secrets is not None:
        store.use_secrets(secrets)
    return store
