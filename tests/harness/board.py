"""The board's JavaScript as a browser loads it: the module the page names, then every
module it imports, relative to it."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx

# What browsers accept for a module script under X-Content-Type-Options: nosniff.
JAVASCRIPT_TYPES = ("text/javascript", "application/javascript")

ENTRY = re.compile(r'<script type="module" src="([^"]+)"></script>')
IMPORT = re.compile(r'^import [^;]* from "(\./[\w.-]+\.js)";', re.MULTILINE)


async def board_modules(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """Each module's path (without query) -> its answer, following imports from the
    board page's entry module."""
    page = await client.get("/")
    assert page.status_code == 200, page.text
    entry = ENTRY.search(page.text)
    assert entry, "the board page names no module script"
    answers: dict[str, httpx.Response] = {}
    waiting = [entry.group(1)]
    while waiting:
        url = waiting.pop()
        path = urlsplit(url).path
        if path in answers:
            continue
        answers[path] = response = await client.get(url)
        if response.status_code == 200:
            waiting += [urljoin(path, name) for name in IMPORT.findall(response.text)]
    return answers


def assert_served_as_javascript(answers: dict[str, httpx.Response]) -> None:
    for path, response in answers.items():
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].split(";")[0] in JAVASCRIPT_TYPES, path
