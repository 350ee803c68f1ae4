"""Real servers for the tests and benchmarks, started from packages pyproject.toml installs.

    PostgreSQL  the server binaries shipped in the `pgserver` wheel, run by this module (initdb, then
                postgres on 127.0.0.1 at a free port, password authentication). Postgres refuses to run
                as root: as root, the binaries are linked into a world-readable folder and run as the
                unprivileged user `nobody` (no system user is created, no folder's permissions change).
    S3          moto's server mode (`python -m moto.server`) on 127.0.0.1 at a free port, reached over
                HTTP by s3fs exactly as a user's code would reach MinIO or AWS.

Both are plain subprocesses owned by the caller: `stop()` ends them (and `with` does too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_USER = "magnus"
PG_PASSWORD = "magnus-test-password"  # a throwaway server's password; tests check it never reaches a log
S3_KEY = "magnus-test-key"
S3_SECRET = "magnus-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s: {log.read_text()[-2000:]}")


def _end_with_parent(sig: signal.Signals) -> Any:
    """A `preexec_fn` asking Linux to send `sig` to the server when the process that started it dies.

    The servers run in their own session (so a test's Ctrl-C does not reach them half-way), which also
    means nothing ended them when pytest itself was killed (a CI timeout, an xdist worker that crashed):
    they stayed behind, holding ports and CPU. `prctl(PR_SET_PDEATHSIG)` is set after the user change
    (CPython calls `preexec_fn` last), since a credential change clears it. Elsewhere than Linux: None.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return arm


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class PostgresServer:
    """A throwaway PostgreSQL server: `dsn` (no password: it is in PGPASSWORD, as libpq reads it)."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = Path(base or tempfile.mkdtemp(prefix="magnus-pg-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, int] = {}

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": PG_PASSWORD}

    def _binaries(self) -> Path:
        spec = importlib.util.find_spec("pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the pgserver package is not installed: pip install -e '.[dev]'")
        package = Path(next(iter(spec.submodule_search_locations)))
        if os.geteuid() != 0:
            return package / "pginstall" / "bin"
        # As root, postgres runs as `nobody`, who may not be able to reach site-packages (e.g. under
        # /root): mirror the wheel's layout (its binaries find their libraries at ../../../pgserver.libs).
        site = self.base / "site"
        shutil.copytree(package / "pginstall", site / "pgserver" / "pginstall", copy_function=_link_or_copy)
        libs = package.parent / "pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / "pgserver.libs", copy_function=_link_or_copy)
        return site / "pgserver" / "pginstall" / "bin"

    def _run_as(self) -> dict[str, int]:
        if os.geteuid() != 0:
            return {}
        import pwd

        nobody = pwd.getpwnam("nobody")
        return {"user": nobody.pw_uid, "group": nobody.pw_gid}

    def start(self) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        binaries = self._binaries()
        self._user = self._run_as()
        self.data = self.base / "data"
        self.data.mkdir()
        password_file = self.base / "password"
        password_file.write_text(PG_PASSWORD + "\n")
        if self._user:
            for path in (self.data, password_file):
                os.chown(path, self._user["user"], self._user["group"])
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(self.data),
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                "--pwfile",
                str(password_file),
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            **self._user,  # type: ignore[arg-type]
        )
        password_file.unlink()
        self.binaries = binaries
        for attempt in range(3):  # a free port can be taken between our look and the server's bind
            try:
                self._launch()
                return self
            except RuntimeError:
                self.halt()
                if attempt == 2:
                    raise
                self.port = 0
        return self

    def _launch(self) -> None:
        self.port = self.port or free_port()
        self.log = self.base / "server.log"
        self.proc = subprocess.Popen(
            [
                str(self.binaries / "postgres"),
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.data),  # its unix socket stays in its own folder
                "-c",
                "fsync=off",  # a throwaway server: durability is not what the tests measure
                "-c",
                "max_connections=200",
            ],
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the server keeps it
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_end_with_parent(signal.SIGINT),  # postgres' "fast shutdown"
            **self._user,  # type: ignore[arg-type]
        )
        _wait_for_port(self.port, self.proc, 30, "postgres", self.log)
        import psycopg

        deadline = time.monotonic() + 30
        while True:  # listening is not accepting: wait until a login works
            try:
                psycopg.connect(self.dsn, password=PG_PASSWORD, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def halt(self) -> None:
        """Stop the server process (fast shutdown); `resume()` starts it again on the same port and data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def resume(self) -> None:
        self._launch()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class S3Server:
    """moto's S3 in server mode: `endpoint` for s3fs's `endpoint_url`, credentials in `env`."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="magnus-s3-"))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach it: botocore reads these (no credential in any config file)."""
        return {
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def start(self) -> S3Server:
        for _ in range(5):
            self.port = free_port()
            self.log = self.folder / "server.log"
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=open(self.log, "ab"),  # noqa: SIM115 - the server keeps it
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_end_with_parent(signal.SIGTERM),
                env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
            )
            try:
                _wait_for_port(self.port, self.proc, 30, "moto", self.log)
                return self
            except RuntimeError:
                self.stop_process()
        raise RuntimeError(f"moto server did not start: {self.log.read_text()[-2000:]}")

    def filesystem(self) -> Any:
        """A fresh s3fs filesystem on this server (no instance cache: each call sees the server now)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=S3_KEY,
            secret=S3_SECRET,
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
        )

    def make_bucket(self, name: str) -> str:
        self.filesystem().call_s3("create_bucket", Bucket=name)
        return name

    def stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of a server: `cut()` drops every connection and refuses new
    ones (a network outage), `restore()` accepts again. Threads only; stops with `stop()`."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.open = threading.Event()
        self.open.set()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()  # refused while cut
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, dest: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                dest.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, dest):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open.clear()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def restore(self) -> None:
        self.open.set()

    def stop(self) -> None:
        self.stopped.set()
        self.cut()
        with contextlib.suppress(OSError):
            self.listener.close()
