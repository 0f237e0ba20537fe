"""The browser client in real headless Chromium (Debian's, driven by Playwright):
two browsers signed in as one user on two taskhub processes see each other's changes
within a second; a third user sees none of them; a page whose process went away
counts down to its next try, reconnects and catches up. A list shared by its owner
with an editor and a viewer, each in their own browser: the editor sees it and its
changes live, the viewer (at phone width, lists in a drawer) gets no edit controls,
and a refused write explains itself. Screenshots land in tests/artifacts/ for a
person to see."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness.browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    WITHIN,
    open_page,
    sign_in,
    task,
    titles,
)
from harness.processes import TaskhubProcess
from harness.users import PASSWORD, login, register
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration


async def test_two_browsers_one_user_two_processes(browser, processes, store, tmp_path):
    a, b = processes
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(base_url=a.url) as client:
        username = await register(client)
    errors: list[str] = []

    first = await open_page(browser, a.url, errors, **DESKTOP)
    await expect(first.locator("#auth")).to_be_visible()
    await first.screenshot(path=ARTIFACTS / "sign-in.png")
    await sign_in(first, username)
    second = await open_page(browser, b.url, errors, **PHONE)
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
    await first.click("#undo-dismiss")  # no Undo wanted: the delete goes now
    await expect(task(second, "Throw this away")).to_have_count(0, timeout=WITHIN)

    # the other user's board shows none of it
    await expect(third.locator(".task")).to_have_count(0)
    await expect(third.locator("#empty")).to_be_visible()

    await first.screenshot(path=ARTIFACTS / "board-desktop.png")
    await second.screenshot(path=ARTIFACTS / "board-phone.png")

    # the phone's process goes away: the page says so, counting down to its next try,
    # and catches up once it is back
    await b.stopped()
    pill = second.locator("#live-status")
    await expect(pill).to_have_attribute("data-state", "offline")
    await expect(pill).to_have_text(re.compile(r"retrying in [3-9]s"), timeout=15000)
    left = int(re.findall(r"\d+", await pill.inner_text())[0])
    await expect(pill).to_have_text(re.compile(rf"retrying in {left - 1}s"), timeout=1500)
    await first.fill("#add-task [name=title]", "Added while you were away")
    await first.press("#add-task [name=title]", "Enter")
    await task(first, "Call the plumber").locator(".delete").click()
    await first.click("#undo-dismiss")
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


def member_row(page: Page, username: str):
    return page.locator("#members .member", has_text=username)


async def test_shared_list_owner_editor_viewer(browser, processes, store, tmp_path):
    a, b = processes
    # a third process without live updates: a page on it learns of nothing by itself
    c = await TaskhubProcess(
        "--live=false", data_dir=tmp_path, mongodb_uri=a.mongodb_uri, database=a.database
    ).started()
    processes.append(c)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(base_url=a.url) as client:
        owner_name, editor_name, viewer_name = [await register(client) for _ in range(3)]
    errors: list[str] = []
    owner = await open_page(browser, a.url, errors, **DESKTOP)
    await sign_in(owner, owner_name)
    editor = await open_page(browser, b.url, errors, **DESKTOP)
    await sign_in(editor, editor_name)
    viewer = await open_page(browser, a.url, errors, **PHONE)
    await sign_in(viewer, viewer_name)
    # the editor's other tab, on the process without live updates: it says so
    stale = await open_page(browser, c.url, errors, **DESKTOP)
    await stale.fill("#auth-form [name=username]", editor_name)
    await stale.fill("#auth-form [name=password]", PASSWORD)
    await stale.click("#auth-submit")
    await expect(stale.locator("#live-status")).to_have_text("Live updates off")
    await expect(stale.locator("#live-status")).to_have_attribute("data-state", "off")

    # each has their Inbox, first
    for page in (owner, editor, viewer):
        await expect(page.locator("#lists .list-label")).to_have_text(["All", "Inbox"])

    # the owner creates a list and renames it
    await owner.fill("#add-list [name=name]", "Groceries")
    await owner.press("#add-list [name=name]", "Enter")
    await expect(owner.locator("#list-title")).to_have_text("Groceries")
    await expect(owner.locator("#lists .list-label")).to_have_text(["All", "Inbox", "Groceries"])
    await owner.click("#rename-list")
    await owner.fill("#ask-form [name=value]", "Groceries 🛒")
    await owner.press("#ask-form [name=value]", "Enter")
    await expect(owner.locator("#list-title")).to_have_text("Groceries 🛒")
    await expect(owner.locator("#delete-list")).to_be_visible()

    # ... and shares it: an editor and a viewer, added by username with a role
    await owner.click("#share-list")
    dialog = owner.locator("#share-dialog")
    await expect(dialog).to_be_visible()
    await expect(member_row(owner, owner_name)).to_contain_text("Owner")
    for username, role in ((editor_name, "editor"), (viewer_name, "viewer")):
        await dialog.get_by_label("Username").fill(username)
        await dialog.locator("#add-member [name=role]").select_option(role)
        await dialog.locator("#add-member [type=submit]").click()
        await expect(member_row(owner, username)).to_be_visible()
    # an unknown username is said in the dialog
    await dialog.get_by_label("Username").fill("nobody_" + owner_name)
    await dialog.locator("#add-member [type=submit]").click()
    await expect(owner.locator("#share-error")).to_be_visible()
    await expect(
        member_row(owner, viewer_name).get_by_label(f"Role of {viewer_name}")
    ).to_have_value("viewer")
    await owner.screenshot(path=ARTIFACTS / "board-sharing.png")
    await owner.click("#share-close")
    await expect(dialog).to_be_hidden()

    # the editor's browser shows the list at once, with whose it is
    shared = editor.locator("#lists .list-link", has_text="Groceries 🛒")
    await expect(shared).to_be_visible(timeout=WITHIN)
    await expect(shared).to_contain_text(f"{owner_name} · editor")
    await shared.click()
    await expect(editor.locator("#list-title")).to_have_text("Groceries 🛒")
    await expect(editor.locator("#rename-list")).to_be_hidden()
    await expect(editor.locator("#delete-list")).to_be_hidden()

    # a task the owner adds appears there live; one the editor adds, at the owner's
    await owner.fill("#add-task [name=title]", "Oat milk")
    await owner.press("#add-task [name=title]", "Enter")
    await expect(task(editor, "Oat milk")).to_be_visible(timeout=WITHIN)
    await editor.fill("#add-task [name=title]", "Bread")
    await editor.press("#add-task [name=title]", "Enter")
    await expect(task(owner, "Bread")).to_be_visible(timeout=WITHIN)
    await expect(task(owner, "Bread")).to_contain_text(f"changed by {editor_name}")

    # the editor gives "Oat milk" its details; the owner sees them, and who did it
    await task(editor, "Oat milk").locator(".details-toggle").click()
    details = task(editor, "Oat milk").locator(".details")
    await expect(details).to_be_visible()
    await details.get_by_label("Description").fill("The barista kind")
    today = await editor.evaluate(
        "() => { const d = new Date(); return d.getFullYear() + '-' +"
        " String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0'); }"
    )
    await details.get_by_label("Due").fill(today)
    await details.get_by_label("Priority").select_option("3")
    await details.get_by_label("Labels").fill("dairy, weekly, dairy")
    await details.get_by_role("button", name="Save").click()
    await expect(details).to_be_hidden()
    oat = task(owner, "Oat milk")
    await expect(oat.locator(".description")).to_have_text("The barista kind", timeout=WITHIN)
    await expect(oat.locator(".chip")).to_have_text(
        ["Due today", "High", "#dairy", "#weekly", f"changed by {editor_name}"]
    )
    stored = await store.db.tasks.find_one({"title": "Oat milk"})
    assert stored is not None and stored["labels"] == ["dairy", "weekly"]
    # in All, each task says which list it is in
    await owner.locator("#lists .list-link", has_text="All").click()
    await expect(task(owner, "Oat milk").locator(".chip.in-list")).to_have_text("Groceries 🛒")
    await owner.locator("#lists .list-link", has_text="Groceries").click()
    await task(owner, "Oat milk").locator(".details-toggle").click()
    await expect(task(owner, "Oat milk").locator(".changed")).to_contain_text(
        f"Last changed by {editor_name}"
    )
    await owner.screenshot(path=ARTIFACTS / "board-details.png")
    await task(owner, "Oat milk").locator(".details .cancel").click()

    # the viewer, at phone width: the lists are in a drawer
    await expect(viewer.locator("#sidebar")).to_be_hidden()
    await viewer.click("#open-lists")
    await expect(viewer.locator("#sidebar")).to_be_visible()
    await expect(viewer.locator("#open-lists")).to_have_attribute("aria-expanded", "true")
    await expect(viewer.locator("#lists .list-label")).to_have_text(
        ["All", "Inbox", "Groceries 🛒"]
    )
    # slid all the way in, and the keyboard is in it
    await viewer.wait_for_function(
        "() => document.getElementById('sidebar').getBoundingClientRect().left >= 0"
    )
    await expect(viewer.locator("#lists [aria-current=page]")).to_be_focused()
    await viewer.screenshot(path=ARTIFACTS / "board-phone-drawer.png")
    await viewer.keyboard.press("Escape")
    await expect(viewer.locator("#sidebar")).to_be_hidden()
    await expect(viewer.locator("#open-lists")).to_be_focused()
    await viewer.click("#open-lists")
    await viewer.locator("#lists .list-link", has_text="Groceries").click()
    await expect(viewer.locator("#sidebar")).to_be_hidden()
    await expect(viewer.locator("#list-title")).to_have_text("Groceries 🛒")
    # ... and sees the tasks, with no control to change them
    await expect(viewer.locator(".task .title")).to_have_text(["Oat milk", "Bread"])
    await expect(viewer.locator("#add-task")).to_be_hidden()
    for control in (".check", ".actions", ".details", "button.title", ".title-edit"):
        await expect(viewer.locator(f".task {control}")).to_have_count(0)
    await expect(viewer.locator("#notice")).to_contain_text("viewer")
    await expect(viewer.locator("#rename-list")).to_be_hidden()
    await viewer.screenshot(path=ARTIFACTS / "board-phone-viewer.png")

    # the editor's tab without live updates learns of the list when loaded again
    await stale.reload()
    await stale.locator("#lists .list-link", has_text="Groceries").click()
    await expect(task(stale, "Oat milk")).to_be_visible()
    await expect(task(stale, "Bread").locator(".check")).to_have_count(1)

    # the owner makes the editor a viewer: the editor's live page drops its controls
    await owner.click("#share-list")
    await (
        member_row(owner, editor_name)
        .get_by_label(f"Role of {editor_name}")
        .select_option("viewer")
    )
    await expect(editor.locator(".task .check")).to_have_count(0, timeout=WITHIN)
    await expect(editor.locator("#add-task")).to_be_hidden()
    # the tab without live updates still offers them: a refusal explains itself
    await task(stale, "Bread").locator(".check").click()
    await expect(stale.locator("#notice")).to_contain_text(
        f"You are a viewer of “Groceries 🛒”: you can read it, but only its owner ({owner_name})"
    )
    await expect(task(stale, "Bread").locator(".check")).to_have_count(0)
    await expect(task(owner, "Bread")).not_to_have_class(re.compile("done"))

    # the viewer leaves; the owner's open dialog sees it, and removes the other member
    await viewer.click("#share-list")
    await expect(viewer.locator("#add-member")).to_be_hidden()
    await viewer.click("#leave-list")
    await expect(viewer.locator("#list-title")).to_have_text("All")
    await expect(member_row(owner, viewer_name)).to_have_count(0, timeout=WITHIN)
    await member_row(owner, editor_name).get_by_role("button", name=f"Remove {editor_name}").click()
    await expect(member_row(owner, editor_name)).to_have_count(0)
    await expect(editor.locator("#lists .list-label")).to_have_text(
        ["All", "Inbox"], timeout=WITHIN
    )
    await expect(editor.locator("#list-title")).to_have_text("All")
    await expect(task(editor, "Oat milk")).to_have_count(0)
    await owner.click("#share-close")

    # the owner deletes the list; the Inbox offers no Delete
    await owner.click("#delete-list")
    await expect(owner.locator("#ask-dialog")).to_contain_text("2 tasks")
    await owner.click("#ask-ok")
    await expect(owner.locator("#lists .list-label")).to_have_text(["All", "Inbox"])
    await owner.locator("#lists .list-link", has_text="Inbox").click()
    await expect(owner.locator("#delete-list")).to_be_hidden()
    assert await store.db.tasks.count_documents({"title": {"$in": ["Oat milk", "Bread"]}}) == 0
    # the browser logs the two refusals asked for (the unknown username, the stale
    # tab's write), and nothing else went wrong
    assert errors == [
        f"{a.url}: Failed to load resource: the server responded with a status of 404 (Not Found)",
        f"{c.url}: Failed to load resource: the server responded with a status of 403 (Forbidden)",
    ]


async def test_due_dates_read_on_the_users_own_calendar(browser, processes):
    """Due dates show as today, tomorrow or overdue on the calendar of the browser's
    time zone: a moment that is still today in UTC is already tomorrow in Auckland."""
    a, _ = processes
    zone = ZoneInfo("Pacific/Auckland")
    now = datetime.now(zone)
    day = now.date()
    tomorrow_9am = datetime.combine(day + timedelta(days=1), dt_time(9), zone)
    dues = {
        "Pay the rent": (day - timedelta(days=2)).isoformat(),
        "Water the plants": day.isoformat(),
        "Call mum": tomorrow_9am.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "Old and done": (day - timedelta(days=5)).isoformat(),
        "Someday": None,
    }
    async with httpx.AsyncClient(base_url=a.url) as client:
        username = await register(client)
        auth = {"Authorization": f"Bearer {await login(client, username)}"}
        for title, due in dues.items():
            body = {"title": title, "due": due, "done": title == "Old and done"}
            response = await client.post("/api/tasks", json=body, headers=auth)
            assert response.status_code == 201, response.text
    errors: list[str] = []
    page = await open_page(browser, a.url, errors, timezone_id="Pacific/Auckland", locale="en-GB")
    await sign_in(page, username)
    await expect(task(page, "Pay the rent").locator(".chip.due")).to_have_text(
        re.compile(r"^Overdue · ")
    )
    await expect(task(page, "Water the plants").locator(".chip.due")).to_have_text("Due today")
    await expect(task(page, "Call mum").locator(".chip.due")).to_have_text("Due tomorrow 09:00")
    await expect(task(page, "Old and done").locator(".chip.due")).to_have_text(re.compile(r"^Due "))
    await expect(task(page, "Someday").locator(".chip.due")).to_have_count(0)
    # the date picker shows the day where the user is, and clearing it clears the due date
    await task(page, "Call mum").locator(".details-toggle").click()
    due = task(page, "Call mum").locator(".details [name=due]")
    await expect(due).to_have_value((day + timedelta(days=1)).isoformat())
    await due.fill("")
    await task(page, "Call mum").get_by_role("button", name="Save").click()
    await expect(task(page, "Call mum").locator(".chip.due")).to_have_count(0)
    assert errors == []
