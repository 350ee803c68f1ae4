"""Where the workbench gets runs from: the project's config, its run-log store and pipeline files.

No Textual here; the screens call these (from workers when they may be slow).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnus_core.errors import MagnusError
from magnus_core.index import RunIndex, RunQuery, open_index
from magnus_core.models.run_log import RunLog
from magnus_core.paths import read_regular_file
from magnus_core.runs import RunSummary
from magnus_core.stores.base import RunLogStore


def said(exc: MagnusError) -> str:
    """The line the command line prints for `exc` (without its 'Error: '): an error about a config field
    names the file's line of that field too (loading.locate_config_error, as cli.run_guarded does), so the
    workbench opening on a broken config says `magnus-config.yaml: line 5: field '...': ...` as `magnus
    runs` does."""
    if exc.file and exc.field and exc.line is None:
        from magnus_core.loading import locate_config_error

        locate_config_error(exc)
    return str(exc)


@dataclass
class RunEntry:
    summary: RunSummary
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    """The store a config names, or why it could not be opened."""

    config_file: str | None = None
    store: RunLogStore | None = None
    store_block: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    root: Path = field(default_factory=Path.cwd)
    notices: list[str] = field(default_factory=list)  # one-line notices from the run index
    _index: RunIndex | None = field(default=None, repr=False)

    @classmethod
    def open(cls, config_file: str | None = None, root: Path | None = None) -> Project:
        from magnus_core.loading import config_source, load_config
        from magnus_core.runs import provider_source
        from magnus_core.stores import make_store

        project = cls(config_file=config_file, root=root or Path.cwd())
        try:
            blocks = load_config(config_file, None, project.root)
            project.store_block = blocks["run_log_store"]
            project.store = make_store(
                blocks["run_log_store"],
                source=config_source(blocks, "run_log_store"),
                secrets=provider_source(blocks.get("secrets")),
            )
        except MagnusError as exc:
            project.error = said(exc)
        return project

    def other_store(self, config_file: str | None) -> str:
        """'' when a run started with `config_file` keeps its log in this store (the workbench can follow
        it), else why not in one line: the config cannot be read, or it names another run-log store."""
        from magnus_core.loading import load_config

        if (config_file or None) == (self.config_file or None):
            return ""
        try:
            blocks = load_config(config_file, None, self.root)
        except MagnusError as exc:
            return said(exc)
        if blocks["run_log_store"] != self.store_block:
            name = config_file or "the default config"
            return (
                f"config file: {name} keeps runs in another run-log store than {self.where}, which this "
                f"workbench shows; open the workbench with `magnus tui -c {config_file or '…'}` to start "
                "runs there"
            )
        return ""

    @property
    def where(self) -> str:
        return self.store.where() if self.store is not None else "no store"

    @property
    def brief(self) -> str:
        """The store in a few words, for the title bar (RunLogStore.brief)."""
        return self.store.brief() if self.store is not None else "no store"

    def hint(self) -> str:
        """What to tell the user when there are no runs."""
        if self.error:
            return f"Cannot open the run-log store: {self.error}"
        folder = self.store.local_folder() if self.store is not None else None
        if folder is not None and not Path(folder).is_dir():
            return (
                f"No runs yet: the store folder {folder}/ does not exist. Start one with `s`, or run "
                "`magnus execute --file pipeline.yaml` in this folder."
            )
        if self.store is not None and self.store.service_name == "buffered":
            return "The run-log store is 'buffered' (in memory): runs started here show up, nothing is kept."
        return f"No runs in {self.where}. Press `s` to start one."

    def runs(self, run_ids: list[str] | None = None) -> list[RunEntry]:
        """Every run (or those of `run_ids`), newest first, with its parameters (for filtering); broken logs
        carry the reason.

        From the run index (magnus_core/index): only logs that are new or changed since the last call
        are read."""
        if self.store is None:
            return []
        try:
            result = self.index().query(RunQuery(params=["*"], run_ids=run_ids))
        except (MagnusError, OSError) as exc:  # e.g. a store folder we may not read
            reason = said(exc) if isinstance(exc, MagnusError) else str(exc)
            # the store's own errors name it already (trial team 14: "... in the postgres run-log store X:
            # postgres run-log store X: cannot connect: ...")
            named = self.where.removeprefix("the ") in reason or self.brief in reason
            self.error = (
                f"cannot list runs: {reason}" if named else f"cannot list runs in {self.where}: {reason}"
            )
            return []
        return [RunEntry(run.summary, run.params) for run in result.runs]

    def reread(self, run_ids: list[str]) -> None:
        """The next `runs` reads these runs' logs again (RunIndex.reread: a log listed BROKEN may have been
        read while it was being written in place); a store that cannot say is left as it is."""
        if self.store is None or not run_ids:
            return
        try:
            self.index().reread(run_ids)
        except (MagnusError, OSError):
            return

    def index(self) -> RunIndex:
        """The store's run index, opened once (notices of a rebuilt index are kept in `notices`)."""
        if self._index is None:
            assert self.store is not None
            self._index = open_index(self.store, notify=self.notices.append)
        return self._index

    def quiet_token(self) -> str | None:
        """A text that changes whenever the store's runs are added, removed or rewritten by its own writes,
        None when it cannot say or changed a moment ago (RunLogStore.quiet_token: a stat of its folder)."""
        if self.store is None:
            return None
        try:
            return self.store.quiet_token()
        except (MagnusError, OSError):
            return None

    def run_versions(self) -> dict[str, Any] | None:
        """Every run id with a token that changes when the store itself rewrites the run (one directory
        scan, no log read: RunLogStore.run_versions(full=False)); None when the store cannot say."""
        if self.store is None:
            return None
        try:
            return self.store.run_versions(full=False)
        except (MagnusError, OSError):
            return None

    def get_run(self, run_id: str) -> RunLog:
        """The run log, or a MagnusError saying why it cannot be read."""
        if self.store is None:
            raise MagnusError(self.error or "no run-log store")
        return self.store.get_run(run_id)

    def newest_run(self, pipeline: str) -> str | None:
        """The id of the newest run of `pipeline` (a path relative to the project root, as the picker gives
        it) in the store, whatever its status, a broken log left out; None when there is none. Paths are
        compared after joining them to the root (a run started as `./p.yaml` or `/abs/p.yaml` counts).
        From the run index, newest first (one query, no log read); a store that cannot be listed gives
        None."""
        import os

        if self.store is None or not pipeline:
            return None

        def key(path: str) -> str:
            return os.path.normpath(os.path.join(self.root, path))

        wanted = key(pipeline)
        seen: dict[str, bool] = {}  # a recorded path -> whether it names `pipeline`
        try:
            runs = self.index().query(RunQuery()).runs
        except (MagnusError, OSError):
            return None
        for run in runs:
            summary = run.summary
            if not summary.pipeline or summary.status == "BROKEN":
                continue
            same = seen.get(summary.pipeline)
            if same is None:
                same = seen[summary.pipeline] = key(summary.pipeline) == wanted
            if same:
                return summary.run_id
        return None

    def pipelines(self, limit: int = 200) -> list[str]:
        """YAML files under the project that hold a `dag:` block, nearest first (at most `limit`).

        Only the user's own pipelines: folders a project keeps other things in are not looked into (see
        `skipped_folder`: hidden folders, virtualenvs, installed packages, tests, build output, the run-log
        store and catalog): trial 5's picker offered magnus's own test files (`tests/data/...`). A file in
        such a folder can still be typed into the start form's field."""
        import os

        candidates: list[Path] = []
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            dirs[:] = [name for name in dirs if not skipped_folder(here / name)]
            candidates.extend(here / name for name in files if name.endswith((".yaml", ".yml")))
        found: list[str] = []
        for path in sorted(candidates, key=lambda p: (len(p.parts), str(p))):
            try:  # a FIFO or /dev/zero named *.yaml must not hang the start screen
                head = read_regular_file(path, limit=20000, head=True).decode("utf-8", errors="replace")
            except MagnusError:
                continue
            if any(line.startswith("dag:") for line in head.splitlines()):
                found.append(str(path.relative_to(self.root)))
            if len(found) >= limit:
                break
        return found


# folders of a project that hold no pipeline of the user's (Project.pipelines)
SKIPPED_FOLDERS = frozenset(
    {"node_modules", "__pycache__", "site-packages", "dist-packages", "venv", "build", "dist"}
    | {"tests", "test", "testing"}
)


def skipped_folder(path: Path) -> bool:
    """True for a folder the pipeline picker does not look into: hidden ones (`.git`, `.venv`,
    `.run_log_store`, `.catalog`), any virtualenv or conda environment (it holds `pyvenv.cfg` or
    `conda-meta/`, whatever its name), installed packages, `*.egg-info`, test folders and build output
    (SKIPPED_FOLDERS)."""
    name = path.name
    if name.startswith(".") or name in SKIPPED_FOLDERS or name.endswith(".egg-info"):
        return True
    return (path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()


def summary_matches(summary: RunSummary, text: str, parameters: dict[str, Any] | None = None) -> bool:
    """Filter-as-you-type: every word must match. A bare word matches anywhere in the id, pipeline
    file, tag, status, user, error or parameter text (part of it: `fail`, `GS_`); a `name=value` word whose
    name is one of the run's parameters matches that parameter's value exactly (`lr=5` is not `lr=50`; numbers
    as numbers: `lr=0.10` finds 0.1; any case), as a key=value search does in MLflow or k9s's label
    filter. Any case throughout."""
    parameters = parameters or {}
    fields = " ".join(
        [
            summary.run_id,
            summary.pipeline,
            summary.tag,
            summary.state,
            summary.status,
            summary.original_run_id,
            summary.error,
            summary.user,
        ]
    ).lower()
    params_text = " ".join(f"{k}={v}" for k, v in parameters.items()).lower()
    for word in text.lower().split():
        name, eq, value = word.partition("=")
        if eq and name:  # a parameter's value, exactly (`lr=`: the run has lr); else the run's own fields
            key = next((k for k in parameters if k.lower() == name), None)
            if key is None and word not in fields:
                return False
            if key is not None and value and not _same_value(parameters[key], value):
                return False
        elif word not in fields and word not in params_text:
            return False
    return True


def _same_value(recorded: Any, typed: str) -> bool:
    """Whether the parameter value `recorded` is what `typed` (lower case) names: as numbers when both are
    numbers (bools are not), else as text in any case (`true` for True, JSON text for lists and maps)."""
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        try:
            return float(typed) == float(recorded)
        except ValueError:
            return False
    if isinstance(recorded, bool) or recorded is None:
        return typed == json.dumps(recorded)
    if isinstance(recorded, (list, dict)):
        return typed in (str(recorded).lower(), json.dumps(recorded).lower())
    return str(recorded).lower() == typed


def parameter_hint(text: str, names: set[str]) -> str:
    """A hint for a filter that names a parameter and then its value as two words (trial 6: `lr 5`
    matched 7 of 8 runs, the 5 in ids and times): 'lr=5 matches the parameter lr only'; '' when the text
    has no parameter name followed by a bare word. `names`: the parameter names of the runs listed."""
    words = text.split()
    for name, value in itertools.pairwise(words):
        if "=" not in name and "=" not in value and name in names:
            return f"{name}={value} matches the parameter {name} only"
    return ""
