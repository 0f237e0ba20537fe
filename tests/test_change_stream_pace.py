"""An idle change stream asks the server about once a second, not ~50 times.

The embedded server answers a change stream's getMore at once even when it has
nothing, so the stream is polled: fast right after an event, backing off to
POLL_IDLE_INTERVAL when quiet (store/compat.py: PollPace). A real replica set holds
the getMore open for maxAwaitTimeMS and is never paused. Either way an idle process
sends few getMores, and a change after a quiet period still arrives within about a
second.
"""

from __future__ import annotations

import asyncio
import time

from harness.database import Commands, fresh_store, watching

from store import Person
from store.compat import POLL_IDLE_INTERVAL, PollPace

EDITORS = ("owner", "editor")


def test_the_pace_backs_off_when_quiet_and_is_fast_after_an_event():
    pace = PollPace(0.02, idle=1.0, fast_for=0, backoff=2)
    pauses = [pace.pause(0.001) for _ in range(10)]
    assert pauses[0] < 0.05
    assert pauses == sorted(pauses)
    assert abs(pauses[-1] - 0.999) < 1e-9  # never longer than the idle interval
    pace.event()
    assert pace.pause(0.001) < 0.05


def test_the_pace_stays_fast_for_a_while_after_an_event():
    pace = PollPace(0.02, idle=1.0, fast_for=60)
    assert all(pace.pause(0.0) == 0.02 for _ in range(20))


def test_a_server_that_holds_the_get_more_open_is_never_paused():
    pace = PollPace(0.02, idle=1.0, fast_for=0)
    assert pace.pause(1.0) == 0.0  # the server waited: maxAwaitTimeMS
    assert all(pace.pause(0.001) == 0.0 for _ in range(10))


async def test_an_idle_stream_asks_about_once_a_second_and_still_delivers(mongodb_uri):
    commands = Commands()
    async with (
        fresh_store(mongodb_uri, event_listeners=[commands]) as store,
        watching(store) as (got, watch),
    ):
        # past the fast spell after opening and the back-off to the idle pace
        await asyncio.sleep(watch.pace.fast_for + 2.5)
        commands.clear()
        window = 3.0
        await asyncio.sleep(window)
        get_mores = [t for name, t, _ in commands.sent if name == "getMore"]
        # ~1 per second polled, or one per maxAwaitTimeMS on a replica set;
        # the fast pace would be ~150
        assert len(get_mores) <= window / POLL_IDLE_INTERVAL + 2, len(get_mores)

        user = await store.users.create("paced", "hash")
        me = Person(user.id, user.username)
        started = time.monotonic()
        await store.tasks.create(me, me.id, {"title": "after a quiet spell"}, allowed=EDITORS)
        while not got and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
        latency = time.monotonic() - started
        assert got, "the change never arrived"
        assert latency < POLL_IDLE_INTERVAL + 1.0, latency


async def test_a_change_this_process_stores_is_asked_for_at_once(mongodb_uri):
    """The process's own commit wakes its stream: the change arrives without waiting
    out the pause between polls, however long that pause is."""
    async with fresh_store(mongodb_uri) as store, watching(store) as (got, watch):
        watch.pace = PollPace(60.0)  # every pause a minute long from the next on
        await asyncio.sleep(0.5)  # the stream is in such a pause now
        user = await store.users.create("woken", "hash")
        me = Person(user.id, user.username)
        await store.tasks.create(me, me.id, {"title": "stored here"}, allowed=EDITORS)
        started = time.monotonic()
        while not got and time.monotonic() - started < 10:
            await asyncio.sleep(0.01)
        assert [c["task"]["title"] for c in got] == ["stored here"]
