"""command_type shell: run by bash with parameters as MAGNUS_PRM_* (JSON values).

Ours: the shell writes its final environment to a temporary file when it exits, so a command that exports
MAGNUS_TRACK_<name> or MAGNUS_PRM_<name> tracks metrics and passes parameters, like a python step.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from magnus_core.failure import CommandFailed
from magnus_core.files import temp_file_in_tmpdir
from magnus_core.interaction import StepScope
from magnus_core.models.run_log import AttemptError
from magnus_core.parameters import MAP_VARIABLE, PRM_PREFIX, TRACK_PREFIX, decode, encode, fold_names

if TYPE_CHECKING:
    from magnus_core.context import RunContext


def child_environment(scope: StepScope, map_variable: dict[str, Any] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith((PRM_PREFIX, TRACK_PREFIX))}
    for key, value in scope.parameters.items():
        env[f"{PRM_PREFIX}{key}"] = encode(value)
        upper = f"{PRM_PREFIX}{key.upper()}"
        env.setdefault(upper, env[f"{PRM_PREFIX}{key}"])  # some shells and Windows habits use upper case
    if map_variable:
        env[MAP_VARIABLE] = encode(map_variable)
    env["MAGNUS_RUN_ID"] = scope.run_id
    env["MAGNUS_RUN_TAG"] = scope.tag or ""
    return env


def _parse_env(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            key, _, value = item.partition(b"=")
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def _run_in_own_group(
    argv: list[str], env: dict[str, str], out: Any, err: Any, scratch: str, step: str = ""
) -> subprocess.CompletedProcess[bytes]:
    """Run the shell in its own process group, registered while it runs, so that stopping the run stops
    everything it started, and so does magnus's death (the watcher, which then removes `scratch`, the
    environment dump: magnus_core/processes.py, and records it as `step`'s)."""
    from magnus_core.processes import run_in_group

    return subprocess.CompletedProcess(argv, run_in_group(argv, env, out, err, scratch, step))


def exit_failure(code: int) -> tuple[str, AttemptError]:
    """The message and located error of a shell command that ended with `code` (negative: the signal that
    killed it, as subprocess reports it: `killed by signal 9 (SIGKILL)`, failure.killed_text)."""
    if code < 0:
        from magnus_core.failure import killed_text

        text = killed_text(-code)
    else:
        text = f"exited with code {code}"
    return f"shell command {text}", AttemptError(type="ExitCode", message=text, exit_code=code)


def _dump_env(shell: str, env_file: str) -> str:
    """The EXIT trap's command: the shell's exported MAGNUS_PRM_* and MAGNUS_TRACK_* variables (all that
    run() reads back), NUL-separated, into `env_file`. Not its whole environment, which holds the run's
    secrets: the file outlives a magnus killed outright (kill -9, the OOM killer) when the shell it started
    ends later, and nothing removes it then (trial 13, fault 10). With bash a loop over `env -0` (exported
    variables only, as before); a plain /bin/sh has no `read -d`: its whole `env -0`, as before."""
    if os.path.basename(shell) != "bash":
        return f'env -0 > "{env_file}"'
    keep = f"{PRM_PREFIX}*|{TRACK_PREFIX}*"
    return (
        f'while IFS= read -r -d "" __magnus_kv; do case $__magnus_kv in {keep}) '
        f'printf "%s\\0" "$__magnus_kv";; esac; done < <(env -0) > "{env_file}"'
    )


_SIGCHLD = 17  # (Linux's number; the mask below is Linux's too)


def _children_reaped_unseen() -> bool:
    """Whether the kernel reaps this process's children itself (SIGCHLD ignored): their exit status is then
    lost, and subprocess reads 0 for every one. Read in /proc/self/status's SigIgn mask, which sees a
    change made in C (a C extension, ctypes) that signal.getsignal does not (trial 18: a step ignoring
    SIGCHLD through ctypes made every later shell failure read SUCCESS, exit 0). False where it cannot be
    read (no /proc). About 20 us, once a shell step."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"SigIgn:"):
                    return bool(int(line.split()[1], 16) >> (_SIGCHLD - 1) & 1)
    except (OSError, ValueError, IndexError):
        return False
    return False


def _exit_status_kept() -> None:
    """Before a shell step: its exit status can be known (_children_reaped_unseen). The main thread puts
    the default action back, said: at once in the main thread; asked of it from a branch thread while it
    waits for the branches (stepguard.sigchld_default; trial 20 N2: until then such a step failed, not run,
    in every branch after the one that ignored it). Where that cannot be (signal.signal is the main
    thread's, and it does not wait for the branches) the step fails, saying why, rather than read every
    exit as 0."""
    from magnus_core.stepguard import sigchld_default

    if not _children_reaped_unseen():
        return
    if sigchld_default():
        logging.getLogger("magnus").warning(
            "SIGCHLD was ignored in magnus's process (set by a step, maybe from C), which loses every shell "
            "step's exit status; magnus put its default action back"
        )
        return
    raise CommandFailed(
        "SIGCHLD is ignored in magnus's process (set by a step, maybe from C): the shell command's exit "
        "status would be lost, so it is not run",
        AttemptError(type="SignalIgnored", message="SIGCHLD ignored: the exit status cannot be known"),
    )


def run(command: str, command_config: dict[str, Any], scope: StepScope, ctx: RunContext) -> None:
    _exit_status_kept()
    from magnus_core import stepguard

    put_back = stepguard.SIGCHLD_PUT_BACK  # (SIGCHLD given its default back meanwhile: ignored before)
    env = child_environment(scope, scope.map_variable)
    env.update(ctx.secrets.child_environment())  # get_secret() in the shell's commands, prompt values too
    scope.inputs = dict(scope.parameters)  # a shell command sees every parameter
    shell = shutil.which("bash") or "/bin/sh"
    fd, env_file = temp_file_in_tmpdir("magnus-env-")
    os.close(fd)
    # the trap on the command's first line, not a line of its own: bash's `line N` in the command's errors
    # is then the line of the command (trial 12 fault 3: `line 2` for a one-line command)
    script = f"trap '{_dump_env(shell, env_file)}' EXIT; {command}\n"
    try:
        # the output seam's pipes: what the shell and its children write is masked on its way out
        proc = _run_in_own_group(
            [shell, "-c", script],
            env,
            ctx.step_output("stdout"),
            ctx.step_output("stderr"),
            env_file,
            scope.internal_name,
        )
        with open(env_file, "rb") as handle:
            final = _parse_env(handle.read())
    finally:
        os.unlink(env_file)
    if proc.returncode != 0:
        raise CommandFailed(*exit_failure(proc.returncode))
    # ignored while it ran (another branch's step, put right since by the main thread: stepguard), its 0
    # may be a lost status
    if _children_reaped_unseen() or put_back != stepguard.SIGCHLD_PUT_BACK:
        raise CommandFailed(
            "SIGCHLD was ignored in magnus's process while the shell command ran (set by a step, maybe from "
            "C): its exit status was lost, so it is not taken as a success",
            AttemptError(type="SignalIgnored", message="SIGCHLD ignored: the exit status was lost"),
        )
    scope.track_env({k: v for k, v in final.items() if k.startswith(TRACK_PREFIX)})
    changed = [
        (name[len(PRM_PREFIX) :], decode(value))
        for name, value in final.items()
        if name.startswith(PRM_PREFIX) and name != MAP_VARIABLE and env.get(name) != value
    ]
    scope.params_out.update(fold_names(changed, "the shell command's environment (MAGNUS_PRM_*)"))
