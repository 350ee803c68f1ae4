"""A small interpreter for the Argo Workflows we render: it runs each container's command as a subprocess,
in dependency order, fanning out withParam lists; tasks that are ready together run at the same time, as in
Argo (so branches write one run from several processes at once). Enough of Argo to prove a workflow runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_OPERAND = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)\.(Succeeded|Failed|Errored|Skipped|Omitted|Daemoned)")
_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


@dataclass
class Interpreter:
    workflow: dict[str, Any]
    cwd: Path
    workflow_name: str = "magnus-test"
    parameters: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)  # every command run, in order of start
    printed: list[str] = field(default_factory=list)  # what each pod printed (stdout, then stderr)
    # each pod in a fresh copy of this folder (the project's code, as an image holds it), shared with no
    # other pod: None runs every pod in `cwd`
    image: Path | None = None
    pod_folders: list[Path] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> str:
        """Run the workflow; its phase: Succeeded or Failed."""
        spec = self.workflow["spec"]
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.globals = {"workflow.name": self.workflow_name}
        for p in spec.get("arguments", {}).get("parameters", []):
            value = self.parameters.get(p["name"], p.get("value", ""))
            self.globals[f"workflow.parameters.{p['name']}"] = self._subst(value, {})
        phase, _ = self._template(spec["entrypoint"], {})
        return phase

    def _subst(self, text: str, scope: dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in scope:
                return scope[key]
            if key in self.globals:
                return self.globals[key]
            raise KeyError(f"unresolved Argo variable {{{{{key}}}}}")

        return _VAR.sub(one, text)

    def _template(self, name: str, inputs: dict[str, str]) -> tuple[str, dict[str, str]]:
        template = self.templates[name]
        declared = [p["name"] for p in template.get("inputs", {}).get("parameters", [])]
        missing = [p for p in declared if p not in inputs]
        assert not missing, f"template {name} needs inputs {missing}"
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        if "dag" in template:
            return self._dag(template["dag"], scope), {}
        return self._container(template, scope)

    def _container(self, template: dict[str, Any], scope: dict[str, str]) -> tuple[str, dict[str, str]]:
        command = [self._subst(c, scope) for c in template["container"]["command"]]
        outputs = template.get("outputs", {}).get("parameters", [])
        paths: dict[str, str] = {}
        folders: dict[str, str] = {}
        for out in outputs:  # each pod has its own /tmp: give each run its own file (or folder of files)
            path = out["valueFrom"]["path"]
            folder = os.path.dirname(path)
            if path in command:
                fd, local = tempfile.mkstemp(prefix="argo-out-")
                os.close(fd)
                os.unlink(local)  # absent until the command writes it (Argo then takes the default)
                command = [local if c == path else c for c in command]
            else:
                assert folder in command, f"output {path} is neither a file nor in a folder the command names"
                if folder not in folders:
                    folders[folder] = tempfile.mkdtemp(prefix="argo-outs-")
                local = os.path.join(folders[folder], os.path.basename(path))
            paths[out["name"]] = local
        command = [folders.get(c, c) for c in command]
        assert command[0] == "magnus", command
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "NO_COLOR": "1",
        }
        limit = int(template.get("retryStrategy", {}).get("limit", 0))
        for _ in range(limit + 1):
            with self._lock:
                self.commands.append(command)  # once per pod, retries included
            proc = subprocess.run(
                [sys.executable, "-m", "magnus_core", *command[1:]],
                cwd=self._pod_folder(),
                env=env,
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
            )
            with self._lock:
                self.printed.append(proc.stdout + proc.stderr)
            if proc.returncode in (0, 1, 2):  # our retry expression: only a pod that died is retried
                break
        assert proc.returncode != 2, f"usage error from {command}: {proc.stderr}"
        values = {}
        for out in outputs:
            local = Path(paths[out["name"]])
            if local.exists():
                values[out["name"]] = local.read_text()
                local.unlink()
            else:  # as Argo: the default, or the step errs
                assert "default" in out["valueFrom"], f"output {out['name']} not written by {command}"
                values[out["name"]] = out["valueFrom"]["default"]
        for folder in folders.values():
            os.rmdir(folder)
        return ("Succeeded" if proc.returncode == 0 else "Failed"), values

    def _pod_folder(self) -> Path:
        if self.image is None:
            return self.cwd
        import shutil

        folder = Path(tempfile.mkdtemp(prefix="argo-pod-", dir=self.cwd)) / "app"
        shutil.copytree(self.image, folder, ignore=shutil.ignore_patterns("__pycache__"))
        with self._lock:
            self.pod_folders.append(folder)
        return folder

    def _dag(self, dag: dict[str, Any], scope: dict[str, str]) -> str:
        """Tasks whose dependencies are resolved run at the same time (as Argo runs them), wave by wave."""
        tasks = {t["name"]: t for t in dag["tasks"]}
        phases: dict[str, str] = {}
        outputs: dict[str, str] = {}
        pending = list(tasks)
        while pending:
            ready = [
                n
                for n in pending
                if all(dep in phases for dep, _ in _OPERAND.findall(tasks[n].get("depends") or ""))
            ]
            assert ready, f"no task can start: {pending}"
            runnable = []
            for name in ready:
                pending.remove(name)
                if tasks[name].get("depends") and not _evaluate(tasks[name]["depends"], phases):
                    phases[name] = "Omitted"
                elif "when" in tasks[name] and not _when(
                    self._subst(tasks[name]["when"], {**scope, **outputs})
                ):
                    phases[name] = "Skipped"
                else:
                    runnable.append(name)
            with ThreadPoolExecutor(max_workers=max(1, len(runnable))) as pool:
                results = dict(
                    zip(
                        runnable,
                        pool.map(lambda n: self._task(tasks[n], {**scope, **outputs}), runnable),
                        strict=False,
                    )
                )
            for name, (phase, values) in results.items():
                phases[name] = phase
                for key, value in values.items():
                    outputs[f"tasks.{name}.outputs.parameters.{key}"] = value
        handled = {
            dep
            for t in tasks.values()
            for dep, result in _OPERAND.findall(t.get("depends") or "")
            if result == "Failed"
        }
        failed = [n for n, p in phases.items() if p in ("Failed", "Errored") and n not in handled]
        return "Failed" if failed else "Succeeded"

    def _task(self, task: dict[str, Any], local: dict[str, str]) -> tuple[str, dict[str, str]]:
        args = {p["name"]: p.get("value", "") for p in task.get("arguments", {}).get("parameters", [])}
        if "withParam" not in task:
            return self._template(task["template"], {k: self._subst(v, local) for k, v in args.items()})
        items = json.loads(self._subst(task["withParam"], local))
        with ThreadPoolExecutor(max_workers=max(1, min(len(items), 8))) as pool:
            results = list(
                pool.map(
                    lambda i: self._template(
                        task["template"],
                        {k: self._subst(v, {**local, "item": _item(i)}) for k, v in args.items()},
                    ),
                    items,
                )
            )
        if not results:
            return "Skipped", {}
        return ("Failed" if any(p != "Succeeded" for p, _ in results) else "Succeeded"), {}


def _item(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _evaluate(expression: str, phases: dict[str, str]) -> bool:
    text = _OPERAND.sub(lambda m: str(phases[m.group(1)] == m.group(2)), expression)
    text = text.replace("||", " or ").replace("&&", " and ").replace("!", " not ")
    assert re.fullmatch(r"[\sA-Za-z()]*", text), text
    return bool(eval(text, {"__builtins__": {}}, {}))


_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|('[^']*')|(true|false)|(==|!=|<=|>=|<|>|&&|\|\||!|\(|\)))")


def _when(expression: str) -> bool:
    """Argo's `when` (govaluate) for what we render: numbers, 'strings', true/false, comparisons, &&, ||,
    ! and parentheses, after {{...}} are substituted. Anything else is an error, not a guess."""
    python: list[str] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match and match.end() > position, f"cannot evaluate when: {expression!r} at {position}"
        number, string, boolean, operator = match.groups()
        if number is not None:
            python.append(number)
        elif string is not None:
            python.append(repr(string[1:-1]))
        elif boolean is not None:
            python.append("True" if boolean == "true" else "False")
        else:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(operator, operator))
        position = match.end()
    return bool(eval(" ".join(python), {"__builtins__": {}}, {}))
