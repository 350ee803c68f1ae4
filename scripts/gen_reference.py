"""Write the generated reference files: docs/pipeline.schema.json, docs/run-log.schema.json and
docs/cli-reference.md.

    python scripts/gen_reference.py          # rewrite them
    python scripts/gen_reference.py --check  # exit 1 if they are out of date (tests run this)

Both come from the code (the pydantic models, the click commands) so they never drift from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pipeline_schema() -> str:
    from magnus_core.models.pipeline import PipelineFile

    schema = PipelineFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "magnus pipeline file"
    schema["description"] = (
        "A magnus pipeline: a dag of steps, and optionally the config blocks mode/executor, "
        "run_log_store, catalog and secrets. Generated from magnus_core/models/pipeline.py "
        "by scripts/gen_reference.py."
    )
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def run_log_schema() -> str:
    from magnus_core.models.run_log import RunLog

    schema = RunLog.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "magnus run log"
    schema["description"] = (
        "One run's record, as the run-log stores write it (field names and nesting as the original "
        "tool's). Generated from magnus_core/models/run_log.py by scripts/gen_reference.py."
    )
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def _usage(command, ctx, full: str) -> str:
    """The usage line, spelled here rather than by click: click 8.5 writes `[COMMAND]` where 8.4 wrote
    `COMMAND`, and a generated reference must not drift with a library's minor version (issue 11)."""
    import click

    parts = [f"Usage: {full}"]
    params = command.get_params(ctx)
    if any(isinstance(p, click.Option) for p in params):
        parts.append("[OPTIONS]")
    for param in params:
        if isinstance(param, click.Argument):
            name = (param.metavar or param.name.upper()) + ("..." if param.nargs == -1 else "")
            parts.append(name if param.required else f"[{name}]")
    if isinstance(command, click.Group):
        parts.append("COMMAND [ARGS]...")
    return " ".join(parts)


def _command_doc(name: str, command, parent: str) -> list[str]:
    import click

    full = f"{parent} {name}".strip()
    ctx = click.Context(command, info_name=full)
    lines = [f"## `{full}`", ""]
    import inspect

    help_text = inspect.cleandoc(command.help or "").replace("\b\n", "")
    paragraphs = help_text.split("\n\n")
    body = []
    for para in paragraphs:  # indented blocks (click's \b paragraphs) become code blocks
        if "\n  " in para or para.startswith("  "):
            body += ["```", para, "```"]
        else:
            body.append(para)
        body.append("")
    lines += [*body, "```", _usage(command, ctx, full), "```", ""]
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            names = ", ".join(f"`{o}`" for o in param.opts + param.secondary_opts)
            kind = "flag" if param.is_flag else param.type.name.upper()
            default = (
                ""
                if param.default in (None, False, "", ()) or param.is_flag
                else f" (default: `{param.default}`)"
            )
            rows.append(f"| {names} | {kind} | {(param.help or '').replace('|', '/')}{default} |")
        elif isinstance(param, click.Argument):
            rows.append(
                f"| `{param.metavar or param.name.upper()}` | argument | "
                f"{'required' if param.required else 'optional'} |"
            )
    if rows:
        lines += ["| option | value | meaning |", "|---|---|---|", *rows, ""]
    if isinstance(command, click.Group):
        for sub_name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                lines += _command_doc(sub_name, sub, full)
    return lines


def cli_reference() -> str:
    from magnus_core.cli import _register, cli

    _register()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the click commands by `python scripts/gen_reference.py`; do not edit by hand.",
        "",
    ]
    lines += _command_doc("magnus", cli, "")
    return "\n".join(lines).rstrip() + "\n"


TARGETS = {
    ROOT / "docs" / "pipeline.schema.json": pipeline_schema,
    ROOT / "docs" / "run-log.schema.json": run_log_schema,
    ROOT / "docs" / "cli-reference.md": cli_reference,
}


def main(argv: list[str]) -> int:
    stale = []
    for path, make in TARGETS.items():
        text = make()
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/gen_reference.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
