"""dag_hash: SHA1 of the dag block as sorted-key JSON, stable across key order and comments."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from magnus_core.loading import dag_hash, load_pipeline
from tests.conftest import FIXTURES

PLAIN = """dag:
  start_at: a
  description: hash me
  steps:
    a: {type: task, command: m.f, next: b, retry: 2}
    b: {type: as-is, next: success}
    success: {type: success}
    fail: {type: fail}
"""

REORDERED = """# the same dag, keys in another order, with comments and flow/block styles mixed
dag:
  steps:
    fail: {type: fail}        # the fail node
    success:
      type: success
    b:
      next: success
      type: as-is
    a:
      retry: 2
      next: b
      command: m.f
      type: task
  description: hash me        # same text
  start_at: a
run_log_store: {type: buffered}   # config blocks are not part of the dag
"""


def test_same_dag_same_hash_whatever_key_order_and_comments(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PLAIN)
    (tmp_path / "b.yaml").write_text(REORDERED)
    assert load_pipeline(tmp_path / "a.yaml").dag_hash == load_pipeline(tmp_path / "b.yaml").dag_hash


def test_any_change_changes_the_hash(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PLAIN)
    (tmp_path / "b.yaml").write_text(PLAIN.replace("retry: 2", "retry: 3"))
    assert load_pipeline(tmp_path / "a.yaml").dag_hash != load_pipeline(tmp_path / "b.yaml").dag_hash


def test_the_hash_is_sha1_of_sorted_json() -> None:
    block = {"start_at": "a", "steps": {"a": {"type": "success"}}, "description": "é"}
    expected = hashlib.sha1(json.dumps(block, sort_keys=True, ensure_ascii=True).encode()).hexdigest()
    assert dag_hash(block) == expected
    assert dag_hash(dict(reversed(list(block.items())))) == expected


def test_equals_the_original_tools_hash() -> None:
    # The original (0.3.12, buffered store) wrote 670ff1a7... for this file (peer-runs/s01 README).
    path = FIXTURES / "peer-runs" / "s01-getting-started" / "getting-started.yaml"
    assert load_pipeline(path).dag_hash == "670ff1a7e1d99440451144c1c119d2f906640405"
    original = json.loads(
        (FIXTURES / "peer-runs" / "s01-getting-started" / "runlog-buffered-from-stdout.json").read_text()
    )
    assert original["dag_hash"] == "670ff1a7e1d99440451144c1c119d2f906640405"


def test_placeholders_are_applied_before_hashing(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PLAIN.replace("m.f", "'${module}.f'"))
    (tmp_path / "b.yaml").write_text(PLAIN)
    assert (
        load_pipeline(tmp_path / "a.yaml", {"module": "m"}).dag_hash
        == load_pipeline(tmp_path / "b.yaml").dag_hash
    )
