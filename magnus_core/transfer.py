"""Moving run logs between stores: `magnus store copy RUN... --from CONFIG --to CONFIG`.

Any store to any store (file-system, chunked-fs, postgres, a third party's), idempotent: a run the target
already holds with the same content is left alone and reported unchanged; one it holds with different
content is never overwritten (reported as differing). The copy is the run log as it was: run_config still
names the store the run was written to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from magnus_core.errors import ConfigError, MagnusError, RunNotFoundError
from magnus_core.stores.base import RunLogStore

COPIED, UNCHANGED, DIFFERS, MISSING, BROKEN = "copied", "unchanged", "differs", "missing", "broken"


@dataclass(frozen=True)
class CopyResult:
    """What happened to one run: copied, unchanged (already there, same), differs (already there, not
    the same: left as it is), missing (no such run in the source), broken (the source cannot read it)."""

    run_id: str
    result: str
    steps: int = 0
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def store_block_of(config_file: str, option: str) -> dict[str, Any]:
    """The run_log_store block a config file names; ConfigError (naming the option) when it names none."""
    from magnus_core.loading import _service_block, read_mapping

    raw = read_mapping(config_file, "config file")
    block = raw.get("run_log_store")
    if block is None:
        raise ConfigError(f"names no run_log_store (given to {option})", file=config_file)
    return _service_block(block, config_file, "run_log_store")


def copy_runs(
    source: RunLogStore,
    target: RunLogStore,
    run_ids: Iterable[str],
    on_result: Callable[[CopyResult], None] | None = None,
) -> list[CopyResult]:
    """Copy each run from `source` to `target` (see the module's doc); one result per run, in order."""
    results = []
    for run_id in run_ids:
        result = _copy_one(source, target, run_id)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _copy_one(source: RunLogStore, target: RunLogStore, run_id: str) -> CopyResult:
    try:
        log = source.get_run(run_id)
    except RunNotFoundError as exc:
        return CopyResult(run_id, MISSING, detail=exc.message)
    except MagnusError as exc:
        return CopyResult(run_id, BROKEN, detail=str(exc))
    steps = sum(1 for _ in log.walk())
    if target.exists(run_id):
        held = target.get_run(run_id)
        if held.model_dump_json() == log.model_dump_json():
            return CopyResult(run_id, UNCHANGED, steps)
        return CopyResult(
            run_id,
            DIFFERS,
            steps,
            f"the target holds a different run '{run_id}' ({held.status}, source {log.status}): left as is",
        )
    target.put_run(log)
    return CopyResult(run_id, COPIED, steps)
