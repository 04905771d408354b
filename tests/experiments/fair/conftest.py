"""Fault injection for sweeps: act once, from a background thread, when a condition holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest


class Once:
    """Calls ``act`` once, as soon as ``ready()`` returns something truthy (passed to ``act``),
    polling every 5 ms for up to 300 s. ``done`` says whether it acted."""

    def __init__(self, ready: Callable[[], object], act: Callable[[object], None]) -> None:
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, args=(ready, act), daemon=True)
        self.thread.start()

    def _watch(self, ready: Callable[[], object], act: Callable[[object], None]) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if found := ready():
                act(found)
                self.done.set()
                return
            time.sleep(0.005)


@pytest.fixture
def once() -> Iterator[Callable[..., Once]]:
    """``once(ready, act)`` starts a ``Once``; the test joins it at its end."""
    started: list[Once] = []

    def start(ready: Callable[[], object], act: Callable[[object], None]) -> Once:
        started.append(Once(ready, act))
        return started[-1]

    yield start
    for watcher in started:
        watcher.thread.join(timeout=10)
