"""A PostgreSQL server and an S3-compatible server on 127.0.0.1, to try the team setup on one machine.

    pip install -e '.[postgres,s3,dev]' -c constraints.txt     # dev brings pgserver and moto's server
    python scripts/team_servers.py                               # Ctrl-C stops both

The servers are the ones the test suite starts (tests/servers.py): PostgreSQL from the `pgserver` wheel's
binaries (initdb, then postgres with password authentication; as root it runs as the unprivileged user
`nobody`, since postgres refuses to run as root) and moto's S3 server (`python -m moto.server`). It makes the
bucket, writes a config file naming both (`--config`, default team-local.yaml: no credential in it), prints
the variables to export in the shell that runs magnus, and keeps both servers until Ctrl-C (or SIGTERM),
then stops them and removes their data. Options: --config FILE, --bucket NAME, --schema NAME.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="team-local.yaml", help="the config file to write")
    parser.add_argument("--bucket", default="team-bucket", help="the bucket to make")
    parser.add_argument("--schema", default="magnus", help="the postgres store's schema")
    args = parser.parse_args(argv)
    try:
        import moto  # noqa: F401
        import pgserver  # noqa: F401
        import psycopg  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        print(
            f"Error: {exc.name} is not installed: pip install -e '.[postgres,s3,dev]' -c constraints.txt",
            file=sys.stderr,
        )
        return 2

    import yaml

    from tests.servers import PostgresServer, S3Server

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("starting PostgreSQL and the S3 server ...", file=sys.stderr, flush=True)
    with PostgresServer() as postgres, S3Server() as s3:
        s3.make_bucket(args.bucket)
        config = {
            "run_log_store": {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": args.schema}},
            "catalog": {
                "type": "fsspec",
                "config": {
                    "url": f"s3://{args.bucket}/magnus-catalog",
                    "storage_options": {"endpoint_url": s3.endpoint},
                },
            },
        }
        Path(args.config).write_text(yaml.safe_dump(config, sort_keys=False))
        env = {**postgres.env, **{k: v for k, v in s3.env.items() if k != "AWS_ENDPOINT_URL_S3"}}
        exports = " ".join(f"{name}={value}" for name, value in env.items())
        print(
            f"PostgreSQL at {postgres.dsn}, S3 at {s3.endpoint} (bucket {args.bucket}); "
            f"wrote {args.config}.\nIn another shell:\n"
            f"  export {exports}\n"
            f"  magnus execute --file examples/data.yaml --config-file {args.config}\n"
            f"  magnus runs --config-file {args.config}\n"
            "Ctrl-C stops both servers and removes their data.",
            flush=True,
        )
        stop.wait()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
