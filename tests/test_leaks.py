"""Issue 17: a unique marker, handed out every way a step can (tests/data/leaks/ways.py), on every
secrets provider, appears in no byte magnus writes: run logs, store files and their names, the catalog,
stdout, stderr, `runs --json`, `diff --json`, a refused re-run, the Argo render and the workbench's
screenshots; nor in its percent-encoded, base64, lower-case or JSON-escaped forms."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, git

LEAKS = ROOT / "tests" / "data" / "leaks"
# Characters that JSON, percent-encoding and lower-casing each change, so each encoding is a new string.
MARKER = f'MkR{uuid.uuid4().hex[:12]}/p+Q"Z'
OTHER = f"OtR{uuid.uuid4().hex[:12]}Undeclared"  # a secret no pipeline declares, asked for in a child
KEY_LINES = [f"KeY{uuid.uuid4().hex}{i}" for i in range(3)]
SSH_KEY = "-----BEGIN TEST KEY-----\n" + "\n".join(KEY_LINES) + "\n-----END TEST KEY-----"


def encodings(value: str) -> set[str]:
    """The value and the forms a leak could take: percent-encoded, lower-case, JSON-escaped, base64 (the
    part that does not depend on where the value starts in the encoded text, for each of 3 alignments)."""
    forms = {value, quote(value, safe=""), quote(value), value.lower(), json.dumps(value)[1:-1]}
    for pad in range(3):
        encoded = base64.b64encode(("x" * pad + value).encode()).decode()
        forms.add(encoded[4 : len(encoded) - 4])  # drop the blocks the padding or the neighbours touch
    return {f for f in forms if len(f) >= 8}


FORBIDDEN = set().union(*(encodings(v) for v in [MARKER, OTHER, *KEY_LINES]))


def _dotenv(values: dict[str, str]) -> str:
    lines = []
    for name, value in values.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{name}="{escaped}"')
    return "\n".join(lines) + "\n"


SECRETS = {"api_token": MARKER, "ssh_key": SSH_KEY, "other_token": OTHER}
PROVIDERS = {
    # provider: (secrets block, .env content, environment)
    "dotenv": ("secrets: {type: dotenv}\n", SECRETS, {}),
    "env-secrets-manager": ("secrets: {type: env-secrets-manager}\n", {}, SECRETS),
    # the default: api_token from the environment, the rest from .env
    "env-and-dotenv": ("", {k: v for k, v in SECRETS.items() if k != "api_token"}, {"api_token": MARKER}),
}


def _project(root: Path, provider: str) -> tuple[Path, dict[str, str]]:
    block, dotenv, environ = PROVIDERS[provider]
    project = root / provider
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    for name in ("ways.py", "pipeline.yaml", "leaks.ipynb"):
        shutil.copy(LEAKS / name, project / name)
    (project / ".gitignore").write_text(".env\n.run_log_store/\n.catalog/\n__pycache__/\n")
    (project / "config.yaml").write_text(block)
    (project / "chunked.yaml").write_text(block + "run_log_store: {type: chunked-fs}\n")
    shared = project / "shared"
    (project / "argo.yaml").write_text(
        block
        + f"""executor:
  type: argo
  config:
    image: registry.example.com/project:1.0
    output: workflow.yaml
    volumes: [{{claim_name: magnus-shared, mount_path: {shared}}}]
run_log_store: {{type: chunked-fs, config: {{log_folder: {shared / "runs"}}}}}
catalog: {{type: file-system, config: {{catalog_location: {shared / "catalog"}}}}}
"""
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "leaks")
    if dotenv:
        (project / ".env").write_text(_dotenv(dotenv))
    return project, environ


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_marker_handed_out_every_way_leaks_nowhere(tmp_path: Path, magnus, provider: str) -> None:
    pytest.importorskip("papermill")
    project, environ = _project(tmp_path, provider)
    outputs: list[str] = []

    def run(*args: str, **kw) -> object:
        result = magnus(*args, cwd=project, env={**environ, **kw.pop("env", {})}, **kw)
        outputs.extend([result.stdout, result.stderr])
        return result

    first = run("execute", "--file", "pipeline.yaml", "-c", "config.yaml", "--log-level", "DEBUG")
    second = run("execute", "--file", "pipeline.yaml", "-c", "chunked.yaml", "--json")
    assert first.returncode == 1 and second.returncode == 1, first.stderr + second.stderr
    log = json.loads(second.stdout)
    assert log["status"] == "FAIL"
    run_ids = [r["run_id"] for r in json.loads(run("runs", "--json", "-c", "config.yaml").stdout)["runs"]]
    run_ids += [r["run_id"] for r in json.loads(run("runs", "--json", "-c", "chunked.yaml").stdout)["runs"]]
    assert len(run_ids) == 2
    first_log = project / ".run_log_store" / f"{run_ids[0]}.json"
    diff = run("diff", str(first_log), run_ids[1], "--json", "--all", "-c", "chunked.yaml")
    assert diff.returncode in (0, 1) and json.loads(diff.stdout)
    refused = run("execute", "--file", "pipeline.yaml", "-c", "chunked.yaml", "--use-cached", run_ids[1])
    assert refused.returncode == 2 and "masked" in refused.stderr
    rendered = run("execute", "--file", "pipeline.yaml", "-c", "argo.yaml")
    assert rendered.returncode == 0, rendered.stderr
    assert (project / "workflow.yaml").is_file()
    outputs.append(_workbench_screens(project, run_ids))
    outputs.append((project / "leaks_out.ipynb").read_text())  # the executed notebook (also in the catalog)

    # The secret reached the steps every way: each one shows masked where it showed the value.
    text = "\n".join(outputs)
    for shown in (
        "whole *****",
        "to stderr *****",
        "fd1 *****",
        "fd2 *****",
        "subprocess *****",
        "subprocess-stderr *****",
        "early handler *****",
        "late handler *****",
        "shell sees *****",
        "undeclared *****",
        "shell echoes *****",
        "item *****",
        "notebook prints ***** user:*****",
    ):
        assert shown in text, f"{shown!r} not in the output of {provider}"
    steps = log["steps"]
    assert steps["raise_plain"]["message"] == "ValueError: could not connect with *****"
    assert steps["raise_key_error"]["message"] == "KeyError: '*****'"
    assert len(steps["raise_key_error"]["attempts"]) == 2
    assert steps["exit_with_it"]["message"] == "SystemExit: fatal *****"
    assert "two keys become 'a*****' once secret values are masked" in steps["colliding_keys"]["message"]
    assert "appears twice" in steps["each_dup"]["message"]
    assert "holds a secret value" in steps["catalog_name"]["message"]
    assert "*****" in steps["catalog_missing"]["message"]
    assert steps["track_metrics"]["user_defined_metrics"] == {
        "as_string": "m *****",
        "as_tuple": ["u", "*****"],
        "*****": 1,
    }
    params = log["parameters"]
    assert params["as_string"] == "user:*****" and params["as_tuple"] == ["user", "*****"]
    assert params["nested"] == {"deep": [{"value": "*****"}]}
    # bytes fail the step, UTF-8 ones too (7c84229, trial 12 fault 17): its message names them, masked
    assert "as_bytes" not in params and steps["return_bytes"]["status"] == "FAIL"
    assert "'as_bytes'" in steps["return_bytes"]["message"] and "bytes" in steps["return_bytes"]["message"]
    assert params["keyed"] == {"*****": 1} and params["name_*****"] == 1
    assert params["copied"] == "user:*****" and params["from_shell"] == "sh:*****"
    assert steps["shell_exports"]["user_defined_metrics"] == {"shell_metric": "*****"}
    assert set(log["masked_parameters"]) >= {
        "as_string",
        "as_tuple",
        "nested",
        "keyed",
        "name_*****",
        "items",
        "dups",
        "copied",
        "paired",
        "from_shell",
    }
    assert "name_*****" in steps["return_parameters"]["masked_parameters"]
    assert "each_item.*****" in steps["each_item"]["branches"]

    for out in outputs:
        leaked = [form for form in FORBIDDEN if form in out]
        assert not leaked, f"{provider}: {leaked} in output:\n{out[:2000]}"
    # everything but the inputs and the folder the catalog_name step writes its own file to
    written = [p for p in project.rglob("*") if not {".git", "data"} & set(p.parts) and p.name != ".env"]
    assert any(".catalog" in p.parts for p in written) and any(".run_log_store" in p.parts for p in written)
    forbidden_bytes = [f.encode() for f in FORBIDDEN]
    for path in written:
        name = str(path.relative_to(project))
        assert not [f for f in FORBIDDEN if f in name], f"{provider}: a secret in the file name {name}"
        if path.is_file():
            data = path.read_bytes()
            assert not [f for f in forbidden_bytes if f in data], f"{provider}: a secret in {name}"


def _workbench_screens(project: Path, run_ids: list[str]) -> str:
    """SVG exports of the runs screen and of each run's screen (as the example marker test takes them)."""
    import os

    from tests.test_secret_marker import _workbench_exports

    here = Path.cwd()
    os.chdir(project)
    try:
        return _workbench_exports(project, run_ids)
    finally:
        os.chdir(here)
