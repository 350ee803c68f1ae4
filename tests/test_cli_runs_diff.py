"""`magnus runs` and `magnus diff` end to end: real pipelines run in a temp git repo, the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ORIGINAL, git, run_magnus

# The documented structure of `magnus diff --json` (docs/diff.md); checked with jsonschema.
CHANGE = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "kind",
        "key",
        "path",
        "step",
        "field",
        "before",
        "after",
        "delta",
        "ratio",
        "detail",
        "informational",
    ],
    "properties": {
        "kind": {"enum": ["added", "removed", "changed", "equal", "not_run"]},
        "key": {"type": "string"},
        "path": {"type": "array", "items": {"type": "string"}},
        "step": {"type": "string"},
        "field": {"type": "string"},
        "before": {},
        "after": {},
        "delta": {"type": ["number", "null"]},
        "ratio": {"type": ["number", "null"]},
        "detail": {"type": "string"},
        "informational": {"type": "boolean"},
    },
}
GROUP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["count", "equal", "changes"],
    "properties": {
        "count": {"type": "integer"},
        "equal": {"type": "integer"},
        "changes": {"type": "array", "items": CHANGE},
    },
}
REF = {
    "type": "object",
    "required": ["run_id", "source", "status"],
    "properties": {"run_id": {"type": "string"}, "source": {"type": "string"}, "status": {"type": "string"}},
}
DIFF_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "a", "b", "differs", "count", "groups", "skipped", "output"],
    "properties": {
        "schema": {"const": "magnus-diff/2"},
        "output": {  # docs/diff.md: the steps whose kept output differs (information, not a difference)
            "type": "object",
            "additionalProperties": False,
            "required": ["differs", "compared", "steps"],
            "properties": {
                "differs": {"type": "integer", "minimum": 0},
                "compared": {"type": "integer", "minimum": 0},
                "steps": {"type": "array", "items": {"type": "string"}},
            },
        },
        "a": REF,
        "b": REF,
        "differs": {"type": "boolean"},
        "count": {"type": "integer"},
        "groups": {
            "type": "object",
            "additionalProperties": False,
            "required": ["run", "dag", "code", "data", "parameters", "metrics", "steps"],
            "properties": {
                g: GROUP for g in ("run", "dag", "code", "data", "parameters", "metrics", "steps")
            },
        },
        "skipped": {"type": "array", "items": {"type": "object", "required": ["group", "reason"]}},
    },
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The original's composite pipeline (comp), then its getting-started pipeline four times: r1; then on a new
    commit r2 and r4 (--x 4) and r3 (--x 4, tagged nightly)."""
    repo = tmp_path_factory.mktemp("diffproj") / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for f in (ORIGINAL / "pipelines").iterdir():
        shutil.copy(f, repo / f.name)
    (repo / ".env").write_text("api_key=s3cr3t\n")
    (repo / ".gitignore").write_text(".run_log_store/\n.catalog/\n__pycache__/\n.env\n.flaky_count\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipelines")
    base = ("execute", "-f", "getting-started.yaml", "-c", "config.yaml", "-p", "params.yaml")
    composite = (
        "execute",
        "-f",
        "composite.yaml",
        "-c",
        "config.yaml",
        "-p",
        "params.yaml",
        "--run-id",
        "comp",
    )
    assert run_magnus(*composite, cwd=repo).returncode == 0
    assert run_magnus(*base, "--run-id", "r1", cwd=repo).returncode == 0
    functions = repo / "functions.py"
    functions.write_text(functions.read_text().replace("variance=0.6", "variance=0.7"))
    git(repo, "commit", "-qam", "variance")
    assert run_magnus(*base, "--run-id", "r2", "--x", "4", cwd=repo).returncode == 0
    assert run_magnus(*base, "--run-id", "r3", "--x", "4", "--tag", "nightly", cwd=repo).returncode == 0
    assert run_magnus(*base, "--run-id", "r4", "--x", "4", cwd=repo).returncode == 0
    return repo


def test_runs_lists_newest_first_with_filters(project: Path) -> None:
    out = run_magnus("runs", cwd=project)
    assert out.returncode == 0, out.stderr
    lines = [line.split()[0] for line in out.stdout.splitlines()[1:]]
    assert lines == ["r4", "r3", "r2", "r1", "comp"]
    data = json.loads(run_magnus("runs", "--json", "--tag", "nightly", cwd=project).stdout)
    assert data["schema"] == "magnus-runs/2" and [r["run_id"] for r in data["runs"]] == ["r3"]
    assert data["runs"][0]["steps"] == 4 and data["runs"][0]["status"] == "SUCCESS"
    limited = json.loads(
        run_magnus("runs", "--json", "--limit", "1", "--status", "success", cwd=project).stdout
    )
    assert [r["run_id"] for r in limited["runs"]] == ["r4"]
    bad = run_magnus("runs", "--limit", "0", cwd=project)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_runs_says_a_filter_matched_none_of_the_runs_and_refuses_an_unknown_status(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "No runs in .run_log_store/" (as if the store were empty) when 5 runs are there; a status that
    no run can have is a usage error naming the valid ones (in-process, click's runner: quick)."""
    from click.testing import CliRunner

    from magnus_core.cli import _register, cli

    _register()
    monkeypatch.chdir(project)
    for args, shown in (
        (("--tag", "nope"), "No runs match --tag nope (5 runs are in .run_log_store/)"),
        (("--status", "fail"), "No runs match --status fail (5 runs are in .run_log_store/)"),  # any case
        (
            ("--where", "params.x > 100", "--tag", "nightly"),
            "No runs match --where 'params.x > 100' and --tag nightly (5 runs are in .run_log_store/)",
        ),
        (
            ("--where", "tag = 'weekly'"),  # shown as typed, not with shlex's quote escapes
            """No runs match --where "tag = 'weekly'" (5 runs are in .run_log_store/)""",
        ),
    ):
        result = CliRunner().invoke(cli, ["runs", *args])
        assert result.exit_code == 0 and result.stdout.strip() == shown, result.output
    bad = CliRunner().invoke(cli, ["runs", "--status", "failed"])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert "option '--status': unknown status 'failed': expected one of SUCCESS, FAIL," in bad.stderr
    assert "did you mean FAIL?" in bad.stderr
    for where in ("status = 'FAILED'", "attributes.status in ('SUCCESS', 'failed')"):  # MLflow's word
        bad = CliRunner().invoke(cli, ["runs", "--where", where])
        assert bad.exit_code == 2 and "is not a run state (did you mean 'FAIL'?)" in bad.stderr, bad.output
    good = CliRunner().invoke(cli, ["runs", "--where", "status = 'fail' or status like 'SUCC%'"])
    assert good.exit_code == 0, good.output


def test_runs_in_another_store_via_config(project: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run_log_store:\n  type: file-system\n  config:\n    log_folder: {tmp_path / 'empty'}\n")
    out = run_magnus("runs", "-c", str(cfg), cwd=project)
    assert out.returncode == 0 and "No runs in" in out.stdout
    (tmp_path / "empty").mkdir()
    shutil.copy(project / ".run_log_store" / "r1.json", tmp_path / "empty" / "r1.json")
    shutil.copy(project / ".run_log_store" / "r2.json", tmp_path / "empty" / "r2.json")
    (tmp_path / "empty" / "broken.json").write_text("{ not json")
    listed = json.loads(run_magnus("runs", "-c", str(cfg), "--json", cwd=project).stdout)
    assert [r["run_id"] for r in listed["runs"]] == ["broken", "r2", "r1"]  # broken: by its file time (now)
    # trial 6: "error" beside "failure" was unclear: the log's reason is broken_reason, a run's is failure
    assert listed["runs"][0]["status"] == "BROKEN" and "not valid JSON" in listed["runs"][0]["broken_reason"]
    assert all("error" not in r and r["failure"] == "" for r in listed["runs"])
    head = run_magnus("runs", "-c", str(cfg), "--csv", cwd=project).stdout.splitlines()[0].split(",")
    assert "broken_reason" in head and "error" not in head
    human = run_magnus("runs", "-c", str(cfg), cwd=project)
    assert (
        human.returncode == 0
        and "BROKEN" in human.stdout
        and "broken.json: line 1: not valid JSON" in human.stdout
    )
    diff = run_magnus("diff", "r1", "r2", "-c", str(cfg), "--json", cwd=project)
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["b"]["source"] == str(tmp_path / "empty" / "r2.json")
    assert run_magnus("-c", str(cfg), "diff", "r1", "r2", "--exit-code", cwd=project).returncode == 1
    missing = run_magnus("diff", "r1", "r4", "-c", str(cfg), cwd=project)
    assert missing.returncode == 2 and "no run 'r4'" in missing.stderr


def test_diff_by_run_id_shows_what_changed(project: Path) -> None:
    out = run_magnus("diff", "r1", "r2", cwd=project)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "variance  0.6 → 0.7  (+0.1)" in text.replace("prepare › ", "")
    assert "x       3 → 4  (+1)" in text
    assert "files changed between commits" in text and "functions.py" in text
    assert "parameters 3 differences" in text and "steps      no differences" in text
    assert "= " not in text  # equal items only with --all
    assert "s3cr3t" not in text
    assert run_magnus("diff", "r1", "r2", "--exit-code", cwd=project).returncode == 1


def test_identical_runs_exit_zero(project: Path) -> None:
    out = run_magnus("diff", "r2", "r4", "--exit-code", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No differences." in out.stdout
    tagged = run_magnus("diff", "r2", "r3", "--exit-code", cwd=project)
    assert tagged.returncode == 1 and "1 difference in run." in tagged.stdout
    full = run_magnus("diff", "r2", "r4", "--all", cwd=project).stdout
    assert "= prepare" in full and "equal)" in full


def test_diff_json_follows_the_documented_schema(project: Path) -> None:
    import jsonschema

    out = run_magnus("diff", "r1", ".run_log_store/r2.json", "--json", cwd=project)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    jsonschema.validate(data, DIFF_SCHEMA)
    assert data["differs"] and data["b"]["source"] == ".run_log_store/r2.json"
    metrics = {c["key"]: c for c in data["groups"]["metrics"]["changes"]}
    assert metrics["prepare › variance"]["delta"] == 0.1
    every = json.loads(run_magnus("diff", "r1", "r2", "--json", "--all", cwd=project).stdout)
    jsonschema.validate(every, DIFF_SCHEMA)
    assert any(c["kind"] == "equal" for c in every["groups"]["steps"]["changes"])
    assert "s3cr3t" not in out.stdout + json.dumps(every)


def test_original_fixture_log_against_our_run(project: Path) -> None:
    """The original tool's gs_run.json against our run of the same pipeline with the same parameters."""
    out = run_magnus("diff", str(ORIGINAL / "run_logs" / "gs_run.json"), "r1", "--json", cwd=project)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    counts = {name: g["count"] for name, g in data["groups"].items()}
    # the same pipeline and parameters: only the commit differs (another repository)
    assert counts == {"run": 0, "dag": 0, "code": 1, "data": 0, "parameters": 0, "metrics": 0, "steps": 0}
    reasons = " ".join(s["reason"] for s in data["skipped"])
    assert "written by the original tool" in reasons and "steps of the dag not compared" in reasons
    text = run_magnus("diff", str(ORIGINAL / "run_logs" / "gs_run.json"), "r1", cwd=project).stdout
    assert "skipped (dag)" in text and "not both commits are in the local git repository" in text
    assert "dag        not compared (see skipped below)" in text


def test_original_composite_log_matches_nested_steps_by_internal_name(project: Path) -> None:
    """Parallel, map and dag branches: every nested step of the original's log pairs with ours."""
    out = run_magnus(
        "diff", str(ORIGINAL / "run_logs" / "composite_run.json"), "comp", "--json", "--all", cwd=project
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    steps = data["groups"]["steps"]
    assert steps["count"] == 0 and data["groups"]["metrics"]["count"] == 0
    matched = {c["step"] for c in steps["changes"] if c["kind"] == "equal" and c["field"] == "step"}
    assert {"parallel step.branch b.b1", "map step.a.m1", "map step.b.m1", "nested.dag.inner step"} <= matched


@pytest.mark.parametrize(
    "args, message",
    [
        (("r1", "r9"), "no run 'r9' in .run_log_store/ (nearest: "),
        (("r1", "zzz-unlike"), "no run 'zzz-unlike' in .run_log_store/ (no id like it among its "),
        (("r1", "functions.py"), "not valid JSON"),
        (("r1", "list.json"), "not a run log: expected a JSON object"),
        (("r1", "other.json"), "field 'run_id'"),
        (("r1", "missing/run.json"), "run log not found"),
        (("r1", "huge.json"), "larger than the 256 MB allowed"),
        (("r1", "../nope"), "run log not found"),
    ],
)
def test_bad_inputs_one_line_exit_2(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    """In-process (click's runner) to keep the suite quick; the subprocess tests above cover the real entry."""
    from click.testing import CliRunner

    from magnus_core.cli import _register, cli

    _register()
    monkeypatch.chdir(project)
    (project / "list.json").write_text("[1, 2]")
    (project / "other.json").write_text('{"steps": {}}')
    with open(project / "huge.json", "wb") as handle:
        handle.truncate(600 * 1024 * 1024)  # sparse: no disk used, but larger than any run log may be
    result = CliRunner().invoke(cli, ["diff", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ascii_terminal_gets_ascii_arrows(project: Path) -> None:
    out = run_magnus("diff", "r1", "r2", cwd=project, env={"PYTHONIOENCODING": "ascii"})
    assert out.returncode == 0, out.stderr
    assert "prepare > variance  0.6 -> 0.7  (+0.1)" in out.stdout
    data = run_magnus("diff", "r1", "r2", "--json", cwd=project, env={"PYTHONIOENCODING": "ascii"})
    assert data.returncode == 0 and json.loads(data.stdout)["schema"] == "magnus-diff/2"


@pytest.mark.parametrize(
    ("typed", "said", "alone"),
    [
        (
            ("show", "r1", "--json", "--steps"),
            "Error: --steps shapes the summary; --json prints the whole run log",
            [("show", "r1", "--json"), ("show", "r1", "--steps")],
        ),
        (
            ("show", "--json", "--params", "r1"),
            "Error: --params shapes the summary",
            [("show", "--params", "r1")],
        ),
        (
            ("show", "r1", "--metrics", "auc", "--json", "--steps"),
            "Error: --steps and --metrics shape the summary",
            [("show", "r1", "--metrics", "auc", "--steps")],
        ),
        (
            ("diff", "r1", "r2", "--all", "--output", "prepare"),
            "Error: --all shows the equal items",
            [("diff", "r1", "r2", "--all"), ("diff", "r1", "r2", "--output", "prepare")],
        ),
        (
            ("diff", "r1", "r2", "--code", "--all"),
            "Error: --all shows the equal items of the runs' comparison; --code prints a unified diff",
            [],
        ),
    ],
)
def test_a_flag_the_command_would_ignore_is_refused(
    project: Path, typed: tuple[str, ...], said: str, alone: list[tuple[str, ...]]
) -> None:
    """Session 9 (core9): `magnus show R --json --steps` printed the run log and ignored --steps without a
    word; so did --params and --metrics with --json, and diff's --all with --output or --code. One line,
    exit 2; each flag alone still works."""
    refused = run_magnus(*typed, cwd=project)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith(said) and len(refused.stderr.splitlines()) == 1, refused.stderr
    for words in alone:
        done = run_magnus(*words, cwd=project)
        assert done.returncode == 0, (words, done.stderr)
