"""The argo executor: renders the dag to an Argo Workflows `Workflow` YAML file instead of running it.

Each leaf step becomes a container template running `magnus execute_single_node RUN_ID STEP ...`; each
parallel, map or dag step a DAG template of fan-out, its branches (a DAG template each; a map's one branch
fanned out with withParam) and fan-in. A conditional's branches each run `when` fan-out reports them chosen;
a loop is a recursive DAG template (an iteration, its fan-in, and the next iteration `when` the fan-in
reports the break parameter false and fewer iterations than max_iterations). `next` and `on_failure`
become `depends` expressions. The spec is
built with hera's Argo models (the `magnus[argo]` extra); template names are derived from internal names, so
the same dag always renders to the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from magnus_core.errors import ConfigError, UsageError, install_extra
from magnus_core.executors.base import Executor
from magnus_core.graph import PLACEHOLDER, branches, encode_name, next_step, reachable, walk
from magnus_core.loading import Problem, located, step_places
from magnus_core.models.pipeline import Dag, Node
from magnus_core.parameters import command_parameters
from magnus_core.paths import is_within
from magnus_core.registry import OptionKeyError, parse_options
from magnus_core.table import fmt_size

if TYPE_CHECKING:
    from magnus_core.loading import Pipeline
    from magnus_core.runner import PreparedRun, RunRequest

ITEMS_PATH = "/tmp/magnus-branches.json"  # where a map's fan-out writes the list Argo fans out on
OUTPUTS_DIR = "/tmp/magnus-outputs"  # where a fan-out or fan-in writes values a `when` routes on
CHOSEN = "{{tasks.fan-out.outputs.parameters.branch}}"  # a conditional's branch that runs (its position)
RETRY_WHEN = (
    "lastRetry.status == 'Error' || asInt(lastRetry.exitCode) > 2"  # died, not failed (1) or refused (2)
)
_MAX_NAME = 63
MAX_WORKFLOW_BYTES = 1_000_000  # etcd's request limit is 1.5 MiB; the controller adds status beside the spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # (registry.plain_options)


class Resources(_Strict):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class SharedVolume(_Strict):
    """A persistent volume claim mounted in every pod: the run-log store and the catalog live on it."""

    claim_name: str
    mount_path: str
    name: str | None = None


class StepOverrides(_Strict):
    """`mode_config: {argo: {...}}` on a step."""

    image: str | None = None
    image_pull_policy: str | None = None
    resources: Resources | None = None
    env: dict[str, str] = Field(default_factory=dict)


class ArgoOptions(_Strict):
    image: str
    output: str = "argo-workflow.yaml"
    generate_name: str = "magnus-"
    namespace: str | None = None
    service_account_name: str | None = None
    image_pull_policy: str | None = None
    working_dir: str | None = None
    resources: Resources | None = None
    volumes: list[SharedVolume] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    # variables taken from Kubernetes secrets, e.g. PGPASSWORD: "magnus-db/password" (secret name/key):
    # credentials reach the pods without being written in the workflow or the config
    secret_env: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    pipeline_file: str | None = None  # the pipeline file's path inside the image (default: as given)
    config_file: str | None = None  # the config file's path inside the image (default: as given)
    log_level: str = "WARNING"

    @field_validator("secret_env")
    @classmethod
    def _secret_refs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            secret, _, key = ref.partition("/")
            if not secret or not key or "/" in key:
                raise OptionKeyError(name, "expected 'SECRET_NAME/KEY' (a Kubernetes secret and its key)")
        return value

    def secret_refs(self) -> dict[str, tuple[str, str]]:
        return {name: tuple(ref.split("/", 1)) for name, ref in self.secret_env.items()}  # type: ignore[misc]


class ArgoExecutor(Executor):
    service_name = "argo"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(ArgoOptions, self.config, "executor")

    def credentials(self) -> dict[str, str]:
        """In a pod (a step run with this config): the values of the `secret_env` variables Kubernetes set
        from its secrets, masked in everything the step writes. (Rendering runs nothing: not asked then.)"""
        return {name: os.environ[name] for name in self.options.secret_env if os.environ.get(name)}

    def validate(
        self, pipeline: Pipeline, config: dict[str, dict[str, Any]], request: RunRequest | None = None
    ) -> None:
        """Everything Argo could not run is refused here, at render time, not in the cluster."""
        if request is not None and request.use_cached is not None:
            raise UsageError(
                "a rendered workflow always runs every step: --use-cached is for local re-runs",
                field="use_cached",
            )
        check_expressible(pipeline.dag, config, self.options, pipeline.file)

    def execute_graph(self, *args: Any, **kwargs: Any) -> str:
        raise UsageError(
            "the argo executor renders a workflow instead of running it: "
            "use `magnus execute --file PIPELINE --config-file CONFIG` to write it",
            field="executor.type",
        )

    def render(self, prepared: PreparedRun) -> Path:
        """Write the Workflow YAML; returns its path."""
        text = render_yaml(
            prepared.pipeline,
            prepared.config,
            self.options,
            file=prepared.request.file,
            config_file=prepared.request.config_file,
            parameters_file=prepared.request.parameters_file,
            var_file=prepared.request.var_file,
            tag=prepared.request.tag,
            parameters=given_parameters(prepared.request),
            run_id=prepared.request.run_id,
        )
        from magnus_core.secrets import declared_secrets

        for name in declared_secrets(prepared.pipeline.dag):
            prepared.secrets.has(name)  # the declared secrets' values are known, so they are looked for
        refuse_secrets(text, prepared.secrets)
        from magnus_core.files import atomic_write

        out = Path(self.options.output)
        atomic_write(out, text)
        return out


def given_parameters(request: RunRequest) -> dict[str, Any]:
    """The parameters a local run would take from the rendering command rather than from the parameters
    file (which pods read themselves): MAGNUS_PRM_ variables, then `--name value`, the later winning, as
    parameters.initial_parameters orders them. The workflow carries them (trial "team", finding 2)."""
    from magnus_core.parameters import from_environment

    return {**from_environment(typed=True), **request.parameters}


def refuse_secrets(text: str, secrets: Any) -> None:
    """The workflow is a file handed to a cluster: one holding a secret value (an `env` entry, a path or a
    tag copied from config) is refused, naming the line, never written masked (it would not run)."""
    from magnus_core.masking import masker_of

    masker = masker_of(secrets)
    for number, line in enumerate(text.splitlines(), start=1):
        shown = masker.text(line)
        if shown != line:
            raise ConfigError(
                f"the rendered workflow would hold a secret value (line {number}: {shown.strip()}); give "
                "pods their secrets from Kubernetes secrets, not in the executor's config or the command "
                "line",
                field="executor.config",
            )


# -- what Argo can and cannot run -------------------------------------------------------------------


def check_expressible(
    dag: Dag, config: dict[str, dict[str, Any]], options: ArgoOptions, file: str | None = None
) -> None:
    """What Argo cannot run, refused with a ConfigError: a store its pods cannot share, folders off the
    shared volumes, a step's bad `mode_config.argo` (named with its line in `file`, the pipeline file, or
    in the dag_definition file holding it)."""
    store = config["run_log_store"]
    kind = store.get("type")
    if kind == "buffered":
        raise ConfigError(
            "Argo runs each step in its own pod, which cannot share the buffered (in-memory) "
            "run-log store: use postgres (nothing shared but the database) or chunked-fs on a shared volume",
            field="run_log_store.type",
        )
    concurrent = [v for v in walk(dag) if v.node.concurrent_branches]
    if kind == "file-system" and concurrent:
        name, node = concurrent[0].internal_name, concurrent[0].node
        raise ConfigError(
            f"{node.type} step '{name}' runs branches in pods at the same time, which would "
            "overwrite each other's file-system run log: use the postgres or chunked-fs store",
            field="run_log_store.type",
        )
    folders = []
    if kind in ("file-system", "chunked-fs"):
        folders.append(
            ("run_log_store.config.log_folder", store.get("config", {}).get("log_folder", ".run_log_store"))
        )
    catalog = config.get("catalog", {})
    if catalog.get("type") == "file-system":
        folders.append(
            ("catalog.config.catalog_location", catalog.get("config", {}).get("catalog_location", ".catalog"))
        )
    if catalog.get("type") == "fsspec":  # object storage needs no volume; a local path does
        url = str(catalog.get("config", {}).get("url", ""))
        protocol, _, rest = url.rpartition("://")
        if protocol in ("", "file", "local"):
            folders.append(("catalog.config.url", rest))
    mounts = [PurePosixPath(v.mount_path) for v in options.volumes]
    for field, folder in folders:
        path = PurePosixPath(posixpath.normpath(PurePosixPath(options.working_dir or "/") / folder))
        if not any(is_within(path, m, resolve=False) for m in mounts):
            shown = ", ".join(str(m) for m in mounts) or "none"
            raise ConfigError(
                f"'{folder}' is not on a shared volume, so Argo's pods would each see their "
                f"own (mounts: {shown}); add executor.config.volumes or move it there",
                field=field,
            )
    refuse_credentials_in_env(options.env, options, "executor.config.env")
    for visit, (_, holder, keys) in zip(walk(dag), step_places(dag), strict=True):
        name, node = visit.internal_name, visit.node
        overrides = (node.mode_config or {}).get("argo")
        if overrides is not None:
            try:
                step = StepOverrides.model_validate(overrides)
            except Exception as exc:
                first = str(exc).splitlines()[1:3]
                text = f"step '{name}': mode_config.argo: {' '.join(s.strip() for s in first)}"
                if file is None:
                    raise ConfigError(text, field="mode_config.argo") from None
                where = Problem(text, (*keys, "mode_config", "argo"), holder)
                raise ConfigError(located([where], file)[0], file=file) from None
            refuse_credentials_in_env(step.env, options, f"step '{name}': mode_config.argo.env")


def refuse_credentials_in_env(env: dict[str, str], options: ArgoOptions, where: str) -> None:
    """An `env` entry whose name says it holds a credential (credentials.is_credential_name: *_PASSWORD,
    *_SECRET, *_TOKEN, *_KEY, ...) would be written in clear into the workflow, which the cluster keeps
    and shows to anyone who can read workflows: refused (exit 2), pointing at `secret_env` (Kubernetes
    secrets). An empty value, or a name `secret_env` sets (it wins), is not written and not refused."""
    from magnus_core.credentials import is_credential_name

    for name, value in env.items():
        if value and name not in options.secret_env and is_credential_name(name):
            raise ConfigError(
                f"{where}: {name} looks like a credential, and env values are written in clear into the "
                "workflow: put it in a Kubernetes secret and name it in executor.config.secret_env "
                f"({{{name}: SECRET_NAME/KEY}}); a value that is not secret can go there too",
                field=f"executor.config.env.{name}" if where == "executor.config.env" else "mode_config.argo",
            )


# -- rendering ---------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "step"


class _Names:
    """Deterministic, unique, DNS-safe names: a slug, with a short hash of the exact text if needed."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self.used: set[str] = set(reserved)

    def take(self, text: str) -> str:
        slug = _slug(text)
        if len(slug) > _MAX_NAME or slug in self.used:
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
            slug = f"{slug[: _MAX_NAME - 9].rstrip('-')}-{digest}"
        base, number = slug, 1
        while slug in self.used:  # a hash collision after truncation: practically never
            suffix = f"-{number}"
            slug, number = f"{base[: _MAX_NAME - len(suffix)]}{suffix}", number + 1
        self.used.add(slug)
        return slug


class _Renderer:
    def __init__(
        self, options: ArgoOptions, base_command: list[str], top_deadline: int, tail: list[str] | None = None
    ) -> None:
        from hera.workflows import models as m

        self.m = m
        self.options = options
        self.base = base_command
        self.tail = tail or []  # `-- --name=value ...`: the parameters given when rendering, last
        self.top_deadline = top_deadline
        self.names = _Names()
        self.templates: list[Any] = []

    # leaf steps ----------------------------------------------------------------------------------
    def container(
        self, name: str, args: list[str], node: Node, in_map: bool, deadline: int, outputs: Any = None
    ) -> Any:
        m, o = self.m, self.options
        overrides = StepOverrides.model_validate((node.mode_config or {}).get("argo") or {})
        command = [*args, *self.base]
        if in_map:
            command += ["--map-variable", "{{inputs.parameters.map_variable}}"]
        command += self.tail
        resources = overrides.resources or o.resources
        env = {**o.env, **overrides.env}
        container = m.Container(
            image=overrides.image or o.image,
            image_pull_policy=overrides.image_pull_policy or o.image_pull_policy,
            command=command,
            working_dir=o.working_dir,
            env=[m.EnvVar(name=k, value=v) for k, v in sorted(env.items()) if k not in o.secret_env]
            + [
                m.EnvVar(
                    name=k,
                    value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(name=ref[0], key=ref[1])),
                )
                for k, ref in sorted(o.secret_refs().items())
            ]
            or None,
            resources=m.ResourceRequirements(
                requests={k: m.Quantity(v) for k, v in sorted(resources.requests.items())} or None,
                limits={k: m.Quantity(v) for k, v in sorted(resources.limits.items())} or None,
            )
            if resources
            else None,
            volume_mounts=[
                m.VolumeMount(name=self.volume_name(i, v), mount_path=v.mount_path)
                for i, v in enumerate(o.volumes)
            ]
            or None,
        )
        attempts = node.attempts if args[1] == "execute_single_node" else 1
        template = m.Template(
            name=name,
            inputs=self.map_inputs() if in_map else None,
            container=container,
            outputs=outputs,
            retry_strategy=m.RetryStrategy(
                limit=m.IntOrString(attempts - 1), retry_policy="Always", expression=RETRY_WHEN
            )
            if attempts > 1
            else None,
            active_deadline_seconds=m.IntOrString(deadline) if deadline < self.top_deadline else None,
        )
        self.templates.append(template)
        return template

    @staticmethod
    def volume_name(index: int, volume: SharedVolume) -> str:
        return volume.name or f"magnus-shared-{index}"

    def map_inputs(self) -> Any:
        return self.m.Inputs(parameters=[self.m.Parameter(name="map_variable")])

    def map_arguments(self, value: str = "{{inputs.parameters.map_variable}}") -> Any:
        return self.m.Arguments(parameters=[self.m.Parameter(name="map_variable", value=value)])

    # graphs --------------------------------------------------------------------------------------
    def graph(self, dag: Dag, prefix: str, in_map: bool, deadline: int, template_name: str) -> str:
        """A DAG template for one graph: a task per reachable node, routed by depends expressions."""
        m = self.m
        deadline = min(deadline, dag.max_time)
        reached = reachable(dag)  # an unreachable node would become a task that starts at once
        tasks_names = _Names(reserved=())
        task_of = {n: tasks_names.take(n) for n in dag.steps if n in reached}
        incoming: dict[str, list[str]] = {n: [] for n in task_of}
        for name, node in dag.steps.items():
            if name not in task_of or node.is_terminal:
                continue
            ok, failure = next_step(dag, name, True), next_step(dag, name, False)
            assert ok is not None and failure is not None
            incoming[ok].append(f"{task_of[name]}.Succeeded")
            incoming[failure].append(f"({task_of[name]}.Failed || {task_of[name]}.Errored)")
        tasks = []
        for name, node in dag.steps.items():
            if name not in task_of:
                continue
            internal = f"{prefix}{name}"
            if node.is_composite:
                render = self.loop if node.type == "loop" else self.composite
                template = render(node, internal, in_map, deadline)
            else:
                template = self.container(
                    self.names.take(internal),
                    [
                        "magnus",
                        "execute_single_node",
                        "{{workflow.parameters.run_id}}",
                        encode_name(internal),
                    ],
                    node,
                    in_map,
                    deadline,
                ).name
            preds = incoming[name]
            tasks.append(
                m.DAGTask(
                    name=task_of[name],
                    template=template,
                    depends=" || ".join(preds) if preds else None,
                    arguments=self.map_arguments() if in_map else None,
                )
            )
        self.templates.append(
            m.Template(
                name=template_name,
                inputs=self.map_inputs() if in_map else None,
                dag=m.DAGTemplate(tasks=tasks, fail_fast=False),
            )
        )
        return template_name

    def output(self, name: str, default: str | None = None) -> Any:
        """An output parameter a fan-out or fan-in writes to OUTPUTS_DIR (the default if it could not)."""
        return self.m.Parameter(
            name=name, value_from=self.m.ValueFrom(path=f"{OUTPUTS_DIR}/{name}", default=default)
        )

    def composite(self, node: Node, internal: str, in_map: bool, deadline: int) -> str:
        """fan-out -> branches (at the same time) -> fan-in, as one DAG template. A named branch is one task;
        a branch run per item is one task fanned out with withParam over the list fan-out writes. A
        conditional's fan-out reports which branch runs (`branch`: its position), and each branch task
        runs `when` it is the one."""
        m = self.m
        name = self.names.take(internal)
        specs = branches(node)
        per_item = any(spec.per_item for spec in specs)
        chooses = node.type == "conditional"
        fan = ["magnus", "fan", "{{workflow.parameters.run_id}}", encode_name(internal)]
        reported = [m.Parameter(name="branches", value_from=m.ValueFrom(path=ITEMS_PATH))] if per_item else []
        if chooses:
            reported.append(self.output("branch", "-1"))
        outputs = m.Outputs(parameters=reported) if reported else None
        out_args = [*fan, "--mode", "out"] + (["--items-file", ITEMS_PATH] if per_item else [])
        out_args += ["--outputs-dir", OUTPUTS_DIR] if chooses else []
        fan_out = self.container(
            self.names.take(f"{internal} fan out"), out_args, node, in_map, deadline, outputs
        )
        fan_in = self.container(
            self.names.take(f"{internal} fan in"), [*fan, "--mode", "in"], node, in_map, deadline
        )
        tasks = [
            m.DAGTask(
                name="fan-out", template=fan_out.name, arguments=self.map_arguments() if in_map else None
            )
        ]
        branch_names = _Names(reserved=("fan-out", "fan-in"))
        for position, spec in enumerate(specs):
            if spec.name is None:  # one branch per item: the item comes in as the map variable
                sub = self.graph(
                    spec.dag,
                    f"{internal}.{PLACEHOLDER}.",
                    True,
                    deadline,
                    self.names.take(f"{internal} branch"),
                )
                tasks.append(
                    m.DAGTask(
                        name=branch_names.take("branches"),
                        template=sub,
                        depends="fan-out.Succeeded",
                        with_param="{{tasks.fan-out.outputs.parameters.branches}}",
                        arguments=self.map_arguments("{{item}}"),
                    )
                )
                continue
            sub = self.graph(
                spec.dag,
                f"{internal}.{spec.name}.",
                in_map,
                deadline,
                self.names.take(f"{internal}.{spec.name}"),
            )
            tasks.append(
                m.DAGTask(
                    name=branch_names.take(f"branch {spec.name}"),
                    template=sub,
                    depends="fan-out.Succeeded",
                    when=f"{CHOSEN} == {position}" if chooses else None,
                    arguments=self.map_arguments() if in_map else None,
                )
            )
        ends = " && ".join(
            f"({t.name}.Succeeded || {t.name}.Failed || {t.name}.Errored || {t.name}.Skipped)"
            for t in tasks[1:]
        )
        tasks.append(
            m.DAGTask(
                name="fan-in",
                template=fan_in.name,
                depends=ends,
                arguments=self.map_arguments() if in_map else None,
            )
        )
        self.templates.append(
            m.Template(
                name=name,
                inputs=self.map_inputs() if in_map else None,
                dag=m.DAGTemplate(tasks=tasks, fail_fast=False),
            )
        )
        return name

    def loop(self, node: Any, internal: str, in_map: bool, deadline: int) -> str:
        """A loop as a recursive DAG template. The loop's template: fan-out (iteration 0's map variable, as a
        one-item list) -> the iteration template. The iteration template: the branch (with the iteration
        number in its map variable) -> fan-in (which commits the loop, or hands out the next iteration and
        reports `break` and `iterations`) -> itself again, `when` break is false and iterations are below
        max_iterations. A failed iteration or break value fails the fan-in, and so every template above."""
        m = self.m
        name = self.names.take(internal)
        [spec] = branches(node)
        fan = ["magnus", "fan", "{{workflow.parameters.run_id}}", encode_name(internal)]
        items = m.Parameter(name="branches", value_from=m.ValueFrom(path=ITEMS_PATH, default="[]"))
        fan_out = self.container(
            self.names.take(f"{internal} fan out"),
            [*fan, "--mode", "out", "--items-file", ITEMS_PATH],
            node,
            in_map,
            deadline,
            m.Outputs(parameters=[items]),
        )
        fan_in = self.container(
            self.names.take(f"{internal} fan in"),
            [*fan, "--mode", "in", "--items-file", ITEMS_PATH, "--outputs-dir", OUTPUTS_DIR],
            node,
            True,
            deadline,
            m.Outputs(parameters=[items, self.output("break", "true"), self.output("iterations", "0")]),
        )
        body = self.graph(
            spec.dag, f"{internal}.{PLACEHOLDER}.", True, deadline, self.names.take(f"{internal} branch")
        )
        iteration = self.names.take(f"{internal} iteration")

        def reported(output: str) -> str:
            return "{{tasks.fan-in.outputs.parameters." + output + "}}"

        self.templates.append(
            m.Template(
                name=iteration,
                inputs=self.map_inputs(),
                dag=m.DAGTemplate(
                    tasks=[
                        m.DAGTask(name="branch", template=body, arguments=self.map_arguments()),
                        m.DAGTask(
                            name="fan-in",
                            template=fan_in.name,
                            depends="(branch.Succeeded || branch.Failed || branch.Errored)",
                            arguments=self.map_arguments(),
                        ),
                        m.DAGTask(
                            name="next",
                            template=iteration,
                            depends="fan-in.Succeeded",
                            when=f"{reported('break')} == false && {reported('iterations')} < "
                            f"{node.max_iterations}",
                            with_param=reported("branches"),
                            arguments=self.map_arguments("{{item}}"),
                        ),
                    ],
                    fail_fast=False,
                ),
            )
        )
        self.templates.append(
            m.Template(
                name=name,
                inputs=self.map_inputs() if in_map else None,
                dag=m.DAGTemplate(
                    tasks=[
                        m.DAGTask(
                            name="fan-out",
                            template=fan_out.name,
                            arguments=self.map_arguments() if in_map else None,
                        ),
                        m.DAGTask(
                            name="iterations",
                            template=iteration,
                            depends="fan-out.Succeeded",
                            with_param="{{tasks.fan-out.outputs.parameters.branches}}",
                            arguments=self.map_arguments("{{item}}"),
                        ),
                    ],
                    fail_fast=False,
                ),
            )
        )
        return name


def build_workflow(
    pipeline: Any,
    config: dict[str, dict[str, Any]],
    options: ArgoOptions,
    *,
    file: str,
    config_file: str | None = None,
    parameters_file: str | None = None,
    var_file: str | None = None,
    tag: str = "",
    parameters: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> Any:
    """The hera `Workflow` model for a pipeline. `parameters`: given when rendering (`--name value`,
    MAGNUS_PRM_ variables), carried to every pod's command after `--` (command_parameters). `run_id`: the
    default of the workflow parameter `run_id` (`--run-id`; without it the workflow's name)."""
    try:
        from hera.workflows import models as m
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ConfigError(
            f"the argo executor needs hera: {install_extra('argo')}", field="executor.type"
        ) from None
    check_expressible(pipeline.dag, config, options, getattr(pipeline, "file", None))
    base = ["--file", options.pipeline_file or file]
    if options.config_file or config_file:
        base += ["--config-file", options.config_file or str(config_file)]
    if parameters_file:
        base += ["--parameters-file", parameters_file]
    if var_file:
        base += ["--var-file", var_file]
    if tag:
        base += ["--tag", tag]
    base += ["--log-level", options.log_level]
    top = pipeline.dag.max_time
    renderer = _Renderer(options, base, top, command_parameters(parameters or {}))
    entry = renderer.graph(pipeline.dag, "", False, top, renderer.names.take("magnus-dag"))
    spec = m.WorkflowSpec(
        entrypoint=entry,
        arguments=m.Arguments(parameters=[m.Parameter(name="run_id", value=run_id or "{{workflow.name}}")]),
        active_deadline_seconds=top,
        service_account_name=options.service_account_name,
        node_selector=dict(sorted(options.node_selector.items())) or None,
        volumes=[
            m.Volume(
                name=_Renderer.volume_name(i, v),
                persistent_volume_claim=m.PersistentVolumeClaimVolumeSource(claim_name=v.claim_name),
            )
            for i, v in enumerate(options.volumes)
        ]
        or None,
        templates=renderer.templates,
    )
    meta = m.ObjectMeta(
        generate_name=options.generate_name,
        namespace=options.namespace,
        annotations={"magnus/dag-hash": pipeline.dag_hash},
    )
    return m.Workflow(api_version="argoproj.io/v1alpha1", kind="Workflow", metadata=meta, spec=spec)


def render_yaml(pipeline: Any, config: dict[str, dict[str, Any]], options: ArgoOptions, **kwargs: Any) -> str:
    """The Workflow as YAML text: same dag and options, same bytes."""
    import yaml

    workflow = build_workflow(pipeline, config, options, **kwargs)
    data = workflow.model_dump(by_alias=True, exclude_none=True, mode="json")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same text, much faster
    text = yaml.dump(
        data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )
    size = len(text.encode("utf-8"))
    if size > MAX_WORKFLOW_BYTES:
        raise ConfigError(
            f"the rendered workflow is {fmt_size(size, exact=True)} ({len(data['spec']['templates'])} "
            "templates); Kubernetes keeps a Workflow in one object of at most about "
            f"{fmt_size(MAX_WORKFLOW_BYTES, exact=True)}, "
            "so Argo would refuse it: split the pipeline into smaller ones",
            field="executor.type",
        )
    return text
