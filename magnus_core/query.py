"""The run filter language: MLflow's search syntax, as `magnus runs --where` and `magnus compare` take it.

    metrics.auc > 0.9 and params.lr = 0.1 and tag = 'exp1'
    attributes.status = 'FAIL' or (metrics.train.loss < 0.2 and params.optimizer like 'ad%')
    params.lr in (0.1, 0.01) and metrics.auc is not null

A key is `metrics.<name>` (a run's metric: the value recorded by the last step, in execution order, that
tracked it; `metrics.<step>.<name>` one step's value, by the step's internal name), `params.<name>` (the run's
final parameters), `attributes.<name>` (see ATTRIBUTES) or `tag` (the run's `--tag`). Names with spaces or
dots are quoted in backticks or double quotes: metrics.`train model.loss`. Operators: = != <> < <= > >=,
LIKE and ILIKE (`%` any text, `_` one character; LIKE is case-sensitive), IN (...), NOT IN (...),
IS NULL, IS NOT NULL (the run has no such value). AND binds tighter than OR; parentheses group.
Keywords are case-insensitive. Unlike MLflow, `params.x` compares numbers as numbers when the recorded value
is a number (MLflow keeps every parameter as text), and OR and parentheses are allowed.

Parsing gives a small tree (Compare, BoolOp) that a run index turns into its own query (SQL for SQLite and
PostgreSQL); `parse_filter` and `parse_order_by` raise FilterError (a UsageError, exit 2) naming the column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from magnus_core.errors import UsageError

# attribute name -> (column kind, accepted spellings)
ATTRIBUTES: dict[str, str] = {
    "run_id": "text",
    "status": "status",
    "tag": "text",
    "pipeline": "text",
    "dag_hash": "text",
    "start": "time",
    "end": "time",
    "duration": "number",
    "steps": "number",
    "steps_done": "number",
    "original_run_id": "text",
    "commit": "text",
    "dirty": "bool",
    "use_cached": "bool",
    "failed_step": "text",
    "failure": "text",
    "user": "text",
    "driven": "text",
}
ALIASES = {
    "run_name": "run_id",
    "id": "run_id",
    "start_time": "start",
    "end_time": "end",
    "rerun_of": "original_run_id",
    "re_run_of": "original_run_id",
    "state": "status",
    "steps_total": "steps",
    "dag_file": "pipeline",
    "user_id": "user",  # (MLflow's name for who ran a run)
    "user_name": "user",
}
_KINDS = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "parameter": "param",
    "attributes": "attr",
    "attribute": "attr",
    "attr": "attr",
    "run": "attr",
}
KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false", "asc", "desc"}


class FilterError(UsageError):
    """A filter or order that does not parse: the message names the option, the column and what was found."""

    def __init__(self, option: str, text: str, column: int, what: str) -> None:
        self.column = column
        self.text = text
        near = text[max(column - 1, 0) : column + 19]
        found = f" at '{near}'" if near.strip() else " at the end"
        super().__init__(f"{option} {text!r}: column {column}{found}: {what}")


@dataclass(frozen=True)
class Key:
    """What a filter or an order names: kind 'param', 'metric' or 'attr', and the name."""

    kind: Literal["param", "metric", "attr"]
    name: str

    @property
    def label(self) -> str:
        prefix = {"param": "params", "metric": "metrics", "attr": "attributes"}[self.kind]
        name = self.name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", self.name) else f"`{self.name}`"
        return f"{prefix}.{name}"


@dataclass(frozen=True)
class Compare:
    """`key op value`: op is one of = != < <= > >= like ilike in notin isnull notnull; value a number, a
    string, a bool, a tuple of those (in, notin) or None (isnull, notnull)."""

    key: Key
    op: str
    value: Any
    column: int = 0


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Expr, ...]


Expr = Compare | BoolOp


@dataclass(frozen=True)
class OrderKey:
    key: Key
    descending: bool = False


@dataclass(frozen=True)
class _Token:
    kind: str  # word, string, qname, number, op, lparen, rparen, comma, dot, end
    text: str
    value: Any
    column: int  # 1-based


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?<![A-Za-z0-9_`\"])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<qname>`[^`]*`|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)


def _tokens(text: str, option: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"`":
                raise FilterError(option, text, pos + 1, f"the quote {text[pos]} is never closed")
            raise FilterError(option, text, pos + 1, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind != "space":
            value: Any = raw
            if kind == "number":
                value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            elif kind == "string":
                value = raw[1:-1].replace("''", "'").replace("\\'", "'").replace("\\\\", "\\")
            elif kind == "qname":
                value = raw[1:-1].replace('\\"', '"')
            out.append(_Token(kind, raw, value, pos + 1))
        pos = match.end()
    out.append(_Token("end", "", None, len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str, option: str) -> None:
        self.text = text
        self.option = option
        self.tokens = _tokens(text, option)
        self.i = 0

    # -- helpers -------------------------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def fail(self, what: str, tok: _Token | None = None) -> FilterError:
        tok = tok or self.tok
        return FilterError(self.option, self.text, tok.column, what)

    # -- grammar -------------------------------------------------------------------------------------
    def expression(self) -> Expr:
        items = [self.conjunction()]
        while self.is_word("or"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self) -> Expr:
        items = [self.primary()]
        while self.is_word("and"):
            self.next()
            items.append(self.primary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def primary(self) -> Expr:
        if self.tok.kind == "lparen":
            opening = self.next()
            inner = self.expression()
            if self.tok.kind != "rparen":
                raise self.fail(f"expected ')' to close the '(' at column {opening.column}")
            self.next()
            return inner
        return self.comparison()

    def key(self) -> Key:
        tok = self.tok
        if tok.kind == "end":
            raise self.fail("expected a key such as metrics.auc, params.lr, tag or attributes.status")
        if tok.kind not in ("word", "qname") or (tok.kind == "word" and tok.text.lower() in KEYWORDS):
            raise self.fail(
                f"expected a key such as metrics.auc, params.lr, tag or attributes.status, found {tok.text!r}"
            )
        self.next()
        head = str(tok.value)
        if tok.kind == "word" and self.tok.kind == "dot":
            kind = _KINDS.get(head.lower())
            if kind is None:
                if head.lower() == "tags":
                    raise self.fail("a run has one tag: write tag = '...' (tags.<name> is MLflow's)", tok)
                raise self.fail(
                    f"unknown kind {head!r}: use metrics.<name>, params.<name> or attributes.<name>", tok
                )
            self.next()
            parts = [self.name_part()]
            while self.tok.kind == "dot":
                self.next()
                parts.append(self.name_part())
            name = ".".join(parts)
            if kind == "attr":
                return Key("attr", self._attribute(name, tok))
            return Key(kind, name)  # type: ignore[arg-type]
        if tok.kind == "word":
            return Key("attr", self._attribute(head, tok))
        raise self.fail("a quoted name needs its kind before it: metrics.`name` or params.`name`", tok)

    def name_part(self) -> str:
        tok = self.tok
        if tok.kind in ("word", "qname") or (tok.kind == "number" and isinstance(tok.value, int)):
            self.next()
            return str(tok.value) if tok.kind != "number" else tok.text
        raise self.fail("expected a name after '.'")

    def _attribute(self, name: str, tok: _Token) -> str:
        lowered = ALIASES.get(name.lower(), name.lower())
        if lowered not in ATTRIBUTES:
            import difflib

            near = difflib.get_close_matches(lowered, [*ATTRIBUTES, *ALIASES], n=3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise self.fail(
                f"unknown attribute {name!r}{hint}; attributes are {', '.join(ATTRIBUTES)}; "
                "metrics and parameters are metrics.<name> and params.<name>",
                tok,
            )
        return lowered

    def literal(self, op_text: str) -> Any:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.next()
            if isinstance(tok.value, float) and not math.isfinite(tok.value):
                raise self.fail("the number is too large", tok)
            return tok.value
        if self.is_word("true", "false"):
            self.next()
            return tok.text.lower() == "true"
        if tok.kind == "qname" and tok.text.startswith('"'):
            self.next()  # MLflow accepts "double quoted" values too
            return tok.value
        found = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        raise self.fail(f"expected a number or a quoted string after {op_text!r}, found {found}")

    def comparison(self) -> Compare:
        start = self.tok
        key = self.key()
        tok = self.tok
        negate = False
        if self.is_word("not"):
            self.next()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.fail("expected IN, LIKE or ILIKE after NOT")
        if self.is_word("is"):
            self.next()
            is_not = False
            if self.is_word("not"):
                self.next()
                is_not = True
            if not self.is_word("null"):
                raise self.fail("expected NULL after IS")
            self.next()
            return Compare(key, "notnull" if is_not else "isnull", None, start.column)
        if self.is_word("in"):
            self.next()
            if self.tok.kind != "lparen":
                raise self.fail("expected '(' after IN: params.x in (1, 2)")
            self.next()
            values = [self.literal("(")]
            while self.tok.kind == "comma":
                self.next()
                values.append(self.literal(","))
            if self.tok.kind != "rparen":
                raise self.fail("expected ',' or ')' in the list")
            self.next()
            return Compare(key, "notin" if negate else "in", tuple(values), start.column)
        if self.is_word("like", "ilike"):
            op = self.next().text.lower()
            value = self.literal(op.upper())
            if not isinstance(value, str):
                raise self.fail(f"{op.upper()} takes a quoted pattern such as 'ad%'", self.tokens[self.i - 1])
            return Compare(key, f"not{op}" if negate else op, value, start.column)
        if tok.kind != "op":
            found = "the end of the filter" if tok.kind == "end" else repr(tok.text)
            raise self.fail(
                f"expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) after "
                f"{key.label}, found {found}"
            )
        self.next()
        op = {"==": "=", "<>": "!="}.get(tok.text, tok.text)
        value = self.literal(tok.text)
        if key.kind == "attr" and ATTRIBUTES[key.name] in ("time",) and not isinstance(value, str):
            raise self.fail(
                f"attributes.{key.name} is a time: compare it with a quoted time such as '2026-01-31 12:00'",
                self.tokens[self.i - 1],
            )
        return Compare(key, op, value, start.column)


def parse_filter(text: str, option: str = "--where") -> Expr | None:
    """The tree of a filter; None for an empty one. FilterError (exit 2) names the column of a mistake."""
    if not text or not text.strip():
        return None
    parser = _Parser(text, option)
    expr = parser.expression()
    if parser.tok.kind != "end":
        tok = parser.tok
        what = (
            "unbalanced ')'"
            if tok.kind == "rparen"
            else f"expected AND, OR or the end of the filter, found {tok.text!r}"
        )
        raise parser.fail(what)
    return expr


def parse_key(text: str, option: str = "--by") -> Key:
    """One key (`metrics.auc`, `params.lr`, `tag`, `attributes.start`)."""
    parser = _Parser(text.strip(), option)
    key = parser.key()
    if parser.tok.kind != "end":
        raise parser.fail(f"expected one key such as metrics.auc, found {parser.tok.text!r}")
    return key


def parse_order_by(text: str, option: str = "--order-by") -> list[OrderKey]:
    """`metrics.auc DESC, params.lr` -> keys with their direction (ascending unless DESC)."""
    if not text or not text.strip():
        return []
    parser = _Parser(text, option)
    out: list[OrderKey] = []
    while True:
        key = parser.key()
        descending = False
        if parser.is_word("asc", "desc"):
            descending = parser.next().text.lower() == "desc"
        out.append(OrderKey(key, descending))
        if parser.tok.kind == "comma":
            parser.next()
            continue
        if parser.tok.kind != "end":
            raise parser.fail(f"expected ASC, DESC, ',' or the end, found {parser.tok.text!r}")
        return out


def keys_of(expr: Expr | None) -> list[Compare]:
    """Every comparison in a filter, left to right."""
    if expr is None:
        return []
    if isinstance(expr, Compare):
        return [expr]
    return [c for item in expr.items for c in keys_of(item)]


def like_to_regex(pattern: str) -> str:
    """SQL LIKE (`%` any run of characters, `_` one character, `\\` escapes) as a full-match regex."""
    out = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)
