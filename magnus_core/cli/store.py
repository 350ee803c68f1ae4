"""`magnus store copy`: move run logs between any two run-log stores."""

from __future__ import annotations

import json

import click

from magnus_core.cli import cli


@cli.group("store")
def store() -> None:
    """Work on run-log stores as a whole (copy runs from one store to another)."""


@store.command("copy")
@click.argument("run_ids", nargs=-1)
@click.option("--from", "source_file", required=True, help="Config file naming the store to copy from.")
@click.option("--to", "target_file", required=True, help="Config file naming the store to copy to.")
@click.option("--all", "copy_all", is_flag=True, help="Copy every run of the source store.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON (magnus-store-copy/1).")
def copy(run_ids: tuple[str, ...], source_file: str, target_file: str, copy_all: bool, as_json: bool) -> None:
    """Copy runs (RUN_IDS, or --all) from one run-log store to another, e.g. files to PostgreSQL.

    Each config file names a store in its run_log_store block. Runs the target already holds are left
    alone: unchanged when they are the same, "differs" when not (nothing is overwritten), so copying
    again is safe. Exit 0 when every run was copied or already there, 1 otherwise.

    \b
    Examples:
      magnus store copy --all --from files.yaml --to team.yaml
      magnus store copy 20240101120000_ab12cd --from team.yaml --to files.yaml --json
    """
    from magnus_core.errors import UsageError
    from magnus_core.stores import make_store
    from magnus_core.transfer import COPIED, UNCHANGED, CopyResult, copy_runs, store_block_of

    if copy_all == bool(run_ids):
        raise UsageError("give run ids or --all (not both)", field="RUN_IDS")
    source_block = store_block_of(source_file, "--from")
    target_block = store_block_of(target_file, "--to")
    if source_block == target_block:
        raise UsageError("--from and --to name the same store: nothing to copy", field="--to")
    source, target = make_store(source_block), make_store(target_block)
    ids = sorted(source.list_run_ids()) if copy_all else list(dict.fromkeys(run_ids))

    def show(result: CopyResult) -> None:
        if not as_json:
            detail = f": {result.detail}" if result.detail else ""
            click.echo(f"{result.result:<9} {result.run_id} ({result.steps} steps){detail}")

    results = copy_runs(source, target, ids, show)
    counts = {
        kind: sum(1 for r in results if r.result == kind) for kind in dict.fromkeys(r.result for r in results)
    }
    if as_json:
        click.echo(
            json.dumps(
                {
                    "schema": "magnus-store-copy/1",
                    "from": source.where(),
                    "to": target.where(),
                    "runs": [r.to_json() for r in results],
                },
                indent=2,
            )
        )
    else:
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no runs"
        click.echo(f"{summary}: from {source.where()} to {target.where()}", err=True)
    if any(r.result not in (COPIED, UNCHANGED) for r in results):
        raise click.exceptions.Exit(1)
