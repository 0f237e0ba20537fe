"""Limits kept in the process's memory: how often one client address may make this
process do something costly, and short-lived memories of recent results.

Counted per process on purpose: what they protect (a core's time) is per process too,
and a client spread over several processes is held by each of them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Generic, TypeVar

V = TypeVar("V")

MAX_KEYS = 10_000  # addresses or entries remembered; the least recently used go first


class RateLimit:
    """At most ``limit`` events per key within ``window`` seconds."""

    def __init__(self, limit: int, window: float):
        self.limit = limit
        self.window = window
        self.events: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str) -> int:
        """Records one event for ``key``; 0 when it is allowed, else the whole
        seconds until it would be (and nothing is recorded)."""
        now = time.monotonic()
        events = self.events.pop(key, None) or deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        self.events[key] = events
        if len(self.events) > MAX_KEYS:
            self.events.popitem(last=False)
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window - now))
        events.append(now)
        return 0


class ExpiringCache(Generic[V]):
    """Values remembered for ``ttl`` seconds, at most MAX_KEYS of them."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self.entries[key] = (time.monotonic() + self.ttl, value)
        self.entries.move_to_end(key)
        if len(self.entries) > MAX_KEYS:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()
