"""The base of every workbench screen: `self.app` typed as the workbench, not as any Textual app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen, ScreenResultType

if TYPE_CHECKING:
    from textual import getters

    from magnus_tui.app import MagnusApp


class WorkbenchScreen(Screen[ScreenResultType]):
    """A screen of the magnus workbench; `app` is the MagnusApp (its project, live runs, actions)."""

    if TYPE_CHECKING:  # Textual's own typed getter; at run time the inherited property does the work
        app = getters.app(MagnusApp)
