"""A branch's fail node run by hand (session 9, fault 4): `magnus execute_single_node R each.b.fail`, what
Argo's pod of a map item's fail node runs, said `each.b.fail: the fail node: run R ended FAIL` although only
that branch ended (the spec's fail node "ends the (sub)graph"; the run goes on at the map's fan-in, which
decides the map and takes its on_failure). Now it says the branch ended FAIL, not the run, with the fan-in's
command as typed; the dag's own fail node still says the run ended FAIL; run again, a fail node says what
it already ended (its log says SUCCESS, the original's format, and it read `already succeeded`). Exit 1
throughout, as Argo routes on it. Real subprocesses in a temporary git repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

STEPS = """
def work(item):
    print(f"work {item}")
    if item == "b":
        raise ValueError(f"bad item {item}")
"""

PIPELINE = """
dag:
  start_at: each
  steps:
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      on_failure: fail
      branch:
        start_at: w
        steps:
          w: {type: task, command: steps.work, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

BASE = ("-f", "pipes/p.yaml", "-c", "pod.yaml")


def test_a_branchs_fail_node_says_the_branch_ended_not_the_run(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "pipes").mkdir()
    (git_repo / "pipes" / "p.yaml").write_text(PIPELINE)
    (git_repo / "params.yaml").write_text("items: [a, b]\n")
    (git_repo / "pod.yaml").write_text("run_log_store: {type: chunked-fs, config: {log_folder: runs}}\n")

    def step(name: str, item: str | None = None) -> Any:
        items = ("--map-variable", f'{{"item": "{item}"}}') if item else ()
        return magnus("execute_single_node", "r", name, *items, *BASE)

    assert magnus("fan", "r", "each", "--mode", "out", *BASE, "-p", "params.yaml").returncode == 0
    assert step("each.map_variable_placeholder.w", "a").returncode == 0
    assert step("each.map_variable_placeholder.success", "a").returncode == 0
    assert step("each.map_variable_placeholder.w", "b").returncode == 1
    ended = step("each.map_variable_placeholder.fail", "b")
    assert ended.returncode == 1
    assert "run r ended FAIL" not in ended.stderr, ended.stderr
    fan_in = "magnus fan r each --mode in --file pipes/p.yaml --config-file pod.yaml"
    assert ended.stderr == (
        "magnus: each.b.fail: the fail node of branch each.b: the branch ended FAIL, not the run; once its "
        f"branches have ended, `{fan_in}` decides each\n"
    )
    (said,) = re.findall(r"`(magnus [^`]*)`", ended.stderr)
    decided = magnus(*shlex.split(said)[1:])  # the fan-in, as typed: the map fails, the run goes on
    assert decided.returncode == 1 and "each: 1 of 2 branches failed: each.b" in decided.stderr, (
        decided.stderr
    )
    shown = magnus("show", "r", "-c", "pod.yaml").stdout
    assert shown.startswith("Run r: PER-STEP (PROCESSING)"), shown  # not ended

    again = step("each.map_variable_placeholder.fail", "b")
    assert again.returncode == 1
    assert (
        again.stderr
        == "magnus: each.b.fail: the fail node already ended branch each.b FAIL in run r: not run again\n"
    )

    final = step("fail")  # the map's on_failure: the dag's own fail node ends the run
    assert final.returncode == 1 and final.stderr == "magnus: fail: the fail node: run r ended FAIL\n"
    assert magnus("show", "r", "-c", "pod.yaml").stdout.startswith("Run r: FAIL")
    again = step("fail")
    assert again.returncode == 1
    assert again.stderr == "magnus: fail: the fail node already ended run r FAIL: not run again\n"
