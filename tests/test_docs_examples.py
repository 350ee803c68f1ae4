"""The docs' own examples and snippets, checked so that docs and behaviour cannot drift (issue 18, item 14).

Every fenced code block of README.md and docs/*.md is checked by its language:

- yaml: parses (YAML 1.2, as magnus reads it); a whole pipeline (a `dag` key) loads and validates; a block
  of config blocks builds every provider it names (types and options checked);
- json: parses (an excerpt of `"key": value` pairs parses inside braces);
- python: compiles, and every name it imports from magnus or magnus_core exists;
- bash: every `magnus ...` command parses against the real command line (commands, options, arguments,
  and the typo rule of `magnus execute`).

A block is marked by an HTML comment on the line before its fence (invisible on GitHub):

- `<!-- docs-test: run -->`: also **run**, as written, in a scratch git project holding the repository's
  `examples/` (plus `pipeline.yaml` and `params.yaml` copied from them): bash blocks with `bash -e` and
  `magnus` on PATH; python blocks with python; every command must succeed;
- `<!-- docs-test: excerpt -->`: a part of a larger file (parsed, not validated as a whole);
- `<!-- docs-test: skip: <reason> -->`: not checked, for the reason given.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, git

DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)
MARK = re.compile(r"<!--\s*docs-test:\s*(?P<kind>[a-z]+)(?:\s*:\s*(?P<reason>.*?))?\s*-->")
KINDS = ("run", "excerpt", "skip")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    body: str
    mark: str = ""
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT).as_posix()}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for file in DOCS:
        text = file.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = MARK.search(before)
            body = "\n".join(line[len(match.group("indent")) :] for line in match.group("body").splitlines())
            found.append(
                Block(
                    file=file,
                    line=text[: match.start()].count("\n") + 1,
                    lang=match.group("info").strip().split(" ")[0],
                    body=body,
                    mark=mark.group("kind") if mark else "",
                    reason=(mark.group("reason") or "") if mark else "",
                )
            )
    return found


BLOCKS = blocks()
CHECKED = [b for b in BLOCKS if b.mark != "skip" and b.lang in ("yaml", "json", "python", "bash")]
RUN = [b for b in BLOCKS if b.mark == "run"]


def test_the_docs_have_blocks_and_marks_are_well_formed() -> None:
    assert len(CHECKED) > 50 and len(RUN) >= 8  # the checks below cover the docs, not an empty list
    for block in BLOCKS:
        assert block.mark in ("", *KINDS), f"{block.id}: unknown docs-test mark {block.mark!r}"
        if block.mark == "skip":
            assert block.reason, f"{block.id}: a skipped block says why (docs-test: skip: <reason>)"
        if block.mark == "run":
            assert block.lang in ("bash", "python"), f"{block.id}: only bash and python blocks run"


# -- static checks -------------------------------------------------------------------------------------------
@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git project holding the repository's examples, as a user who cloned it has; the working folder."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "examples" / "getting-started.yaml", tmp_path / "pipeline.yaml")
    shutil.copy(ROOT / "examples" / "parameters.yaml", tmp_path / "params.yaml")
    (tmp_path / ".env").write_text("api_key=s3cr3t\n")  # what docs/secrets.md has the user write
    (tmp_path / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n.env\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("block", CHECKED, ids=[b.id for b in CHECKED])
def test_block(block: Block, scratch: Path) -> None:
    {"yaml": check_yaml, "json": check_json, "python": check_python, "bash": check_bash}[block.lang](
        block, scratch
    )


def check_yaml(block: Block, scratch: Path) -> None:
    from magnus_core.loading import CONFIG_KEYS, Yaml12Loader, is_extension_key, load_config, load_pipeline

    data = yaml.load(block.body, Loader=Yaml12Loader)
    if block.mark == "excerpt" or not isinstance(data, dict):
        return
    path = scratch / "docs-block.yaml"
    path.write_text(block.body)
    if "dag" in data:
        load_pipeline(path)
    elif data and all(k in CONFIG_KEYS or is_extension_key(k) for k in data):
        from magnus_core.catalog import make_catalog
        from magnus_core.executors import make_executor
        from magnus_core.secrets import make_secrets
        from magnus_core.stores import make_store
        from magnus_core.tracking import make_tracker

        config = load_config(str(path), None, scratch)
        make_store(config["run_log_store"])
        make_catalog(config["catalog"])
        make_secrets(config["secrets"])
        make_tracker(config["experiment_tracker"])
        make_executor(config["executor"])


def check_json(block: Block, scratch: Path) -> None:
    try:
        json.loads(block.body)
    except ValueError:
        json.loads("{" + block.body + "}")  # an excerpt: "key": value pairs


def check_python(block: Block, scratch: Path) -> None:
    tree = ast.parse(block.body, filename=block.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "magnus",
            "magnus_core",
        ):
            module = importlib.import_module(node.module or "")
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{block.id}: {node.module} has no {', '.join(missing)}"


def magnus_commands(body: str) -> list[list[str]]:
    """Each `magnus ...` command of a shell block as its arguments (prompts, comments, redirections and what
    follows `&&`, `|` or `;` left out)."""
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line.strip().removeprefix("$ "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            words = list(lexer)
        except ValueError:
            continue
        command: list[str] = []
        redirected = False
        for word in [*words, ";"]:
            if word and set(word) <= set(";&|<>()"):  # an operator ends a command, or starts a redirection
                if command and command[0] == "magnus":
                    commands.append(command[1:])
                    command = []
                redirected = word in ("<", ">", ">>", "2>")
                if not redirected:
                    command = []
            elif redirected:
                redirected = False  # the redirection's file name
            else:
                command.append(word)
    return commands


def check_bash(block: Block, scratch: Path) -> None:
    import click

    from magnus_core.cli import _register, cli
    from magnus_core.cli.execute import cli_parameters

    _register()
    for args in magnus_commands(block.body):
        if any(a in ("-h", "--help", "--version") for a in args):
            continue
        context = cli.make_context("magnus", list(args))
        rest = [*context._protected_args, *context.args]
        if not rest:
            continue
        command = cli.get_command(context, rest[0])
        assert command is not None, f"{block.id}: no command 'magnus {rest[0]}'"
        try:
            sub = command.make_context(rest[0], rest[1:], parent=context)
        except click.ClickException as exc:
            pytest.fail(f"{block.id}: magnus {shlex.join(args)}: {exc.format_message()}")
        if rest[0] == "execute":
            cli_parameters(sub)  # raises on a mistyped option


# -- the runnable blocks, run ------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_runnable_block_runs_as_written(block: Block, scratch: Path) -> None:
    bin_folder = Path(tempfile.mkdtemp(prefix="magnus-docs-bin-"))
    shim = bin_folder / "magnus"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m magnus_core "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{scratch}",
        "NO_COLOR": "1",
    }
    argv = ["bash", "-e", "-c", block.body] if block.lang == "bash" else [sys.executable, "-c", block.body]
    done = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{block.id} failed:\n{block.body}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


# -- what docs/map.md says, held: every task type sees MAGNUS_PRM_MAP_VARIABLE ---------------------------------
MAP_FUNCTIONS = """
import json, os

def items():
    return {"chunks": ["a", "b"]}

def seen_by_python(chunk):
    with open(f"python-{chunk}.json", "w") as f:
        json.dump({"map": os.environ.get("MAGNUS_PRM_MAP_VARIABLE"), "item": os.environ.get("MAGNUS_PRM_chunk")}, f)

def after():
    with open("after.json", "w") as f:
        json.dump({k: v for k, v in os.environ.items() if k in ("MAGNUS_PRM_MAP_VARIABLE", "MAGNUS_PRM_chunk")}, f)
"""


MAP_PIPELINE = """
dag:
  start_at: items
  steps:
    items: {type: task, command: mapfns.items, next: each}
    each:
      type: map
      iterate_on: chunks
      iterate_as: chunk
      next: after
      branch:
        start_at: py
        steps:
          py: {type: task, command: mapfns.seen_by_python, next: sh}
          sh:
            type: task
            command_type: shell
            command: |
              item=$(echo "$MAGNUS_PRM_chunk" | tr -d '"')
              echo "$MAGNUS_PRM_MAP_VARIABLE" > "shell-$item.json"
            next: nb
          nb: {type: task, command_type: notebook, command: in_map.ipynb, next: success}
          success: {type: success}
          fail: {type: fail}
    after: {type: task, command: mapfns.after, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_python_shell_and_notebook_steps_in_a_map_see_the_map_variable(scratch: Path) -> None:
    import nbformat

    pytest.importorskip("papermill")
    (scratch / "mapfns.py").write_text(MAP_FUNCTIONS)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("chunk = None", metadata={"tags": ["parameters"]}))
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import os\nopen(f'notebook-{chunk}.json', 'w').write(os.environ['MAGNUS_PRM_MAP_VARIABLE'])"
        )
    )
    nbformat.write(nb, scratch / "in_map.ipynb")
    (scratch / "map.yaml").write_text(MAP_PIPELINE)
    from tests.conftest import run_magnus

    done = run_magnus("execute", "--file", "map.yaml", cwd=scratch)
    assert done.returncode == 0, done.stderr[-3000:]
    for chunk in "ab":
        assert json.loads((scratch / f"python-{chunk}.json").read_text()) == {
            "map": json.dumps({"chunk": chunk}),
            "item": json.dumps(chunk),
        }
        assert json.loads((scratch / f"shell-{chunk}.json").read_text()) == {"chunk": chunk}
        assert json.loads((scratch / f"notebook-{chunk}.json").read_text()) == {"chunk": chunk}
    assert json.loads((scratch / "after.json").read_text()) == {}  # nothing of the map left after it
    # each item's executed notebook is its own file (one catalog name per branch)
    assert (scratch / "in_map_out_a.ipynb").is_file() and (scratch / "in_map_out_b.ipynb").is_file()
