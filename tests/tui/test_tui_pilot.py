"""The test helpers' Pilot: `press` and `click` return once what they sent has been handled (conftest.py's
presses_are_handled and clicks_are_handled), however many queues it goes through and whatever is ahead of it
there."""

from __future__ import annotations

import asyncio

from textual import on
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.events import Click
from textual.message import Message
from textual.widgets import Static


class Slow(Message):
    """A message its receiver takes a while over (waiting, not computing: the process looks idle)."""


class Row(Static):
    def on_click(self) -> None:
        # the list gets a slow message before the click bubbles up to it: the click waits behind it
        assert self.parent is not None
        self.parent.post_message(Slow())


class List(Vertical):
    clicked = False

    @on(Slow)
    async def _slow(self) -> None:
        await asyncio.sleep(0.3)

    @on(Click)
    def _clicked(self) -> None:
        self.clicked = True


class Clicks(App[None]):
    def compose(self) -> ComposeResult:
        with List(id="list"):
            yield Row("a row to click", id="row")


async def test_a_click_returns_once_its_bubbling_is_handled() -> None:
    """Textual's click returned while the click was still queued at the row's list, behind a slow message
    (the old test helpers: only `press` waited for its events); now it returns after the list has it."""
    app = Clicks()
    async with app.run_test(size=(40, 5)) as pilot:
        await pilot.click("#row")
        assert app.query_one(List).clicked
