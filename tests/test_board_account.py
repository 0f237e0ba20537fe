"""The board's account dialog, opened from the username in the top bar, in real
headless Chromium: a changed password is the only one that works afterwards; a login
ended there signs that browser out (and ending this one signs this page out); "Download
my data" downloads the account's JSON with its tasks; a deleted account is signed out
and cannot sign in again. With registration closed, the sign-in page offers no
"Create account"."""

from __future__ import annotations

import json

import httpx
import pytest
from harness.browser import ARTIFACTS, DESKTOP, new_user_signed_in, open_page, sign_in, task
from harness.processes import TaskhubProcess
from harness.users import PASSWORD
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a new horse battery staple"


async def open_account(page: Page) -> None:
    await page.click("#whoami")
    await expect(page.locator("#account-dialog")).to_be_visible()
    await expect(page.locator("#logins .login").first).to_be_visible()


async def status_of_login(url: str, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": password}
        )
        return response.status_code


async def test_password_logins_and_export(browser, processes):
    a, b = processes
    errors: list[str] = []
    page, username = await new_user_signed_in(browser, a.url, errors, **DESKTOP)
    other = await open_page(browser, b.url, errors, **DESKTOP)
    await sign_in(other, username)
    await page.fill("#add-task [name=title]", "写周报 and file it")
    await page.press("#add-task [name=title]", "Enter")
    await expect(task(page, "写周报 and file it")).to_be_visible()

    # both logins are listed, this one marked
    await open_account(page)
    logins = page.locator("#logins .login")
    await expect(logins).to_have_count(2)
    await expect(page.locator("#logins .login.current")).to_contain_text("This device")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "board-account.png")

    # the other login revoked: that browser is signed out at once
    await page.locator("#logins .login:not(.current)").get_by_role("button").click()
    await expect(logins).to_have_count(1)
    await expect(other.locator("#auth")).to_be_visible(timeout=5000)
    await expect(other.locator("#auth-error")).to_have_text("Your session ended. Sign in again.")

    # "Download my data": the account's JSON, with its tasks
    async with page.expect_download() as started:
        await page.click("#export-data")
    download = await started.value
    assert download.suggested_filename == "taskhub-export.json"
    exported = json.loads((await download.path()).read_text())
    assert exported["format"] == "taskhub-export/1"
    assert exported["user"]["username"] == username
    tasks = [t["title"] for part in exported["lists"] for t in part["tasks"]]
    assert tasks == ["写周报 and file it"]

    # a wrong current password is said in the dialog and changes nothing
    await page.fill("#password-form [name=current_password]", "not the password")
    await page.fill("#password-form [name=new_password]", NEW_PASSWORD)
    await page.click("#password-form [type=submit]")
    await expect(page.locator("#account-error")).to_have_text("That password is not right.")
    # the right one: the old password is refused from now on, the new one works
    await page.fill("#password-form [name=current_password]", PASSWORD)
    await page.fill("#password-form [name=new_password]", NEW_PASSWORD)
    await page.click("#password-form [type=submit]")
    await expect(page.locator("#account-message")).to_have_text(
        "Password changed. Your other logins were signed out."
    )
    assert await status_of_login(a.url, username, PASSWORD) == 401
    assert await status_of_login(a.url, username, NEW_PASSWORD) == 200

    # ending this page's own login signs it out
    await page.reload()
    await open_account(page)
    await page.locator("#logins .login.current").get_by_role("button").click()
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#auth-error")).to_have_text("You signed out of this device.")
    await page.reload()
    await expect(page.locator("#auth")).to_be_visible()
    assert errors == [
        f"{a.url}: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]


async def test_deleting_the_account_signs_out_for_good(browser, processes):
    a, _ = processes
    errors: list[str] = []
    page, username = await new_user_signed_in(browser, a.url, errors, **DESKTOP)
    await open_account(page)
    await page.fill("#delete-account-form [name=password]", PASSWORD)
    await page.click("#delete-account-form [type=submit]")
    await expect(page.locator("#ask-dialog")).to_contain_text("This cannot be undone.")
    await page.click("#ask-ok")
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#auth-error")).to_have_text("Your account was deleted.")
    assert await status_of_login(a.url, username, PASSWORD) == 401
    assert errors == []


async def test_closed_registration_offers_no_create_account(browser, store, mongodb_uri, tmp_path):
    closed = await TaskhubProcess(
        "--registration",
        "closed",
        data_dir=tmp_path,
        mongodb_uri=mongodb_uri,
        database=store.db.name,
    ).started()
    try:
        errors: list[str] = []
        page = await open_page(browser, closed.url, errors, **DESKTOP)
        await expect(page.locator("#auth")).to_be_visible()
        await expect(page.locator("#tab-login")).to_be_visible()
        await expect(page.locator("#tab-register")).to_have_count(0)
        await expect(page.locator("#auth")).not_to_contain_text("Create account")
        assert errors == []
    finally:
        await closed.stopped()
