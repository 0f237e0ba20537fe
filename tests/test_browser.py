"""The browser client in real headless Chromium (Debian's, driven by Playwright):
two browsers signed in as one user on two taskhub processes see each other's changes
within a second; a third user sees none of them; a page whose process went away
reconnects and catches up. Screenshots land in tests/artifacts/ for a person to see."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from harness.processes import TaskhubProcess
from harness.settings import ROOT
from harness.users import PASSWORD, register
from playwright.async_api import Page, async_playwright, expect

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"  # Debian's package; ./test installs it
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # no calls home: this machine's network is closed, and a test needs none
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
WITHIN = 1000  # ms: a change shows up in the other page within a second


@pytest.fixture
async def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: ./test installs it"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def processes(store, mongodb_uri, tmp_path):
    """Two taskhub processes on different ports, sharing the test's database."""
    started = [
        await TaskhubProcess(
            data_dir=tmp_path, mongodb_uri=mongodb_uri, database=store.db.name
        ).started()
        for _ in range(2)
    ]
    yield started
    for process in started:
        await process.stopped()


async def open_page(browser, url: str, errors: list[str], **context_options) -> Page:
    context = await browser.new_context(**context_options)
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(f"{url}: {e}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"{url}: {m.text}")
            if m.type == "error" and "WebSocket" not in m.text  # refused reconnects are expected
            else None
        ),
    )
    await page.goto(url + "/")
    return page


async def sign_in(page: Page, username: str, *, register_first: bool = False) -> None:
    if register_first:
        await page.click("#tab-register")
    await page.fill("#auth-form [name=username]", username)
    await page.fill("#auth-form [name=password]", PASSWORD)
    await page.click("#auth-submit")
    await expect(page.locator("#board")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def task(page: Page, title: str):
    return page.locator(".task", has=page.locator(".title", has_text=title))


async def titles(page: Page) -> list[str]:
    return await page.locator(".task .title").all_inner_texts()


async def test_two_browsers_one_user_two_processes(browser, processes, store, tmp_path):
    a, b = processes
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(base_url=a.url) as client:
        username = await register(client)
    errors: list[str] = []

    first = await open_page(browser, a.url, errors, viewport={"width": 1200, "height": 800})
    await expect(first.locator("#auth")).to_be_visible()
    await first.screenshot(path=ARTIFACTS / "sign-in.png")
    await sign_in(first, username)
    second = await open_page(
        browser,
        b.url,
        errors,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    await sign_in(second, username)
    third = await open_page(browser, b.url, errors)
    await sign_in(third, username + "_other", register_first=True)

    # added in one page: in the other within a second
    for title in ("Buy oat milk 🥛", "Call the plumber", "写周报"):
        started = time.monotonic()
        await first.fill("#add-task [name=title]", title)
        await first.press("#add-task [name=title]", "Enter")
        await expect(task(second, title)).to_be_visible(timeout=WITHIN)
        assert time.monotonic() - started < 1.5  # including the click and the POST
    assert await titles(second) == ["Buy oat milk 🥛", "Call the plumber", "写周报"]

    # done on the phone, seen on the desktop
    await task(second, "Call the plumber").locator(".check").click()
    await expect(task(first, "Call the plumber")).to_have_class("task done", timeout=WITHIN)

    # a title edited on the desktop
    await task(first, "Buy oat milk").locator(".title").click()
    await first.fill(".title-edit:not([hidden])", "Buy oat milk 🥛 and bread")
    await first.press(".title-edit:not([hidden])", "Enter")
    await expect(task(second, "Buy oat milk 🥛 and bread")).to_be_visible(timeout=WITHIN)

    # reordered on the phone
    await task(second, "写周报").locator(".up").click()
    await expect(first.locator(".task .title")).to_have_text(
        ["Buy oat milk 🥛 and bread", "写周报", "Call the plumber"], timeout=WITHIN
    )

    # deleted on the desktop
    await first.fill("#add-task [name=title]", "Throw this away")
    await first.press("#add-task [name=title]", "Enter")
    await expect(task(second, "Throw this away")).to_be_visible(timeout=WITHIN)
    await task(first, "Throw this away").locator(".delete").click()
    await expect(task(second, "Throw this away")).to_have_count(0, timeout=WITHIN)

    # the other user's board shows none of it
    await expect(third.locator(".task")).to_have_count(0)
    await expect(third.locator("#empty")).to_be_visible()

    await first.screenshot(path=ARTIFACTS / "board-desktop.png")
    await second.screenshot(path=ARTIFACTS / "board-phone.png")

    # the phone's process goes away: the page says so, and catches up once it is back
    await b.stopped()
    await expect(second.locator("#live-status")).to_have_attribute("data-state", "offline")
    await first.fill("#add-task [name=title]", "Added while you were away")
    await first.press("#add-task [name=title]", "Enter")
    await task(first, "Call the plumber").locator(".delete").click()
    restarted = await TaskhubProcess(
        data_dir=tmp_path, mongodb_uri=b.mongodb_uri, database=b.database, port=b.port
    ).started()
    processes.append(restarted)
    await expect(second.locator("#live-status")).to_have_attribute(
        "data-state", "live", timeout=10000
    )
    await expect(second.locator(".task .title")).to_have_text(
        ["Buy oat milk 🥛 and bread", "写周报", "Added while you were away"]
    )
    # every task the board created came with an Idempotency-Key
    created = await store.db.changes.count_documents({"type": "task.created"})
    assert await store.db.idempotency_keys.count_documents({}) == created > 0
    assert errors == []
