"""`magnus store copy`: move run logs between any two run-log stores; `magnus store index`: the run index's
files."""

from __future__ import annotations

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, note


@cli.group("store")
def store() -> None:
    """Work on run-log stores as a whole (copy runs from one store to another; the run index's files)."""


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
    from magnus_core.runs import provider_source
    from magnus_core.stores import make_store
    from magnus_core.transfer import COPIED, UNCHANGED, CopyResult, copy_runs, store_block_of

    if copy_all == bool(run_ids):
        raise UsageError("give run ids or --all (not both)", field="RUN_IDS")
    source_block = store_block_of(source_file, "--from")
    target_block = store_block_of(target_file, "--to")
    if source_block == target_block:
        raise UsageError("--from and --to name the same store: nothing to copy", field="--to")
    # each store's password may come from the secrets provider as in a run (the default one: .env)
    source = make_store(source_block, source=source_file, secrets=provider_source(None))
    target = make_store(target_block, source=target_file, secrets=provider_source(None))
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
        note(f"{summary}: from {source.where()} to {target.where()}")
    if any(r.result not in (COPIED, UNCHANGED) for r in results):
        raise click.exceptions.Exit(1)


@store.command("index")
@click.option("--prune", is_flag=True, help="Remove the index files of stores whose folder no longer exists.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON (magnus-store-index/1).")
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def index(ctx: click.Context, prune: bool, as_json: bool, config_file: str | None) -> None:
    """Say where the run index of the configured store is, and what the index cache folder holds.

    `magnus runs`, `compare` and the workbench answer from an index (docs/runs.md): one SQLite file per
    store in $XDG_CACHE_HOME/magnus/index (~/.cache/magnus/index), named by the store folder's name and a
    hash. Deleting a file is safe: the next listing builds it again. --prune removes the files of stores
    whose folder no longer exists.

    \b
    Examples:
      magnus store index
      magnus store index --prune
    """
    from magnus_core.index import cache_dir, index_files, index_path, prune_index_files
    from magnus_core.runs import store_from_config
    from magnus_core.table import fmt_size

    store_ = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    own = store_.run_index() is not None
    path = None if own else index_path(store_)
    removed = prune_index_files() if prune else []
    files = index_files()
    if as_json:
        shown = {
            "schema": "magnus-store-index/1",
            "store": store_.where(),
            "index": str(path) if path else None,
            "kept_by_store": own,
            "cache": str(cache_dir()),
            "files": [
                {"path": str(f.path), "size": f.size, "store": f.store, "stale": f.stale} for f in files
            ],
            "removed": [str(f.path) for f in removed],
        }
        click.echo(json.dumps(shown, indent=2))
        return
    if own:
        click.echo(f"{store_.where()}: its index is kept in the store itself")
    elif path is None:
        click.echo(f"{store_.where()}: its index is kept in memory (the store keeps runs in memory only)")
    else:
        state = (
            f"{fmt_size(path.stat().st_size)}"
            if path.exists()
            else "not built yet: the next listing builds it"
        )
        click.echo(f"{store_.where()}: {path} ({state})")
    for item in removed:
        click.echo(f"removed {item.path} ({fmt_size(item.size)}; its store {item.store} no longer exists)")
    stale = [f for f in files if f.stale]
    total = sum(f.size for f in files)
    line = f"{len(files):,} index file(s) in {cache_dir()}, {fmt_size(total)}"
    if stale:
        stale_size = fmt_size(sum(f.size for f in stale))
        line += f"; {len(stale):,} of stores that no longer exist ({stale_size}: --prune)"
    click.echo(line)
