"""The dask executor: traverses the dag here and runs every step in a Dask worker process.

Each leaf step is submitted as the per-step entry point (`magnus_core.single.execute_single_node`), each
composite as its fan-out and fan-in; the branches of parallel and map steps are traversed at the same time,
so their steps run at the same time across workers. The run log is a shared store (postgres, or chunked-fs
on a folder every worker sees; with postgres and an object-storage catalog, workers share nothing else):
workers write it, this process reads it back at the end. With no `scheduler_address` a LocalCluster on
127.0.0.1 is started for the run (the `magnus[dask]` extra).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from magnus_core.errors import ConfigError, UsageError, install_extra, missing
from magnus_core.executors.base import Executor
from magnus_core.graph import PLACEHOLDER, branch_at, encode_name, next_step
from magnus_core.models.pipeline import Dag, Node
from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.registry import parse_options
from magnus_core.single import NodeJob

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.loading import Pipeline
    from magnus_core.runner import RunRequest

log = logging.getLogger("magnus")
MAX_BRANCH_THREADS = 256  # threads here only wait on futures; the cluster decides what runs at once


class DaskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)
    scheduler_address: str | None = None
    n_workers: int = Field(default=2, ge=1, le=256)
    threads_per_worker: int = Field(default=2, ge=1, le=256)
    memory_limit: str | None = None  # per worker, e.g. "2GiB"; default: no limit
    connect_timeout: float = Field(default=5.0, gt=0, le=10)


def _needs_dask() -> ConfigError:
    text = f"the dask executor needs dask.distributed: {install_extra('dask')}"
    return ConfigError(text, field="executor.type")


class DaskExecutor(Executor):
    service_name = "dask"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(DaskOptions, self.config, "executor")

    def validate(
        self, pipeline: Pipeline, config: dict[str, dict[str, Any]], request: RunRequest | None = None
    ) -> None:
        """Refuse a missing dask extra, a store workers cannot share and a scheduler that does not answer,
        before any write."""
        if missing("distributed", "dask"):
            raise _needs_dask()
        kind = config["run_log_store"].get("type")
        if kind in ("buffered", "file-system"):
            raise ConfigError(
                f"Dask workers write one run from many processes at once, which the {kind} store "
                "cannot take: use the postgres store (or chunked-fs on a folder every worker sees)",
                field="run_log_store.type",
            )
        if self.options.scheduler_address:
            check_reachable(self.options.scheduler_address, self.options.connect_timeout)

    def execute_graph(
        self,
        dag: Dag,
        ctx: RunContext,
        params: dict[str, Any],
        branch: str | None = None,
        map_variable: dict[str, Any] | None = None,
    ) -> str:
        """Run the whole dag on the cluster; `params` ends as the run's final parameters."""
        if branch is not None:
            raise UsageError("the dask executor runs whole dags; branches are traversed by its driver")
        with self._client() as client:
            status = _Driver(client, ctx, self.describe()).graph(dag, "", {})
        # The workers wrote the run: read it back, so the runner finishes what is on disk.
        ctx.store.close(ctx.run_id)
        final = ctx.store.attach(ctx.run_id)
        params.clear()
        params.update(final.parameters)
        return status

    @contextmanager
    def _client(self) -> Iterator[Any]:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - the extra is not installed
            raise _needs_dask() from None
        o = self.options
        if o.scheduler_address:
            try:
                client = Client(o.scheduler_address, timeout=f"{o.connect_timeout}s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"the Dask scheduler at {o.scheduler_address} does not answer ({exc.__class__.__name__})",
                    field="executor.config.scheduler_address",
                ) from None
            try:
                yield client
            finally:
                client.close()
            return
        # A worker that dies is not rescheduled by the scheduler: the driver retries per the step's `retry`.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=o.n_workers,
                threads_per_worker=o.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                memory_limit=o.memory_limit or 0,
            )
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def check_reachable(address: str, timeout: float) -> None:
    """A TCP connection to the scheduler, or a ConfigError within `timeout` seconds."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(
            f"'{address}' is not a scheduler address (expected tcp://HOST:PORT)",
            field="executor.config.scheduler_address",
        )
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else exc.strerror or exc.__class__.__name__
        )
        raise ConfigError(
            f"the Dask scheduler at {address} does not answer ({reason})",
            field="executor.config.scheduler_address",
        ) from None


def run_in_worker(kind: str, job: NodeJob) -> tuple[int, list[tuple[str | None, dict[str, Any]]]]:
    """What a worker runs: the per-step entry point for one node (or one half of a composite). A fan-out
    also returns the branches to run, as (declared branch name or None for one run per item, map variable),
    and so does a fan-in that hands out another round (a loop's next iteration)."""
    from magnus_core.context import in_concurrent_branch
    from magnus_core.single import execute_single_node, fan_in_result, fan_out_result

    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        threads = 1
    # Steps beside each other in one worker process must not pass values through os.environ.
    token = in_concurrent_branch.set(threads > 1)
    try:
        if kind == "node":
            return execute_single_node(job), []
        result = fan_out_result(job) if kind == "out" else fan_in_result(job)
        return result.code, [(b.key, b.map_variable) for b in result.branches]
    finally:
        in_concurrent_branch.reset(token)


class _Driver:
    """Traverses the dag in this process; every node runs on the cluster."""

    def __init__(self, client: Any, ctx: RunContext, executor_block: dict[str, Any]) -> None:
        self.client = client
        config = {
            "executor": executor_block,
            "run_log_store": ctx.store.describe(),
            "catalog": ctx.catalog.describe() if ctx.catalog is not None else {"type": "do-nothing"},
            "secrets": ctx.secrets.describe(),
        }
        self.base = NodeJob(
            run_id=ctx.run_id,
            step="",
            pipeline=ctx.pipeline,
            config=config,
            tag=ctx.tag,
            code_identity=ctx.code_identity,
            secrets_given=dict(ctx.secrets.overrides),  # a prompt's values reach the workers' steps too
        )

    def call(
        self, kind: str, internal: str, map_variable: dict[str, Any], attempts: int = 1
    ) -> tuple[int, list[tuple[str | None, dict[str, Any]]]]:
        from distributed import KilledWorker

        job = dataclasses.replace(self.base, step=encode_name(internal), map_variable=dict(map_variable))
        for number in range(attempts):
            future = self.client.submit(
                run_in_worker,
                kind,
                job,
                pure=False,
                key=f"magnus-{kind}-{_slug(internal)}-{uuid.uuid4().hex[:8]}",
            )
            try:
                return future.result()
            except KilledWorker:
                log.warning("the worker running %s died (attempt %d of %d)", internal, number + 1, attempts)
        from magnus_core.single import mark_failed

        mark_failed(job, f"the Dask worker running it died ({attempts} attempt(s))")
        return 1, []

    def graph(self, dag: Dag, prefix: str, map_variable: dict[str, Any]) -> str:
        current = dag.start_at
        while True:
            node = dag.steps[current]
            internal = f"{prefix}{current}"
            if node.is_composite:
                ok = self.composite(node, internal, map_variable)
            else:
                ok = self.call("node", internal, map_variable, node.attempts)[0] == 0
            if node.is_terminal:
                return SUCCESS if node.type == "success" else FAIL
            following = next_step(dag, current, ok)
            assert following is not None
            current = following

    def composite(self, node: Node, internal: str, map_variable: dict[str, Any]) -> bool:
        # fan-out and fan-in are safe to repeat: a worker dying in one is survived once
        code, runs = self.call("out", internal, map_variable, attempts=2)
        if code != 0:
            return False
        ended = map_variable
        while True:  # a round of branches; its fan-in may hand out the next (a loop's next iteration)
            self.round(node, internal, runs)
            if runs:  # the fan-in of a round is given the map variable of its last branch
                ended = runs[-1][1]
            code, runs = self.call("in", internal, ended, attempts=2)
            if code != 0 or not runs:
                return code == 0

    def round(self, node: Any, internal: str, runs: list[tuple[str | None, dict[str, Any]]]) -> None:
        subs = []
        for key, branch_variable in runs:  # exactly the branches fan-out chose, in its order
            written = PLACEHOLDER if key is None else key  # an item travels in --map-variable
            _, spec = branch_at(node, written, branch_variable, internal)
            subs.append((spec.dag, f"{internal}.{written}.", branch_variable))
        if node.concurrent_branches and len(subs) > 1:
            with ThreadPoolExecutor(
                max_workers=min(len(subs), MAX_BRANCH_THREADS), thread_name_prefix="magnus-dask-branch"
            ) as pool:
                list(pool.map(lambda s: self.graph(*s), subs))
        else:
            for sub in subs:
                self.graph(*sub)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)[:60]
