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

from magnus_core import jsonio as json

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
# paths (PGPASSFILE, AWS_SHARED_CREDENTIALS_FILE) are not values: what a service resolved from such a file is
# added by the service itself (the postgres store's password); GOOGLE_APPLICATION_CREDENTIALS' file is read
# here (GOOGLE_KEY_FILE_VARIABLES), since gcsfs cannot say what it used.
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
    "GOOGLE_OAUTH_ACCESS_TOKEN": "Google tooling (an OAuth access token, ya29.: what gcsfs sends to GCS)",
    "CLOUDSDK_AUTH_ACCESS_TOKEN": "gcloud and gsutil (an OAuth access token)",
}
# Variables naming a Google credentials file (google-auth, behind gcsfs: the fsspec catalog on gs://): the
# file's secret fields are masked, not the path.
GOOGLE_KEY_FILE_VARIABLES = ("GOOGLE_APPLICATION_CREDENTIALS",)
# The secret fields of a Google credentials JSON: a service account key's private_key; an authorized user's
# (gcloud's application default credentials) client_secret and refresh_token; an access token's
# (gcsfs's token cache, `token: {access_token: ...}`). Ids and e-mails are identifiers, not masked.
GOOGLE_KEY_SECRETS = ("private_key", "client_secret", "refresh_token", "access_token", "token")
KEY_FILE_LIMIT = 2**20  # bytes read of a credentials file (a key is ~2.4 KB): anything larger is no key
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
    for name in GOOGLE_KEY_FILE_VARIABLES:
        if environ.get(name):
            found.update(key_file_secrets(environ[name], name))
    return found


def google_key_secrets(data: Any, where: str = "key") -> dict[str, str]:
    """{f"{where}.{field}": value} of the secret fields (GOOGLE_KEY_SECRETS) of a Google credentials JSON:
    `data` parsed (a dict) or its text; {} for anything else (a path, a method name such as 'anon', text
    that is not a JSON object)."""
    if isinstance(data, str):
        if not data.lstrip().startswith("{"):
            return {}
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    if not isinstance(data, dict):
        return {}
    return {f"{where}.{k}": v for k in GOOGLE_KEY_SECRETS if isinstance(v := data.get(k), str) and v}


def key_file_secrets(path: str | os.PathLike[str], where: str = "key file") -> dict[str, str]:
    """google_key_secrets of the credentials file at `path` (at most KEY_FILE_LIMIT bytes read); {} when it
    cannot be read or is no such JSON (the library that reads it then fails, and says so)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(KEY_FILE_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return google_key_secrets(text, where)


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
