"""The code a run ran, as content: its uncommitted changes kept as a patch, and the change between two runs.

A run records its git commit and, when the working tree had uncommitted changes to tracked files, which files
(identity.git_identity). Trial 8: `magnus diff` could then say only `modified files [] -> ["mlp/steps.py"]`,
never what changed. So a run whose tree is dirty keeps `git diff HEAD` of those files (masked like every
output, at most the output cap: capture.output_cap) as `.magnus/code.patch` in its catalog, beside the steps'
captured output (magnus's own files: never a data_catalog entry, never copied by a re-run). Its run log says
where, in `run_config.code_patch` (a key the original's readers ignore):

    {"name": ".magnus/code.patch", "files": ["mlp/steps.py"], "size": 812, "sha256": "...", "written": 812,
     "cut": false}

`code_change(a, b)` is what `magnus diff A B --code` prints and the workbench's diff screen shows on the code
row: the content change between the code each run ran. With the repository holding both commits, each run's
code is rebuilt as its commit with its patch applied, in a temporary index (identity.tree_of), and the two
trees are compared (`git diff`): exact, whatever each run had uncommitted. Otherwise (a commit missing here,
a patch cut at the cap or holding a masked secret) it falls back to `git diff A B` of the commits when it can,
and each run's patch as kept.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.catalog import RESERVED

if TYPE_CHECKING:
    from magnus_core.catalog import BaseCatalog
    from magnus_core.context import RunContext
    from magnus_core.models.run_log import CodeIdentity, RunLog

log = logging.getLogger("magnus")

PATCH_NAME = f"{RESERVED}/code.patch"
KEY = "code_patch"  # run_config's key


def make_patch(
    identity: CodeIdentity, ctx: RunContext, catalog: BaseCatalog | None
) -> tuple[bytes, dict[str, Any]] | None:
    """The patch of the run's uncommitted changes (masked with `ctx.mask`, capped, read in `ctx.root`) and
    its run_config record, or None: a clean tree, no git, or a catalog that keeps no files (do-nothing).
    Made by whichever process creates the run: `magnus execute` (runner.execute) or the first step of a
    run driven one step per process (single._open)."""
    from magnus_core.rerun import changed_files

    if catalog is None or not catalog.keeps_output:
        return None
    files = changed_files(identity)
    if not files:
        return None
    from magnus_core.identity import uncommitted_patch

    raw = uncommitted_patch(files, ctx.root)
    if not raw:
        return None
    from magnus_core.capture import output_cap
    from magnus_core.table import fmt_size

    text = raw.decode("utf-8", "surrogateescape")
    masked = ctx.mask(text).encode("utf-8", "surrogateescape")
    cap = output_cap(catalog)
    cut = len(masked) > cap
    data = masked[:cap]
    if cut:
        data += (
            f"\n[magnus: patch cut here at {fmt_size(cap, exact=True)}; it was "
            f"{fmt_size(len(masked), exact=True)}]\n"
        ).encode()
    record = {
        "name": PATCH_NAME,
        "files": files,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "written": len(masked),
        "cut": cut,
    }
    return data, record


def keep(catalog: BaseCatalog, run_id: str, data: bytes) -> None:
    """Put the patch in the run's catalog; a failure is logged, never a reason for the run to fail (a
    reader then says the patch is missing)."""
    from magnus_core.errors import MagnusError

    try:
        catalog.put_bytes(PATCH_NAME, data, run_id)
    except (OSError, MagnusError) as exc:
        log.warning("the run's uncommitted code changes could not be kept in its catalog: %s", exc)


def record_of(run_log: RunLog) -> dict[str, Any] | None:
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    record = config.get(KEY)
    return record if isinstance(record, dict) else None


def read_patch(run_log: RunLog) -> tuple[bytes | None, str]:
    """(the run's kept patch, "") or (None, why not): no record (a clean tree, a run of magnus before this,
    the do-nothing catalog), its catalog unreachable here, the file missing or changed since."""
    record = record_of(run_log)
    if record is None:
        return None, "no patch kept"
    from magnus_core.errors import MagnusError
    from magnus_core.logs import catalog_of

    catalog = catalog_of(run_log)
    if catalog is None:
        return None, "its catalog cannot be read here"
    try:
        with catalog.open_file(run_log.run_id, str(record.get("name") or PATCH_NAME)) as handle:
            data = handle.read()
    except (OSError, MagnusError):
        return None, "its patch is missing from its catalog"
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        return None, "its patch in the catalog changed since the run (SHA256 differs)"
    return data, ""


def _commit(run_log: RunLog) -> str | None:
    """The commit of the code that ran in this run (its first own step's git identity; diff._code_of's
    rule: reused steps ran elsewhere)."""
    for step in run_log.walk():
        if step.mock:
            continue
        for identity in step.code_identities:
            if identity.code_identifier_type == "git" and identity.code_identifier:
                return identity.code_identifier
    return None


@dataclass
class CodeChange:
    """What `magnus diff A B --code` prints: `lines` (a unified diff, or the patches) and `notes` (how it was
    made and what could not be, one line each). `exact`: the lines are the content change between the
    code each run ran (commit with its patch, compared as trees)."""

    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exact: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "notes": self.notes, "diff": self.lines}


def code_change(a: RunLog, b: RunLog, repo: str | Path = ".") -> CodeChange:
    """The content change from run A's code to run B's (see the module's docstring)."""
    from magnus_core.identity import diff_trees, has_commit, tree_of

    out = CodeChange()
    commits = (_commit(a), _commit(b))
    patches: list[bytes | None] = []
    dirty: list[bool] = []
    for side, run in (("A", a), ("B", b)):
        data, why = read_patch(run)
        record = record_of(run)
        dirty.append(record is not None)
        patches.append(data)
        if record is not None and data is None:
            out.notes.append(f"{side} ({run.run_id}) had uncommitted changes, but {why}")
        elif record is not None and record.get("cut"):
            out.notes.append(f"{side} ({run.run_id})'s patch was cut at the output cap")
    if None in commits:
        missing = " and ".join(s for s, c in zip("AB", commits, strict=True) if c is None)
        out.notes.append(f"no git commit recorded in {missing}")
        out.lines = _patches(a, b, patches, dirty)
        return out
    ca, cb = commits[0] or "", commits[1] or ""
    here = [has_commit(c, repo) for c in (ca, cb)]
    if all(here):
        trees = [tree_of(c, p, repo) if d else c for c, p, d in zip((ca, cb), patches, dirty, strict=True)]
        if all(trees):
            text = diff_trees(trees[0] or "", trees[1] or "", repo)
            if text is not None:
                out.exact = True
                what = "commit" + (" with its uncommitted changes" if any(dirty) else "")
                out.notes.insert(0, f"the code each run ran ({what}), A {ca[:12]} -> B {cb[:12]}")
                out.lines = text.splitlines()
                return out
        out.notes.append("a patch does not apply to its commit here: the commits' diff and the patches")
        text = diff_trees(ca, cb, repo) if ca != cb else ""
        out.lines = ([f"# git diff {ca[:12]} {cb[:12]}", *text.splitlines()] if text else []) + _patches(
            a, b, patches, dirty
        )
        return out
    absent = " and ".join(c[:12] for c, h in zip((ca, cb), here, strict=True) if not h)
    out.notes.append(f"this repository does not have commit {absent}: only the runs' uncommitted patches")
    out.lines = _patches(a, b, patches, dirty)
    return out


def _patches(a: RunLog, b: RunLog, patches: list[bytes | None], dirty: list[bool]) -> list[str]:
    lines: list[str] = []
    for side, run, data, was_dirty in zip("AB", (a, b), patches, dirty, strict=True):
        if data is not None:
            lines.append(f"# uncommitted changes of {side} ({run.run_id})")
            lines.extend(data.decode("utf-8", "replace").splitlines())
        elif not was_dirty:
            lines.append(f"# {side} ({run.run_id}): no uncommitted changes")
    return lines
