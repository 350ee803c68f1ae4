"""Secrets providers: do-nothing, dotenv and env-secrets-manager. Values live in memory only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from magnus_core.errors import ConfigError, SecretNotFoundError
from magnus_core.registry import load_provider, parse_options

BUILTIN = {
    "do-nothing": "magnus_core.secrets:DoNothingSecrets",
    "dotenv": "magnus_core.secrets:DotEnvSecrets",
    "env-secrets-manager": "magnus_core.secrets:EnvSecrets",
}


class BaseSecrets:
    service_name = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.overrides: dict[str, str] = {}  # values given at a prompt: memory only

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def _lookup(self, name: str) -> str | None:
        return None

    def get(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        value = self._lookup(name)
        if value is None:
            raise SecretNotFoundError(f"secret '{name}' is not known to the {self.service_name} secrets provider")
        return value

    def get_all(self) -> dict[str, str]:
        return dict(self.overrides)

    def has(self, name: str) -> bool:
        return name in self.overrides or self._lookup(name) is not None

    def values(self) -> list[str]:
        """Every secret value this provider has handed out or holds, for masking output."""
        return [v for v in self.overrides.values() if v]


class DoNothingSecrets(BaseSecrets):
    service_name = "do-nothing"

    def get(self, name: str) -> str:
        return self.overrides.get(name, "")

    def has(self, name: str) -> bool:
        return name in self.overrides


class _DotEnvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str = ".env"


class DotEnvSecrets(BaseSecrets):
    service_name = "dotenv"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(_DotEnvOptions, self.config, "secrets")
        self._values: dict[str, str] | None = None
        self._load()  # a missing or malformed file is a usage error before anything runs

    def _load(self) -> dict[str, str]:
        if self._values is None:
            self._values = parse_dotenv(Path(self.options.location))
        return self._values

    def _lookup(self, name: str) -> str | None:
        return self._load().get(name)

    def get_all(self) -> dict[str, str]:
        return {**self._load(), **self.overrides}

    def values(self) -> list[str]:
        return [v for v in [*self._load().values(), *self.overrides.values()] if v]


def parse_dotenv(path: Path) -> dict[str, str]:
    """KEY=value lines, '#' comments and blank lines; a malformed line is named, its content is not shown."""
    if not path.exists():
        raise ConfigError(f"secrets file not found (dotenv location {str(path)!r})", file=str(path))
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key or not key.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError(f"line {number}: expected NAME=value (the line is not shown, it may hold a secret)",
                              file=str(path))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


class _EnvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: str = ""
    suffix: str = ""


class EnvSecrets(BaseSecrets):
    service_name = "env-secrets-manager"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(_EnvOptions, self.config, "secrets")

    def _lookup(self, name: str) -> str | None:
        return os.environ.get(f"{self.options.prefix}{name}{self.options.suffix}")

    def get_all(self) -> dict[str, str]:
        return dict(self.overrides)  # the documented {}: never the whole environment

    def values(self) -> list[str]:
        return list(self.overrides.values())


def make_secrets(block: dict[str, Any]) -> BaseSecrets:
    return load_provider("secrets", BUILTIN, block)


def secrets_from_environment() -> BaseSecrets:
    """Outside a step run in-process (a shell step's child), the provider named by MAGNUS_SECRETS_CONFIG."""
    import json

    raw = os.environ.get("MAGNUS_SECRETS_CONFIG")
    if not raw:
        return DoNothingSecrets({})
    return make_secrets(json.loads(raw))
