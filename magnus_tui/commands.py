"""The command palette (ctrl+p): every action of the app and of the current screen, by name."""

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
    screen = provider.screen
    for title, help_text, action in getattr(screen, "PALETTE", []):
        yield screen, (title, help_text, action)
    for title, help_text, action in getattr(provider.app, "PALETTE", []):
        yield provider.app, (title, help_text, action)


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
