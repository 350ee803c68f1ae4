"""The loader's quick path for plain YAML (loading._plain_load: data built from libyaml's events, without
PyYAML's node graph) gives exactly what the loader gives, or steps aside: random documents mixing every
kind of scalar YAML 1.2 types (and the ones it does not: `yes`, `010`, dates, `1:30`), quoted and plain,
keys such as `no`, `<<`, `true`, duplicates, anchors, aliases, merges, tags, complex keys, block and flow
style, several documents, malformed text and refused numbers. For each: either _plain_load refuses
(_NotPlain) or yaml.load with the same loader succeeds with equal data (types, key order and NaN
included). MAGNUS_YAML_EXAMPLES sets how many documents per loader (CI default 400)."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from magnus_core import loading
from magnus_core.errors import UsageError
from magnus_core.loading import TextLoader, TypedTextLoader, Yaml12Loader, _NotPlain, _plain_load, read_yaml

EXAMPLES = int(os.environ.get("MAGNUS_YAML_EXAMPLES", "400"))

SCALARS = [
    "1", "-2", "+3", "010", "0o17", "0x1F", "0b101", "1_000", "1.5", "-1.5e3", "1e3", ".5", "5.", ".inf", "-.inf",
    "+.inf", ".nan", ".NaN", "true", "True", "TRUE", "false", "yes", "no", "on", "off", "y", "n", "null", "Null",
    "~", "2024-01-31", "2024-01-31 10:00:00", "1:30", "abc", "a b", "é ☃", "'quoted'", '"double"', "'1'",
    '"true"', '"a\\tb"', "''", '""', "'it''s'", "12345678901234567890123456789012345678901234567890",
    "1" * 4400, "!!str 1", "!!int '3'", "!!binary aGk=", "! x", "&anchor 7", "*anchor", "-", "x: y",
    "[unclosed", "'unclosed", "@reserved", "%", "#comment",
]  # fmt: skip
KEYS = [
    "a",
    "b",
    "c",
    "no",
    "yes",
    "1",
    "true",
    "null",
    "~",
    "<<",
    "'<<'",
    "'a'",
    '"b"',
    "x y",
    "[1, 2]",
    "{a: 1}",
]


def flow(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(SCALARS)
    if roll < 0.75:
        items = [flow(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return "[" + ", ".join(items) + "]"
    pairs = [f"{rng.choice(KEYS)}: {flow(rng, depth + 1)}" for _ in range(rng.randint(0, 3))]
    prefix = rng.choice(["", "", "", "&m ", "!!map "])
    return prefix + "{" + ", ".join(pairs) + "}"


def block(rng: random.Random, depth: int, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if rng.random() < 0.6:
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(KEYS)
            if depth < 3 and rng.random() < 0.4:
                lines.append(f"{pad}{key}:{rng.choice(['', '', ' &b', ' !!map'])}")
                lines += block(rng, depth + 1, indent + 2)
            else:
                lines.append(f"{pad}{key}: {flow(rng, depth + 1)}")
        if rng.random() < 0.1:
            lines.append(f"{pad}<<: *b")
    else:
        for _ in range(rng.randint(1, 4)):
            if depth < 3 and rng.random() < 0.4:
                lines.append(f"{pad}-")
                lines += block(rng, depth + 1, indent + 2)
            else:
                lines.append(f"{pad}- {flow(rng, depth + 1)}")
    return lines


def document(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(["", "# only a comment\n", "---\n", "--- 3\n", "a: 1\n---\nb: 2\n", "...\n"])
    if roll < 0.25:
        return flow(rng, 0) + "\n"
    return "\n".join(block(rng, 0, 0)) + "\n"


def same(a: Any, b: Any) -> bool:
    """Equal data, key order, NaN and types included (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@pytest.mark.parametrize("loader", [Yaml12Loader, TypedTextLoader, TextLoader], ids=lambda c: c.__name__)
def test_the_quick_path_gives_the_loaders_data_or_steps_aside(loader: type) -> None:
    rng = random.Random(f"plain-yaml-{loader.__name__}")
    quick = 0
    for _ in range(EXAMPLES):
        text = document(rng)
        try:
            got = _plain_load(text, loader)
        except _NotPlain:
            continue
        quick += 1
        expected = yaml.load(text, Loader=loader)  # must not raise: the quick path took it
        assert same(got, expected), text
    assert EXAMPLES < 50 or quick > EXAMPLES // 10, f"the quick path took only {quick} documents"


def test_a_large_plain_pipeline_takes_the_quick_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["dag:", "  start_at: s0", "  steps:"]
    for i in range(300):
        lines += [
            f"    s{i}:",
            "      type: task",
            "      command: m.f",
            f"      next: s{i + 1}",
            "      retry: 2",
        ]
    path = tmp_path / "p.yaml"
    path.write_text("\n".join(lines) + "\n")

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the loader's full composition was used")

    expected = yaml.load(path.read_text(), Loader=Yaml12Loader)
    monkeypatch.setattr(loading.yaml, "load", refused)
    assert same(read_yaml(path), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: " + "1" * 4400 + "\n", "a number with more than"),
        ("a: [1\n", "malformed YAML"),
        ("a: 1\n---\nb: 2\n", "another document"),
    ],
)
def test_what_the_quick_path_refuses_is_said_by_the_loader(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_yaml(path)


def test_another_loader_is_left_to_itself(tmp_path: Path) -> None:
    """PyYAML's own loaders type keys (`1: a` is {1: 'a'}) and read YAML 1.1: the quick path is ours only."""
    with pytest.raises(_NotPlain):
        _plain_load("1: a\n", yaml.SafeLoader)
    path = tmp_path / "p.yaml"
    path.write_text("1: yes\n")
    assert read_yaml(path, loader=yaml.SafeLoader) == {1: True}
    assert read_yaml(path) == {"1": "yes"}
