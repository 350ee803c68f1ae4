"""Credentials never reach a run log: find them in config blocks, and mask what slips through.

Config files are recorded in every run log (`run_config`), so a store or catalog option that holds a
credential is refused where it is read (`credential_keys`), with a message saying where to put it instead;
`redact` is the last line of defence when run_config is written: any credential-like key's value, and the
password of any URL, becomes "***".

The credentials magnus itself uses to reach its stores are masked in everything a run writes, declared or
not (docs/secrets.md#credentials-magnus-uses): `environment_credentials` finds the ones the libraries behind
the stores, catalogs and trackers read from the environment; each service adds the ones it resolved itself
(`credentials()` of the postgres store, the fsspec catalog, the argo executor).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
NAMES_OF_SECRETS = frozenset({"secret_options"})  # option -> the name of a secret: names, not values
# Option names that hold a secret in fsspec's backends (s3fs key/secret/token, gcsfs token, adlfs
# account_key/sas_token/connection_string/client_secret), botocore and libpq. `key_id`-style names of
# public identifiers (sse_kms_key_id) are not credentials.
_CREDENTIAL = re.compile(
    r"(^|[_\-.])(key|secret|token|password|passwd|pwd|credentials?|private[_\-]?key|account[_\-]?key|"
    r"sas[_\-]?token|connection[_\-]?string|access[_\-]?key([_\-]?id)?|session[_\-]?token|"
    r"client[_\-]?secret)$|(password|passwd)$",
    re.IGNORECASE,
)


# Environment variables holding a credential that a library behind a store, catalog or tracker reads, and
# who reads it. Identifiers (AWS_ACCESS_KEY_ID, AZURE_CLIENT_ID, PGUSER) are not secrets and are not masked;
# paths (PGPASSFILE, GOOGLE_APPLICATION_CREDENTIALS, AWS_SHARED_CREDENTIALS_FILE) are not values: what a
# service resolved from such a file is added by the service itself (the postgres store's password).
ENVIRONMENT_CREDENTIALS: dict[str, str] = {
    "PGPASSWORD": "libpq (the postgres store)",
    "AWS_SECRET_ACCESS_KEY": "botocore (s3fs: the fsspec catalog on s3://, MLflow's artifacts)",
    "AWS_SESSION_TOKEN": "botocore",
    "AWS_SECURITY_TOKEN": "botocore (the older name of AWS_SESSION_TOKEN)",
    "AZURE_STORAGE_KEY": "adlfs (the fsspec catalog on az://, abfs://)",
    "AZURE_STORAGE_ACCOUNT_KEY": "adlfs",
    "AZURE_STORAGE_CONNECTION_STRING": "adlfs",
    "AZURE_STORAGE_SAS_TOKEN": "adlfs",
    "AZURE_STORAGE_CLIENT_SECRET": "adlfs",
    "AZURE_CLIENT_SECRET": "azure-identity (adlfs's service principal)",
    "MLFLOW_TRACKING_PASSWORD": "mlflow (the mlflow experiment tracker)",
    "MLFLOW_TRACKING_TOKEN": "mlflow",
}
# the secret parts of an Azure connection string (masked on their own too: a step may print one part)
_CONNECTION_STRING_SECRETS = ("accountkey", "sharedaccesssignature")


def environment_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{variable: value} of the ENVIRONMENT_CREDENTIALS set (non-empty) in `environ` (default os.environ),
    with the key and signature of an Azure connection string as entries of their own."""
    environ = os.environ if environ is None else environ
    found = {name: environ[name] for name in ENVIRONMENT_CREDENTIALS if environ.get(name)}
    connection = found.get("AZURE_STORAGE_CONNECTION_STRING", "")
    for part in connection.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in _CONNECTION_STRING_SECRETS and value:
            found[f"AZURE_STORAGE_CONNECTION_STRING.{key.strip()}"] = value
    return found


def is_credential_name(name: str) -> bool:
    """True for option names such as key, secret, token, password, aws_secret_access_key, account_key."""
    return bool(_CREDENTIAL.search(name))


def url_has_password(text: str) -> bool:
    """True for URLs like scheme://user:password@host/..."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(parts.scheme and parts.password)


def credential_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every credential-like key (at any depth) and every URL value with a password."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and is_credential_name(key) and value not in (None, "", False):
                found.append(path)
            else:
                found.extend(credential_keys(value, path))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(credential_keys(value, f"{prefix}[{index}]"))
    elif isinstance(data, str) and url_has_password(data):
        found.append(prefix)
    return found


def redact(data: Any) -> Any:
    """A copy with every credential-like key's value and every URL password replaced by '***'."""
    if isinstance(data, dict):
        return {
            key: value
            if key in NAMES_OF_SECRETS
            else MASK
            if isinstance(key, str) and is_credential_name(key) and value not in (None, "", False)
            else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(value) for value in data]
    if isinstance(data, str) and url_has_password(data):
        parts = urlsplit(data)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        user = f"{parts.username}:{MASK}@" if parts.username else f"{MASK}@"
        return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
    return data
