"""A step run alone without pydantic: the usual `magnus execute_single_node` (what every Argo pod runs), with
no model class and no pydantic in the process (issue 19, target 4: importing pydantic and making the first
model classes was ~95 ms of a ~230 ms step).

    plan(run_id, step, ...) -> Plan | None     everything decided, nothing written (None: the models' path)
    run(plan) -> int                           the step run and committed; the exit code

`plan` reads what the models' path reads (the pipeline, the config, the run's metadata, the step's branch
parameters and its siblings' parts) and takes the step only when it is the usual one this module writes
exactly as the models would: a python task (no catalog settings) in the top-level dag or in map and parallel
branches, a pipeline the plain walk vouches for (models/pipeline_table.py), the chunked-fs store, the
do-nothing catalog and experiment tracker, the local executor, an env or do-nothing secrets provider with no
secret known yet, a run that exists and is PROCESSING with nothing recorded masked, the step not begun
before, no sibling PROCESSING, no `--name value` parameters, no variables file. Anything else, or anything it
cannot read, is None, decided before any side effect: cli/_step.py then runs the models' path (single.py),
so every error text and exit code stays theirs.

`run` does what single.execute_single_node and nodes/task.py do for such a step, in the same order: the
PROCESSING part, the attempts (each through stepguard and stepenv, as nodes/task.py runs them), the commit
as one part, byte-equal to what stores/chunked.py writes from the models (step_json of the step log, then
`_parent` and `_seq`; tests/test_single_plain.py compares the two). A failure's located error is made by
failure.error_of (the models then, on that path only). A value the plain JSON writer is not sure of (a float
written with an exponent, a non-text key, a metric series, catalog records) is written by the models'
serialiser; a returned parameter recorded masked at the top level updates the run's metadata through the
models' store.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnus_core import jsonio as json
from magnus_core.models import FAIL, INTERRUPTED, PROCESSING, SUCCESS
from magnus_core.models import pipeline_table as pt

log = logging.getLogger("magnus")

OFF = "MAGNUS_PLAIN_STEP_OFF"  # "1": always the models' path (tests/test_single_plain.py compares the two)
META = "RunLog.json"  # stores/chunked.py's names (tests/test_single_plain.py checks them)
SECRETS = ("env-and-dotenv", "env-secrets-manager", "do-nothing")  # providers whose masking is known here


@dataclass
class Plan:
    """A step `run` runs: found in the pipeline, its run read, nothing written yet."""

    run_id: str
    name: str
    internal_name: str
    node: pt.PlainObject
    branch: str | None
    map_variable: dict[str, Any]
    tag: str
    run_folder: Path
    params: dict[str, Any]
    secrets: Any
    identity: dict[str, Any]
    config: dict[str, dict[str, Any]]
    root: Path = field(default_factory=Path.cwd)
    dag: Any = None  # the plain dag (pipeline_table), for order_note
    config_file: str | None = None  # as given, for the `magnus logs` command it prints (trial 11)


def plan(
    run_id: str,
    step: str,
    *,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    var_file: str | None,
    map_variable: str | None,
    tag: str,
    parameters: dict[str, Any] | None = None,
) -> Plan | None:
    """The step, when this module runs it (see the module's doc); None for the models' path. Reads only.
    `parameters` (`--name value`, which every pod of a workflow rendered with them carries): taken when
    each is what the run started with (else the models' path warns that they are not used)."""
    if var_file:
        return None
    try:
        return _plan(run_id, step, file, config_file, parameters_file, map_variable, tag, parameters or {})
    except Exception as exc:  # anything it cannot read: the models' path reads it again and says what it is
        log.debug("the step is left to the models: %s", exc)
        return None


def _plan(
    run_id: str,
    step: str,
    file: str,
    config_file: str | None,
    parameters_file: str | None,
    map_variable: str | None,
    tag: str,
    given: dict[str, Any],
) -> Plan | None:
    from magnus_core.loading import checked_raw_pipeline, config_blocks, load_config, read_mapping
    from magnus_core.paths import check_run_id

    check_run_id(run_id)
    mv = json.loads(map_variable) if map_variable else {}
    if type(mv) is not dict:
        return None
    if config_file and not _may_fit(load_config(config_file, None), config_file):
        return None  # (--config-file's blocks win over the pipeline's: decided without reading the pipeline)
    raw, _text = checked_raw_pipeline(file, None)
    pipeline = pt.plain(raw)
    if pipeline is None or not pt.valid(pipeline.dag):
        return None
    config = load_config(config_file, _Blocks(file, config_blocks(raw)))  # type: ignore[arg-type]
    if getattr(config, "overridden", None):
        return None  # (a warning the models' path says)
    if parameters_file:
        read_mapping(parameters_file, "parameters file")
    folder = _services_fit(config)
    if folder is None:
        return None
    try:
        visit = pt.locate(pipeline.dag, step.replace("%", " "), mv)
    except pt.NotLocated:
        return None
    node = visit.node
    if node.model != "TaskNode" or node.command_type != "python" or node.catalog is not None:
        return None
    run_folder = Path(folder) / run_id
    meta = _read(run_folder / META)
    if not _usual_run(meta):
        return None
    started = meta["run_config"]["parameters"]
    if any(started.get(name, _MISSING) != value for name, value in given.items()):
        return None  # (single._warn_unused_parameters says which are not used)
    params = _scope_parameters(run_folder, meta, visit)
    if params is None:
        return None
    secrets = _secrets(config["secrets"])
    if secrets is None or secrets.values():
        return None  # a secret known before the step: its masking is the models' path's
    from magnus_core.identity import identity_fields

    return Plan(
        run_id=run_id,
        name=visit.name,
        internal_name=visit.internal_name,
        node=node,
        branch=visit.branch,
        map_variable=mv,
        tag=meta["tag"] if isinstance(meta.get("tag"), str) and meta.get("tag") else tag or "",
        run_folder=run_folder,
        params=params,
        secrets=secrets,
        identity=identity_fields(Path.cwd()),
        config=config,
        dag=pipeline.dag,
        config_file=config_file,
    )


_MISSING = object()


def order_note(run_id: str, dag: Any, name: str, status_of: Any) -> str | None:
    """One line when top-level step `name` runs in run `run_id` before its predecessor in `dag` (a step
    whose `next` is `name` and that succeeded, or whose `on_failure` is `name` and that failed), else None;
    `status_of(step name)` gives a step's recorded status (None: never ran). Not for the steps inside
    branches (their order is the orchestrator's). Trial 9: `flaky` run after s2 with s3..s999 never run,
    `boom` before s0, both accepted in silence. `dag`: the models' Dag or pipeline_table's plain one."""
    if name == dag.start_at:
        return None
    before: list[str] = []
    for other, node in dag.steps.items():
        by_next, by_failure = getattr(node, "next", None) == name, getattr(node, "on_failure", None) == name
        if by_next or by_failure:
            status = status_of(other)
            if (by_next and status == SUCCESS) or (by_failure and status == "FAIL"):
                return None
            before.append(other)
    if not before:
        return None
    said = " or ".join(f"'{other}'" for other in before)
    return f"step '{name}' runs in run {run_id} before its predecessor in the dag, {said}, has succeeded"


def _plain_order_note(plan: Plan, dag: Any) -> str | None:
    """order_note on the plain path: the predecessors' own parts only, never the whole log (issue 19)."""
    from magnus_core.stores.parts import part_name

    def status_of(other: str) -> Any:
        part = _read(plan.run_folder / "steps" / part_name(other))
        return part.get("status") if isinstance(part, dict) else None

    return order_note(plan.run_id, dag, plan.name, status_of) if plan.branch is None else None


@dataclass
class _Blocks:
    """What loading.load_config reads of a pipeline: its file and its config blocks."""

    file: str
    config_blocks: dict[str, Any]


def _services_fit(config: dict[str, dict[str, Any]]) -> str | None:
    """The chunked-fs store's folder when every service is one this module knows exactly; else None."""
    store = config.get("run_log_store") or {}
    options = store.get("config") or {}
    folder = options.get("log_folder", ".run_log_store")
    if store.get("type") != "chunked-fs" or options.keys() - {"log_folder"} or type(folder) is not str:
        return None
    for name, kind in (
        ("catalog", "do-nothing"),
        ("executor", "local"),
        ("experiment_tracker", "do-nothing"),
    ):
        block = config.get(name) or {}
        if block.get("type") != kind or block.get("config"):
            return None
    secrets = config.get("secrets") or {}
    if secrets.get("type") not in SECRETS or set(config) - {
        "run_log_store",
        "catalog",
        "executor",
        "experiment_tracker",
        "secrets",
    }:
        return None
    return folder


def _may_fit(config: Any, config_file: str) -> bool:
    """False when a block given by `config_file` (no other layer overrides one) is one this module refuses."""
    sources = getattr(config, "sources", {})
    whole = _services_fit(config) is not None
    return whole or all(sources.get(name) != config_file or _fits(name, config) for name in config)


def _fits(name: str, config: dict[str, dict[str, Any]]) -> bool:
    """_services_fit for block `name` alone (the others as they fit)."""
    usual = {
        "run_log_store": {"type": "chunked-fs", "config": {}},
        "catalog": {"type": "do-nothing", "config": {}},
        "executor": {"type": "local", "config": {}},
        "experiment_tracker": {"type": "do-nothing", "config": {}},
        "secrets": {"type": "do-nothing", "config": {}},
    }
    if name not in usual:
        return False
    return _services_fit({**usual, name: config[name]}) is not None


def _secrets(block: dict[str, Any]) -> Any:
    """The secrets provider as the models' path makes it (registry), with the credentials magnus uses
    (credentials.environment_credentials: the only ones of these services) handed to it."""
    from magnus_core.credentials import environment_credentials
    from magnus_core.registry import load_provider

    provider = load_provider("secrets", block)
    provider.add_credentials(environment_credentials())
    return provider


def _read(path: Path) -> Any:
    """A part file, read as stores/chunked.py reads it (untrusted); None when there is none."""
    from magnus_core.errors import RunLogError
    from magnus_core.models.reading import MAX_RUN_LOG_BYTES, parse_run_log_json
    from magnus_core.paths import read_regular_file

    if not os.path.lexists(path):
        return None
    raw = read_regular_file(path, limit=MAX_RUN_LOG_BYTES, what="run-log part", error=RunLogError)
    return parse_run_log_json(raw, str(path))


def _usual_run(meta: Any) -> bool:
    """The run exists, is PROCESSING, was started with its parameters recorded and none masked."""
    return (
        isinstance(meta, dict)
        and meta.get("status") == PROCESSING
        and not meta.get("masked_parameters")
        and isinstance(meta.get("run_config"), dict)
        and isinstance(meta["run_config"].get("parameters"), dict)
        and isinstance(meta.get("run_id"), str)
    )


def _scope_parameters(run_folder: Path, meta: dict[str, Any], visit: pt.PlainVisit) -> dict[str, Any] | None:
    """The step's parameters as single.read_params derives them (its scope's start, updated by each
    SUCCESS sibling in the order they ran); None when anything is unusual: the step begun already, a
    sibling PROCESSING or with masked parameters, a branch or composite step of the chain missing."""
    from magnus_core.stores.parts import part_name

    for name in visit.parents:  # the composite steps and branches holding it: the models' path needs them
        if not os.path.exists(run_folder / "steps" / part_name(name)):
            return None
    for name in visit.branches:
        if not os.path.exists(run_folder / "branches" / part_name(name)):
            return None
    if visit.branch is None:
        start = dict(meta["run_config"]["parameters"])
    else:
        kept = _read(run_folder / "branch-parameters" / part_name(visit.branch))
        if not isinstance(kept, dict) or kept.get("magnus_branch_parameters") != 1:
            return None
        if kept.get("masked_parameters") or not isinstance(kept.get("parameters"), dict):
            return None
        start = dict(kept["parameters"])
    siblings = []
    for name in visit.dag.steps:
        internal = name if visit.branch is None else f"{visit.branch}.{name}"
        part = _read(run_folder / "steps" / part_name(internal))
        if part is None:
            continue
        if internal == visit.internal_name or not isinstance(part, dict):
            return None  # (a step begun before: retried or done, the models' path decides)
        if (
            part.get("status") == PROCESSING
            or part.get("masked_parameters")
            or part.get("_parent") != visit.branch
        ):
            return None
        returned = part.get("returned_parameters", {})
        seq = part.get("_seq", 0)
        if not isinstance(returned, dict) or type(seq) is not int:
            return None
        siblings.append((seq, part_name(internal), part.get("status"), returned))
    for _seq, _name, status, returned in sorted(siblings, key=lambda s: (s[0], s[1])):
        if status == SUCCESS:
            start.update(returned)
    return start


# -- running it ------------------------------------------------------------------------------------------


class _Services:
    """What a python step's command and magnus's functions it calls use of the run (RunContext's names):
    the secrets provider, the environment bridge, the catalog (do-nothing, made when first asked for)."""

    concurrent = False

    def __init__(self, plan: Plan) -> None:
        from magnus_core.stepenv import EnvBridge

        self.secrets = plan.secrets
        self.env_bridge = EnvBridge()
        self._plan = plan
        self._catalog: Any = None

    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            from magnus_core.registry import load_provider

            self._catalog = load_provider("catalog", self._plan.config["catalog"])
        return self._catalog

    def catalog_get(self, name: str, destination_folder: str | None = None) -> list[Any]:
        records = self.catalog.get_patterns([name], None, destination=destination_folder)
        return self._record(records)

    def catalog_put(self, filepath: str) -> list[Any]:
        return self._record(self.catalog.put_path(filepath))

    @staticmethod
    def _record(records: list[Any]) -> list[Any]:
        from magnus_core.interaction import current_scope

        scope = current_scope()
        if scope is not None:
            scope.catalog_records.extend(records)
        return records


@dataclass
class _Outcome:
    status: str = SUCCESS
    message: str = ""
    error: dict[str, Any] | None = None
    interrupted: BaseException | None = None


_last_seq = [0]


def _sequence() -> int:
    """A new part's creation order, as stores/chunked.py gives it (time.time_ns(), strictly increasing)."""
    _last_seq[0] = max(time.time_ns(), _last_seq[0] + 1)
    return _last_seq[0]


def run(plan: Plan) -> int:
    """Run the planned step as single.execute_single_node runs it; the exit code (0 it succeeded, 1 it
    failed). An interruption (Ctrl-C, SIGTERM) is recorded, then raised."""
    from magnus_core import output
    from magnus_core.crashpoints import crash_point
    from magnus_core.gcpause import step_starts
    from magnus_core.masking import masker_of
    from magnus_core.models.times import now
    from magnus_core.runs import step_process
    from magnus_core.secrets import watch_requests
    from magnus_core.stepenv import own_environment

    masker = masker_of(plan.secrets)
    writer = _Writer(plan, masker)
    step: dict[str, Any] = {
        "name": plan.name,
        "internal_name": plan.internal_name,
        "status": PROCESSING,
        "step_type": "task",
        "message": "",
        "mock": False,
        "code_identities": [_identity(plan.identity)],
        "attempts": [],
        "user_defined_metrics": {},
        "data_catalog": [],
        "metric_history": {},
        "returned_parameters": {},
        "masked_parameters": [],
        "start_time": now(),
        "process": step_process(),  # (trial 15 N8: a reader on this host tells when it is gone)
    }
    note = _plain_order_note(plan, plan.dag) if plan.dag is not None else None
    if note:
        print(f"magnus: {note}", file=sys.stderr, flush=True)
    step_starts()
    with own_environment(), output.installed(), output.routed(masker), watch_requests(plan.secrets):
        writer.write(step)  # (begin_step: per-step processes write the start at once)
        crash_point("task:started", plan.internal_name)
        services = _Services(plan)
        scope, hold = _attempts(plan, step, services, masker, writer)
        try:
            crash_point("task:returned", plan.internal_name)
            _record(plan, step, scope, masker, writer)
        finally:
            hold.__exit__(None, None, None)
    if step["status"] == SUCCESS:
        return 0
    _say_failed(plan, step, masker)
    return 1


def _say_failed(plan: Plan, step: dict[str, Any], masker: Any) -> None:
    """single.say_failed_step: on stderr, what the summary of `magnus execute` says of this failed step
    (made by the models: a failed step's process may import them)."""
    from magnus_core.logs import OutputReader, failure_of
    from magnus_core.models.run_log import StepLog
    from magnus_core.registry import load_provider
    from magnus_core.summary import SHOWN_LINES, failure_block

    store = load_provider("run_log_store", plan.config["run_log_store"])
    run = store.attach_scope(plan.run_id, [], [])
    made = StepLog.model_validate({**_masked(step, masker), "branches": {}})
    reader = OutputReader(run, load_provider("catalog", plan.config["catalog"]))
    lines = failure_block(
        failure_of(plan.run_id, made, reader, lines=SHOWN_LINES, config_file=plan.config_file)
    )
    text = "".join(f"magnus: {masker.text(line)}\n" for line in lines)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stderr never changes the step's outcome
        pass


def _identity(fields: dict[str, Any]) -> dict[str, Any]:
    """A CodeIdentity's fields from those given, the model's defaults for the rest, in its order."""
    defaults = {
        "code_identifier": None,
        "code_identifier_type": "git",
        "code_identifier_dependable": False,
        "code_identifier_url": None,
        "code_identifier_message": "",
    }
    return {**defaults, **fields}


def _attempts(plan: Plan, step: dict[str, Any], services: _Services, masker: Any, writer: _Writer) -> Any:
    """nodes/task._attempts for a python task: each attempt recorded; the last one's scope and the
    masker's hold (kept until the step is committed)."""
    from magnus_core.errors import say_when_stopped
    from magnus_core.failure import say_retry
    from magnus_core.interaction import StepScope
    from magnus_core.models.times import now

    inputs = {**plan.params, **plan.map_variable}
    attempts = plan.node.attempts
    scope: Any = None
    kept: Any = None
    for number in range(attempts):
        scope = StepScope(
            run_id=plan.run_id,
            tag=plan.tag,
            parameters=inputs,
            internal_name=plan.internal_name,
            map_variable=dict(plan.map_variable),
            services=services,  # type: ignore[arg-type]
            branch=plan.branch,
        )
        start = now()
        outcome = _run_attempt(plan, scope, services, masker)
        hold = masker.held()
        hold.__enter__()
        try:
            record: dict[str, Any] = {
                "attempt_number": number,
                "start_time": start,
                "end_time": None,
                "duration": "",
                "status": outcome.status,
                "message": masker.text(outcome.message),
            }
            end = now()
            record["end_time"], record["duration"] = end, str(end - start)
            if scope.inputs is not None:
                record["parameters"] = masker.value(scope.inputs, strict=False) if scope.inputs else {}
            if outcome.error is not None:
                record["error"] = outcome.error
            step["attempts"].append(record)
            if outcome.interrupted is not None:
                step["status"], step["message"] = INTERRUPTED, record["message"]
                writer.write(step)
                line = f"Interrupted: step {plan.internal_name} (attempt {number}) is marked INTERRUPTED."
                raise say_when_stopped(outcome.interrupted, line)
            if outcome.status == SUCCESS or number + 1 == attempts:
                kept, hold = hold, None
                break
            writer.write(step)
            cause = ""
            if record.get("error") is not None:
                from magnus_core.index.record import caused_by_json  # (a chain's words, as show says them)

                cause = caused_by_json(record["error"])
            say_retry(
                plan.internal_name, number, attempts, record["message"], cause
            )  # on the terminal, as it goes
        finally:
            if hold is not None:
                hold.__exit__(None, None, None)
    return scope, kept


def _run_attempt(plan: Plan, scope: Any, services: _Services, masker: Any) -> _Outcome:
    """nodes/task._run_attempt for a python task with a catalog that keeps no output."""
    from magnus_core import output
    from magnus_core.errors import MagnusError, signal_name
    from magnus_core.failure import (
        CommandFailed,
        ImportFailed,
        clean_text,
        describe,
        error_of,
        exit_outcome,
        import_exit,
        masked_error,
    )
    from magnus_core.interaction import enter_scope, exit_scope
    from magnus_core.interrupts import from_signal, received
    from magnus_core.stepenv import _StepPipes
    from magnus_core.stepguard import (
        _Guard,
        _note_threads,
        _restore,
        check_returned,
        process_settings,
        restore_process_settings,
    )
    from magnus_core.tasks.python import run as run_python

    root = plan.root
    folder = str(root)
    token = enter_scope(scope)
    outcome = _Outcome()
    streams = (sys.stdout, sys.stderr)
    threads = frozenset(threading.enumerate())
    dispositions = process_settings()
    signals = received()  # a KeyboardInterrupt with no signal since is the step's own (interrupts.py)
    ring = StderrRing()  # its last stderr lines, for a failure's record (trial 14 fault 14)
    tapped = output.tap_alone(output.NOWHERE, ring)
    try:
        with _StepPipes(), _Guard(False):
            run_python(plan.node.command, plan.node.command_config, scope, services)  # type: ignore[arg-type]
        check_returned(scope, plan.node.command, root)
    except CommandFailed as exc:
        error = exc.error
        error.message = masker.text(clean_text(error.message))
        outcome = _Outcome(FAIL, clean_text(exc.message), _error(error))
    except ImportFailed as exc:  # its module raised as it was imported (trial 12 fault 4)
        error = masked_error(exc.error, masker.text)
        outcome = _Outcome(FAIL, clean_text(f"field 'command': {exc.unplaced}"), _error(error))
    except MagnusError as exc:
        located = error_of(exc, root, masker.text)
        outcome = _Outcome(FAIL, clean_text(str(exc)), _error(located) if located.frames else None)
    except SystemExit as exc:
        succeeded, message, code = exit_outcome(exc)
        at_import = import_exit(exc, root, masker.text)  # a module it imported exited (trial 20 N1)
        if at_import is not None:
            outcome = _Outcome(FAIL, at_import[0], _error(at_import[1]))
        elif not succeeded:
            located = error_of(exc, root, masker.text, exit_code=code)
            located.message = masker.text(message.removeprefix("SystemExit: "))
            outcome = _Outcome(FAIL, message, _error(located))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and from_signal(signals):  # Ctrl-C or SIGTERM: stop
            outcome = _Outcome(
                INTERRUPTED, f"interrupted by {signal_name(exc)}: the run was stopped", interrupted=exc
            )
        else:  # anything the step's code raised, a KeyboardInterrupt with no signal too: the step fails
            outcome = _Outcome(FAIL, describe(exc), _error(error_of(exc, root, masker.text)))
            log.debug("step %s failed", scope.internal_name, exc_info=True)
    finally:
        exit_scope(token)
        _restore(folder, streams, services, scope.internal_name)
        restore_process_settings(dispositions, step=scope.internal_name)
        _note_threads(scope.internal_name, threads)
        if tapped is not None:
            output.untap(tapped, output.NOWHERE)
    if outcome.status == FAIL and outcome.error is not None:  # as nodes/task.py records them
        outcome.error = _with_stderr(outcome.error, ring.lines())
    return outcome


class StderrRing:
    """The last bytes a step wrote to stderr (masked), a Sink of the output seam tapped for its attempt:
    capture.StderrTail without an attempt's file (capture is not imported here: it loads the models)."""

    line_buffered = False

    def __init__(self) -> None:
        self._ring = bytearray()

    def write_bytes(self, data: bytes) -> None:
        if data:
            ring = self._ring
            ring += data[-4096:]
            if len(ring) > 8192:
                del ring[:-4096]

    def write_text(self, text: str) -> None:
        if text:
            self.write_bytes(text.encode("utf-8", "surrogateescape"))

    def flush(self) -> None:
        return None

    def lines(self, count: int = 5) -> list[str]:
        """capture.StderrTail.lines: the last `count` non-blank lines, each at most 500 characters."""
        text = bytes(self._ring[-4096:]).decode("utf-8", errors="replace")
        frames = text.split("\n")
        if "\r" in text:  # a progress bar's frames: its last (logs.last_frame)
            from magnus_core.logs import last_frame

            frames = [last_frame(line) for line in frames]
        lines = [frame.rstrip() for frame in frames if frame.strip()]
        if len(self._ring) >= 4096 and lines:
            lines = lines[1:]
        return [line if len(line) <= 500 else f"{line[:500]}..." for line in lines[-count:]]


def _with_stderr(shown: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """`shown` (_error's) with `stderr`: its place in the models' order (before `cause` and `implicit`)."""
    if not lines:
        return shown
    ordered = {key: value for key, value in shown.items() if key not in ("cause", "implicit")}
    ordered["stderr"] = list(lines)
    ordered.update((key, shown[key]) for key in ("cause", "implicit") if key in shown)
    return ordered


def _error(error: Any) -> dict[str, Any]:
    """An AttemptError (failure.error_of's) as the step's JSON holds it (models.run_log._attempt_plain)."""
    shown = {
        "type": error.type,
        "message": error.message,
        "frames": [
            {"file": f.file, "line": f.line, "function": f.function, "text": f.text} for f in error.frames
        ],
    }
    if error.exit_code is not None:
        shown["exit_code"] = error.exit_code
    if error.cell is not None:
        shown["cell"] = error.cell
    if error.stderr:
        shown["stderr"] = list(error.stderr)
    if error.cause is not None:  # the exception it was raised from (trial 12 fault 16)
        shown["cause"] = _error(error.cause)
    if error.implicit:
        shown["implicit"] = True
    return shown


def _record(plan: Plan, step: dict[str, Any], scope: Any, masker: Any, writer: _Writer) -> None:
    """nodes/task._record and _commit: the outcome, the commit (one part), then the run's metadata when a
    top-level step's returned parameters are recorded masked."""
    from magnus_core.crashpoints import crash_point
    from magnus_core.errors import MagnusError
    from magnus_core.stepguard import _warn_non_finite

    last = step["attempts"][-1]
    step["data_catalog"].extend(scope.catalog_records)
    returned: dict[str, Any] = {}
    if last["status"] == SUCCESS:
        try:
            step["user_defined_metrics"] = (
                masker.value(scope.metrics, where="metrics") if scope.metrics else {}
            )
            if scope.params_out:
                _, step["masked_parameters"] = masker.changed(scope.params_out, where="parameters")
        except MagnusError as exc:
            last["status"] = FAIL
            last["message"] = str(exc)
    if last["status"] == SUCCESS:
        _warn_non_finite(plan.internal_name, scope)
        if scope.history:
            step["metric_history"] = {
                name: sorted(points, key=lambda p: p["step"])
                for name, points in masker.value(scope.history, strict=False).items()
            }
        returned = dict(scope.params_out)
        step["status"] = SUCCESS
    else:
        step["status"] = FAIL
        step["message"] = last["message"]
    crash_point("task:put", plan.internal_name)
    step["returned_parameters"] = masker.value(returned, strict=False) if returned else {}
    after = {**plan.params, **returned} if plan.branch is None and returned else None
    recorded: dict[str, Any] = {}
    masked: list[str] = []
    if after is not None:
        recorded, masked = masker.changed(dict(after), where="parameters")
    writer.write(step, commit=after is not None)
    crash_point("task:committed", plan.internal_name)
    if after is not None and masked:  # the run's parameters recorded masked: its metadata says which
        _update_run_with_models(plan, masker, recorded, masked)


def _update_run_with_models(plan: Plan, masker: Any, recorded: dict[str, Any], masked: list[str]) -> None:
    """What RunContext's commit leaves the store to write then: the run's metadata with its masked
    parameters' names, and its parameters as recorded (the chunked-fs store writes both at once)."""
    from magnus_core.registry import load_provider

    store = load_provider("run_log_store", plan.config["run_log_store"])
    store.attach_scope(plan.run_id, [], [])
    store.mask_with(plan.run_id, masker)
    store.update_run(plan.run_id, parameters=recorded, masked_parameters=masked)
    store.flush(plan.run_id)


class _Writer:
    """A step's part in stores/chunked.py's form: step_json of the step log (no branches), then `_parent`
    and `_seq` (its creation order, kept across its writes), in the run's `steps` folder, replaced in one
    rename; every value masked as RunLogStore._mask masks a step log (field by field)."""

    def __init__(self, plan: Plan, masker: Any) -> None:
        self.plan = plan
        self.masker = masker
        self.seq = 0
        self.folder = ""

    def write(self, step: dict[str, Any], *, commit: bool = False) -> None:
        from magnus_core.crashpoints import crash_point
        from magnus_core.files import kept_inside, replace_in
        from magnus_core.paths import own_folder
        from magnus_core.stores.parts import part_name

        plan = self.plan
        if not os.path.exists(plan.run_folder / META):  # (the run removed meanwhile: the models restore it)
            from magnus_core.errors import RunLogError

            raise RunLogError(
                f"the folder of run '{plan.run_id}' was removed while it ran", file=str(plan.run_folder)
            )
        if not self.folder:
            run = own_folder(plan.run_folder.parent, plan.run_id, what=f"folder of run '{plan.run_id}'")
            steps = kept_inside(run / "steps", run)
            steps.mkdir(parents=True, exist_ok=True)
            self.folder = str(steps)
            self.seq = _sequence()
        shown = _masked(step, self.masker)
        branch = self.masker.value(plan.branch, where="run log", strict=False) if plan.branch else plan.branch
        text = step_text(shown, branch, self.seq)
        replace_in(self.folder, part_name(shown["internal_name"]), text.encode("utf-8"), durable=False)
        if commit:
            crash_point("store:step-part", plan.internal_name)


def _masked(step: dict[str, Any], masker: Any) -> dict[str, Any]:
    """The step as RunLogStore._mask leaves a step log: each field's value masked (strict=False), the
    objects inside it (identities, attempts) field by field; names of fields never."""
    patterns = masker.patterns()
    if not patterns:
        return step

    def value(item: Any) -> Any:
        return masker.value(item, where="run log", strict=False)

    out = {key: value(item) for key, item in step.items() if key not in ("code_identities", "attempts")}
    out["code_identities"] = [{k: value(v) for k, v in i.items()} for i in step["code_identities"]]
    out["attempts"] = [{k: value(v) for k, v in a.items()} for a in step["attempts"]]
    return {key: out[key] for key in step}


# -- the step's JSON, as the models write it -------------------------------------------------------------


def step_text(step: dict[str, Any], branch: str | None, seq: int) -> str:
    """The part file's text: models.run_log.step_json(step log, indent=None, branches=False) followed by
    `_parent` and `_seq`, as stores/chunked._write_step writes it; `step` holds the StepLog's fields but
    `branches` (times as aware datetimes, attempts and identities as dicts of their fields)."""
    shown = _shown(step)
    text = _plain_json(shown) if shown is not None else None
    if text is None:
        text = _models_json(step)
    return f'{text[:-1]},"_parent":{json.dumps(branch, ensure_ascii=False)},"_seq":{seq}}}'


def _shown(step: dict[str, Any]) -> dict[str, Any] | None:
    """models.run_log.step_plain's dict for the step (fields left out where the models leave them out,
    times as their text); None when it holds what only the models write (catalog records, a series)."""
    if step["data_catalog"] or step["metric_history"]:
        return None
    out = dict(step)
    out["attempts"] = [_attempt_shown(a) for a in step["attempts"]]
    del out["metric_history"]
    if not out["returned_parameters"]:
        del out["returned_parameters"]
    if not out["masked_parameters"]:
        del out["masked_parameters"]
    out["start_time"] = _time_text(step["start_time"])
    if out.get("process") is None:
        out.pop("process", None)
    return out


def _attempt_shown(attempt: dict[str, Any]) -> dict[str, Any]:
    out = dict(attempt)
    out["start_time"] = _time_text(attempt["start_time"])
    out["end_time"] = _time_text(attempt["end_time"])
    return out


def _time_text(value: Any) -> str:
    return value.isoformat(" ")  # (models.run_log._time_text of an aware time of this run: now())


def _plain_json(value: Any) -> str | None:
    """pydantic-core's to_json(value) (compact) for values json.dumps writes the same: text (UTF-8, no
    lone surrogate), whole numbers, booleans, null, floats written without an exponent, lists and text-keyed
    mappings of them; None for anything else."""
    if not _usual(value, 0):
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _usual(value: Any, depth: int) -> bool:
    kind = value.__class__
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value) and "e" not in repr(value)
    if depth > 100:
        return False
    if kind is list:
        return all(_usual(item, depth + 1) for item in value)
    if kind is dict:
        return all(k.__class__ is str and _usual(k, 0) and _usual(v, depth + 1) for k, v in value.items())
    return False


def _models_json(step: dict[str, Any]) -> str:
    """The models' text for what the plain writer is not sure of (they validate the step log first)."""
    from magnus_core.models.run_log import StepLog, step_json

    return step_json(StepLog.model_validate({**step, "branches": {}}), indent=None, branches=False)
