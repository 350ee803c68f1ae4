"""The fsspec catalog: the data catalog in object storage (S3, MinIO, GCS, Azure) or any fsspec URL.

    catalog:
      type: fsspec
      config:
        url: s3://team-bucket/magnus-catalog        # files go to <url>/<run_id>/<name>
        storage_options: {endpoint_url: "https://minio.example.com"}   # never a credential
        secret_options: {key: MINIO_KEY, secret: MINIO_SECRET}       # option -> a secret's name
        compute_data_folder: data

Same semantics as the file-system catalog (magnus_core.catalog): put and get record the SHA256 of every
file, a name already put is never overwritten with different content, patterns glob, and nothing
half-written is ever visible under its final name: object stores get an upload committed only once whole
(fsspec's `autocommit=False`: a multipart upload completed at the end, aborted on failure); local paths get a
temporary name renamed into place. Files are streamed in chunks, hashed as they go: memory stays flat for
any size. `s3://` needs s3fs (the `s3` extra); other protocols their fsspec package.

Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...,
GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*), from the secrets provider through `secret_options`, or, on
s3:// with none in the environment, the provider's AWS_* (the project's .env: _implicit_keys); a credential
in `storage_options` is refused, since config files are recorded in every run log (a gcs `token` naming a key
file or one of gcsfs's ways is no credential). What they resolve to is masked (credentials()).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import logging
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from pydantic import Field

from magnus_core import jsonio as json
from magnus_core.catalog import (
    LIVE,
    BaseCatalog,
    CatalogError,
    FileSystemCatalog,
    LiveOpener,
    OutputOptions,
    checked_destination,
    is_reserved,
)
from magnus_core.credentials import credential_keys, google_key_secrets, key_file_secrets, url_has_password
from magnus_core.errors import ConfigError, install_extra
from magnus_core.files import file_hash, is_temp, replace, temp_file, temp_file_in_tmpdir, temp_name
from magnus_core.models.run_log import DataCatalog
from magnus_core.paths import check_relative, check_run_id
from magnus_core.registry import parse_options

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.secrets import BaseSecrets

log = logging.getLogger("magnus")
_SLEEP = time.sleep  # (as magnus found it, for the pusher's thread: a step's replacement, trial 20 N8)
CHUNK = 8 * 2**20  # bytes read and written at a time
LOCAL_PROTOCOLS = ("file", "local")
GOOGLE_PROTOCOLS = ("gs", "gcs")
AWS_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# gcsfs's `token` values that name a way to find credentials, not a credential
GCSFS_METHODS = ("google_default", "cache", "anon", "browser", "cloud")


class FsspecOptions(OutputOptions):
    url: str = Field(min_length=1)
    storage_options: dict[str, Any] = Field(default_factory=dict)
    secret_options: dict[str, str] = Field(default_factory=dict)
    compute_data_folder: str = "data"


_NO_CREDENTIALS = (
    "nocredentials",
    "unable to locate credentials",
    "could not find credentials",
    "no credentials",
)
_REFUSED = ("invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "forbidden", "expiredtoken")
_CREDENTIALS_FROM = (
    "the environment (for s3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), the secrets "
    "provider (the project's .env: the same names) or catalog.config.secret_options"
)


def _credential_problem(exc: BaseException) -> str | None:
    """'missing' when the client found no credentials to sign with (botocore's NoCredentialsError),
    'refused' when the service refused the ones it got (403: a wrong key or secret, no right to the
    bucket), None for any other failure."""
    text = f"{exc.__class__.__name__} {exc}".lower().replace(" ", "")
    if any(word.replace(" ", "") in text for word in _NO_CREDENTIALS):
        return "missing"
    if isinstance(exc, PermissionError) or any(word in text for word in _REFUSED) or "403" in text:
        return "refused"
    return None


def _hint(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__} {exc}".lower()
    problem = _credential_problem(exc)
    if problem == "missing":
        return f"no credentials were found: give them in {_CREDENTIALS_FROM}"
    if problem == "refused":
        return f"check the credentials in {_CREDENTIALS_FROM}, and that they may read and write the bucket"
    if "bucket" in text:
        return "check that the bucket exists and its name in catalog.config.url"
    if "connect" in text or "endpoint" in text or "timeout" in text:
        return "check that the storage service answers at the endpoint (storage_options.endpoint_url)"
    return "check catalog.config.url and the storage service"


class FsspecCatalog(FileSystemCatalog):
    """The catalog at an fsspec URL; see the module's doc."""

    service_name = "fsspec"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        # not FileSystemCatalog.__init__: its options are a folder's
        self.config = config or {}
        self.ctx = None
        self.options = parse_options(FsspecOptions, self.config, "catalog")
        check_relative(self.options.compute_data_folder, "catalog.config.compute_data_folder")
        for path in credential_keys(self.options.storage_options, "storage_options"):
            if path == "storage_options.token" and self._google_token_reference():
                continue  # a key file's path or gcsfs's way to find one: no secret (the file's is masked)
            raise ConfigError(
                "holds a credential, and config files are recorded in every run log: give it in the "
                "environment (for s3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or those "
                "names in .env; for gcs: GOOGLE_APPLICATION_CREDENTIALS, or token: a key file's path) or "
                "name a secret for it with catalog.config.secret_options: "
                f"{{{path.split('.')[-1]}: SECRET_NAME}}",
                field=f"catalog.config.{path}",
            )
        if url_has_password(self.options.url):
            raise ConfigError(
                "the URL holds a password, and config files are recorded in every run log: give it in "
                "the environment or through catalog.config.secret_options",
                field="catalog.config.url",
            )
        try:
            import fsspec
        except ImportError:  # pragma: no cover - the extra is not installed
            raise ConfigError(
                f"the fsspec catalog needs fsspec: {install_extra('s3')}",
                field="catalog.type",
            ) from None
        self.protocol, self.base = fsspec.core.split_protocol(self.options.url)
        self.protocol = self.protocol or "file"
        try:
            fsspec.get_filesystem_class(self.protocol)
        except (ImportError, ValueError) as exc:
            hint = f": {install_extra('s3')}" if self.protocol in ("s3", "s3a") else ""
            raise ConfigError(
                f"no fsspec filesystem for '{self.protocol}://' ({str(exc).splitlines()[0][:160]}){hint}",
                field="catalog.config.url",
            ) from None
        self.local = self.protocol in LOCAL_PROTOCOLS
        if self.local:
            self.base = os.path.abspath(self.base)
        self.base = self.base.rstrip("/")
        self._init_state()
        self._fs: Any = None
        self._secrets: BaseSecrets | None = None
        self._secrets_source: Callable[[], Any] | None = None  # use_secrets: outside a run

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.root = Path.cwd()
        self._secrets = ctx.secrets

    def use_secrets(self, provider: Callable[[], Any]) -> None:
        self._secrets_source = provider

    # -- the filesystem ------------------------------------------------------------------------------
    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            if self._secrets is None and self._secrets_source is not None and self._asks_provider():
                self._secrets = self._secrets_source()

            options = dict(self.options.storage_options)
            for option, secret in self.options.secret_options.items():
                if self._secrets is None:
                    raise CatalogError(
                        f"catalog.config.secret_options.{option}: no secrets provider to ask for '{secret}'"
                    )
                options[option] = self._secrets.get(secret)
                if (
                    option == "token"
                    and self.protocol in GOOGLE_PROTOCOLS
                    and google_key_secrets(options[option])
                ):
                    # a key file's JSON kept as a secret (.env): gcsfs takes it parsed (a text is a path)
                    options[option] = json.loads(options[option])
            options.update(self._implicit_keys())
            self._fs = fsspec.filesystem(self.protocol, **options)
        return self._fs

    def _asks_provider(self) -> bool:
        """Whether building the filesystem asks the secrets provider: for secret_options, or for AWS keys
        the environment lacks (_implicit_keys)."""
        return bool(self.options.secret_options) or self._environment_lacks_keys()

    def _environment_lacks_keys(self) -> bool:
        """On s3://, no key given by config or the environment: neither secret_options' key/secret, nor
        AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, nor a chosen profile (AWS_PROFILE)."""
        given = set(self.options.secret_options) | set(self.options.storage_options)
        return (
            self.protocol in ("s3", "s3a")
            and not given & {"key", "secret", "token", "profile"}
            and not any(os.environ.get(v) for v in (*AWS_KEY_VARIABLES, "AWS_PROFILE"))
        )

    def _implicit_keys(self) -> dict[str, str]:
        """s3fs's key, secret and token from the secrets provider's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
        and AWS_SESSION_TOKEN when the environment has none (_environment_lacks_keys): the default provider
        reads the project's .env, README's place for secrets, and python-dotenv does not set the
        environment, so keys kept there gave an auth error (closing6 Left). As the postgres store takes
        PGPASSWORD from the provider. Both the id and the secret are needed; the provider masks what it
        hands out."""
        provider = self._secrets
        if provider is None or not self._environment_lacks_keys():
            return {}
        if not (provider.has("AWS_ACCESS_KEY_ID") and provider.has("AWS_SECRET_ACCESS_KEY")):
            return {}
        found = {"key": provider.get("AWS_ACCESS_KEY_ID"), "secret": provider.get("AWS_SECRET_ACCESS_KEY")}
        if provider.has("AWS_SESSION_TOKEN"):
            found["token"] = provider.get("AWS_SESSION_TOKEN")
        return found

    def credentials(self, secrets: BaseSecrets | None = None) -> dict[str, str]:
        """The secret parts of the credentials the filesystem resolved (for s3: botocore's chain, so a
        ~/.aws/credentials profile too; the key id is an identifier and is not masked). Values named by
        `secret_options` come from the secrets provider, which masks them already. Best effort: a
        filesystem that cannot say gives {} (its environment variables are masked all the same:
        credentials.environment_credentials)."""
        if secrets is not None and self._secrets is None:
            self._secrets = secrets
        if self.protocol in GOOGLE_PROTOCOLS:
            return self._google_credentials()
        if self.local or self.protocol not in ("s3", "s3a"):
            return {}
        try:
            from fsspec.asyn import sync

            fs = self.fs
            fs.connect()

            async def frozen() -> Any:
                found = await fs.session.get_credentials()
                return None if found is None else await found.get_frozen_credentials()

            resolved = sync(fs.loop, frozen)
        except Exception:  # no credentials (anonymous), or an s3fs that keeps them elsewhere
            log.debug("the s3 catalog's credentials could not be read for masking", exc_info=True)
            return {}
        if resolved is None:
            return {}
        return {k: v for k, v in (("secret", resolved.secret_key), ("token", resolved.token)) if v}

    def _google_token_reference(self) -> bool:
        """storage_options.token on gs:// names no secret: one of gcsfs's ways to find credentials, or the
        path of a key file (*.json)."""
        token = self.options.storage_options.get("token")
        scheme, found, _ = self.options.url.partition("://")  # (before __init__ has split the URL)
        return (
            bool(found)
            and scheme.lower() in GOOGLE_PROTOCOLS
            and isinstance(token, str)
            and (token in GCSFS_METHODS or token.endswith(".json"))
        )

    def _google_credentials(self) -> dict[str, str]:
        """The secret fields of the Google credentials gcsfs will use, read from where google-auth finds
        them (gcsfs cannot say): storage_options.token's key file; a key file whose path is the
        secret_options token (a JSON text is masked by the provider, secrets._masked_values); else, with no
        GOOGLE_APPLICATION_CREDENTIALS (masked with the environment's), gcloud's application default
        credentials file."""
        token = self.options.storage_options.get("token")
        if isinstance(token, str) and token.endswith(".json"):
            return key_file_secrets(os.path.expanduser(token), "storage_options.token")
        secret = self.options.secret_options.get("token")
        if secret is not None:
            try:
                value = self._secrets.get(secret) if self._secrets is not None else None
            except Exception:  # not known: the filesystem's first use says so
                value = None
            if value and not google_key_secrets(value) and value not in GCSFS_METHODS:
                return key_file_secrets(os.path.expanduser(value), "secret_options.token")
            return {}
        if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or token == "anon":
            return {}
        folder = os.environ.get("CLOUDSDK_CONFIG") or os.path.expanduser("~/.config/gcloud")
        return key_file_secrets(os.path.join(folder, "application_default_credentials.json"), "gcloud")

    def check(self, secrets: BaseSecrets | None = None) -> None:
        """Before a run: the catalog's place can be reached (the bucket exists, credentials work)."""
        if secrets is not None:
            self._secrets = secrets
        if self.local:
            return
        bucket = self.base.split("/", 1)[0]
        # info(), not exists(): s3fs's exists() answers False for any failure, so missing or refused
        # credentials read as a missing bucket (trial team 6)
        try:
            self.fs.info(bucket)
        except FileNotFoundError:
            raise ConfigError(
                f"the catalog's bucket '{bucket}' does not exist at {self.protocol}://; create it or check "
                "catalog.config.url",
                field="catalog.config.url",
            ) from None
        except Exception as exc:
            problem, url = _credential_problem(exc), self.options.url
            if problem == "missing":
                text = f"found no credentials to reach the catalog at {url}: give them in {_CREDENTIALS_FROM}"
            elif problem == "refused":
                text = (
                    f"the storage service refused the credentials for the catalog at {url} ({_reason(exc)}): "
                    f"check them in {_CREDENTIALS_FROM}, and that they may read and write the bucket"
                )
            else:
                text = f"the catalog at {url} cannot be reached: {_reason(exc)}; {_hint(exc)}"
            raise ConfigError(text, field="catalog.config.url") from None

    def folders(self) -> list[tuple[Path, str]]:
        """A local path is a folder checked before the run; a bucket is checked by check()."""
        return [(Path(self.base), "catalog.config.url")] if self.local else []

    def _path(self, run_id: str, name: str = "") -> str:
        return f"{self.base}/{run_id}/{name}" if name else f"{self.base}/{run_id}"

    def _where(self, run_id: str) -> str:
        return f"{self.protocol}://{self._path(run_id)}"

    def destination(self, run_id: str, name: str) -> Path:
        """On a local path, where `name` is written, checked as the file-system catalog checks it (a link
        planted as the run's folder or a sub-folder of it never leads a put out: catalog.checked_destination);
        in object storage, where it goes (keys cannot be links)."""
        if self.local:
            return checked_destination(Path(self.base), run_id, name)
        return Path(self._path(run_id, name))

    @property
    def location(self) -> Path:  # records name the URL, not a folder
        return Path(self.options.url)

    def _record(self, name: str, digest: str, stage: str, run_id: str) -> DataCatalog:
        return DataCatalog(
            name=name,
            data_hash=digest,
            catalog_relative_path=f"{run_id}/{name}",
            catalog_handler_location=self.options.url,
            stage=stage,
        )

    def _call(self, what: str, work: Any) -> Any:
        """Run a filesystem operation; any failure becomes one CatalogError naming the catalog."""
        try:
            return work()
        except CatalogError:
            raise
        except Exception as exc:
            raise CatalogError(
                f"catalog ({self.options.url}): {what} failed: {_reason(exc)}; {_hint(exc)}"
            ) from None

    # -- what the catalog holds ----------------------------------------------------------------------
    def _matches(self, run_id: str, pattern: str) -> list[str]:
        prefix = self._path(run_id) + "/"
        found = self._call(
            f"listing '{pattern}' in run '{run_id}'",
            lambda: self.fs.glob(prefix + pattern, detail=True),
        )
        names = []
        for path, info in sorted(found.items()):
            if info.get("type") != "file":
                continue
            name = self._name(prefix, path)
            if name is not None:
                names.append(name)
        return names

    def _name(self, prefix: str, path: str) -> str | None:
        """The catalog name of a listed path; None for temporary files and folders' markers."""
        if not path.startswith(prefix):
            path = self.fs._strip_protocol(path)
        if not path.startswith(prefix):
            return None
        name = path[len(prefix) :]
        if not name or is_temp(Path(name)) or is_reserved(name):  # magnus's own files are no data
            return None
        try:
            check_relative(name, "catalog name")
        except Exception:
            raise CatalogError(f"catalog get: '{name}' would leave the catalog; nothing was copied") from None
        return name

    def _names(self, run_id: str) -> list[str]:
        prefix = self._path(run_id) + "/"
        found = self._call(
            f"listing run '{run_id}'",
            lambda: self.fs.find(prefix) if self.fs.exists(self._path(run_id)) else [],
        )
        return [n for n in (self._name(prefix, p) for p in sorted(found)) if n is not None]

    def _stored_hash(self, run_id: str, name: str) -> str | None:
        path = self._path(run_id, name)

        def work() -> str | None:
            if not self.fs.isfile(path):
                return None
            with self.fs.open(path, "rb", block_size=CHUNK) as handle:
                return _copy_stream(handle, _Discard(), CHUNK)

        return self._call(f"reading '{name}'", work)

    def _fetch(self, run_id: str, name: str, dest: Path) -> str:
        """Stream the object to a temporary file beside `dest`, hashing it, and rename it into place."""
        with temp_file(dest) as (_, tmp):

            def work() -> str:
                # the backend's own download (one streamed request for s3fs, not a ranged read per block),
                # then the SHA256 of what arrived (as the file-system catalog hashes its copy)
                self.fs.get_file(self._path(run_id, name), str(tmp), **self._download_options())
                return file_hash(tmp)

            digest: str = self._call(f"get '{name}'", work)
            replace(tmp, dest)
        return digest

    def _download_options(self) -> dict[str, Any]:
        """s3fs downloads a large object in 10 concurrent 50 MiB parts by default (up to 500 MiB held in
        memory): one streamed request instead keeps memory flat, unless storage_options set a concurrency."""
        if self.protocol in ("s3", "s3a") and "max_concurrency" not in self.options.storage_options:
            return {"max_concurrency": 1}
        return {}

    def _store(self, source: Path, run_id: str, name: str) -> str:
        with open(source, "rb") as handle:
            return self._store_stream(handle, run_id, name)

    def _store_stream(self, stream: BinaryIO, run_id: str, name: str) -> str:
        """Upload, then commit: under its final name the object is whole or absent."""
        final = str(self.destination(run_id, name)) if self.local else self._path(run_id, name)

        def work() -> str:
            if self.local:
                parent = posixpath.dirname(final)
                self.fs.makedirs(parent, exist_ok=True)
                tmp = f"{parent}/{temp_name(posixpath.basename(final))}"
                try:
                    with self.fs.open(tmp, "wb") as out:
                        digest = _copy_stream(stream, out, CHUNK)
                    self.fs.mv(tmp, final)
                except BaseException:
                    with contextlib.suppress(Exception):
                        self.fs.rm(tmp)
                    raise
                return digest
            out = self.fs.open(final, "wb", autocommit=False, block_size=max(CHUNK, 5 * 2**20))
            committed = False
            try:
                digest = _copy_stream(stream, out, CHUNK)
                out.close()
                out.commit()
                committed = True
                return digest
            finally:
                if not committed:
                    with contextlib.suppress(Exception):
                        out.discard()
                    out.closed = True  # never committed by the garbage collector either

        return self._call(f"put '{name}'", work)

    def _copy(self, from_run: str, to_run: str, name: str) -> None:
        source, dest = self._path(from_run, name), self._path(to_run, name)
        if self.local:
            with open(source, "rb") as handle:
                self._store_stream(handle, to_run, name)
            return
        self._call(f"copy '{name}' from run '{from_run}'", lambda: self.fs.copy(source, dest))

    # -- magnus's own files (captured output): streamed in, never a local spool --------------------------
    keeps_output = True
    output_nearby = False  # an upload: the keeper thread does it while the next step runs

    def output_spool(self, run_id: str, name: str) -> Path | None:
        """A temporary file of this machine (no place in the bucket can grow), which the pusher thread
        copies to the bucket in pieces while the attempt runs (_Pusher: `magnus logs --follow` on another
        machine reads them, live_output). Called once per attempt that runs past capture.SPILL_AFTER or
        prints past capture.SPOOL_AT; makes no request."""
        fd, text = temp_file_in_tmpdir("magnus-output-", ".log")
        os.close(fd)
        path = Path(text)
        run_id, name = check_run_id(run_id), check_relative(name, "catalog name")
        target = str(self.destination(run_id, name)) if self.local else self._path(run_id, name)
        PUSHER.add(path, _Live(self, target))
        return path

    def keep_spool(self, spool: Path, name: str, digest: str, run_id: str) -> DataCatalog:
        """Upload the finished spool as `name` (one object), then remove the pieces pushed while it grew:
        a follower reading them goes on from the whole object at the same offset (they are its start).
        When the upload fails, the pieces stay: they are what the bucket holds of the attempt's output."""
        live = PUSHER.take(spool)  # (a push under way ends first; none starts after)
        record = BaseCatalog.keep_spool(self, spool, name, digest, run_id)
        if live is not None and live.pieces:
            live.drop()
        return record

    def put_bytes(
        self,
        name: str,
        data: bytes | bytearray,
        run_id: str | None = None,
        *,
        digest: str | None = None,
        later: Callable[[str, bytes | bytearray], bool] | None = None,
    ) -> DataCatalog:
        return BaseCatalog.put_bytes(self, name, data, run_id)  # streamed in, as every put here

    def live_file(self, run_id: str, name: str) -> Path | None:
        return None  # (live_output: the pieces in the bucket)

    def live_output(self, run_id: str, name: str, *, within: float = 0.0) -> LiveOpener | None:
        """The pieces of catalog file `name` pushed while its attempt ran (_Pusher), read as one file from
        its start, as far as they follow one another; None when there are none (not pushed yet, a short
        attempt, or its whole object is kept and they were removed) or they cannot be listed. One listing
        request, or none when this process listed them less than `within` seconds ago (a follower looking
        every 0.2 s lists once a second: pieces come at most that often); each read of the file opened is
        a ranged GET of a piece."""
        run_id, name = check_run_id(run_id), check_relative(name, "catalog name")
        prefix = (str(self.destination(run_id, name)) if self.local else self._path(run_id, name)) + LIVE
        now = time.monotonic()
        listed = _LISTED.get(prefix)
        if listed is not None and now - listed[0] < within:
            pieces = listed[1]
        else:
            try:
                what = f"listing the live output '{name}'"
                pieces = self._call(what, lambda: _listed_pieces(self.fs, prefix))
            except CatalogError as exc:
                log.debug("%s", exc)
                return None
            for stale in [key for key, (when, _) in list(_LISTED.items()) if now - when >= LISTED_FOR]:
                _LISTED.pop(stale, None)
            _LISTED[prefix] = (now, pieces)
        if not pieces:
            return None

        @contextlib.contextmanager
        def opened() -> Iterator[BinaryIO]:
            with io.BufferedReader(_PiecesFile(self, pieces), PIECE_READ) as handle:
                yield cast(BinaryIO, handle)

        return opened

    def put_stream(self, name: str, stream: BinaryIO, run_id: str | None = None) -> DataCatalog:
        """Stream into the catalog (upload, then commit); the put record."""
        run_id = check_run_id(run_id or self.run_id)
        name = check_relative(name, "catalog name")
        return self._record(name, self._store_stream(stream, run_id, name), "put", run_id)

    def open_file(self, run_id: str, name: str) -> BinaryIO:
        path = self._path(check_run_id(run_id), check_relative(name, "catalog name"))
        if not self._call(f"reading '{name}'", lambda: self.fs.isfile(path)):
            raise CatalogError(
                f"no file '{name}' in the catalog of run '{run_id}' ({self.protocol}://{path})"
            )
        opened: BinaryIO = self._call(f"reading '{name}'", lambda: self.fs.open(path, "rb", block_size=CHUNK))
        return opened


def _copy_stream(source: BinaryIO, dest: Any, chunk: int = CHUNK) -> str:
    """Copy in chunks (memory stays flat whatever the size), hashing as it goes; the SHA256."""
    digest = hashlib.sha256()
    while True:
        block = source.read(chunk)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        dest.write(block)


class _Discard:
    """A sink for hashing without keeping anything."""

    def write(self, data: bytes) -> int:
        return len(data)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:240]


# -- a running attempt's output, pushed to the bucket in pieces (magnus logs --follow from elsewhere) --------
#
# An attempt's growing output is a temporary file of the machine running it (output_spool): nothing in a
# bucket can grow. One thread per process (_Pusher) looks at every such file every LOOK_EVERY seconds and
# pushes what is new as one object, a piece, `<name>.live/<offset>` (the offset of its first byte, in
# PIECE_DIGITS digits, so names sort as offsets do): as soon as PIECE bytes are new, else once the
# attempt's interval has passed since its last piece (PUSH_FIRST seconds for its first minute, then a
# sixtieth of its age, up to PUSH_LAST). The step itself does nothing more: what it prints reaches the file
# as before (capture._Spool). An attempt ending within PUSH_FIRST seconds of its file's start pushes no
# piece, however much it printed: its output is one object, written as it ends (keep_spool), which then
# removes the pieces of a longer one (what they hold is uploaded again in the whole object). The file holds
# masked bytes only, at most the cap (capture.AttemptFile): so do the pieces. Pieces follow one another and
# are never rewritten, so a reader (live_output) reads them in order as one file, whose bytes are the
# start of the whole object kept later. Before its first piece an attempt removes any pieces found under its
# name (a try of the same attempt killed earlier, retried: the per-step entry point in a pod), so its own
# never follow another try's. A process killed outright leaves its pieces: the attempt's output up to then.

PUSH_FIRST = 1.0  # seconds between two pieces of an attempt, at least (its first minute)
PUSH_LAST = 10.0  # seconds between two pieces of an attempt, at most (an attempt running 10 minutes or more)
PUSH_AGE = 60.0  # the interval is the attempt's age (since its file started) / PUSH_AGE, within those two
PIECE = CHUNK  # bytes: pushed as soon as this much is new, whatever the time; the largest piece
LOOK_EVERY = 0.25  # seconds between the pusher's looks at the files' sizes (one stat each)
PIECE_DIGITS = 15  # a piece's name: its offset, zero-padded
PIECE_READ = 1 << 20  # bytes a reader of the pieces asks for at a time (a ranged GET)
LISTED_FOR = 60.0  # seconds a listing of pieces is remembered (live_output's `within`), at most
_LISTED: dict[str, tuple[float, list[tuple[int, int, str]]]] = {}  # prefix -> (when listed, its pieces)


class _Live:
    """One attempt's growing file being pushed: where its pieces go (`<target>.live/`), how much of it
    was pushed, when. `lock` is held while a piece is pushed; `ended` (keep_spool took it) stops it."""

    __slots__ = ("catalog", "ended", "last", "lock", "pieces", "prefix", "pushed", "started", "warned")

    def __init__(self, catalog: FsspecCatalog, target: str) -> None:
        self.catalog = catalog
        self.prefix = target + LIVE
        self.started = self.last = time.monotonic()
        self.pushed = 0  # bytes of the file pushed (the next piece's offset)
        self.pieces = 0
        self.warned = False
        self.ended = False
        self.lock = threading.Lock()

    def due(self, now: float) -> bool:
        interval = min(PUSH_LAST, max(PUSH_FIRST, (now - self.started) / PUSH_AGE))
        return now - self.last >= interval

    def push(self, path: Path, now: float) -> bool:
        """Push what is new in `path` if a piece is due (PIECE bytes, or the interval passed); False when
        the file is gone without keep_spool (its attempt could not keep its output)."""
        with self.lock:
            if self.ended or now - self.started < PUSH_FIRST:  # (an attempt ending sooner: one object)
                return True
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                return False
            except OSError:
                return True
            while size - self.pushed >= PIECE or (size > self.pushed and self.due(now)):
                try:
                    with open(path, "rb") as handle:
                        handle.seek(self.pushed)
                        data = handle.read(min(PIECE, size - self.pushed))
                except FileNotFoundError:
                    return False
                except OSError:
                    return True
                if not data:
                    return True
                try:
                    if not self.pieces:  # pieces a killed earlier try of this attempt left (a retried pod)
                        self.drop()
                    self._put(data)
                except Exception as exc:  # the bucket is away: tried again at the next interval
                    self.last = now
                    if not self.warned:
                        self.warned = True
                        log.warning(
                            "the running step's output could not be pushed to the catalog (%s): "
                            "`magnus logs --follow` elsewhere shows it when the step ends",
                            _reason(exc),
                        )
                    return True
                self.pushed += len(data)
                self.pieces += 1
                self.last = now
            return True

    def _put(self, data: bytes) -> None:
        """One piece: one PUT (an object is whole or absent); on a local path, a temporary name renamed."""
        fs = self.catalog.fs
        key = f"{self.prefix}/{self.pushed:0{PIECE_DIGITS}d}"
        if not self.catalog.local:
            fs.pipe_file(key, data)
            return
        fs.makedirs(self.prefix, exist_ok=True)
        tmp = f"{self.prefix}/{temp_name(posixpath.basename(key))}"
        fs.pipe_file(tmp, data)
        fs.mv(tmp, key)

    def drop(self) -> None:
        """Remove the pieces (the whole object is kept, or none will be)."""
        fs = self.catalog.fs
        with contextlib.suppress(Exception):
            fs.rm(self.prefix, recursive=True)
        with contextlib.suppress(Exception):
            fs.invalidate_cache(self.prefix)


class _Pusher:
    """The one thread of a process that pushes running attempts' output in pieces (_Live); started by
    the first attempt that needs it, asleep while none does."""

    def __init__(self) -> None:
        self.forked()

    def forked(self) -> None:
        """Nothing to push (also in a forked child: its parent's attempts are not its own)."""
        self._lives: dict[Path, _Live] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, path: Path, live: _Live) -> None:
        with self._changed:
            self._lives[path] = live
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="magnus-push-output", daemon=True)
                self._thread.start()
            self._changed.notify()

    def take(self, path: Path) -> _Live | None:
        """Stop pushing `path` (a push under way ends first); its _Live, or None when it was not pushed."""
        with self._changed:
            live = self._lives.pop(path, None)
        if live is not None:
            with live.lock:
                live.ended = True
        return live

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._lives:
                    self._changed.wait()
                lives = list(self._lives.items())
            now = time.monotonic()
            for path, live in lives:
                try:
                    if live.push(path, now):
                        continue
                    if self.take(path) is not None and live.pieces:
                        live.drop()  # its attempt's output was not kept (its record says why)
                except Exception as exc:  # never ends the thread
                    log.debug("pushing %s: %s", path, exc)
            _SLEEP(LOOK_EVERY)


PUSHER = _Pusher()
os.register_at_fork(after_in_child=PUSHER.forked)


def _listed_pieces(fs: Any, prefix: str) -> list[tuple[int, int, str]]:
    """The pieces under `prefix` that follow one another from offset 0, as (offset, size, path); the
    listing is asked of the service, never of fsspec's cache of listings."""
    with contextlib.suppress(Exception):
        fs.invalidate_cache(prefix)
    try:
        found = fs.ls(prefix, detail=True)
    except FileNotFoundError:
        return []
    listed = []
    for info in found:
        if info.get("type") != "file":
            continue
        base = posixpath.basename(str(info["name"]).rstrip("/"))
        if len(base) == PIECE_DIGITS and base.isdigit():
            listed.append((int(base), int(info.get("size") or 0), str(info["name"])))
    pieces: list[tuple[int, int, str]] = []
    at = 0
    for offset, size, path in sorted(listed):
        if offset != at or size <= 0:  # (a gap: never made by a pusher; what follows it is not shown)
            break
        pieces.append((offset, size, path))
        at += size
    return pieces


class _PiecesFile(io.RawIOBase):
    """Pieces (offset, size, path) read as one file: seekable; each read a ranged GET of one piece. A
    piece removed meanwhile (the whole object was kept) fails the read with CatalogError: the reader
    (`magnus logs --follow`) looks again and finds the whole object."""

    def __init__(self, catalog: FsspecCatalog, pieces: list[tuple[int, int, str]]) -> None:
        super().__init__()
        self._catalog = catalog
        self._pieces = pieces
        self._starts = [offset for offset, _, _ in pieces]
        self._size = pieces[-1][0] + pieces[-1][1] if pieces else 0
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        offset, size, path = self._pieces[bisect.bisect_right(self._starts, self._pos) - 1]
        begin = self._pos - offset
        end = min(size, begin + len(buffer))
        fs = self._catalog.fs
        data = self._catalog._call("reading the live output", lambda: fs.cat_file(path, start=begin, end=end))
        count = len(data)
        memoryview(buffer).cast("B")[:count] = data
        self._pos += count
        return count
