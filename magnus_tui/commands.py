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
    title once (the screen's own `Experiments`, on the highlighted run's tag, wins over the app's)."""
    screen = provider.screen
    seen: set[str] = set()
    for node in (screen, provider.app):
        for title, help_text, action in getattr(node, "PALETTE", []):
            if title not in seen:
                seen.add(title)
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
