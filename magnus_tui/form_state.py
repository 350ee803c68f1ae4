"""What the start form remembers between sessions: the last values used per pipeline file.

The file is `$XDG_STATE_HOME/magnus/start-form.json` (default `~/.local/state/magnus/start-form.json`, as
the XDG base-directory spec puts "state that should persist between restarts"). It holds, per project folder
and pipeline file, the tag, the parameters (a mapping), the parameters file and the config file of the last
run started from the form. It never holds a value typed at the secret prompt (the form has none) nor a
parameter the run recorded masked (its value held a secret): `remember` drops those names.

A state file that cannot be read (corrupt JSON, not a mapping, no permission) is ignored with a one-line
notice; it is then never written over: the next save first moves it aside to `start-form.json.bad` (the
notice says so), so whatever it held can still be recovered by hand. No Textual here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
FILE_NAME = "start-form.json"


def state_file(environ: dict[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/magnus/start-form.json`; `~/.local/state/...` when the variable is unset, empty or
    not an absolute path (the spec says such a value is to be ignored)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    folder = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return folder / "magnus" / FILE_NAME


@dataclass
class FormValues:
    """The start form's fields for one pipeline: tag, parameters (name -> value), parameters file and config
    file ('' when not given)."""

    tag: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_file: str = ""
    config_file: str = ""

    @classmethod
    def from_json(cls, data: Any) -> FormValues | None:
        """A stored entry, or None when it is not one (a hand-edited file): one bad entry spoils no other."""
        if not isinstance(data, dict):
            return None
        parameters = data.get("parameters", {})
        texts = [data.get(k, "") for k in ("tag", "parameters_file", "config_file")]
        if not isinstance(parameters, dict) or not all(isinstance(t, str) for t in texts):
            return None
        return cls(texts[0], dict(parameters), texts[1], texts[2])

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "parameters": self.parameters,
            "parameters_file": self.parameters_file,
            "config_file": self.config_file,
        }


def entry_key(root: Path, pipeline: str) -> str:
    """One entry per pipeline file of a project: the file's absolute path ('pipeline.yaml' of two projects
    are two entries)."""
    return str((root / pipeline).resolve()) if pipeline else ""


class FormMemory:
    """The state file, read once; `notice` holds a one-line message when it could not be read or written."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_file()
        self.notice = ""
        self._bad = False  # the file exists but could not be read: move it aside before writing
        self._entries: dict[str, Any] = {}
        self._read()

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self._spoiled(f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
            return
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            self._spoiled(f"is not JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else "is not JSON")
            return
        entries = data.get("forms") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            self._spoiled("is not a magnus start-form state file (no 'forms' mapping)")
            return
        self._entries = entries

    def _spoiled(self, why: str) -> None:
        self._bad = True
        self.notice = f"Last form values not loaded: {self.path} {why}; it is left as it is."

    def recall(self, root: Path, pipeline: str) -> FormValues | None:
        """The values last used for `pipeline` in the project at `root`, or None."""
        return FormValues.from_json(self._entries.get(entry_key(root, pipeline)))

    def remember(self, root: Path, pipeline: str, values: FormValues, masked: Sequence[str] = ()) -> bool:
        """Store `values` for `pipeline`, without the parameters named in `masked` (the run recorded them
        masked: their value held a secret). Written whole to a temporary file then renamed, so a crash
        never leaves half a file. False, with `notice` set, when it could not be written."""
        key = entry_key(root, pipeline)
        if not key:
            return False
        kept = {name: value for name, value in values.parameters.items() if name not in set(masked)}
        entry = FormValues(values.tag, kept, values.parameters_file, values.config_file)
        self._entries[key] = entry.to_json()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._bad and self.path.exists():
                aside = self.path.with_name(self.path.name + ".bad")
                os.replace(self.path, aside)
                self.notice = f"{self.path} could not be read; it was moved to {aside} and a new one written."
                self._bad = False
            fd, temp = tempfile.mkstemp(prefix=".start-form.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"format": FORMAT, "forms": self._entries}, out, indent=1, sort_keys=True)
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.notice = f"Form values not saved: {self.path}: {exc.strerror or exc}"
            return False
        return True
