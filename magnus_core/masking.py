"""Masking secret values: one streaming masker for every stream, one function for every recorded value.

What is masked (the same rule everywhere, as CI systems do it):
- every occurrence of a secret's value as a substring is replaced by `*****`; values shorter than
  `MIN_LENGTH` (4) characters are not masked (they would hide ordinary text);
- a value spanning several lines (an SSH key) is masked line by line: each of its lines is a pattern of its
  own, so no pattern holds a line break and output can be released at every line end;
- each line is also searched in the forms a program most often prints it: JSON-escaped, `repr`-escaped
  and percent-encoded, and each of those lower-cased and upper-cased (magnus itself lower-cases parameter
  and metric names, and upper-cases MAGNUS_PRM_<NAME> for shells);
- occurrences that overlap (two secrets sharing characters) are masked as one `*****`.

`StreamMasker` masks a stream written in arbitrary pieces, holding back only a tail that could still become
a secret (a suffix that is a prefix of some pattern, so at most the longest pattern's length minus one):
the output is the same however the stream was cut, the time is linear in its length, the memory bounded by
that tail. It works on `str` (python's sys.stdout) and on `bytes` (file descriptors, child processes).
"""

from __future__ import annotations

import contextlib
import datetime
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from magnus_core import jsonio as json
from magnus_core.errors import StepError

MASK = "*****"
MIN_LENGTH = 4

T = TypeVar("T", str, bytes)


def _forms(line: str) -> set[str]:
    """A secret's line and the escaped forms a program commonly prints it in."""
    forms = {line, json.dumps(line)[1:-1], json.dumps(line, ensure_ascii=False)[1:-1], repr(line)[1:-1]}
    forms.add(quote(line, safe=""))
    return forms


def expand(values: Iterable[str]) -> tuple[str, ...]:
    """The patterns for a set of secret values: each value's lines (so no pattern holds '\\n' or '\\r'),
    their escaped forms, and those lower- and upper-cased; MIN_LENGTH characters or more, longest first."""
    out: set[str] = set()
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            continue
        for line in value.splitlines():
            line = line.strip() if len(line.strip()) >= MIN_LENGTH else line
            if len(line) < MIN_LENGTH:
                continue
            for form in _forms(line):
                out.update((form, form.lower(), form.upper()))
    kept = (p for p in out if len(p) >= MIN_LENGTH and "\n" not in p)
    return tuple(sorted(kept, key=lambda p: (-len(p), p)))


class Patterns:
    """Compiled patterns, as text and as UTF-8 bytes, each with one Aho-Corasick automaton (ahocorasick-rs:
    one pass over the data whatever the number of patterns). `longest` bounds what a stream holds back."""

    def __init__(self, patterns: tuple[str, ...] = ()) -> None:
        self.text = patterns
        self.data = tuple(p.encode("utf-8") for p in patterns)
        self.longest = max(map(len, self.data), default=0)  # in bytes: bounds the text form too
        self._automata: dict[type, Any] = {}
        self._firsts: dict[type, tuple[re.Pattern[Any], dict[Any, tuple[Any, ...]]]] = {}
        self._json: Patterns | None = None

    @classmethod
    def of(cls, patterns: tuple[str, ...]) -> Patterns:
        return cls(patterns)

    def __bool__(self) -> bool:
        return bool(self.text)

    def get(self, kind: type[T]) -> tuple[T, ...]:
        return self.text if kind is str else self.data  # type: ignore[return-value]

    def automaton(self, kind: type) -> Any:
        automaton = self._automata.get(kind)
        if automaton is None:
            import ahocorasick_rs

            if kind is str:
                automaton = ahocorasick_rs.AhoCorasick(list(self.text))
            else:
                automaton = ahocorasick_rs.BytesAhoCorasick(list(self.data))
            self._automata[kind] = automaton
        return automaton

    def in_json(self) -> Patterns:
        """These patterns as a JSON string writes them: quotes, backslashes and control characters escaped
        as json.dumps and pydantic-core's to_json both escape them (`\\"`, `\\\\`, `\\n`, `\\u001f`; other
        characters as they are). A string holding a pattern holds it escaped in any JSON document the
        string is written in, so a document in which none of these occurs holds no secret (clean)."""
        found = self._json
        if found is None:
            forms = {json.dumps(p, ensure_ascii=False)[1:-1] for p in self.text}
            found = self._json = Patterns(tuple(sorted(forms, key=lambda p: (-len(p), p))))
        return found

    def firsts(self, kind: type[T]) -> tuple[re.Pattern[T], dict[T, tuple[T, ...]]]:
        """A regular expression matching any pattern's first character, and the patterns by it."""
        found = self._firsts.get(kind)
        if found is None:
            groups: dict[Any, list[Any]] = {}
            for p in self.get(kind):
                groups.setdefault(p[:1], []).append(p)
            alternatives = sorted(groups)
            chars = (c.decode("latin-1") if kind is bytes else c for c in alternatives)
            pattern: Any = "[" + "".join(re.escape(c) for c in chars) + "]"
            if kind is bytes:
                pattern = pattern.encode("latin-1")
            found = (re.compile(pattern), {k: tuple(v) for k, v in groups.items()})
            self._firsts[kind] = found
        return found


NO_PATTERNS = Patterns()


def _spans(data: T, patterns: Patterns, kind: type[T], stop: int) -> list[tuple[int, int]]:
    """(start, end) of every occurrence (overlapping ones included) of every pattern starting before
    `stop`, sorted."""
    try:
        found = patterns.automaton(kind).find_matches_as_indexes(data, overlapping=True)
        spans = [(start, end) for _, start, end in found if start < stop]
    except UnicodeEncodeError:  # text that is not valid Unicode (lone surrogates): search pattern by pattern
        spans = []
        for p in patterns.get(kind):
            i = data.find(p)
            while 0 <= i < stop:
                spans.append((i, i + len(p)))
                i = data.find(p, i + 1)
    spans.sort()
    return spans


def _undetermined(data: T, patterns: Patterns, kind: type[T]) -> int:
    """The first position from which the end of `data` could still grow into an occurrence (a suffix that
    is a proper prefix of some pattern); len(data) when there is none."""
    size = len(data)
    first, groups = patterns.firsts(kind)
    for match in first.finditer(data, max(0, size - patterns.longest + 1)):
        i = match.start()
        rest = data[i:]
        for p in groups[rest[:1]]:
            if len(p) > len(rest) and p.startswith(rest):
                return i
    return size


def mask_text(text: T, patterns: Patterns) -> T:
    """`text` with every occurrence of every pattern masked (overlapping ones as one mask)."""
    if not patterns or not text:
        return text
    masker = StreamMasker(lambda: patterns, type(text))
    return masker.feed(text, final=True)


class StreamMasker(Generic[T]):
    """Masks a stream written in pieces. `feed(piece)` returns what can be released now; `finish()`
    releases the rest. The released text is identical to mask_text() of the whole stream, however it was
    cut; each piece is scanned once (one automaton for all patterns), plus the held-back tail.

    `patterns` is called at each feed, so values that become known during a stream are masked from then
    on. Not thread-safe: callers serialise feeds (the seam holds one lock per stream).
    """

    def __init__(self, patterns: Callable[[], Patterns], kind: type[T]) -> None:
        self._patterns = patterns
        self._kind: type[T] = kind
        self._mask: T = MASK if kind is str else MASK.encode()  # type: ignore[assignment]
        self._empty: T = kind()
        self._hold: T = self._empty  # not released yet, or released as part of a mask (the first _covered)
        self._covered = 0
        self.scanned = 0  # characters searched so far, summed over patterns (the linear-time test reads it)
        self.held = 0  # the most ever held back

    @property
    def pending(self) -> int:
        """How many characters are held back (not released yet)."""
        return len(self._hold) - self._covered

    def feed(self, piece: T, *, final: bool = False) -> T:
        patterns = self._patterns()
        data = self._hold + piece if self._hold else piece
        if not patterns:
            covered = self._covered
            self._hold, self._covered = self._empty, 0
            return data[covered:] if covered else data
        if not self._covered and patterns.firsts(self._kind)[0].search(data) is None:
            self._hold = self._empty  # no pattern can start here: release it all (the common small write)
            self.scanned += len(data)
            return data
        cut = len(data) if final else _undetermined(data, patterns, self._kind)
        self.scanned += len(data)
        out: list[T] = []
        pos = covered = self._covered  # [0, covered) was released inside a mask already
        for start, end in _spans(data, patterns, self._kind, cut):
            if start < covered:  # overlaps the mask just written: extend it
                covered = max(covered, end)
                pos = covered
                continue
            out.append(data[pos:start])
            out.append(self._mask)
            pos = covered = end
        if pos < cut:
            out.append(data[pos:cut])
            pos = cut
        keep_from = min(cut, len(data))
        self._hold = data[keep_from:]
        self._covered = max(0, covered - keep_from)
        if final:
            self._hold, self._covered = self._empty, 0
        self.held = max(self.held, len(self._hold) - self._covered)
        return self._empty.join(out)

    def finish(self) -> T:
        return self.feed(self._empty, final=True)


# -- recorded values ---------------------------------------------------------------------------------------
class MaskCollisionError(StepError):
    """Two keys of a mapping become the same key once secret values are masked."""


def mask_value(value: Any, patterns: Patterns, *, where: str = "value", strict: bool = True) -> Any:
    """A copy of `value` with every secret masked, the same object when nothing changed.

    Walks str, bytes/bytearray (masked as UTF-8 bytes, type kept), dict (keys too), list, tuple, set,
    frozenset and pydantic models (fields and extra fields); numbers, booleans, times (datetime, date, time,
    timedelta) and None are kept; any other object is kept unless its str() holds a secret, then it becomes
    that masked str. Raises
    MaskCollisionError (a StepError) when two keys of one mapping become equal once masked (`where` names
    the value in the message, which never holds a secret); with `strict=False` the last of them is kept.
    """
    if not patterns:
        return value
    if value is not None and value.__class__ not in _SCALARS and clean(value, patterns):
        return value  # (what is recorded usually holds no secret: one search of its text, no walk)
    return _walk(value, patterns, where if strict else None)


_SCALARS = (str, bool, int, float)  # (the walk's one search, or nothing to do)


def clean(value: Any, patterns: Patterns) -> bool:
    """Whether mask_value would give `value` back as it is, told by one search of a JSON text of
    everything the walk looks at (Patterns.in_json: every pattern as JSON escapes it) instead of the walk
    itself: a store masks every write of a run with secrets (a step's log at its commit, ~37 us walked,
    ~8 us so), and with a credential in the environment every run has one. The text holds each string and
    dict key as JSON writes it, and what the walk reads of anything else (_as_walked); False when it holds
    a secret, or cannot be written (a key of no JSON type, lone surrogates, bytes that are not UTF-8, a
    cycle): the walk then decides."""
    try:
        text = "".join(_ENCODER(value, 0)) if _ENCODER is not None else _dumps(value)
        return not patterns.in_json().automaton(str).find_matches_as_indexes(text)
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        return False


def _as_walked(value: Any) -> Any:
    """What the walk reads of an object JSON has no form for: a pydantic model's fields and extra fields
    (their names too: a name that holds a secret only sends the value to the walk), bytes as UTF-8
    (undecodable bytes as lone surrogates, which the search refuses), a set's items, anything else's str()."""
    if value.__class__ in _TIMES:
        return None  # kept by the walk, as numbers are
    if isinstance(value, _model_class()):
        extra = getattr(value, "__pydantic_extra__", None)
        return [value.__dict__, extra] if extra else value.__dict__
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


_MODEL: list[type] = []
_TIMES = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)


def _model_class() -> type:
    """pydantic's BaseModel, imported when first needed (masking is imported where no model is)."""
    if not _MODEL:
        from pydantic import BaseModel

        _MODEL.append(BaseModel)
    return _MODEL[0]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_as_walked, check_circular=False)


_MAKE = getattr(json.encoder, "c_make_encoder", None)  # (the C encoder json.dumps uses, without its layers)
_STRING = getattr(json.encoder, "c_encode_basestring", None)
# (markers None: no cycle check, a cycle is a RecursionError; default; the string encoder of
# ensure_ascii=False; indent; separators; sort_keys, skipkeys; allow_nan)
_ENCODER = _MAKE(None, _as_walked, _STRING, None, ":", ",", False, False, True) if _MAKE and _STRING else None


def _walk(value: Any, patterns: Patterns, where: str | None) -> Any:
    if isinstance(value, str):
        return _mask_scalar(value, patterns)
    if value is None or isinstance(value, (bool, int, float)) or value.__class__ in _TIMES:
        return value  # (a time is a number: masking its text would make it text, and no secret is one)
    if isinstance(value, bytes):
        return _mask_scalar(value, patterns)
    if isinstance(value, bytearray):
        masked = _mask_scalar(bytes(value), patterns)
        return value if masked == value else bytearray(masked)
    if isinstance(value, dict):
        return _walk_dict(value, patterns, where)
    if isinstance(value, (list, tuple)):
        items = [_walk(v, patterns, where) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else _rebuild(value, items)
    if isinstance(value, (set, frozenset)):
        items = [_walk(v, patterns, where) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return _walk_model(value, patterns, where)
    shown = str(value)
    masked_text = _mask_scalar(shown, patterns)
    return value if masked_text is shown else masked_text


def _rebuild(original: tuple[Any, ...], items: list[Any]) -> tuple[Any, ...]:
    if hasattr(original, "_fields"):  # a namedtuple
        return type(original)(*items)
    return tuple(items)


def _walk_dict(value: dict[Any, Any], patterns: Patterns, where: str | None) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    changed = False
    for key, item in value.items():
        new_key = _walk(key, patterns, where)
        new_item = _walk(item, patterns, where)
        changed = changed or new_key is not key
        if new_key in out and where is not None:
            raise MaskCollisionError(
                f"{where}: two keys become {new_key!r} once secret values are masked; rename them so "
                "that a key does not hold a secret"
            )
        changed = changed or new_item is not item
        out[new_key] = new_item
    return out if changed else value


def _walk_model(value: Any, patterns: Patterns, where: str | None) -> Any:
    update: dict[str, Any] = {}
    for name, item in value.__dict__.items():
        new = _walk(item, patterns, where)
        if new is not item:
            update[name] = new
    extra = value.__pydantic_extra__ or {}
    new_extra = {k: _walk(v, patterns, where) for k, v in extra.items()}
    extra_changed = any(new_extra[k] is not v for k, v in extra.items())
    if not update and not extra_changed:
        return value
    copy = value.model_copy(update=update)
    if extra_changed:
        copy.__pydantic_extra__ = new_extra
    return copy


def _mask_scalar(value: T, patterns: Patterns) -> T:
    """A str or bytes masked; the very same object when nothing in it is a secret."""
    if len(value) < MIN_LENGTH:
        return value
    try:  # most recorded values hold no secret: one search, no stream masker made (a run walks thousands)
        if not patterns.automaton(type(value)).find_matches_as_indexes(value):
            return value
    except UnicodeEncodeError:  # lone surrogates: mask_text searches pattern by pattern
        pass
    masked = mask_text(value, patterns)
    return value if masked == value else masked


class Masker:
    """The secret values of one run (or one process), compiled into patterns when they change.

    `source` returns a version and the values (a secrets provider's `version` and `values()`), or a
    function giving them (called only when the version changed: a stream asks for the patterns at every
    block it masks); the patterns are rebuilt only when the version changes. Streams and recorded values
    use the same patterns.

    `held()` lets one thread mask many values with the patterns of one moment (see there).
    """

    def __init__(self, source: Callable[[], tuple[Any, Any]]) -> None:
        self.source = source
        self._cache: tuple[Any, Patterns] | None = None
        self._held: dict[int, Patterns] = {}  # thread ident -> the patterns it holds (held())

    def values(self) -> Iterable[str]:
        """The secret values now (what `source` gives, called if it is a function)."""
        values = self.source()[1]
        return values() if callable(values) else values

    def patterns(self) -> Patterns:
        if self._held:
            held = self._held.get(threading.get_ident())
            if held is not None:
                return held
        version, values = self.source()
        cache = self._cache
        if cache is None or cache[0] != version:
            cache = (version, Patterns.of(expand(tuple(values() if callable(values) else values))))
            self._cache = cache
        return cache[1]

    def held(self) -> contextlib.AbstractContextManager[None]:
        """Inside, this thread's maskings use the patterns as they are on entry, without asking the source
        for its version again: a step's bookkeeping masks its message, inputs, metrics, returned and run
        parameters and its store writes (seven maskings per step), and a provider that watches for the
        secrets child processes ask for (secrets.BaseSecrets.version) looks at a file each time it is
        asked. Hold only where no new secret can appear: after a step's command has returned, every secret
        it or its children were given is already known (a child names the secret before it gets its value),
        and the bookkeeping gets none. Other threads are not affected; nested holds keep the outer one.
        (A plain object, not a generator: two are made per step.)"""
        return _Hold(self)

    def __bool__(self) -> bool:
        return bool(self.patterns())

    def text(self, text: str) -> str:
        """A message with every secret masked (lower-cased forms too)."""
        return _mask_scalar(text, self.patterns()) if text else text

    def value(self, value: Any, *, where: str = "value", strict: bool = True) -> Any:
        """mask_value() with this run's secrets."""
        return mask_value(value, self.patterns(), where=where, strict=strict)

    def clean_json(self, text: str) -> bool:
        """Whether JSON text `text` holds none of this run's secrets, told by one search for each as a JSON
        string writes it (Patterns.in_json, as `clean` searches the text of a value): True when there is
        none, so the values it was written from are kept as they are by mask_value. False for a text the
        search cannot take (lone surrogates): masking its values then decides."""
        patterns = self.patterns()
        if not patterns:
            return True
        try:
            return not patterns.in_json().automaton(str).find_matches_as_indexes(text)
        except UnicodeEncodeError:
            return False

    def changed(self, mapping: dict[str, Any], *, where: str = "value") -> tuple[dict[str, Any], list[str]]:
        """The mapping masked, and the (masked) names of the entries whose name or value masking changed."""
        masked = mask_value(mapping, self.patterns(), where=where)
        if masked is mapping:
            return mapping, []
        names = []
        for key, item in mapping.items():
            new_key = _walk(key, self.patterns(), where)
            if new_key is not key or masked.get(new_key) is not item:
                names.append(new_key)
        return masked, names

    def stream(self, kind: type[T]) -> StreamMasker[T]:
        return StreamMasker(self.patterns, kind)


class _Hold:
    """Masker.held(): the patterns of entry kept for this thread until exit (the outermost hold only)."""

    __slots__ = ("ident", "masker")

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.ident: int | None = None  # set when this hold is the thread's outermost

    def __enter__(self) -> None:
        ident = threading.get_ident()
        held = self.masker._held
        if ident not in held:
            held[ident] = self.masker.patterns()
            self.ident = ident

    def __exit__(self, *exc: object) -> None:
        if self.ident is not None:
            del self.masker._held[self.ident]
            self.ident = None


def masker_of(secrets: Any) -> Masker:
    """The masker for a secrets provider (anything with `values()` and `version`)."""
    return Masker(lambda: (secrets.version, secrets.values))


def fixed(values: Iterable[str]) -> Masker:
    """A masker of fixed values (tests, child processes)."""
    frozen = tuple(values)
    return Masker(lambda: (0, frozen))
