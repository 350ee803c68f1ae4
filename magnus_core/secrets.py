"""Secrets providers: env-and-dotenv (the default), dotenv, env-secrets-manager and do-nothing.

Values live in memory only. Each provider knows which of its values were handed to the run (`values()`):
those, and only those, are masked (magnus_core.masking). A value given at a prompt is kept in `overrides`
and handed to child processes (shell steps, notebooks' kernels) in MAGNUS_SECRETS_GIVEN, so get_secret()
there finds it as python steps do.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.credentials import google_key_secrets
from magnus_core.errors import ConfigError, SecretNotFoundError
from magnus_core.registry import load_provider, parse_options

if TYPE_CHECKING:
    from magnus_core.models.pipeline import Dag


# Each provider's options and their defaults (text options only). The usual block (text values, known
# names) is read without pydantic, as a plain object with the same attributes; anything else is validated
# by the provider's pydantic model (made on first use: `_options_model`), so every message and conversion is
# the model's (registry.parse_options). A step run alone (`magnus execute_single_node`, issue 19) then
# imports no pydantic for its secrets.
_OPTIONS: dict[str, dict[str, str]] = {
    "_DotEnvOptions": {"location": ".env"},
    "_EnvOptions": {"prefix": "", "suffix": ""},
    "_EnvAndDotEnvOptions": {"location": ".env"},
}


class _Options:
    """A provider's options read without pydantic: each option an attribute, as the model's would be."""

    def __init__(self, values: dict[str, str]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # (for the type checker: the options are attributes)
        raise AttributeError(name)


def _options(model: str, config: dict[str, Any]) -> Any:
    defaults = _OPTIONS[model]
    if config.keys() <= defaults.keys() and all(type(value) is str for value in config.values()):
        return _Options({**defaults, **config})
    return parse_options(_options_model(model), config, "secrets")


@functools.cache
def _options_model(name: str) -> Any:
    """The options of `_OPTIONS[name]` as a pydantic model (made once, on first use)."""
    from pydantic import BaseModel, ConfigDict, create_model

    class _Base(BaseModel):
        model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)

    fields: dict[str, Any] = {key: (str, default) for key, default in _OPTIONS[name].items()}
    return create_model(name, __base__=_Base, **fields)


def __getattr__(name: str) -> Any:
    """The options models by name (`secrets._EnvOptions`), made on first use."""
    if name in _OPTIONS:
        return _options_model(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


CONFIG_VARIABLE = "MAGNUS_SECRETS_CONFIG"  # the provider's type and options, for child processes
GIVEN_VARIABLE = "MAGNUS_SECRETS_GIVEN"  # values given at a prompt, for child processes
REQUESTED_VARIABLE = "MAGNUS_SECRETS_REQUESTED"  # a file child processes append the names they ask for to


class BaseSecrets:
    """A secrets provider. `get(name)` returns a value or raises SecretNotFoundError naming the provider
    and the name (never a value); `values()` are the values handed to the run, which output masks."""

    service_name = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.overrides: dict[str, str] = _Tracked()  # values given at a prompt: memory only
        self.seen: dict[str, str] = _Tracked()  # values handed out or looked up, so output can be masked
        # credentials magnus's own services use (add_credentials): masked, never handed to a child process
        self.credentials: dict[str, str] = _Tracked()
        # Asked for a secret the provider lacks: the CLI sets a getpass prompt on a terminal, the
        # workbench a masked modal. Returns the value, or None to give up.
        self.prompt: Callable[[str], str | None] | None = None
        self._prompt_lock = threading.Lock()
        self.requests: Path | None = None  # see watch_requests()
        self._requests_read = 0
        self._requests_fd: int | None = None  # the file kept open while watched (its size without a stat)

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
            where = f" (it looks in {self.looks_in()})" if self.looks_in() else ""
            raise SecretNotFoundError(
                f"secret '{name}' is not known to the {self.service_name} secrets provider{where}"
            )
        return value

    def get_all(self) -> dict[str, str]:
        return dict(self.overrides)

    def looks_in(self) -> str:
        """Where the provider looks, for the not-found message ("" when it looks nowhere)."""
        return ""

    def has(self, name: str) -> bool:
        return self._find(name) is not None

    def values(self) -> list[str]:
        """Every secret value this provider has handed out or holds, for masking output (and the
        credentials of magnus's own services, add_credentials)."""
        return _masked_values({*self.overrides.values(), *self.seen.values(), *self.credentials.values()})

    def add_credentials(self, found: dict[str, str]) -> None:
        """Mask these too: credentials magnus itself uses to reach its stores ({what: value}, e.g. the
        postgres store's password however libpq found it, PGPASSWORD, AWS_SECRET_ACCESS_KEY), declared in
        no pipeline. They are masked in everything the run writes; unlike secrets they are never handed to
        child processes (those have the environment they came from already)."""
        self.credentials.update({what: value for what, value in found.items() if value})

    @property
    def version(self) -> int:
        """Changes when a secret value is added or changed (then the masker's patterns are rebuilt).
        Names a child process asked for (watch_requests) are looked up first, so their values count."""
        if self.requests is not None:
            self._read_requests()
        return self.overrides.changes + self.seen.changes + self.credentials.changes  # type: ignore[attr-defined]

    def _read_requests(self) -> None:
        path, fd = self.requests, self._requests_fd
        try:  # (asked once per step: the open file's size is a fifth of a stat's cost, no path to resolve)
            size = os.lseek(fd, 0, os.SEEK_END) if fd is not None else os.stat(path).st_size  # type: ignore[arg-type]
        except OSError:
            return
        if size <= self._requests_read:
            return
        if fd is not None:
            data = os.pread(fd, size - self._requests_read, self._requests_read)
        else:
            with open(path, "rb") as handle:  # type: ignore[arg-type]
                handle.seek(self._requests_read)
                data = handle.read(size - self._requests_read)
        consumed = data.rfind(b"\n") + 1  # whole lines only: a name being written is read next time
        self._requests_read += consumed
        for name in data[:consumed].decode("utf-8", "replace").splitlines():
            if name and name not in self.seen:
                self._find(name)  # records the value in `seen` (masked from now on) when the provider has it

    def child_environment(self) -> dict[str, str]:
        """What a child process (a shell step, a notebook's kernel, a subprocess of a python step) needs to
        call get_secret() as this process does: the provider's type and options, and the values given at
        a prompt (which no provider could find there)."""
        from magnus_core import jsonio as json

        env = {CONFIG_VARIABLE: json.dumps(self.describe())}
        if self.overrides:
            env[GIVEN_VARIABLE] = json.dumps(dict(self.overrides))
        if self.requests is not None:
            env[REQUESTED_VARIABLE] = str(self.requests)
        return env


class DoNothingSecrets(BaseSecrets):
    """The original's default, now only when asked for (`type: do-nothing`): every secret is "" unless a
    prompt gives it."""

    service_name = "do-nothing"

    def get(self, name: str) -> str:
        value = self.overrides.get(name)
        if value is None:
            value = self.ask(name) if self.prompt is not None else None
        return value if value is not None else ""

    def has(self, name: str) -> bool:
        return name in self.overrides


class DotEnvSecrets(BaseSecrets):
    """NAME=value lines of a file (python-dotenv's syntax: quotes, escapes, multi-line values, `export`).
    Every value of the file is handed to the run, so every one is masked."""

    service_name = "dotenv"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = _options("_DotEnvOptions", self.config)
        self._values: dict[str, str] | None = None
        self._load()  # a missing or malformed file is a usage error before anything runs

    def looks_in(self) -> str:
        return f"{self.options.location}"

    def _load(self) -> dict[str, str]:
        if self._values is None:
            self._values = parse_dotenv(Path(self.options.location))
        return self._values

    def _lookup(self, name: str) -> str | None:
        return self._load().get(name)

    def get_all(self) -> dict[str, str]:
        return {**self._load(), **self.overrides}

    def values(self) -> list[str]:
        return _masked_values({*self._load().values(), *self.overrides.values(), *self.credentials.values()})


def _masked_values(found: set[str]) -> list[str]:
    """The values to mask: every non-empty one, and the secret fields of one that is a Google credentials
    JSON (a service-account key kept whole in .env: a step printing its private_key decoded, with real line
    breaks, would not match the one-line JSON text; credentials.google_key_secrets)."""
    values = [v for v in found if v]
    for value in [v for v in values if v[0] == "{" or (v[0].isspace() and v.lstrip()[:1] == "{")]:
        values.extend(google_key_secrets(value).values())
    return values


def parse_dotenv(path: Path, *, required: bool = True) -> dict[str, str]:
    """A .env file read as python-dotenv reads it (quotes, escapes, multi-line values, `export`, `#`
    comments, ${VAR} expansion). A line it cannot parse, or a name without '=', is a ConfigError naming
    the file and the line, never its content (it may hold a secret). A missing file: ConfigError when
    `required`, else {}."""
    if not os.path.exists(path):  # before importing python-dotenv: most runs have no .env file
        if not required:
            return {}
        raise ConfigError(f"secrets file not found (dotenv location {str(path)!r})", file=str(path))
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    from magnus_core.paths import read_regular_file

    # a FIFO or a device named as the secrets file is refused, and at most 20 MB are read
    raw = read_regular_file(path, limit=20 * 1024 * 1024, what="secrets file", error=ConfigError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("secrets file is not UTF-8 text", file=str(path)) from None
    import io

    for binding in parse_stream(io.StringIO(text)):
        if binding.error or (binding.key is not None and binding.value is None):
            original = binding.original.string
            line = binding.original.line + original[: len(original) - len(original.lstrip())].count("\n")
            raise ConfigError(
                f"line {line}: expected NAME=value (the line is not shown, it may hold a secret)",
                file=str(path),
            )
    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {key: value for key, value in values.items() if value is not None}


class EnvSecrets(BaseSecrets):
    """The environment variable <prefix><name><suffix>. Only the names requested or declared are handed
    to the run (and masked), never the whole environment."""

    service_name = "env-secrets-manager"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = _options("_EnvOptions", self.config)

    def looks_in(self) -> str:
        return f"the environment variable {self.options.prefix}<name>{self.options.suffix}"

    def _lookup(self, name: str) -> str | None:
        return os.environ.get(f"{self.options.prefix}{name}{self.options.suffix}")

    def get_all(self) -> dict[str, str]:
        return dict(self.overrides)  # the documented {}: never the whole environment

    def child_environment(self) -> dict[str, str]:
        """As the base class, and a value given at a prompt also as the variable this provider reads, so a
        shell step's `$name` sees it as it would have seen the environment's."""
        env = super().child_environment()
        for name, value in self.overrides.items():
            env[f"{self.options.prefix}{name}{self.options.suffix}"] = value
        return env


class EnvAndDotEnvSecrets(BaseSecrets):
    """The default when no `secrets` block is given: the environment variable <name>, else the .env file
    of the project folder (`location`, optional). Masked: every value of the .env file, and the
    environment's values of the names requested or declared (never the whole environment)."""

    service_name = "env-and-dotenv"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = _options("_EnvAndDotEnvOptions", self.config)
        self._file = parse_dotenv(Path(self.options.location), required=False)

    def looks_in(self) -> str:
        return f"the environment and {self.options.location}"

    def _lookup(self, name: str) -> str | None:
        value = os.environ.get(name)
        return value if value is not None else self._file.get(name)

    def get_all(self) -> dict[str, str]:
        return {**self._file, **self.overrides}

    def values(self) -> list[str]:
        found = {*self._file.values(), *self.overrides.values(), *self.seen.values()}
        found.update(self.credentials.values())
        return _masked_values(found)


def make_secrets(block: dict[str, Any]) -> BaseSecrets:
    """The secrets provider a config block names (entry-point group `magnus.secrets`); ConfigError if
    unknown, or if its options or its file are wrong."""
    provider: BaseSecrets = load_provider("secrets", block)
    return provider


def secrets_from_environment() -> BaseSecrets:
    """Outside a step run in-process (a shell step's child, a notebook's kernel, a script): the provider
    named by MAGNUS_SECRETS_CONFIG (the default provider when unset), with the values given at a prompt
    (MAGNUS_SECRETS_GIVEN)."""
    from magnus_core import jsonio as json

    raw = os.environ.get(CONFIG_VARIABLE)
    provider = make_secrets(json.loads(raw) if raw else {"type": "env-and-dotenv", "config": {}})
    given = os.environ.get(GIVEN_VARIABLE)
    if given:
        try:
            values = json.loads(given)
        except ValueError:
            values = {}
        if isinstance(values, dict):
            provider.overrides.update({str(k): str(v) for k, v in values.items()})
    return provider


def tell_run(name: str) -> None:
    """In a child process of a run (a shell step's command, a notebook's kernel): tell the run the name of
    a secret handed out here (never its value), so the run masks it in this process's output, which
    reaches the run through its pipes after this line is written."""
    path = os.environ.get(REQUESTED_VARIABLE)
    if not path or "\n" in name:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, name.encode("utf-8") + b"\n")
    finally:
        os.close(fd)


@contextlib.contextmanager
def watch_requests(secrets: BaseSecrets) -> Iterator[None]:
    """For a run: a private file where child processes append the names of the secrets they ask for
    (tell_run); the provider looks them up, so output that follows is masked. Removed at the end."""
    from magnus_core.files import temp_file_in_tmpdir
    from magnus_core.processes import remove_if_killed

    fd, name = temp_file_in_tmpdir("magnus-secrets-", ".names")  # mode 0600
    remove_if_killed(name)  # by the watcher, should magnus die at once (it was left in TMPDIR: trial 13)
    kept = fd if hasattr(os, "pread") else None  # read through this open file (children append by name)
    if kept is None:
        os.close(fd)
    else:
        from magnus_core.files import own_fd

        own_fd(kept, "secrets request file")
    secrets.requests, secrets._requests_read, secrets._requests_fd = Path(name), 0, kept
    try:
        yield
    finally:
        try:
            secrets.version  # noqa: B018 - the last names asked for are looked up before the file goes
        finally:
            secrets.requests, secrets._requests_fd = None, None
            if kept is not None:
                from magnus_core.files import close_own

                close_own(kept)
            with contextlib.suppress(OSError):
                os.unlink(name)
            remove_if_killed(name, forget=True)


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
