"""The board is usable without a mouse and by a screen reader: axe-core (pinned in
tests/browser/package-lock.json, installed by ./test) finds no serious or critical
violation on any of its screens (search and filters open, an Undo toast showing
included), in light and dark mode, at desktop and phone width; and Tab alone reaches
every control of the board, each showing where the focus is."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from harness.browser import ARTIFACTS, DESKTOP, PHONE, open_page, sign_in, task, unexpected
from harness.settings import ROOT
from harness.users import login, register
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
GRAVE = {"serious", "critical"}


async def violations(page: Page, screen: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    assert AXE.exists(), "axe-core is missing: ./test installs tests/browser's npm packages"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=AXE)
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "screen": screen,
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in found
        if v["impact"] in GRAVE
    ]


async def a_board_with_everything(browser, url: str, errors: list[str], **options) -> Page:
    """A signed-in board with a shared list, tasks with details, one of them done."""
    async with httpx.AsyncClient(base_url=url) as client:
        owner, friend = await register(client), await register(client)
    # bypass_csp: axe is added as an inline script, which the board's policy refuses
    page = await open_page(browser, url, errors, bypass_csp=True, **options)
    await sign_in(page, owner)
    drawer = await page.locator("#open-lists").is_visible()  # phone width: lists in a drawer
    if drawer:
        await page.click("#open-lists")
    await page.fill("#add-list [name=name]", "Groceries")
    await page.press("#add-list [name=name]", "Enter")
    await expect(page.locator("#list-title")).to_have_text("Groceries")
    # the drawer closes once the new list is chosen
    await expect(page.locator("#open-lists")).to_have_attribute("aria-expanded", "false")
    for title in ("Oat milk", "Bread", "写周报"):
        await page.fill("#add-task [name=title]", title)
        await page.press("#add-task [name=title]", "Enter")
        await expect(task(page, title)).to_be_visible()
    await task(page, "Bread").locator(".check").click()
    await task(page, "Oat milk").locator(".details-toggle").click()
    details = task(page, "Oat milk").locator(".details")
    await details.locator("[name=description]").fill("The barista kind")
    await details.locator("[name=due]").fill("2030-01-15")
    await details.locator("[name=priority]").select_option("3")
    await details.locator("[name=labels]").fill("shop, dairy")
    await details.locator("button[type=submit]").click()
    await expect(task(page, "Oat milk").locator(".meta")).to_contain_text("dairy")
    await page.click("#share-list")
    await page.fill("#add-member [name=username]", friend)
    await page.click("#add-member button[type=submit]")
    await expect(page.locator("#members .member", has_text=friend)).to_be_visible()
    await page.click("#share-close")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_nothing_serious_on_any_screen(browser, processes, scheme):
    url = processes[0].url
    errors: list[str] = []
    found: list[dict[str, Any]] = []

    signed_out = await open_page(browser, url, errors, bypass_csp=True, color_scheme=scheme)
    await expect(signed_out.locator("#auth")).to_be_visible()
    found += await violations(signed_out, "sign-in")

    page = await a_board_with_everything(browser, url, errors, color_scheme=scheme, **DESKTOP)
    found += await violations(page, "board")
    await task(page, "Oat milk").locator(".details-toggle").click()
    await expect(task(page, "Oat milk").locator(".details")).to_be_visible()
    found += await violations(page, "task details")
    await page.click("#share-list")
    await expect(page.locator("#share-dialog")).to_be_visible()
    found += await violations(page, "sharing dialog")
    await page.click("#share-close")
    await page.click("#rename-list")
    await expect(page.locator("#ask-dialog")).to_be_visible()
    found += await violations(page, "rename dialog")
    await page.click("#ask-cancel")
    await page.click("#filters-toggle")
    await page.fill("#search", "oat")
    await page.select_option("#filter-label", "dairy")
    await expect(page.locator(".task")).to_have_count(1)
    found += await violations(page, "search and filters")
    await page.click("#reset-view")
    await task(page, "Bread").locator(".delete").click()
    await expect(page.locator("#undo-toast")).to_be_visible()
    found += await violations(page, "undo toast")
    await page.click("#undo")
    await page.click("#whoami")
    await expect(page.locator("#account-dialog #logins .login")).to_have_count(1)
    found += await violations(page, "account dialog")
    await page.click("#account-close")

    phone = await a_board_with_everything(browser, url, errors, color_scheme=scheme, **PHONE)
    found += await violations(phone, "phone board")
    await phone.click("#filters-toggle")
    await expect(phone.locator("#view-filters")).to_be_visible()
    found += await violations(phone, "phone filters")
    await phone.click("#filters-toggle")
    await phone.click("#open-lists")
    await expect(phone.locator("#sidebar")).to_be_visible()
    found += await violations(phone, "phone lists drawer")
    await phone.keyboard.press("Escape")

    # taskhub stopped: the offline banner, over a pending task
    await processes[0].stopped()
    await page.fill("#add-task [name=title]", "Written offline")
    await page.press("#add-task [name=title]", "Enter")
    await expect(page.locator("#offline-banner")).to_be_visible()
    await expect(task(page, "Written offline").locator(".pending-mark")).to_be_visible()
    found += await violations(page, "offline banner")

    # a title changed offline and, meanwhile, elsewhere: the offer to use it again
    await task(page, "Bread").locator(".title").click()
    await page.fill(".title-edit:not([hidden])", "Wholemeal bread")
    await page.press(".title-edit:not([hidden])", "Enter")
    async with httpx.AsyncClient(base_url=processes[1].url) as client:
        auth = {"Authorization": f"Bearer {await login(client, await page.inner_text('#whoami'))}"}
        listed = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
        (bread,) = [t for t in listed if t["title"] == "Bread"]
        changed = await client.patch(
            f"/api/tasks/{bread['id']}", json={"title": "Rye bread"}, headers=auth
        )
        assert changed.status_code == 200, changed.text
    await processes[0].started()
    await expect(page.locator("#conflict")).to_be_visible(timeout=40000)
    found += await violations(page, "conflict offer")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{scheme}.json").write_text(json.dumps(found, indent=2))
    assert found == [], json.dumps(found, indent=2)
    assert [e for e in unexpected(errors) if "412 (Precondition Failed)" not in e] == []


FOCUSABLE = """
(root) => [...document.querySelector(root).querySelectorAll(
    'button, input, select, textarea, a[href], [tabindex]')]
  .filter(e => e.tabIndex >= 0 && !e.disabled && e.getClientRects().length > 0
               && getComputedStyle(e).visibility !== 'hidden')
  .map(e => e.id || e.getAttribute('aria-label') || e.name || e.textContent.trim())
"""

FOCUS_SHOWN = """
() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
               || (s.boxShadow && s.boxShadow !== 'none');
  return {name: e.id || e.getAttribute('aria-label') || e.name || e.textContent.trim(), ring};
}
"""


async def tab_through(page: Page, root: str) -> tuple[set[str], set[str]]:
    """Presses Tab until every control in ``root`` was reached (or enough times): the
    controls never reached, and those reached without a visible focus."""
    wanted = set(await page.evaluate(FOCUSABLE, root))
    assert wanted, f"no control in {root}"
    reached: set[str] = set()
    unmarked: set[str] = set()
    for _ in range(4 * len(wanted) + 20):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUS_SHOWN)
        if focused is None:
            continue
        reached.add(focused["name"])
        if not focused["ring"]:
            unmarked.add(focused["name"])
        if wanted <= reached:
            break
    return wanted - reached, unmarked


async def test_tab_reaches_every_control_and_shows_the_focus(browser, processes):
    errors: list[str] = []
    page = await a_board_with_everything(browser, processes[0].url, errors, **DESKTOP)
    await page.click("#filters-toggle")  # its filters and sort are controls too
    assert {
        "New task title",
        "New list name",
        "logout",
        "whoami",
        "search",
        "sort",
        "clear-completed",
    } <= set(await page.evaluate(FOCUSABLE, "body"))
    await page.locator("body").focus()
    assert await tab_through(page, "body") == (set(), set())
    # the account dialog, opened from the keyboard: Tab stays in it and reaches all
    await page.locator("#whoami").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#account-dialog #logins .login")).to_have_count(1)
    assert await tab_through(page, "#account-dialog") == (set(), set())
    await page.keyboard.press("Escape")
    await expect(page.locator("#account-dialog")).to_be_hidden()
    assert errors == []
