"""command_type notebook: an .ipynb executed with papermill (optional extra `magnus[notebook]`).

Parameters are injected into the notebook's parameters cell: every name the cell assigns (read with `ast`,
matched without regard to case), and, without such a cell, all of them; a parameter the cell does not declare
is named in the step's output, not dropped silently.
Metrics and parameters leave the kernel as MAGNUS_TRACK_*/MAGNUS_PRM_* variables (what `track_this` and
`store_parameter` set outside magnus's process): a last cell, added to a temporary copy and removed from the
executed notebook, writes them to a file. The executed notebook is written to `<name>_out.ipynb` (or
`command_config.notebook_output_path`), secret values masked, and put in the catalog.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.errors import StepError, UsageError, install_extra
from magnus_core.failure import CommandFailed
from magnus_core.files import temp_file_in_tmpdir
from magnus_core.interaction import StepScope
from magnus_core.models.run_log import AttemptError, Frame
from magnus_core.parameters import PRM_PREFIX, TRACK_PREFIX, decode, fold_names

if TYPE_CHECKING:
    from magnus_core.context import RunContext

_COLLECT_TAG = "magnus-collect"
_OPTIONS = ("notebook_output_path", "notebook_kernel", "optional_papermill_args")


def _collect_source(path: str) -> str:
    prefixes = (PRM_PREFIX, TRACK_PREFIX)
    return (
        "import json as _j, os as _o\n"
        f"with open({path!r}, 'w', encoding='utf-8') as _f:\n"
        f"    _j.dump({{k: v for k, v in _o.environ.items() if k.startswith({prefixes!r})}}, _f)\n"
    )


def output_path(
    command: str, command_config: dict[str, Any], map_variable: dict[str, Any] | None = None
) -> str:
    """Where the executed notebook is written: `command_config.notebook_output_path`, else `<name>_out.ipynb`.
    Inside a map, the item is added before the suffix (`nb_out_a.ipynb`): each item's executed notebook is
    its own file, and its own catalog name (a name is put by one branch only)."""
    configured = command_config.get("notebook_output_path")
    path = str(configured) if configured else command[: -len(".ipynb")] + "_out.ipynb"
    if not map_variable:
        return path
    import re

    from magnus_core.graph import item_name

    label = "_".join(
        re.sub(r"[^A-Za-z0-9_.-]+", "-", item_name(v)).strip("-.") or "item" for v in map_variable.values()
    )
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}_{label}.{suffix}" if dot and "/" not in suffix else f"{path}_{label}"


def declared_parameters(notebook: Any) -> dict[str, str] | None:
    """The names the notebook's parameters cell(s) (tagged `parameters`) assign, lower-cased -> as written;
    {} without such a cell; None when python cannot parse the cell (then papermill's inspection decides).

    Read with `ast`, so every assignment counts whatever its value looks like (`query = "a=b"`,
    `opts = dict(x=1)`, `a, b = 1, 2`, `lr: float = 0.1`), where papermill's line-by-line reading keeps only
    some of them. IPython magics and shell lines (`%matplotlib inline`, `!pip ...`) are skipped."""
    import ast

    names: dict[str, str] = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in str(cell.source).splitlines()
        )
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return None
        for target in _assigned(tree):
            names.setdefault(target.lower(), target)
    return names


def _assigned(tree: Any) -> list[str]:
    """Names bound by assignments in a module, outside function and class bodies."""
    import ast

    found: list[str] = []
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        targets: list[Any] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        while targets:
            target = targets.pop(0)
            if isinstance(target, ast.Name):
                found.append(target.id)
            elif isinstance(target, (ast.Tuple, ast.List)):
                targets.extend(target.elts)
            elif isinstance(target, ast.Starred):
                targets.append(target.value)
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found


def _kernel(notebook: Any, command_config: dict[str, Any]) -> str:
    if command_config.get("notebook_kernel"):
        return str(command_config["notebook_kernel"])
    spec = notebook.metadata.get("kernelspec") or {}
    return str(spec.get("name") or "python3")


# Given to an ipykernel kernel: what the kernel's code and its child processes write to file descriptors 1
# and 2 is left there (magnus's pumps keep it once, in order), not also forwarded as the cells' output.
# ipykernel (6 and later) does both, so each line a cell's subprocess or C code wrote was kept twice, once
# from the kernel's own fd and once from the cell's output papermill streams (trial 24). What python prints
# in a cell (sys.stdout, `!cmd`) is the cell's output as before.
_KERNEL_FDS = "--IPKernelApp.capture_fd_output=False"


def _recording_manager() -> Any:
    """A class of jupyter_client's AsyncKernelManager, made for one notebook step (branches side by side
    each have their own), which records in its `ended` how its kernel's process ended (the return code;
    negative: the signal that killed it) when it has ended as nbclient asks whether it is alive (before
    its clean-up; a kernel that died: nbclient's DeadKernelError says only "Kernel died"), so the step's
    failure can say `killed by signal 11 (SIGSEGV)` or `exited with code 3`, as a shell step's does
    (trial 25). None when jupyter_client has no such class."""
    try:
        from jupyter_client.manager import AsyncKernelManager
    except ImportError:
        return None

    class RecordingKernelManager(AsyncKernelManager):
        ended: int | None = None

        async def is_alive(self) -> bool:  # type: ignore[override]  # (AsyncKernelManager's is async too)
            alive = bool(await super().is_alive())
            provisioner = getattr(self, "provisioner", None)
            if not alive and provisioner is not None:  # (asked by nbclient before its clean-up)
                try:
                    code = await provisioner.poll()
                except Exception:  # (a provisioner of another kind: nothing said)
                    code = None
                if code is not None:
                    type(self).ended = int(code)
            return alive

    return RecordingKernelManager


def _engine_arguments(kernel: str, given: dict[str, Any], concurrent: bool = False) -> dict[str, Any]:
    """`optional_papermill_args` (`given`) with _KERNEL_FDS added to the kernel's extra arguments when the
    kernel `kernel` is ipykernel (its spec starts ipykernel_launcher or ipykernel) and the step runs alone
    (not `concurrent`: beside other branches what reaches fd 1 and 2 is in no step's file, so ipykernel's
    forwarding as the cell's output is the only way the step keeps it: trial 26 found a map item's
    `403 Forbidden` in no file), and the kernel manager that records how the kernel ended; `given` alone
    for any other kernel, or one whose spec cannot be read (papermill says why as it starts it)."""
    try:
        from jupyter_client.kernelspec import get_kernel_spec

        argv = get_kernel_spec(kernel).argv
    except Exception:
        return given
    if not any("ipykernel" in str(part) for part in argv):
        return given
    extra = [str(part) for part in given.get("extra_arguments") or []]
    if not concurrent and not any(part.startswith("--IPKernelApp.capture_fd_output") for part in extra):
        extra.append(_KERNEL_FDS)
    made = {**given, "extra_arguments": extra}
    manager = _recording_manager() if "kernel_manager_class" not in given else None
    if manager is not None:
        made["kernel_manager_class"] = manager
    return made


def run(command: str, command_config: dict[str, Any], scope: StepScope, ctx: RunContext) -> None:
    if not command.endswith(".ipynb"):
        raise UsageError(f"a notebook command must be a path ending .ipynb, got '{command}'", field="command")
    unknown = sorted(set(command_config) - set(_OPTIONS))
    if unknown:
        raise UsageError(
            f"unknown command_config option(s) {', '.join(unknown)} (known: {', '.join(_OPTIONS)})",
            field="command_config",
        )
    try:
        import nbformat
        import papermill
    except ImportError:
        raise StepError(f"notebook steps need papermill: {install_extra('notebook')}") from None
    from magnus_core.paths import inside

    inside(command, Path.cwd(), what="notebook", field="command")
    inside(
        output_path(command, command_config, scope.map_variable),
        Path.cwd(),
        what="notebook output",
        field="command_config.notebook_output_path",
    )
    source = Path(command)
    if not source.is_file():
        raise StepError(f"notebook '{command}' not found")
    notebook = nbformat.read(source, as_version=4)
    kernel = _kernel(notebook, command_config)
    if not notebook.metadata.get("kernelspec"):  # papermill needs one; a notebook made by code may have none
        notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    out = Path(output_path(command, command_config, scope.map_variable))
    fd, collect = temp_file_in_tmpdir("magnus-nb-", ".json")
    os.close(fd)
    notebook.cells.append(
        nbformat.v4.new_code_cell(_collect_source(collect), metadata={"tags": [_COLLECT_TAG]})
    )
    with tempfile.NamedTemporaryFile("w", suffix=".ipynb", delete=False, encoding="utf-8") as tmp:
        nbformat.write(notebook, tmp)
    # papermill saves the notebook as it runs, outputs unmasked: outside the project, until masked
    executing = tmp.name[: -len(".ipynb")] + "_out.ipynb"
    declared = declared_parameters(notebook)
    if declared is None:  # a parameters cell python's parser refuses (magics...): papermill's reading
        declared = {name.lower(): name for name in papermill.inspect_notebook(tmp.name)}
    # only names that can be python variables: papermill writes each as an assignment in the notebook
    params = {k: v for k, v in scope.parameters.items() if k.isidentifier()}
    if declared:  # a parameters cell says which names the notebook takes, in its own spelling
        skipped = sorted(k for k in params if k not in declared and k not in scope.map_variable)
        params = {declared[k]: v for k, v in params.items() if k in declared}
        if skipped:  # said in the step's output (captured with it), never dropped without a word
            print(
                f"magnus: notebook '{command}' does not declare {', '.join(skipped)} in its parameters "
                "cell: not injected (still in the environment as MAGNUS_PRM_<name>; get_parameter reads "
                "them)",
                flush=True,
            )
    scope.inputs = dict(params)
    bridge = ctx.env_bridge
    bridge.export(scope.parameters, scope.run_id, scope.tag, scope.map_variable)
    # get_secret inside the kernel: the provider, values given at a prompt, where to tell names asked for
    for_kernel = ctx.secrets.child_environment()
    before = {name: os.environ.get(name) for name in (*for_kernel, "MAGNUS_SECRETS_GIVEN")}
    os.environ.update(for_kernel)
    given = dict(command_config.get("optional_papermill_args") or {})
    engine = _engine_arguments(kernel, given, ctx.concurrent)  # (its kernel manager: how the kernel ended)
    failure: Exception | None = None
    dead = False
    try:
        papermill.execute_notebook(
            tmp.name,
            executing,
            parameters=params,
            kernel_name=kernel,
            cwd=os.getcwd(),
            progress_bar=False,
            log_output=False,
            # cells' printed output streams out as it comes, like a python step's (and is captured)
            stdout_file=sys.stdout,
            stderr_file=sys.stderr,
            **engine,
        )
    except papermill.PapermillExecutionError as exc:
        failure = exc
    except BaseException as exc:
        if type(exc).__name__ != "DeadKernelError":  # (nbclient's: the kernel's process ended)
            Path(executing).unlink(missing_ok=True)
            raise
        dead = True
    finally:
        os.unlink(tmp.name)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        try:
            with open(collect, encoding="utf-8") as handle:
                final = json.load(handle)
        except (OSError, ValueError):
            final = {}
        os.unlink(collect)
    _finish_output(Path(executing), out, ctx)
    if failure is not None:
        raise CommandFailed(*cell_failure(failure, command, out))
    if dead:
        ended = getattr(engine.get("kernel_manager_class"), "ended", None)
        raise CommandFailed(*dead_kernel(command, out, ended if isinstance(ended, int) else None))
    scope.track_env({k: v for k, v in final.items() if k.startswith(TRACK_PREFIX)})
    changed = [
        (name[len(PRM_PREFIX) :], decode(value))
        for name, value in final.items()
        if name.startswith(PRM_PREFIX)
        and name != "MAGNUS_PRM_MAP_VARIABLE"
        and bridge.exported.get(name) != value
    ]
    scope.params_out.update(fold_names(changed, "the notebook's environment (MAGNUS_PRM_*)"))
    if ctx.catalog is not None:
        scope.catalog_records.extend(ctx.catalog.put_path(str(out)))


def cell_failure(failure: Any, command: str, out: Path) -> tuple[str, AttemptError]:
    """The message and located error of a cell that raised (papermill's PapermillExecutionError); its
    traceback, colours stripped, is written to stderr so the step's output ends with it, as in Jupyter."""
    import re

    ename = str(getattr(failure, "ename", "") or "Error")
    evalue = str(getattr(failure, "evalue", "") or "")
    count = getattr(failure, "exec_count", None)
    lines = "\n".join(getattr(failure, "traceback", None) or [])
    plain = _relative_files(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", lines))
    if plain:
        sys.stderr.write(plain.rstrip("\n") + "\n")
    frames = []
    cell = _users_cell(out, getattr(failure, "cell_index", None))
    at = re.findall(r"Cell In\[(\d+)\], line (\d+)", plain)
    if at:  # the cell by the one number every view gives it (the user's, from 1), and its source line
        line = int(at[-1][1])
        name = f"cell {cell}" if cell is not None else f"cell In [{at[-1][0]}]"
        text = _cell_line(out, getattr(failure, "cell_index", None), line)
        frames.append(Frame(file=command, line=line, function=name, text=text))
    said = f"cell {cell}" if cell is not None else f"cell In [{count if count is not None else '?'}]"
    # the executed copy holds papermill's injected parameters cell: its In [n] is not the user's cell number
    there = f", where it is In [{count}]" if cell is not None and count is not None and count != cell else ""
    message = f"notebook '{command}' failed in {said}: {ename}: {evalue} (executed copy: {out}{there})"
    return message, AttemptError(type=ename, message=evalue, frames=frames, cell=cell)


def dead_kernel(command: str, out: Path, code: int | None = None) -> tuple[str, AttemptError]:
    """The message and located error of a notebook whose kernel died (nbclient's DeadKernelError: the
    kernel's process ended: the OOM killer's or anyone's SIGKILL, os._exit, a crash in C code): the cell
    that was running, the user's number (papermill records each cell's start in the executed copy, kept:
    the last cell that started), `cell` in the error, no frame of papermill's or
    nbclient's. Trial 14 F16: it read `DeadKernelError: Kernel died, at .../nbclient/client.py:1009`, with
    papermill's traceback as the output's last lines and no executed copy."""
    cell: int | None = None
    try:
        import nbformat

        cells = nbformat.read(out, as_version=4).cells
        cells = [c for c in cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
        # the last cell that started (papermill marks the rest `completed` as it ends, but with no start)
        marks = [c.get("metadata", {}).get("papermill", {}) for c in cells]
        started = [i for i, mark in enumerate(marks) if mark.get("start_time")]
        cell = _users_cell(out, started[-1]) if started else None
    except (OSError, ValueError, KeyError, ImportError):
        pass
    said = f"while cell {cell} ran" if cell is not None else "while a cell ran"
    if code is None:
        why = "its process ended: killed (the OOM killer's SIGKILL, say), os._exit() or a crash; "
    else:  # how, when the kernel manager saw it (_recording_manager: trial 25)
        from magnus_core.failure import killed_text

        said += ": " + (killed_text(-code) if code < 0 else f"its process exited with code {code}")
        why = ""
    message = f"notebook '{command}': the kernel died {said} ({why}executed copy: {out})"
    error = AttemptError(
        type="DeadKernelError",
        message=f"the kernel died {said}",
        frames=[],
        cell=cell,
        exit_code=code if code is not None and code > 0 else None,
    )
    return message, error


def _relative_files(text: str) -> str:
    """IPython's traceback with each file of the project folder named relative to it (`File
    mlproj/features.py:5, in _normalise(col, stats)`), as a python step's frames are (failure._shown):
    trial 12 fault 8, the summary's last lines gave `/var/tmp/work/mlproj/features.py` for a notebook's
    failure and `mlproj/features.py` for a python step's."""
    import re

    from magnus_core.failure import _shown

    root = Path.cwd().resolve()

    def relative(match: re.Match[str]) -> str:
        return f"{match[1]}{_shown(match[2], root)}{match[3]}"

    return re.sub(r"^(\s*File )(/[^\n]*?)(:\d+, in )", relative, text, flags=re.MULTILINE)


def _cell_line(executed: Path, index: Any, line: int) -> str:
    """Line `line` (from 1) of the cell at `index` of the executed copy (papermill's cell_index), stripped,
    as a python frame's source line; "" when the copy or the line cannot be read. The copy is masked."""
    if not isinstance(index, int) or line < 1:
        return ""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
        cells = [c for c in cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
        source = cells[index].get("source", "")  # (cell_index counts no error marker: _users_cell)
    except (OSError, ValueError, KeyError, IndexError):
        return ""
    rows = (source if isinstance(source, str) else "".join(source)).splitlines()
    return rows[line - 1].strip()[:500] if line <= len(rows) else ""


def _users_cell(executed: Path, index: Any) -> int | None:
    """The failing cell's place in the user's notebook, from 1. papermill's cell_index counts the cells of
    the notebook it ran: the user's, and the parameters cell it injected (tagged `injected-parameters`);
    the executed copy also holds the error markers it added after (`papermill-error-cell-tag`), left out
    here. Trial 7: the message said `cell 4` for the third of three cells (the execution count, In [4],
    counts the injected cell). None when the copy cannot be read."""
    if not isinstance(index, int):
        return None
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError, KeyError):
        return None
    ran = [c.get("metadata", {}).get("tags", []) for c in cells]
    ran = [tags for tags in ran if "papermill-error-cell-tag" not in tags]
    injected = sum("injected-parameters" in tags for tags in ran[:index])
    return index - injected + 1


def _finish_output(executing: Path, out: Path, ctx: RunContext) -> None:
    """Drop our collecting cell and mask secret values in the executed notebook: in every string of its
    structure (cell sources, outputs, the injected parameters), before it is serialised, so escaping
    cannot hide a value. `executing` (papermill's copy, outside the project) is removed."""
    import nbformat

    from magnus_core.files import atomic_write

    if not executing.is_file():
        return
    executed = nbformat.read(executing, as_version=4)
    executing.unlink()
    executed.cells = [c for c in executed.cells if _COLLECT_TAG not in c.get("metadata", {}).get("tags", [])]
    masked = nbformat.from_dict(ctx.mask_data(executed, strict=False))
    atomic_write(out, nbformat.writes(masked))
