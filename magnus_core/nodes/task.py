"""task and as-is nodes: catalog get, the command (with retries), parameters and metrics, catalog put."""

from __future__ import annotations

import logging
from typing import Any

from magnus_core.errors import MagnusError
from magnus_core.interaction import StepScope, enter_scope, exit_scope
from magnus_core.models.run_log import FAIL, SUCCESS, MetricPoint, StepLog
from magnus_core.nodes.common import attempt, new_step_log
from magnus_core.tasks import runner_for

log = logging.getLogger("magnus")


def execute(
    node: Any,
    name: str,
    internal_name: str,
    ctx: Any,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    step = new_step_log(node, name, internal_name, ctx)
    ctx.store.put_step_log(ctx.run_id, step, branch)
    if node.type != "task":  # as-is / stub: a placeholder that succeeds
        start = ctx.clock()
        step.attempts.append(attempt(0, start, ctx.clock(), SUCCESS))
        step.status = SUCCESS
        ctx.store.put_step_log(ctx.run_id, step, branch)
        return step

    runner = runner_for(node.command_type)
    catalog = ctx.catalog
    if catalog is not None and node.catalog is not None and node.catalog.get:
        try:
            step.data_catalog.extend(catalog.get_patterns(node.catalog.get, node.catalog.compute_data_folder))
        except MagnusError as exc:
            return _fail_before_start(step, ctx, branch, f"catalog get: {exc}")
    inputs = {**params, **map_variable}
    scope = None
    for number in range(node.attempts):
        scope = StepScope(
            run_id=ctx.run_id,
            tag=ctx.tag,
            parameters=inputs,
            internal_name=internal_name,
            map_variable=dict(map_variable),
            services=ctx,
        )
        token = enter_scope(scope)
        start = ctx.clock()
        message = ""
        try:
            with ctx.redirect():
                runner(node.command, node.command_config, scope, ctx)
            status = SUCCESS
        except MagnusError as exc:
            status, message = FAIL, str(exc)
        except Exception as exc:
            status, message = FAIL, f"{exc.__class__.__name__}: {exc}"
            log.debug("step %s attempt %d failed", internal_name, number, exc_info=True)
        finally:
            exit_scope(token)
        record = attempt(number, start, ctx.clock(), status, ctx.mask(message) if message else "")
        if scope.inputs is not None:  # as magnus 0.4 records it: what this attempt's command received
            record.parameters = ctx.mask_data(scope.inputs)
        step.attempts.append(record)
        if status == SUCCESS:
            break
        if number + 1 < node.attempts:
            ctx.store.put_step_log(ctx.run_id, step, branch)
    assert scope is not None
    step.data_catalog.extend(scope.catalog_records)
    if step.attempts[-1].status == SUCCESS:
        step.user_defined_metrics = ctx.mask_data(scope.metrics)
        if scope.history:
            step.metric_history = {
                name: [MetricPoint.model_validate(p) for p in sorted(points, key=lambda p: p["step"])]
                for name, points in ctx.mask_data(scope.history).items()
            }
        params.update(scope.params_out)
        if branch is None and scope.params_out:  # in the log before the step's SUCCESS: a re-run reuses it
            ctx.keep_parameters(params)
        step.status = SUCCESS
    else:
        step.status = FAIL
        step.message = step.attempts[-1].message
    if catalog is not None and node.catalog is not None and node.catalog.put:
        try:
            step.data_catalog.extend(catalog.put_patterns(node.catalog.put, node.catalog.compute_data_folder))
        except MagnusError as exc:
            step.status = FAIL
            step.message = f"catalog put: {exc}"
    ctx.store.put_step_log(ctx.run_id, step, branch)
    return step


def _fail_before_start(step: StepLog, ctx: Any, branch: str | None, message: str) -> StepLog:
    start = ctx.clock()
    step.attempts.append(attempt(0, start, ctx.clock(), FAIL, message))
    step.status = FAIL
    step.message = message
    ctx.store.put_step_log(ctx.run_id, step, branch)
    return step
