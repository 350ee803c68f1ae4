"""The diff screen: the core's diff of two runs, the rows `magnus diff` prints, A the older run unless swapped,
each change readable in full; a step's two logs side by side, aligned by key."""

from __future__ import annotations

import json
import re
import subprocess

from textual.widgets import Static, TabbedContent
from tui_helpers import COMMIT_B, HASH_A, HASH_B, plain, wait_for, write_diff_pair

from magnus_core.diff import compare
from magnus_core.diff_render import diff_rows, group_lines
from magnus_tui.screens.diff import DiffScreen
from magnus_tui.screens.step_pair import ONLY_A, ONLY_B, SAME, PairView, StepPairScreen, align, keyed_lines


async def open_diff(app, pilot, a: str, b: str) -> DiffScreen:
    app.open_diff(a, b)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DiffScreen)
    await wait_for(pilot, lambda: screen.diff is not None)
    await pilot.pause()
    return screen


def listed(screen: DiffScreen, group: str) -> list[tuple[str, str, str]]:
    """(mark, key, text) of each row the group's tab lists."""
    return [(r.mark, r.key, r.text) for r in screen.query_one(f"#group-{group}").rows]


async def test_at_80_columns_the_footer_shows_every_key_but_copy_and_f1_gives_the_long_text(
    make_app, project_dir
) -> None:
    """closing6 "Left": at 80 columns the diff screen's footer dropped `o` (Output), the key trial 7 used.
    The labels are short now (lazygit's way), so every key shown at 100 columns shows at 80 too, whole,
    with F1, `q` and the palette; F1 lists each key with its longer text (the binding's tooltip)."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey
    from tui_helpers import screen_lines

    from magnus_tui.dialogs.help import key_rows

    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "after", "before")
        footer = screen.query_one(Footer)
        keys = [key.key for key in footer.query(FooterKey) if "-command-palette" not in key.classes]
        line = screen_lines(app)[-1]
        assert keys == ["escape", "a", "v", "s", "x", "o", "q", "f1"], line
        assert footer.max_scroll_x == 0 and line.rstrip().endswith("^p palette"), line
        assert "o Output" in line and "s Records" in line, line
        rows = dict(dict(key_rows(screen))["This screen"])
        assert rows["o"] == "Step output side by side" and rows["s"] == "Step records side by side"
        assert rows["a"] == "All items or changed only"


async def test_at_80_columns_the_header_never_wraps_an_id_or_a_time(make_app, project_dir) -> None:
    """Trial 3: with real run ids B's start wrapped onto a line alone at 80 columns. B goes under A when
    the two do not fit on one line, and the list of groups that differ leaves a line it would overflow."""
    store = project_dir / ".run_log_store"
    write_diff_pair(store)
    ids = {"before": "20261130090022_a1299c", "after": "20261130090337_817f99"}
    for old, new in ids.items():
        log = json.loads((store / f"{old}.json").read_text())
        log["run_id"] = new
        (store / f"{new}.json").write_text(json.dumps(log))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, ids["after"], ids["before"])
        box = screen.query_one("#diff-summary", Static)
        lines = plain(box).splitlines()
        when = r" \d\d-\d\d \d\d:\d\d:\d\d$"  # (in this machine's zone)
        assert re.match(f"A ✓ {ids['before']}{when}", lines[0]) and re.match(
            f"B ✗ {ids['after']}{when}", lines[1]
        )
        assert lines[2].startswith("12 differences · changed only (a)")  # (not the success/fail nodes)
        assert all(len(line) <= box.content_region.width for line in lines)
    async with make_app().run_test(size=(200, 30)) as pilot:  # room: one line, the groups named
        screen = await open_diff(pilot.app, pilot, ids["after"], ids["before"])
        lines = plain(screen.query_one("#diff-summary", Static)).splitlines()
        assert "  →  B ✗ 20261130090337_817f99" in lines[0] and "(run, dag, code" in lines[1]


async def test_marking_top_down_still_makes_the_older_run_a(make_app, project_dir) -> None:
    """The list is newest first: marking down it picks the newer run first; A is still the older run."""
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_diff(app, pilot, "after", "before")
        assert (screen.run_a, screen.run_b) == ("before", "after")
        summary = plain(screen.query_one("#diff-summary", Static))
        assert summary.index("A ✓ before") < summary.index("B ✗ after")
        assert "A older" in summary
        assert ("~", "status", "SUCCESS → FAIL") in listed(screen, "run")  # reads forwards

        await pilot.press("x")  # the user's order wins from now on
        await wait_for(pilot, lambda: screen.diff.a.run_id == "after")
        await pilot.pause()
        assert (screen.run_a, screen.run_b) == ("after", "before")
        assert ("~", "status", "FAIL → SUCCESS") in listed(screen, "run")
        assert "as swapped" in plain(screen.query_one("#diff-summary", Static))


async def test_every_tab_lists_what_magnus_diff_prints(make_app, project_dir) -> None:
    """One render model: each tab's rows are the CLI's lines (mark, item, text), an added step as YAML."""
    store = project_dir / ".run_log_store"
    write_diff_pair(store)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        cli = compare(app.project.get_run("before"), app.project.get_run("after"), repo=str(project_dir))
        tabs = screen.query_one(TabbedContent)
        for name, group in cli.groups.items():
            want = [(r.mark, r.key, r.text) for r in diff_rows(group)]
            assert listed(screen, name) == want, name
            printed = "\n".join(line.plain for line in group_lines(group))
            for _, key, text in want:
                assert key in printed and text in printed  # the CLI prints the same words
            assert str(tabs.get_tab(f"tab-{name}").label) == (
                f"{name} {group.count}" if group.count else name
            )
        dag = {r.key: r for r in screen.query_one("#group-dag").rows}
        assert dag["extra"].text == "added"
        assert "command: python train.py --epochs 3" in dag["extra"].block  # the new step, as YAML
        data = screen.query_one("#group-data").rows
        assert data[0].mark == "~" and "hash changed" in data[0].detail
        steps = {r.key: r.text for r in screen.query_one("#group-steps").rows}
        assert steps["greet › duration"].startswith("6.63ms → 4.01s")  # durations as everywhere else
        assert "e-05" not in str(steps)


async def test_the_code_tab_names_the_files_changed_between_the_commits(make_app, project_dir) -> None:
    """With both commits in the local repository, the code tab says which files changed (as the CLI)."""

    def git(*args: str) -> str:
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
        env |= {"GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin:/usr/local/bin"}
        done = subprocess.run(["git", *args], cwd=project_dir, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    (project_dir / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    (project_dir / "train.py").write_text("print(2)\n")
    (project_dir / "features.py").write_text("x = 1\n")
    git("add", "train.py", "features.py")
    git("commit", "-qm", "two")
    second = git("rev-parse", "HEAD")
    store = project_dir / ".run_log_store"
    write_diff_pair(store)
    for name, sha in (("before", first), ("after", second)):
        log = json.loads((store / f"{name}.json").read_text())
        for step in log["steps"].values():
            for ident in step["code_identities"]:
                ident["code_identifier"] = sha
        (store / f"{name}.json").write_text(json.dumps(log))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        rows = {r.key: r.text for r in screen.query_one("#group-code").rows}
        between = [t for k, t in rows.items() if "2 file(s)" in t]
        assert between and "features.py" in between[0] and "train.py" in between[0]
        assert not any("null" in t or "files_between" in t for t in rows.values()), rows


async def test_a_change_opens_in_full_and_empty_tabs_say_so(make_app, project_dir) -> None:
    """v (or Enter) shows both whole values, e.g. 64-character hashes; a tab without changes says so."""
    store = project_dir / ".run_log_store"
    write_diff_pair(store)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        tabs = screen.query_one(TabbedContent)
        tabs.active = "tab-data"
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        from magnus_tui.dialogs.value import ValueView

        assert isinstance(app.screen, ValueView)
        full = plain(app.screen.query_one("#value-text", Static))
        assert HASH_A in full and HASH_B in full
        await pilot.press("escape")
        assert app.screen is screen

        # the same run against itself: nothing differs, and every tab says so in words
        screen2 = await open_diff(app, pilot, "before", "before")
        for name in ("run", "dag", "data", "metrics"):
            assert not screen2.query_one(f"#group-{name}").display
            empty = screen2.query_one(f"#empty-{name}", Static)
            assert empty.display and "no differences" in plain(empty)
        await pilot.press("a")  # the equal items appear instead
        await pilot.pause()
        assert screen2.query_one("#group-metrics").display
        assert all(r.mark == "=" for r in screen2.query_one("#group-metrics").rows)


async def test_arrows_switch_tabs_and_the_list_moves_like_every_list(make_app, project_dir) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "tab-run"  # the first group that changed
        await pilot.press("right", "right", "right", "right", "right", "right")
        assert tabs.active == "tab-steps"
        steps = screen.query_one("#group-steps")
        assert steps.has_focus and steps.highlighted == 0
        await pilot.press("G")
        assert steps.highlighted == len(steps.rows) - 1
        await pilot.press("g")
        assert steps.highlighted == 0
        await pilot.press("j")
        assert steps.highlighted == 1
        await pilot.press("left")
        assert tabs.active == "tab-metrics"


async def test_a_click_selects_the_row_under_the_pointer(make_app, project_dir) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        screen.query_one(TabbedContent).active = "tab-steps"
        await pilot.pause()
        steps = screen.query_one("#group-steps")
        assert steps.highlighted == 0
        # two rows: greet's duration, extra added (the dag's success and fail nodes are not steps: not
        # listed not run, session 11)
        for row in (1, 0, 1):  # each row of this tab is one line high
            await pilot.click(steps, offset=(10, row))
            await pilot.pause()
            assert steps.highlighted == row
            assert isinstance(app.screen, DiffScreen)  # a first click selects, never opens
        await pilot.click(steps, offset=(10, 1))  # a click on the selected row opens it
        await pilot.pause()
        assert isinstance(app.screen, StepPairScreen) and app.screen.internal_name == "extra"


def test_side_by_side_lines_align_by_key() -> None:
    """A key only one side has leaves a gap on that side only; every later line stays level with its twin."""
    a = {"name": "s", "message": "boom", "metrics": {"x": 1}, "attempts": [{"n": 0}], "end": 1}
    b = {"name": "s", "metrics": {"x": 2, "y": 3}, "extra": True, "attempts": [{"n": 0}], "end": 1}
    pairs = align(keyed_lines(a), keyed_lines(b))
    assert [(p.left, p.right, p.kind) for p in pairs] == [
        ("name: s", "name: s", SAME),
        ("message: boom", None, ONLY_A),
        ("metrics:", "metrics:", SAME),
        ("  x: 1", "  x: 2", "changed"),
        (None, "  y: 3", ONLY_B),
        (None, "extra: true", ONLY_B),
        ("attempts:", "attempts:", SAME),
        ("  - n: 0", "  - n: 0", SAME),
        ("end: 1", "end: 1", SAME),
    ]


async def test_the_step_pair_view_aligns_and_scrolls_sideways(make_app, project_dir) -> None:
    store = project_dir / ".run_log_store"
    write_diff_pair(store)
    long = "ValueError: " + "score below threshold " * 12
    for name in ("before", "after"):
        log = json.loads((store / f"{name}.json").read_text())
        log["steps"]["greet"]["message"] = long if name == "after" else ""
        if name == "before":
            log["steps"]["greet"]["user_defined_metrics"] = {"only_in_a": 1}
        (store / f"{name}.json").write_text(json.dumps(log))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        screen.query_one(TabbedContent).active = "tab-steps"
        await pilot.pause()
        rows = [r.key for r in screen.query_one("#group-steps").rows]
        screen.query_one("#group-steps").highlighted = rows.index("greet › duration")
        await pilot.press("s")
        await pilot.pause()
        pair = app.screen
        assert isinstance(pair, StepPairScreen) and pair.internal_name == "greet"
        view = pair.query_one(PairView)
        lefts = [p.left for p in view.pairs]
        rights = [p.right for p in view.pairs]
        gap = lefts.index("  only_in_a: 1")
        assert rights[gap] is None  # the gap is on B's side only
        assert lefts.index("mock: false") == rights.index("mock: false")  # level again after it
        assert lefts.index("attempts:") == rights.index("attempts:")
        assert any(r and COMMIT_B in r for r in rights)

        at = next(
            i for i, p in enumerate(view.pairs) if p.right and p.right.startswith("message: ValueError")
        )
        await pilot.press("g")
        assert view.cursor_line == 0
        await pilot.press("n")
        assert view.pairs[view.cursor_line].kind != SAME
        view.cursor_line = at
        await pilot.pause()
        line = "".join(seg.text for seg in view.render_line(at - view.scroll_offset.y))
        assert "threshold" not in line.split("│")[1][-30:] or "message" in line
        await pilot.press("right", "right", "right", "right", "right", "right")
        assert view.shift == 48
        shifted = "".join(seg.text for seg in view.render_line(at - view.scroll_offset.y))
        assert "message: ValueError" not in shifted and "threshold" in shifted  # both sides moved together
        await pilot.press("home")
        assert view.cursor_line == 0
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_broken_side_says_why(make_app, project_dir) -> None:
    (project_dir / ".run_log_store" / "bad.json").write_text("{")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_diff("gs_run", "bad")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.error))
        assert "Cannot compare" in plain(screen.query_one("#diff-summary", Static))
        assert "bad.json" in plain(screen.query_one("#diff-summary", Static))


async def test_mark_two_runs_in_the_list_and_compare_them(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("down", "down", "d")  # composite_run
        assert app.screen.marked == ["composite_run"]
        await pilot.press("down", "d")  # gs_run
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        screen = app.screen
        await wait_for(pilot, lambda: screen.diff is not None)
        assert {screen.run_a, screen.run_b} == {"composite_run", "gs_run"}
        assert f"{screen.diff.count} differences" in plain(screen.query_one("#diff-summary", Static))
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "RunsScreen"


async def test_o_puts_what_a_step_printed_in_each_run_side_by_side(make_app, tmp_path, monkeypatch) -> None:
    """Trial 4: the diff's "step logs" were run-log records, and no view put two runs' output side by
    side. `o` on a step's row opens its output in A and B (the last attempt each), aligned line by line."""
    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.step_pair import CHANGED, StepOutputPairScreen
    from magnus_tui.source import Project
    from tests.test_diff_output import git_project, make_two_runs

    project = git_project(tmp_path / "outputs")
    make_two_runs(project)
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "ra", "rb")
        screen.query_one(TabbedContent).active = "tab-steps"
        await pilot.press("a")  # the records of `train` are equal: list them
        await pilot.pause()
        rows = [r.key for r in screen.query_one("#group-steps").rows]
        screen.query_one("#group-steps").highlighted = rows.index("train")
        await pilot.press("o")
        await pilot.pause()
        pair = app.screen
        assert isinstance(pair, StepOutputPairScreen) and pair.sub_title == "train: output (last attempt)"
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = pair.query_one(PairView)
        assert [(p.kind, p.left, p.right) for p in view.pairs][:2] == [
            (SAME, "epoch 0 loss=1.000", "epoch 0 loss=1.000"),
            (CHANGED, "epoch 1 loss=0.900", "epoch 1 loss=0.850"),
        ]
        assert plain(pair.query_one("#head-a", Static)) == "A ra · attempt 0"
        await pilot.press("n")  # the first difference
        assert view.cursor_line == 1
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_screens_notice_goes_with_the_screen(make_app, project_dir) -> None:
    """Trial 7, finding 7b: `o` on the dag_hash row says the change belongs to no step; that box stayed
    drawn after escape, over the runs list and the start form opened next. A screen's notice now goes
    when the screen is left (WorkbenchScreen.notify); the app's own notices keep their time."""
    from textual.widgets._toast import Toast

    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    app.NOTIFICATION_TIMEOUT = 600  # (not gone by its timeout on a loaded machine)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_diff(app, pilot, "before", "after")
        tab, index = next(
            (name, i)
            for name in ("run", "dag", "code")
            for i, row in enumerate(screen.query_one(f"#group-{name}").rows)
            if row.change is not None and not row.change.step
        )
        screen.query_one(TabbedContent).active = f"tab-{tab}"
        await pilot.pause()
        for _ in range(index):
            await pilot.press("down")
        assert not screen._list().highlighted_change().step
        await pilot.press("o")
        await wait_for(pilot, lambda: len(app.screen.query(Toast)) == 1)
        assert "belongs to no step" in str(next(iter(app._notifications)).message)
        app.notify("an app-wide notice")  # (as a run that did not start says)
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen)
        await wait_for(pilot, lambda: len(app.screen.query(Toast)) == 1)
        assert [n.message for n in app._notifications] == ["an app-wide notice"]


async def test_the_diff_says_which_steps_printed_differently_and_one_line_is_one_line(
    tmp_path, monkeypatch
) -> None:
    """s6-sum's loose ends: the workbench's diff did not say which steps printed differently (the RunDiff it
    gets has them, and `magnus diff` prints them on one line), and its output pair said `(1 lines)`."""
    import shutil
    from pathlib import Path

    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.step_pair import StepOutputPairScreen
    from magnus_tui.source import Project
    from tests.conftest import run_magnus
    from tests.test_diff_output import git_project

    project = git_project(tmp_path / "printed")
    shutil.copy(Path(__file__).parents[1] / "data" / "trial7" / "printed.yaml", project / "printed.yaml")
    for run_id, word in (("ra", "one"), ("rb", "two")):
        out = run_magnus(
            "execute", "-f", "printed.yaml", "--run-id", run_id, cwd=project, env={"T7_WORD": word}
        )
        assert out.returncode == 0, out.stderr
    said: list[str] = []
    monkeypatch.setattr(StepOutputPairScreen, "notify", lambda self, message, **kw: said.append(message))
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_diff(app, pilot, "ra", "rb")
        summary = plain(screen.query_one("#diff-summary", Static))
        assert "output: 1 step printed differently (say), not counted as a difference" in summary
        assert "see one: o on its row in steps" in summary
        screen.query_one(TabbedContent).active = "tab-steps"
        await pilot.press("a")  # the steps' records are equal: list them
        await pilot.pause()
        rows = [r.key for r in screen.query_one("#group-steps").rows]
        screen.query_one("#group-steps").highlighted = rows.index("same")
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, StepOutputPairScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert said == ["same printed the same in both runs (1 line)."]


async def test_v_on_the_code_tab_shows_what_changed_in_the_code(make_app, project_dir) -> None:
    """Trial 8, finding 4: `v` on the code row showed `modified files [] -> ["mlp/steps.py"]`, never what
    changed; it shows the content change, as `magnus diff A B --code` prints it."""
    from magnus_tui.dialogs.code_change import CodeChangeView
    from tests.conftest import git, run_magnus

    git(project_dir, "init", "-q")
    git(project_dir, "config", "user.email", "t@example.com")
    git(project_dir, "config", "user.name", "t")
    (project_dir / "steps.py").write_text("def train():\n    return {'loss': 1}\n")
    (project_dir / "p.yaml").write_text(
        "dag:\n  start_at: t\n  steps:\n    t: {type: task, command: steps.train, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    git(project_dir, "add", "steps.py", "p.yaml")
    git(project_dir, "commit", "-qm", "first")
    for run_id, loss in (("codea", 1), ("codeb", 2)):
        (project_dir / "steps.py").write_text(f"def train():\n    return {{'loss': {loss}}}\n")
        done = run_magnus("execute", "-f", "p.yaml", "--run-id", run_id, cwd=project_dir)
        assert done.returncode == 0, done.stderr
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_diff(app, pilot, "codea", "codeb")
        screen.query_one("#groups", TabbedContent).active = "tab-code"
        await pilot.pause()
        screen.query_one("#group-code").focus()
        await pilot.press("v")
        await wait_for(
            pilot, lambda: isinstance(app.screen, CodeChangeView) and app.screen.change is not None
        )
        shown = plain(app.screen.query_one("#code-text", Static))
        assert "-    return {'loss': 1}" in shown and "+    return {'loss': 2}" in shown
