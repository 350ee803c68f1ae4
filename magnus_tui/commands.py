"""The command palette (ctrl+p): every action of the app and of the current screen, by name; and every run
of the store, by id, pipeline or tag (Enter opens it)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

# Each screen (and the app) lists its actions as PALETTE = [(title, help, action), ...].
Entry = tuple[str, str, str]


def palette_entries(provider: Provider) -> Iterator[tuple[Screen[Any] | App[Any], Entry]]:
    """The current screen's entries, then the app's whose title the screen has not already given: each
    title once (the screen's own `Experiments`, on the highlighted run's tag, wins over the app's). Only
    those whose action applies now, as the footer and F1 offer a key (the node's check_action: a run
    screen's `Stop the run` while the run is live; on an ended run the palette offered it and choosing it
    did nothing, since Textual runs no action its check_action refuses: session 11)."""
    from textual.actions import parse

    screen = provider.screen
    seen: set[str] = set()
    for node in (screen, provider.app):
        for title, help_text, action in getattr(node, "PALETTE", []):
            if title in seen:
                continue
            seen.add(title)
            _, name, parameters = parse(action)
            if "." not in action and node.check_action(name, parameters) is False:
                continue
            yield node, (title, help_text, action)


class WorkbenchCommands(Provider):
    """Actions of the workbench, searchable by name."""

    async def discover(self) -> Hits:
        for node, (title, help_text, action) in palette_entries(self):
            yield DiscoveryHit(title, partial(node.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for node, (title, help_text, action) in palette_entries(self):
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(node.run_action, action),
                    text=title,
                    help=help_text,
                )


MAX_RUN_HITS = 50  # runs offered for one query (the best matches)


class RunCommands(Provider):
    """Runs of the store, found by run id, pipeline file or tag; a hit opens the run."""

    async def startup(self) -> None:
        import asyncio

        app: Any = self.app
        project = getattr(app, "project", None)
        self.runs: list[tuple[str, str]] = []  # (run id, what the palette matches and shows)
        if project is None:
            return
        entries = await asyncio.to_thread(project.runs)
        for entry in entries:
            s = entry.summary
            about = " · ".join(x for x in (s.state.lower(), s.pipeline, s.tag) if x)
            self.runs.append((s.run_id, about))

    async def search(self, query: str) -> Hits:
        words = query.lower().split()
        if not words:
            return
        app: Any = self.app
        matcher = self.matcher(query)
        # a cheap look first (every word somewhere in the id, pipeline or tag), then the fuzzy score
        found = [(r, about) for r, about in self.runs if all(w in f"{r} {about}".lower() for w in words)]
        scored = sorted(((matcher.match(f"{rid} {about}"), rid, about) for rid, about in found), reverse=True)
        for score, run_id, about in scored[:MAX_RUN_HITS]:
            yield Hit(
                max(score, 0.1) * 0.9,  # the screen's actions first when both match as well
                matcher.highlight(f"Open run {run_id}"),
                partial(app.open_run, run_id),
                text=f"Open run {run_id}",
                help=about,
            )


MAX_STEP_HITS = 50  # steps offered for one query


class StepCommands(Provider):
    """The run screen's steps, found by name ("s1500", "go to step s1500", "par.left"); a hit puts the
    dag's cursor on the step (trial 8: the palette said "No matches found" for a step of a 2,000-step run).
    A cheap look first (every word in the step's internal name), then the fuzzy score of the few kept."""

    async def search(self, query: str) -> Hits:
        screen: Any = self.screen
        view = getattr(screen, "view", None)
        rows = getattr(view, "rows", None)
        if not rows:
            return
        words = [w for w in query.lower().split() if w not in ("go", "to", "step", "steps")]
        if not words:
            return
        found = [key for key in rows if all(w in key.lower() for w in words)]
        found.sort(key=lambda key: (len(key), key))  # s15 before s150 and s1500
        matcher = self.matcher(" ".join(words))
        for key in found[:MAX_STEP_HITS]:
            row = rows[key]
            yield Hit(
                max(matcher.match(key), 0.1) * 0.95,
                matcher.highlight(f"Go to step {key}"),
                partial(screen.go_to_step, key),
                text=f"Go to step {key}",
                help=f"{row.status.lower()} · {row.step_type or row.kind}",
            )
