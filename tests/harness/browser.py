"""The board in real headless Chromium (Debian's, driven by Playwright): the fixtures
``browser`` and ``processes`` (two taskhub processes sharing the test's database), a
page that records its own errors, signing in, and finding tasks by title. Loaded as a
pytest plugin by conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from .processes import TaskhubProcess
from .settings import ROOT
from .users import PASSWORD, register

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
DESKTOP: dict[str, Any] = {"viewport": {"width": 1200, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: ./test installs it"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def processes(store, mongodb_uri, tmp_path) -> AsyncIterator[list[TaskhubProcess]]:
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


async def open_page(browser: Browser, url: str, errors: list[str], **context_options) -> Page:
    """A page of the board in a context of its own; its script errors land in ``errors``."""
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


async def new_user_signed_in(
    browser: Browser, url: str, errors: list[str], **context_options
) -> tuple[Page, str]:
    """A new user, registered over the API, signed in on a page of the board of its
    own; the page and the username."""
    async with httpx.AsyncClient(base_url=url) as client:
        username = await register(client)
    page = await open_page(browser, url, errors, **context_options)
    await sign_in(page, username)
    return page, username


def unexpected(errors: list[str]) -> list[str]:
    """The page errors but those Chromium logs for each try while taskhub is stopped."""
    return [e for e in errors if "ERR_CONNECTION_REFUSED" not in e]


def task(page: Page, title: str):
    return page.locator(".task", has=page.locator(".title", has_text=title))


async def titles(page: Page) -> list[str]:
    return await page.locator(".task .title").all_inner_texts()
