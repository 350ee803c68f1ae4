"""Every failure a run summary locates (trial 7, finding 1): the steps inside parallel and map branches are
the root causes and are never the ones cut; a composite that failed because of them names them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_magnus

DATA = Path(__file__).parent / "data" / "trial7"
FAILED = ["raises", "exit1", "exittext", "nonjson", "sh", "par.b2.p2", "each.3.work"]


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("trial7")
    for name in ("failures.yaml", "steps.py"):
        shutil.copy(DATA / name, folder / name)
    done = run_magnus("execute", "-f", "failures.yaml", "--run-id", "t7", cwd=folder)
    assert done.returncode == 1, done.stderr
    return folder, done.stdout.splitlines()


def _located(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines if any(line.startswith(f"{name}: ") for name in FAILED)]


def test_a_short_run_locates_every_failure_the_ones_inside_branches_included(failed_run) -> None:
    _folder, out = failed_run
    assert _located(out) == FAILED  # all seven, in the order they ran: none cut at five
    assert "each.3.work: ValueError: bad chunk 3" in out
    assert "par.b2.p2: shell command exited with code 3" in out
    assert not any(line.startswith(("par: ", "each: ", "... and")) for line in out)
    rows = {line.split()[0]: line for line in out if line.startswith(("par ", "each "))}
    assert rows["par"].rstrip().endswith("  par.b2.p2")  # the table's `failed in` column
    assert rows["each"].rstrip().endswith("each.3.work")


def test_show_and_show_steps_locate_every_failure(failed_run, magnus) -> None:
    folder, _out = failed_run
    for args in ((), ("--steps",)):
        shown = magnus("show", "t7", *args, cwd=folder).stdout.splitlines()
        assert _located(shown) == FAILED, args


def test_logs_takes_every_form_the_per_step_entry_point_takes(failed_run, magnus) -> None:
    """Trial 7, finding 4: `%` is a space (spec: the command-friendly name), never a dot; the map
    placeholder stands for an item, as `execute_single_node ... --map-variable` takes it."""
    folder, _out = failed_run
    exact = magnus("logs", "t7", "each.3.work", cwd=folder)
    assert exact.returncode == 0 and "map item 3" in exact.stdout
    many = magnus("logs", "t7", "each.map_variable_placeholder.work", cwd=folder)
    assert many.returncode == 2
    assert "name one (each.1.work, each.2.work, each.3.work, each.4.work)" in many.stderr
    # a placeholder where no map item is, and `%` read as a dot: not steps, the close ones suggested
    for wrong in ("par.b2.map_variable_placeholder", "each%3.work"):
        refused = magnus("logs", "t7", wrong, cwd=folder)
        assert refused.returncode == 2 and f"has no step '{wrong}'" in refused.stderr


def test_an_unknown_step_suggests_only_close_names_else_lists_them(failed_run, magnus) -> None:
    folder, _out = failed_run
    far = magnus("logs", "t7", "nosuch", cwd=folder)  # trial 7: 'did you mean sh?'
    assert far.returncode == 2 and "did you mean" not in far.stderr
    # the branches are names logs takes too (trial 10, fault 11): par.b1, each.1, ... listed in their place
    assert "(steps and branches: ok, raises, exit1," in far.stderr, far.stderr
    assert "(28 steps and branches in all)" in far.stderr, far.stderr
    near = magnus("logs", "t7", "rasies", cwd=folder)
    assert near.returncode == 2 and "did you mean raises?" in near.stderr


def test_percent_stands_for_each_space_in_step_names_and_map_items(tmp_path: Path, magnus) -> None:
    shutil.copy(DATA / "spaces.yaml", tmp_path / "spaces.yaml")
    (tmp_path / "p.yaml").write_text('items: ["a b", "c"]\n')
    assert (
        magnus("execute", "-f", "spaces.yaml", "-p", "p.yaml", "--run-id", "sp", cwd=tmp_path).returncode == 0
    )
    for form in ("each.a%b.my%work", "each.a b.my work", "each.c.my%work"):
        shown = magnus("logs", "sp", form, cwd=tmp_path)
        assert shown.returncode == 0 and shown.stdout == "hi\n", form
    both = magnus("logs", "sp", "each.map_variable_placeholder.my%work", cwd=tmp_path)
    assert both.returncode == 2 and "(each.a b.my work, each.c.my work)" in both.stderr


def test_small_wording(failed_run, magnus) -> None:
    """Trial 7, finding 8: `(1 lines)`; `argument MAGNUS_OUTPUT_CAP: MAGNUS_OUTPUT_CAP: expected ...`."""
    folder, _out = failed_run
    same = magnus("diff", "t7", "t7", "--output", "ok", cwd=folder)
    assert same.returncode == 0 and same.stdout == "ok printed the same (1 line).\n"
    bad = magnus("execute", "-f", "failures.yaml", cwd=folder, env={"MAGNUS_OUTPUT_CAP": "lots"})
    assert bad.returncode == 2 and bad.stderr.count("MAGNUS_OUTPUT_CAP") == 1, bad.stderr
    assert "MAGNUS_OUTPUT_CAP: expected a size in bytes such as 100MB" in bad.stderr


def test_a_notebook_failure_names_the_users_cell_not_the_injected_ones(tmp_path: Path, magnus) -> None:
    """Trial 7: `failed in cell 4` for the third of three cells (In [4]: papermill's injected cell counted)."""
    pytest.importorskip("papermill")
    for name in ("nb.yaml", "nb.ipynb"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "p.yaml").write_text("x: 1\n")
    done = magnus("execute", "-f", "nb.yaml", "-p", "p.yaml", "--run-id", "nb", cwd=tmp_path)
    assert done.returncode == 1
    said = next(line for line in done.stdout.splitlines() if line.startswith("nb: "))
    assert said.startswith("nb: notebook 'nb.ipynb' failed in cell 3: ZeroDivisionError: division by zero")
    assert said.endswith("(executed copy: nb_out.ipynb, where it is In [4])")
    assert "  at cell 3, line 2" in done.stdout


def test_known_library_noise_is_left_out_of_a_failures_last_lines_not_out_of_the_output(
    tmp_path: Path, magnus
) -> None:
    shutil.copy(DATA / "noise.yaml", tmp_path / "noise.yaml")
    done = magnus("execute", "-f", "noise.yaml", "--run-id", "n", cwd=tmp_path)
    assert done.returncode == 1
    block = done.stdout[done.stdout.index("loud: shell command exited with code 5") :].splitlines()
    assert (
        block[1] == "  | the real reason" and "without encryption" not in done.stdout.split("Run n: FAIL")[1]
    )
    kept = magnus("logs", "n", "loud", cwd=tmp_path).stdout
    assert kept.startswith("[IPKernelApp] WARNING | Kernel is running over TCP without encryption.")


def test_diff_says_which_steps_printed_differently_without_counting_it(tmp_path: Path, magnus) -> None:
    """Trial 7, finding 9: two runs that differ only in what steps printed read `steps  no differences`."""
    import json

    shutil.copy(DATA / "printed.yaml", tmp_path / "printed.yaml")
    for run, word in (("ra", "one"), ("rb", "two"), ("rc", "one")):
        done = magnus("execute", "-f", "printed.yaml", "--run-id", run, cwd=tmp_path, env={"T7_WORD": word})
        assert done.returncode == 0, done.stderr
    differ = magnus("diff", "ra", "rb", "--exit-code", cwd=tmp_path)
    assert differ.returncode == 0  # output is not data: not a difference
    assert (
        "output     1 step printed differently (say), not counted as a difference; "
        "see one: magnus diff ra rb --output say"
    ) in differ.stdout.splitlines()
    as_json = json.loads(magnus("diff", "ra", "rb", "--json", cwd=tmp_path).stdout)
    assert as_json["schema"] == "magnus-diff/2" and as_json["count"] == 0
    assert as_json["output"] == {"differs": 1, "compared": 2, "steps": ["say"]}  # (success: no output)
    same = magnus("diff", "ra", "rc", cwd=tmp_path)
    assert "printed differently" not in same.stdout and same.stdout.splitlines()[-1].startswith(
        "No differences"
    )
    assert json.loads(magnus("diff", "ra", "rc", "--json", cwd=tmp_path).stdout)["output"]["differs"] == 0
