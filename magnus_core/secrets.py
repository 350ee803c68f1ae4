"""Secrets providers: do-nothing, dotenv and env-secrets-manager. Values live in memory only."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict

from magnus_core.errors import ConfigError, SecretNotFoundError
from magnus_core.models.pipeline import Dag
from magnus_core.registry import load_provider, parse_options

BUILTIN = {
    "do-nothing": "magnus_core.secrets:DoNothingSecrets",
    "dotenv": "magnus_core.secrets:DotEnvSecrets",
    "env-secrets-manager": "magnus_core.secrets:EnvSecrets",
}


class _Tracked(dict[str, str]):
    """A dict of secret values that counts its changes, so masks are recomputed only when one changes."""

    changes = 0

    def __setitem__(self, key: str, value: str) -> None:
        if key not in self or self[key] != value:
            super().__setitem__(key, value)
            self.changes += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changes += 1

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def pop(self, *args: Any) -> Any:
        self.changes += 1
        return super().pop(*args)

    def clear(self) -> None:
        super().clear()
        self.changes += 1


class BaseSecrets:
    service_name = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.overrides: dict[str, str] = _Tracked()  # values given at a prompt: memory only
        self.seen: dict[str, str] = _Tracked()  # values handed out or looked up, so output can be masked
        # Asked for a secret the provider lacks: the CLI sets a getpass prompt on a terminal, the
        # workbench a masked modal. Returns the value, or None to give up.
        self.prompt: Callable[[str], str | None] | None = None
        self._prompt_lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def _lookup(self, name: str) -> str | None:
        return None

    def _find(self, name: str) -> str | None:
        value = self.overrides.get(name)
        if value is None:
            value = self._lookup(name)
        if value is not None:
            self.seen[name] = value
        return value

    def ask(self, name: str) -> str | None:
        """The prompt's answer for a secret the provider lacks (kept in memory for the rest of the run)."""
        if self.prompt is None:
            return None
        with self._prompt_lock:  # concurrent branches asking for the same secret are asked once
            if name in self.overrides:
                return self.overrides[name]
            value = self.prompt(name)
            if value:
                self.overrides[name] = value
                self.seen[name] = value
                return value
        return None

    def get(self, name: str) -> str:
        value = self._find(name)
        if value is None:
            value = self.ask(name)
        if value is None:
            raise SecretNotFoundError(
                f"secret '{name}' is not known to the {self.service_name} secrets provider"
            )
        return value

    def get_all(self) -> dict[str, str]:
        return dict(self.overrides)

    def has(self, name: str) -> bool:
        return self._find(name) is not None

    def values(self) -> list[str]:
        """Every secret value this provider has handed out or holds, for masking output."""
        return [v for v in {*self.overrides.values(), *self.seen.values()} if v]

    @property
    def version(self) -> int:
        """Changes when a secret value is added or changed (then masks() is recomputed)."""
        return self.overrides.changes + self.seen.changes  # type: ignore[attr-defined]

    def masks(self) -> tuple[str, ...]:
        """values() ready for masking (longest first, 3 characters or more), cached until one changes."""
        version = self.version
        cached = getattr(self, "_masks", None)
        if cached is None or cached[0] != version:
            cached = (
                version,
                tuple(sorted((v for v in set(self.values()) if len(v) >= 3), key=len, reverse=True)),
            )
            self._masks = cached
        return cached[1]


class DoNothingSecrets(BaseSecrets):
    service_name = "do-nothing"

    def get(self, name: str) -> str:
        value = self.overrides.get(name)
        if value is None:
            value = self.ask(name) if self.prompt is not None else None
        return value if value is not None else ""

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
        return [v for v in {*self._load().values(), *self.overrides.values()} if v]


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
            line = line[len("export ") :].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key or not key.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError(
                f"line {number}: expected NAME=value (the line is not shown, it may hold a secret)",
                file=str(path),
            )
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


def make_secrets(block: dict[str, Any]) -> BaseSecrets:
    return load_provider("secrets", BUILTIN, block)


def secrets_from_environment() -> BaseSecrets:
    """Outside a step run in-process (a shell step's child), the provider named by MAGNUS_SECRETS_CONFIG."""
    import json

    raw = os.environ.get("MAGNUS_SECRETS_CONFIG")
    if not raw:
        return DoNothingSecrets({})
    return make_secrets(json.loads(raw))


def declared_secrets(dag: Dag) -> list[str]:
    """The names in `secrets:` of the dag and of every graph nested in it (any branch, to any depth)."""
    from magnus_core.graph import graphs

    names: dict[str, None] = {}
    for _, graph in graphs(dag):
        names.update(dict.fromkeys(graph.secrets))
    return list(names)


def missing_secrets(dag: Dag, provider: BaseSecrets) -> list[str]:
    """Declared secrets the provider does not have (all of them at once, never their values)."""
    return [name for name in declared_secrets(dag) if not provider.has(name)]


# -- masking --------------------------------------------------------------------------------------
MASK = "*****"


def mask_text(text: str, values: Iterable[str]) -> str:
    """Replace every secret value (3 characters or more: shorter ones would hide ordinary text)."""
    return _mask_sorted(text, sorted((v for v in values if len(v) >= 3), key=len, reverse=True))


def _mask_sorted(text: str, masks: Iterable[str]) -> str:
    for value in masks:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_values(data: Any, values: list[str]) -> Any:
    """A copy of JSON-like data (metrics, parameters) with secret values masked in every string."""
    if not values:
        return data
    if isinstance(data, str):
        return mask_text(data, values)
    if isinstance(data, dict):
        return {key: mask_values(value, values) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_values(value, values) for value in data]
    return data


class MaskingStream:
    """A text stream that hides secret values before writing to the stream it wraps. Whole lines are
    masked at once so a value written in two parts (print's text, then its newline) is still caught."""

    def __init__(self, target: IO[str], secrets: BaseSecrets) -> None:
        self.target = target
        self._secrets = secrets
        self._version = -1
        self._masks: tuple[str, ...] = ()
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        # called for every piece print() writes: the common case (no secret) must stay cheap
        if self._secrets.overrides.changes + self._secrets.seen.changes != self._version:  # type: ignore[attr-defined]
            self._version = self._secrets.version
            self._masks = self._secrets.masks()
        masks = self._masks
        if not masks and not self._pending:
            return self.target.write(text)
        with self._lock:
            if "\n" not in text:
                self._pending += text
                return len(text)
            head, newline, tail = (self._pending + text).rpartition("\n")
            self._pending = tail
            self.target.write(_mask_sorted(head + newline, masks))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.target.write(_mask_sorted(self._pending, self._secrets.masks()))
                self._pending = ""
        self.target.flush()

    # What code asks of sys.stdout, forwarded. (No __getattr__: it slows every attribute lookup, and write
    # is called for each piece print() writes.)
    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:
        return getattr(self.target, "errors", None)

    @property
    def buffer(self) -> Any:
        return getattr(self.target, "buffer", None)

    @property
    def closed(self) -> bool:
        return bool(getattr(self.target, "closed", False))

    def isatty(self) -> bool:
        return bool(getattr(self.target, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.target.fileno()

    def writable(self) -> bool:
        return True

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)


class MaskingPipe:
    """A pipe a child process writes to; a thread masks what it reads and writes it on. For shell steps."""

    def __init__(self, target: IO[str] | None, masks: Callable[[], tuple[str, ...]]) -> None:
        import sys

        self._read_fd, self._write_fd = os.pipe()
        self._target = target if target is not None else sys.stdout
        self._masks = masks
        self._thread = threading.Thread(target=self._pump, name="magnus-mask", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._write_fd

    def _pump(self) -> None:
        with os.fdopen(self._read_fd, "r", encoding="utf-8", errors="replace", newline="") as reader:
            for line in reader:
                self._target.write(_mask_sorted(line, self._masks()))
            self._target.flush()

    def close(self) -> None:
        """Close our end (the child's copy closed when it exited) and wait for the rest to be written."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
        self._thread.join(timeout=5)  # a background child may hold the pipe open
