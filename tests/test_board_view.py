"""The board's view of tasks in real headless Chromium: search, filters and sort asked
of the server (every page of the answer) and kept right by live changes; tasks
reordered by dragging, with a mouse and with a finger, saved for a reload and for
the other browser; deletes with an Undo (sent only once the toast is gone, so the
other browser never sees an undone task leave); and "Clear completed". Screenshots
land in tests/artifacts/."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness.browser import ARTIFACTS, DESKTOP, PHONE, WITHIN, open_page, sign_in, task, titles
from harness.tasks import create
from harness.users import login, register
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration

ZONE = "Asia/Shanghai"  # the browser's time zone: "today" is the user's, not the server's
UNDO_MS = 6000  # static/board/removal.js
# a change through the other process, or a view asked again: a second, with room
# for a machine busy with other tests
SETTLED = 3 * WITHIN


def today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


async def a_user(url: str) -> tuple[str, dict[str, str]]:
    async with httpx.AsyncClient(base_url=url) as client:
        username = await register(client)
        token = await login(client, username)
    return username, {"Authorization": f"Bearer {token}"}


async def add(url: str, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        return await create(client, auth, **fields)


async def shown(page: Page, expected: list[str]) -> None:
    """The titles shown, once any answer the view waits for is in."""
    await expect(page.locator("#tasks")).not_to_have_attribute("aria-busy", "true")
    await expect(page.locator(".task .title")).to_have_text(expected, timeout=SETTLED)


async def choose(page: Page, selector: str, value: str) -> None:
    await page.select_option(selector, value)


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_search_filters_and_sort_are_the_servers_answer(browser, processes, size):
    a, b = processes
    username, auth = await a_user(a.url)
    tasks = [
        dict(title="Pay rent", due=day(-1), priority=3, labels=["home"]),
        dict(
            title="写周报",
            description="本周进展与下周计划",
            due=day(0),
            priority=2,
            labels=["工作"],
        ),
        dict(title="Dentist", due=day(3), priority=1, labels=["health"]),
        dict(title="Plan trip", due=day(20), labels=["home"]),
        dict(title="Read 三体"),
        dict(title="Old bill", due=day(-6), done=True, labels=["home"]),
    ]
    for fields in tasks:
        await add(b.url, auth, **fields)
    everything = [t["title"] for t in tasks]
    errors: list[str] = []
    options = DESKTOP if size == "desktop" else PHONE
    page = await open_page(browser, a.url, errors, timezone_id=ZONE, **options)
    await sign_in(page, username)

    await shown(page, everything)

    # search: title or description, case-insensitive, Chinese too
    for text, expected in (("周报", ["写周报"]), ("进展", ["写周报"]), ("RENT", ["Pay rent"])):
        await page.fill("#search", text)
        await shown(page, expected)
    await page.fill("#search", "nothing like this")
    await shown(page, [])
    await expect(page.locator("#empty")).to_have_text("No tasks match.")
    await page.fill("#search", "")
    await shown(page, everything)

    # due dates, on the user's calendar
    await page.click("#filters-toggle")
    await expect(page.locator("#view-filters")).to_be_visible()
    for due, expected in (
        ("overdue", ["Pay rent"]),  # Old bill is done: not overdue
        ("today", ["写周报"]),
        ("week", ["写周报", "Dentist"]),
    ):
        await choose(page, "#filter-due", due)
        await shown(page, expected)
    # a search while filtered: a narrower answer, and no reordering of it
    await page.fill("#search", "dent")
    await shown(page, ["Dentist"])
    await expect(page.locator(".task .drag-handle:visible")).to_have_count(0)
    await expect(page.locator(".task .up:visible")).to_have_count(0)
    await page.fill("#search", "")
    await choose(page, "#filter-due", "")

    # labels (the board knows them from the tasks), priority, and Open/Done with them
    await expect(page.locator("#filter-label option")).to_have_text(
        ["Any label", "health", "home", "工作"]
    )
    await choose(page, "#filter-label", "home")
    await shown(page, ["Pay rent", "Plan trip", "Old bill"])
    await page.click("[data-filter=open]")
    await shown(page, ["Pay rent", "Plan trip"])
    await page.click("[data-filter=all]")
    await expect(page.locator("#filters-toggle")).to_have_text("Filters · 1")
    await choose(page, "#filter-label", "")
    await choose(page, "#filter-priority", "3")
    await shown(page, ["Pay rent"])
    await choose(page, "#filter-priority", "0")
    await shown(page, ["Plan trip", "Read 三体", "Old bill"])
    await choose(page, "#filter-priority", "")

    # sorts: soonest due first (none last), highest priority first, newest first
    await choose(page, "#sort", "due")
    await shown(page, ["Old bill", "Pay rent", "写周报", "Dentist", "Plan trip", "Read 三体"])
    await choose(page, "#sort", "priority")
    await shown(page, ["Pay rent", "写周报", "Dentist", "Plan trip", "Read 三体", "Old bill"])
    await choose(page, "#sort", "created")
    await shown(page, everything[::-1])
    await choose(page, "#sort", "order")
    await shown(page, everything)
    await expect(page.locator(".task .drag-handle:visible")).to_have_count(len(everything))

    # live changes keep a filtered view right: what stops matching leaves, a new match
    # (made through the other process) joins, by the server's rules
    await choose(page, "#filter-label", "home")
    await shown(page, ["Pay rent", "Plan trip", "Old bill"])
    rent = next(t for t in await all_tasks(b.url, auth) if t["title"] == "Pay rent")
    async with httpx.AsyncClient(base_url=b.url) as client:
        response = await client.patch(
            f"/api/tasks/{rent['id']}", json={"labels": ["paid"]}, headers=auth
        )
        assert response.status_code == 200, response.text
    await shown(page, ["Plan trip", "Old bill"])
    await add(b.url, auth, title="Fix the 水龙头", labels=["home"])
    await shown(page, ["Plan trip", "Old bill", "Fix the 水龙头"])
    await add(b.url, auth, title="Not a home task", labels=["work"])
    await page.wait_for_timeout(500)
    await shown(page, ["Plan trip", "Old bill", "Fix the 水龙头"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"board-filters-{size}.png")

    # an answer of more than one page comes whole
    if size == "desktop":
        async with httpx.AsyncClient(base_url=b.url) as client:
            for n in range(105):
                await create(client, auth, title=f"Bulk {n:03d}", labels=["bulk"])
        await choose(page, "#filter-label", "bulk")
        await expect(page.locator(".task")).to_have_count(105, timeout=10000)
        await expect(page.locator(".task .title").last).to_have_text("Bulk 104")
    assert errors == []


async def all_tasks(url: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/api/tasks?limit=200", headers=auth)
        assert response.status_code == 200, response.text
        return response.json()["tasks"]


async def ordered(url: str, auth: dict[str, str], expected: list[str]) -> None:
    """Waits (up to a few seconds) until the API holds the tasks in this order."""
    for _ in range(30):
        tasks = await all_tasks(url, auth)
        if all(t["order"] is not None for t in tasks):
            by_order = sorted(tasks, key=lambda t: t["order"])
            if [t["title"] for t in by_order] == expected:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not in the order {expected}: {tasks}")


async def drag(page: Page, title: str, onto: str, *, touch: bool = False) -> None:
    """Drags a task by its handle onto another's place: above it when moving up,
    below it when moving down."""
    handle = await task(page, title).locator(".drag-handle").bounding_box()
    target = await task(page, onto).bounding_box()
    assert handle and target
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    down = target["y"] > y
    to_y = target["y"] + target["height"] * (0.8 if down else 0.2)
    steps = [y + (to_y - y) * i / 10 for i in range(1, 11)]
    if touch:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        for step in steps:
            await cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": x, "y": step}]},
            )
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    else:
        await page.mouse.move(x, y)
        await page.mouse.down()
        for step in steps:
            await page.mouse.move(x, step)
        await page.mouse.up()


async def two_pages(
    browser, processes, names: tuple[str, ...]
) -> tuple[dict[str, str], Page, Page, list[str]]:
    """A user with these tasks, signed in on the desktop (first process) and on a
    phone (second process); the user's API headers, both pages, their errors."""
    a, b = processes
    username, auth = await a_user(a.url)
    for title in names:
        await add(a.url, auth, title=title)
    errors: list[str] = []
    desk = await open_page(browser, a.url, errors, **DESKTOP)
    await sign_in(desk, username)
    phone = await open_page(browser, b.url, errors, **PHONE)
    await sign_in(phone, username)
    await shown(desk, list(names))
    await shown(phone, list(names))
    return auth, desk, phone, errors


async def test_drag_and_drop_reorders_and_persists(browser, processes):
    a = processes[0]
    auth, desk, phone, errors = await two_pages(
        browser, processes, ("Alpha", "Bravo", "Charlie", "Delta 丁")
    )

    # a mouse on the desktop: the last to the top; the phone sees it live
    await drag(desk, "Delta 丁", "Alpha")
    expected = ["Delta 丁", "Alpha", "Bravo", "Charlie"]
    await shown(desk, expected)
    await shown(phone, expected)
    # the first move numbers every task's order: each of those changes reaches the
    # phone before a finger takes the list there
    await ordered(a.url, auth, expected)
    await phone.wait_for_timeout(WITHIN)

    # a finger on the phone: the first below the third; the desktop sees it live
    await drag(phone, "Delta 丁", "Bravo", touch=True)
    expected = ["Alpha", "Bravo", "Delta 丁", "Charlie"]
    await shown(phone, expected)
    await shown(desk, expected)

    # saved through the tasks' order: a reload, and the API, say the same
    await desk.reload()
    await expect(desk.locator("#live-status")).to_have_attribute("data-state", "live")
    await shown(desk, expected)
    await ordered(a.url, auth, expected)

    # the ↑/↓ buttons still move one place, with the dragged orders
    await task(desk, "Charlie").locator(".up").click()
    await shown(phone, ["Alpha", "Bravo", "Charlie", "Delta 丁"])
    assert errors == []


async def test_undo_restores_a_deleted_task_the_others_never_lose(browser, processes):
    a = processes[0]
    everything = ["Oat milk", "Bread", "写周报", "Eggs"]
    auth, desk, phone, errors = await two_pages(browser, processes, tuple(everything))

    # deleted here: gone at once, with a toast that offers it back
    await task(desk, "Bread").locator(".delete").click()
    toast = desk.locator("#undo-toast")
    await expect(toast).to_be_visible()
    await expect(toast).to_have_attribute("role", "status")
    await expect(toast).to_contain_text("Deleted “Bread”.")
    await shown(desk, ["Oat milk", "写周报", "Eggs"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await desk.screenshot(path=ARTIFACTS / "board-undo.png")
    # the delete waits for the toast: the other browser still has it, and the server
    await phone.wait_for_timeout(WITHIN)
    await shown(phone, everything)
    assert [t["title"] for t in await all_tasks(a.url, auth)] == everything
    await desk.click("#undo")
    await expect(toast).to_be_hidden()
    await shown(desk, everything)  # in its place

    # with the keyboard: Undo takes the focus, Enter takes the delete back
    await task(desk, "写周报").locator(".delete").focus()
    await desk.keyboard.press("Enter")
    await expect(desk.locator("#undo")).to_be_focused()
    await desk.keyboard.press("Enter")
    await shown(desk, everything)
    await expect(task(desk, "写周报").locator(".delete")).to_be_focused()  # back where it was
    # ... and Escape lets it go now
    await task(desk, "写周报").locator(".delete").focus()
    await desk.keyboard.press("Enter")
    await expect(desk.locator("#undo")).to_be_focused()
    await desk.keyboard.press("Escape")
    await expect(toast).to_be_hidden()
    await shown(phone, ["Oat milk", "Bread", "Eggs"])

    # left alone, the toast goes after a few seconds and the delete with it
    await task(desk, "Eggs").locator(".delete").click()
    await desk.mouse.move(0, 0)  # not resting on the toast, which holds it
    await phone.wait_for_timeout(UNDO_MS - 1500)
    await shown(phone, ["Oat milk", "Bread", "Eggs"])
    await expect(task(phone, "Eggs")).to_have_count(0, timeout=1500 + SETTLED)
    await expect(toast).to_be_hidden()

    # a page that goes away sends the delete it was waiting on
    await task(desk, "Oat milk").locator(".delete").click()
    await desk.reload()
    await shown(phone, ["Bread"])
    assert [t["title"] for t in await all_tasks(a.url, auth)] == ["Bread"]
    # the page kept that delete in its outbox too, in case the request sent as it went
    # did not arrive: the reloaded page sends it again, and its 404 means done
    assert [e for e in errors if "status of 404" not in e] == []
    assert len(errors) <= 1
    await desk.wait_for_function("() => Object.values(localStorage).every(queue => queue === '[]')")


async def test_clear_completed_with_undo(browser, processes):
    a, b = processes
    errors: list[str] = []
    username, auth = await a_user(a.url)
    async with httpx.AsyncClient(base_url=a.url) as client:
        response = await client.post("/api/lists", json={"name": "Groceries"}, headers=auth)
        assert response.status_code == 201, response.text
        groceries = response.json()["list"]
    await add(a.url, auth, title="Inbox done", done=True)
    for title, done in (("Milk", True), ("牛奶", False), ("Bread", True)):
        await add(a.url, auth, title=title, done=done, list_id=groceries["id"])
    phone = await open_page(browser, a.url, errors, **PHONE)
    await sign_in(phone, username)
    desk = await open_page(browser, b.url, errors, **DESKTOP)
    await sign_in(desk, username)
    # "All" is every list: nothing to clear there
    await expect(phone.locator("#clear-completed")).to_be_hidden()
    await phone.click("#open-lists")
    await phone.click("#lists .list-link >> text=Groceries")
    await shown(phone, ["Milk", "牛奶", "Bread"])
    clear = phone.locator("#clear-completed")
    await expect(clear).to_have_text("Clear completed (2)")

    await clear.click()
    await shown(phone, ["牛奶"])
    await expect(phone.locator("#undo-text")).to_have_text(
        "Cleared 2 completed tasks from “Groceries”."
    )
    await expect(clear).to_be_hidden()
    await phone.screenshot(path=ARTIFACTS / "board-clear-completed.png")
    await phone.click("#undo")
    await shown(phone, ["Milk", "牛奶", "Bread"])

    await clear.click()
    await phone.click("#undo-dismiss")
    await shown(desk, ["Inbox done", "牛奶"])  # the Inbox's done task stays
    namesleft = sorted(t["title"] for t in await all_tasks(a.url, auth))
    assert namesleft == sorted(["Inbox done", "牛奶"])
    assert await titles(phone) == ["牛奶"]
    assert errors == []
