"""The board without a network, in real headless Chromium: writes made while its
taskhub process is stopped wait in localStorage, shown at once and marked pending,
under a banner counting down to the next try; once the process is back on the same
port they arrive, each exactly once, even from a page opened again after the first
one closed. Behind nginx, its 502 for a process that is down counts as offline too.
A change that lost to another one meanwhile (412) is offered again with the user's own
text."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from harness.browser import (
    ARTIFACTS,
    DESKTOP,
    new_user_signed_in,
    open_page,
    sign_in,
    task,
    titles,
    unexpected,
)
from harness.stacks import running_stack
from harness.users import login, register_and_login
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration


async def add(page: Page, title: str) -> None:
    await page.fill("#add-task [name=title]", title)
    await page.press("#add-task [name=title]", "Enter")
    await expect(task(page, title)).to_be_visible()


async def rename(page: Page, title: str, new_title: str) -> None:
    await task(page, title).locator(".title").click()
    await page.fill(".title-edit:not([hidden])", new_title)
    await page.press(".title-edit:not([hidden])", "Enter")
    await expect(task(page, new_title)).to_be_visible()


async def offline_changes(page: Page, undo_waits: bool = False) -> None:
    """Create, edit, tick and delete while taskhub is away; the tick of the new task
    folds into its create. The delete is queued once its Undo toast is dismissed, or
    (``undo_waits``) is left waiting behind the toast."""
    await add(page, "Buy stamps")
    await rename(page, "Call the plumber", "Call the plumber at 9")
    await task(page, "Pay the rent").locator(".check").click()
    await task(page, "Old receipts").locator(".delete").click()
    await expect(task(page, "Old receipts")).to_have_count(0)
    await task(page, "Buy stamps").locator(".check").click()
    waiting = page.locator("#offline-text")
    await expect(waiting).to_have_text("You're offline — 3 changes waiting.")
    if not undo_waits:
        await page.click("#undo-dismiss")
        await expect(waiting).to_have_text("You're offline — 4 changes waiting.")
    pending = page.locator(".task.pending .title")
    await expect(pending).to_have_text(["Call the plumber at 9", "Pay the rent", "Buy stamps"])
    await expect(page.locator(".task.pending .pending-mark")).to_have_count(3)


async def arrived_once(page: Page, store) -> None:
    """The page's queue emptied, and the four writes are in the database, none twice."""
    await page.wait_for_function("() => Object.values(localStorage).every(queue => queue === '[]')")
    await expect(page.locator(".task.pending")).to_have_count(0)
    stored = {t["title"]: t async for t in store.db.tasks.find({})}
    assert sorted(stored) == ["Buy stamps", "Call the plumber at 9", "Pay the rent"]
    assert stored["Buy stamps"]["done"] and stored["Pay the rent"]["done"]
    assert not stored["Call the plumber at 9"]["done"]
    assert await store.db.changes.count_documents({"type": "task.created"}) == 4
    assert await store.db.changes.count_documents({"type": "task.deleted"}) == 1


async def a_board_with_three_tasks(browser, process, errors: list[str]) -> Page:
    page, _ = await new_user_signed_in(browser, process.url, errors, **DESKTOP)
    for title in ("Call the plumber", "Pay the rent", "Old receipts"):
        await add(page, title)
    await expect(page.locator(".task.pending")).to_have_count(0)
    return page


async def test_writes_made_offline_wait_and_arrive_once(browser, processes, store):
    _, b = processes
    errors: list[str] = []
    page = await a_board_with_three_tasks(browser, b, errors)
    await b.stopped()
    await offline_changes(page)
    assert await titles(page) == ["Call the plumber at 9", "Pay the rent", "Buy stamps"]

    # the banner counts down to the next try, a second at a time, and says nothing of
    # "Failed to fetch"
    countdown = page.locator("#offline-countdown")
    await expect(countdown).to_have_text(re.compile(r"Retrying in ([3-9]|\d\d)s"), timeout=20000)
    left = int(re.findall(r"\d+", await countdown.inner_text())[0])
    await expect(countdown).to_have_text(f"Retrying in {left - 1}s", timeout=1500)
    # "Retry now" tries at once; still away, the next try backs off further
    await page.click("#retry-now")
    later = "|".join(str(n) for n in range(left, 61))
    await expect(countdown).to_have_text(re.compile(rf"Retrying in ({later})s"), timeout=3000)
    await expect(page.locator("body")).not_to_contain_text("Failed to fetch")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "board-offline.png")

    # back on the same port: sent by themselves (the next timed try), in order, once
    await b.started()
    await expect(page.locator("#offline-banner")).to_be_hidden(timeout=40000)
    await arrived_once(page, store)
    assert await titles(page) == ["Call the plumber at 9", "Pay the rent", "Buy stamps"]
    assert unexpected(errors) == []


async def test_the_queue_outlives_the_page(browser, processes, store):
    """Made offline in a page that is then closed, its delete still behind the Undo
    toast: a page opened later in the same browser, once taskhub is back, sends them
    all."""
    _, b = processes
    errors: list[str] = []
    page = await a_board_with_three_tasks(browser, b, errors)
    await b.stopped()
    await offline_changes(page, undo_waits=True)
    context = page.context
    await page.close()
    assert await store.db.tasks.count_documents({"title": "Buy stamps"}) == 0

    await b.started()
    again = await context.new_page()
    again.on("pageerror", lambda e: errors.append(str(e)))
    await again.goto(b.url + "/")
    await expect(again.locator("#board")).to_be_visible()
    await expect(again.locator(".task .title")).to_have_text(
        ["Call the plumber at 9", "Pay the rent", "Buy stamps"]
    )
    await arrived_once(again, store)
    assert unexpected(errors) == []


async def test_a_change_that_lost_is_offered_again(browser, processes, store):
    """A title edited offline while someone else changed it: taskhub refuses the
    resend (412), the page shows their title and offers the user's own again."""
    a, b = processes
    errors: list[str] = []
    page = await a_board_with_three_tasks(browser, b, errors)
    username = await page.locator("#whoami").inner_text()
    await b.stopped()
    await rename(page, "Call the plumber", "Call the plumber at 9, bring the key")

    # meanwhile, through the other process, the same task is changed
    async with httpx.AsyncClient(base_url=a.url) as client:
        auth = {"Authorization": f"Bearer {await login(client, username)}"}
        stored = await store.db.tasks.find_one({"title": "Call the plumber"})
        response = await client.patch(
            f"/api/tasks/{stored['_id']}", json={"title": "Call the electrician"}, headers=auth
        )
        assert response.status_code == 200, response.text

    await b.started()
    conflict = page.locator("#conflict")
    await expect(conflict).to_be_visible(timeout=40000)
    await expect(conflict).to_contain_text("“Call the electrician” was changed elsewhere")
    await expect(conflict.locator("#conflict-mine")).to_have_text(
        "Title: Call the plumber at 9, bring the key"
    )
    await expect(task(page, "Call the electrician")).to_be_visible()
    await page.click("#conflict-mine-button")
    await expect(conflict).to_be_hidden()
    await expect(task(page, "Call the plumber at 9, bring the key")).to_be_visible()
    await expect(page.locator(".task.pending")).to_have_count(0)
    stored = await store.db.tasks.find_one({"_id": stored["_id"]})
    assert stored is not None and stored["title"] == "Call the plumber at 9, bring the key"
    assert [e for e in unexpected(errors) if "412" not in e] == []


async def test_a_502_from_nginx_counts_as_offline(browser, tmp_path, mongodb_uri):
    """nginx in front of one taskhub process that crashed: its 502 (JSON, from the
    site's error pages) queues the write like a refused connection would."""
    with running_stack(tmp_path, mongodb_uri, processes=1) as stack:
        async with httpx.AsyncClient(base_url=stack.url) as client:
            username, auth = await register_and_login(client)
            errors: list[str] = []
            page = await open_page(browser, stack.url, errors, **DESKTOP)
            await sign_in(page, username)
            await add(page, "Call the plumber")
            await expect(page.locator(".task.pending")).to_have_count(0)  # sent
            await asyncio.to_thread(stack.kill, 0)
            await add(page, "Buy stamps")
            await expect(task(page, "Buy stamps").locator(".pending-mark")).to_be_visible()
            await expect(page.locator("#offline-text")).to_have_text(
                "You're offline — 1 change waiting."
            )
            await asyncio.to_thread(stack.start_process, 0)
            await asyncio.to_thread(stack.wait_ready, 0)
            await expect(page.locator("#offline-banner")).to_be_hidden(timeout=40000)
            await expect(page.locator(".task.pending")).to_have_count(0)
            response = await client.get("/api/tasks", headers=auth)
            assert response.status_code == 200, response.text
            assert sorted(t["title"] for t in response.json()["tasks"]) == [
                "Buy stamps",
                "Call the plumber",
            ]
            assert [e for e in errors if "502 (Bad Gateway)" not in e] == []


async def test_a_task_that_comes_live_before_its_answer_is_shown_once(browser, processes):
    """The live socket can bring a new task before the answer to the POST that made it:
    the page then shows the task as it came, not also the one it drew as sent."""
    _, b = processes
    errors: list[str] = []
    page, _ = await new_user_signed_in(browser, b.url, errors, **DESKTOP)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    answered = asyncio.Event()

    async def hold_the_answer(route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        response = await route.fetch()
        answered.set()
        await asyncio.sleep(2)  # the live message comes meanwhile
        await route.fulfill(response=response)

    await page.route("**/api/tasks", hold_the_answer)
    await page.fill("#add-task [name=title]", "Seen live first")
    await page.press("#add-task [name=title]", "Enter")
    await asyncio.wait_for(answered.wait(), 10)
    shown = task(page, "Seen live first")
    # drawn from the live message, under its real id, while the answer is still held
    await expect(shown).to_have_attribute("data-id", re.compile(r"^[0-9a-f]{24}$"), timeout=1500)
    for _ in range(10):
        assert await shown.count() == 1
        await page.wait_for_timeout(100)
    await expect(page.locator(".task.pending")).to_have_count(0, timeout=5000)
    await expect(shown).to_have_count(1)
    assert await titles(page) == ["Seen live first"]
    assert unexpected(errors) == []
