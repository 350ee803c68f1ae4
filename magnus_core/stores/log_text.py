"""A live run log's JSON text, made again only for what changed since the last time (issue 19).

The file-system store rewrites a run's whole file at each write. `RunLog.model_dump_json(indent=4)` made
the text of every step again each time: at 10,000 steps about 0.3 s a write, a tenth of the run by the
store's spacing. `RunLogText.text(log)` returns the same text, byte for byte, but keeps the text of each
step log and branch log it made, already indented at its depth, and serialises again only the logs that are
new since the last call; the rest is joined:

    run log shell   the run's own fields, made each time (small), with `steps` and `run_config` spliced in
    run_config      kept while the run holds the same dict (the dag: a large part of the text)
    step, branch    each kept as its entry (`"key": {...}` indented at its depth) by the object's identity;
                    the entry of a composite step (a branch log) is its text without its branches (steps),
                    which are spliced in at every call, since the store adds to them in place

Why identity is enough: the store never changes a step log, a branch log or run_config it holds in place
but for the dict of branches of a step and of steps of a branch (spliced at every call, never kept): every
write of a step keeps a new copy (stores/base.py `_snapshot`), every write of a branch a new BranchLog, and
run-level fields are replaced whole (`update_run`, `commit_step`). A kept text holds its object, so an id is
never reused while its text is kept; texts of objects no longer in the log are dropped at each call.

The splices rely on pydantic's indented form: a newline in its output is always structural (a newline in a
string is written `\\n`), so a nested text is indented by replacing each newline with one followed by the
indentation, and a field emptied for the shell (`"branches": {}` at its depth) is found once, after a
newline and exactly its depth's spaces (a key nested deeper has more). tests/test_run_log_text.py checks the
text against the whole dump for logs of every shape (hypothesis).
"""

from __future__ import annotations

import time
from itertools import islice
from operator import is_
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magnus_core.models.run_log import RunLog

_INDENT = "    "
_NESTED = {"branches": "steps", "steps": "branches"}  # a step log's nested field holds branch logs, and back


class RunLogText:
    """The text `log.model_dump_json(indent=4)` gives, for successive states of one live run log. Not
    thread-safe: the store calls it under its lock. Memory: the text of every step once (about the file's
    size, as str and, for the run's leading finished steps, as UTF-8), kept between calls."""

    def __init__(self) -> None:
        # id(object) -> (object, key, depth, its entry text, where its emptied nested field's "{}" is)
        self._kept: dict[int, tuple[Any, str, int, str, int]] = {}
        self._fresh: dict[int, tuple[Any, str, int, str, int]] = {}
        self._config: tuple[Any, bytes] | None = None  # (run_config dict, its UTF-8 text at depth 1)
        # The run's leading top-level steps that are finished leaves (no branches, not PROCESSING), as
        # (key, step) and their entries' UTF-8 text, in chunks (one per call that added some): in a long
        # run only the last steps change, so a call walks the rest by identity and writes their bytes.
        self._lead_keys: list[str] = []
        self._lead_steps: list[Any] = []
        # their dicts of branches: the store adds a branch to a step it holds in place, never assigns a new
        # dict to it (stores/base.py put_branch_log, _snapshot), so one look at these tells if one gained any
        self._lead_branches: list[dict[str, Any]] = []
        self._lead_bytes: list[bytes] = []
        self._whole = 2  # the first writes are made whole, keeping nothing (see parts)
        # id(step log) -> (it, its step_json text), made for the store's journal, for the next call (offer)
        self._offered: dict[int, tuple[Any, str]] = {}
        self.made = 0  # logs serialised by the last call (the rest were joined): for tests and benchmarks
        self.making = 0.0  # seconds the last call spent serialising them (wall)

    def offer(self, step: Any, body: str) -> None:
        """`body` is step log `step`'s text as models.run_log.step_json gives it (indented by 4; with its
        branches emptied when it holds any), made already (the file-system store's journal line): the
        next call uses it for `step` instead of serialising it again. Kept until that call only."""
        self._offered[id(step)] = (step, body)

    def text(self, log: RunLog) -> str:
        """The JSON text of `log`, indented by 4, exactly as `log.model_dump_json(indent=4)`."""
        return b"".join(self.parts(log)).decode("utf-8")

    def parts(self, log: RunLog) -> list[bytes]:
        """The UTF-8 bytes of text(log), in parts to be written one after the other (os.writev): the long
        unchanged middle of a large run is not copied into one string at each call."""
        self.made = 0
        self.making = 0.0
        if self._whole and log.steps:
            # A process that takes up a run another wrote (a per-step process) writes it about twice: once
            # whole is cheaper than step by step (pydantic's one pass), so texts are kept from the third
            # write on
            self._whole -= 1
            self._offered = {}
            return [log.model_dump_json(indent=4).encode("utf-8")]
        # a run this process creates has no step at its first write: its run_config (the dag: the largest
        # part of the text at the start) is made once, there, and kept (it was made again at the third)
        self._whole = 0
        self._fresh = {}
        shell = log.model_copy(update={"steps": {}, "run_config": {}}).model_dump_json(indent=4)
        steps = _marker_end(shell, 1, "steps")
        config = _marker_end(shell, 1, "run_config")
        parts: list[bytes] = []
        out: list[str] = []  # text not yet encoded into parts
        (first, name1), (second, name2) = sorted([(steps, "steps"), (config, "run_config")])
        out.append(shell[:first])
        self._field(parts, out, log, name1)
        out.append(shell[first + 2 : second])
        self._field(parts, out, log, name2)
        out.append(shell[second + 2 :])
        parts.append("".join(out).encode("utf-8"))
        self._kept = self._fresh
        self._fresh = {}
        self._offered = {}
        return parts

    def _field(self, parts: list[bytes], out: list[str], log: RunLog, name: str) -> None:
        if name == "steps":
            self._steps(parts, out, log.steps)
            return
        config = log.run_config
        if self._config is None or self._config[0] is not config:
            start = time.perf_counter()
            only = log.model_copy(update={"steps": {}}).model_dump_json(indent=4, include={"run_config"})
            self._config = (config, only[len('{\n    "run_config": ') : -2].encode("utf-8"))
            self.made += 1
            self.making += time.perf_counter() - start
        parts.append("".join(out).encode("utf-8"))
        out.clear()
        parts.append(self._config[1])

    def _steps(self, parts: list[bytes], out: list[str], items: dict[str, Any]) -> None:
        """The run's top-level steps: the leading finished ones from their bytes, the rest entry by entry."""
        if not items:
            out.append("{}")
            return
        held = len(self._lead_steps)
        if held and not (
            held <= len(items)
            and list(islice(items, held)) == self._lead_keys
            and all(map(is_, islice(items.values(), held), self._lead_steps))
            and not any(self._lead_branches)
        ):  # a leading step was replaced (a stop, a re-run) or gained branches: make them all again
            self._lead_keys, self._lead_steps, self._lead_branches, self._lead_bytes = [], [], [], []
            held = 0
        out.append("{\n")
        parts.append("".join(out).encode("utf-8"))
        out.clear()
        parts.extend(self._lead_bytes)
        added: list[str] | None = []  # entries that join the leading finished steps (None: no more)
        last = len(items) - 1
        for i, (key, step) in enumerate(islice(items.items(), held, None), start=held):
            tail = ",\n" if i < last else "\n"
            if added is not None and i < last and not step.branches and step.status != "PROCESSING":
                self._entry(added, key, step, 2, "branches")
                added.append(tail)
                self._lead_keys.append(key)
                self._lead_steps.append(step)
                self._lead_branches.append(step.branches)
                continue
            if added:
                self._add_lead(parts, added)
            added = None
            self._entry(out, key, step, 2, "branches")
            out.append(tail)
        if added:
            self._add_lead(parts, added)
        out.append(_INDENT + "}")

    def _add_lead(self, parts: list[bytes], added: list[str]) -> None:
        chunk = "".join(added).encode("utf-8")
        parts.append(chunk)
        self._lead_bytes.append(chunk)
        if len(self._lead_bytes) > 64:  # few parts for writev (at most 1,024 a call)
            self._lead_bytes = [b"".join(self._lead_bytes)]

    def _container(self, out: list[str], items: dict[str, Any], depth: int, field: str) -> None:
        """A dict of step logs (field "branches": what each holds) or branch logs ("steps") whose key is
        at indentation `depth`."""
        if not items:
            out.append("{}")
            return
        out.append("{\n")
        last = len(items) - 1
        for i, (key, value) in enumerate(items.items()):
            self._entry(out, key, value, depth + 1, field)
            out.append(",\n" if i < last else "\n")
        out.append(_INDENT * depth + "}")

    def _entry(self, out: list[str], key: str, obj: Any, depth: int, field: str) -> None:
        kept = self._kept.get(id(obj))
        if kept is None or kept[0] is not obj or kept[1] != key or kept[2] != depth:
            kept = self._make(key, obj, depth, field)
        self._fresh[id(obj)] = kept
        nested = getattr(obj, field)
        text, at = kept[3], kept[4]
        if not nested:
            out.append(text)
            return
        out.append(text[:at])
        self._container(out, nested, depth + 1, _NESTED[field])
        out.append(text[at + 2 :])

    def _make(self, key: str, obj: Any, depth: int, field: str) -> tuple[Any, str, int, str, int]:
        start = time.perf_counter()
        self.made += 1
        offered = self._offered.pop(id(obj), None) if self._offered else None
        if offered is not None and offered[0] is obj and field == "branches":
            body = offered[1]
        else:
            shell = obj.model_copy(update={field: {}}) if getattr(obj, field) else obj
            # a step log: its JSON in one pass (models.run_log.step_json: the same text); a branch log:
            # pydantic's
            body = _step_json(shell) if field == "branches" else shell.model_dump_json(indent=4)
        body = body.replace("\n", "\n" + _INDENT * depth)
        text = _INDENT * depth + _json_key(key) + ": " + body
        kept = (obj, key, depth, text, _marker_end(text, depth + 1, field))
        self.making += time.perf_counter() - start
        return kept


def _step_json(step: Any) -> str:
    from magnus_core.models.run_log import step_json  # (models: imported once a log is written)

    return step_json(step)


def _json_key(key: str) -> str:
    """A dict key as pydantic writes it (its own encoder: the same escapes)."""
    global _to_json
    if _to_json is None:  # imported on first use: file_system is imported by listings that make no model
        from pydantic_core import to_json

        _to_json = to_json
    return _to_json(key).decode()


_to_json: Any = None


def _marker_end(text: str, depth: int, field: str) -> int:
    """Where the `{}` of field `field`, emptied, starts in `text`: the field's key right after a newline and
    `depth` indents (a key nested deeper has more spaces, a string holds no raw newline)."""
    marker = "\n" + _INDENT * depth + '"' + field + '": {}'
    at = text.index(marker)  # ValueError: not pydantic's indented form (a bug: tests check every shape)
    return at + len(marker) - 2
