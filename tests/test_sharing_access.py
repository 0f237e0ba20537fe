"""Who may do what with a shared list and its tasks: every role against every route and
every shape, as tables of (action, role) -> the expected answer.

The roles, on one list its owner shares: an ``editor``, a ``viewer``, a ``former``
member (an editor, then removed) and a ``stranger`` (never a member). The owner and
editors read and write the list's tasks; a viewer reads them and gets 403 on writes;
only the owner renames or deletes the list and manages its members. Whoever is not a
member learns nothing: every 404 answered here is compared, status, headers and body
byte for byte, with the 404 of the same request naming a missing id instead of each
thing the caller cannot reach. A refused write writes nothing.

One world (users, lists, a task) serves the whole module, on one event loop. Cases
that write do so on a task, or a shared list, made for them, so that no case depends
on another or on their order.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from harness.apps import Apps
from harness.database import fresh_store
from harness.lists import Member, member, new_list, share
from harness.live import close_clients, connect
from harness.tasks import create
from harness.users import me

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = ("owner", "editor", "viewer", "former", "stranger")
MEMBERS = ("owner", "editor", "viewer")
# Who holds no Todo-Backend URL of the list (a viewer, a stranger), and so uses the
# one of their own Inbox: it must not reach the list's tasks.
OWN_INBOX_URL = ("viewer", "stranger")
# Besides the roles: a viewer of every shared list here, who owns two lists of their
# own (one the owner, editor and viewer may only view, one none of them is in); and
# someone the owner adds.
OTHERS = ("bystander", "newcomer")

# What a 404 may not differ in, answering a real id or a missing one.
PER_RESPONSE_HEADERS = {"date", "x-request-id"}


def matrix(table: str) -> dict[str, dict[str, Any]]:
    """``{action: {role: expected}}`` from a table with a column per role."""
    lines = [line for line in table.strip().splitlines() if line.strip()]
    assert tuple(lines[0].split()) == ROLES, lines[0]
    rows = {}
    for line in lines[1:]:
        words = line.split()
        cells = [int(word) if word.isdigit() else word for word in words[-len(ROLES) :]]
        rows[" ".join(words[: -len(ROLES)])] = dict(zip(ROLES, cells, strict=True))
    return rows


# --- what is asked, and of what ---


@dataclass(frozen=True)
class Slots:
    """The ids one request names: a list, a task of it, a list to move the task to, the
    Todo-Backend capability the caller uses, and a word unique to the case."""

    list: str
    task: str
    target: str = ""
    cap: str = ""
    names: dict[str, str] = field(default_factory=dict)  # usernames: "me", the roles, OTHERS
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))

    def missing(self, names: set[str]) -> Slots:
        """The same, with a missing id, of the same shape, for each slot named."""
        fakes = {
            name: secrets.token_urlsafe(32) if name == "cap" else secrets.token_hex(12)
            for name in names
        }
        return replace(self, **fakes)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One request, and what it acts on. ``uses``: ``shared`` (the world's list and
    task, never written), ``task`` (a new task of that list), ``list`` (a new list,
    shared like the world's) or ``inbox`` (a new task of the caller's own Inbox).
    ``target``: where a move goes. ``observe``: what the owner looks at to tell that a
    refused write wrote nothing. ``owner_only``: a 403 must say it is the owner's."""

    request: Callable[[Slots], Request]
    uses: str = "shared"
    target: str | None = None
    observe: str | None = None
    owner_only: bool = False


def hidden(shape: str, role: str, action: Action) -> set[str]:
    """The slots naming something the role cannot reach through the shape: each must
    answer exactly as a missing one does."""
    slots = set() if role in MEMBERS else {"list", "task"}
    if shape == "classic":
        slots.add("task")  # it serves the caller's default list only
    if shape == "todo":
        if role == "former":
            slots.add("cap")
        if role in OWN_INBOX_URL:
            slots.add("task")
    if action.target == "hidden":
        slots.add("target")
    return slots


# --- the world ---


@dataclass(frozen=True)
class Shared:
    """A list shared by the owner with the editor and viewer (and the bystander), and
    with the former member until they were removed; a task of it; and the Todo-Backend
    capability the former member held while they were an editor."""

    id: str
    task: str
    title: str
    former_cap: str


@dataclass
class World:
    client: httpx.AsyncClient
    ws_url: str
    people: dict[str, Member]
    shared: Shared
    read_only: str
    hidden: str
    inbox_caps: dict[str, str]

    @property
    def owner(self) -> Member:
        return self.people["owner"]


def capability_of(url: str | None) -> str | None:
    return url.rsplit("/", 1)[1] if url else None


async def list_capability(client: httpx.AsyncClient, who: Member, list_id: str) -> str | None:
    """The Todo-Backend capability ``GET /api/lists/{id}`` shows the member, if any."""
    response = await client.get(f"/api/lists/{list_id}", headers=who.auth)
    assert response.status_code == 200, response.text
    return capability_of(response.json()["list"]["todos_url"])


async def shared_list(client: httpx.AsyncClient, people: dict[str, Member]) -> Shared:
    owner, former = people["owner"], people["former"]
    made = await new_list(client, owner, f"Shared {secrets.token_hex(3)}")
    list_id = made["id"]
    for name, role in (
        ("editor", "editor"),
        ("viewer", "viewer"),
        ("former", "editor"),
        ("bystander", "viewer"),
    ):
        await share(client, owner, list_id, people[name], role)
    task = await create(client, owner.auth, title=f"shared {secrets.token_hex(6)}", list_id=list_id)
    former_cap = await list_capability(client, former, list_id)
    assert former_cap is not None
    assert (await client.get(f"/todos/{former_cap}")).status_code == 200  # it worked, then
    removed = await client.delete(
        f"/api/lists/{list_id}/members/{former.username}", headers=owner.auth
    )
    assert removed.status_code == 204, removed.text
    return Shared(list_id, task["id"], task["title"], former_cap)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(mongodb_uri):
    async with fresh_store(mongodb_uri) as store:
        apps = Apps(store, mongodb_uri)
        try:
            served = await apps.start()
            async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
                people = {name: await member(client) for name in (*ROLES, *OTHERS)}
                bystander = people["bystander"]
                read_only = await new_list(client, bystander, "Read only")
                for name in MEMBERS:
                    await share(client, bystander, read_only["id"], people[name], "viewer")
                hidden_list = await new_list(client, bystander, "Hidden")
                inbox_caps = {}
                for name in OWN_INBOX_URL:
                    cap = capability_of((await me(client, people[name].auth))["todos_url"])
                    assert cap is not None
                    inbox_caps[name] = cap
                yield World(
                    client,
                    served.ws_url,
                    people,
                    await shared_list(client, people),
                    read_only["id"],
                    hidden_list["id"],
                    inbox_caps,
                )
        finally:
            await apps.close()


# --- running one case ---


async def slots_for(world: World, shape: str, role: str, action: Action) -> Slots:
    actor, owner = world.people[role], world.owner
    shared = world.shared
    task = shared.task
    if action.uses == "task":
        task = (await create(world.client, owner.auth, list_id=shared.id))["id"]
    elif action.uses == "list":
        shared = await shared_list(world.client, world.people)
        task = shared.task
    elif action.uses == "inbox":
        task = (await create(world.client, actor.auth))["id"]
    targets = {"own": actor.id, "read-only": world.read_only, "hidden": world.hidden}
    cap = ""
    if shape == "todo":
        if role in OWN_INBOX_URL:
            cap = world.inbox_caps[role]
        elif role == "former":
            cap = shared.former_cap
        else:
            found = await list_capability(world.client, actor, shared.id)
            assert found is not None, f"the {role} has no todos_url"
            cap = found
    names = {name: who.username for name, who in world.people.items()}
    names["me"] = actor.username
    return Slots(shared.id, task, targets.get(action.target or "", ""), cap, names)


async def send(world: World, shape: str, role: str, request: Request) -> httpx.Response:
    headers = dict(request.headers)
    if shape != "todo":  # the capability is the Todo-Backend's only credential
        headers.update(world.people[role].auth)
    return await world.client.request(
        request.method, request.path, json=request.body, headers=headers
    )


async def observe(world: World, what: str, slots: Slots) -> Any:
    """What the owner sees of what a write would change."""
    paths = {
        "task": [f"/api/tasks/{slots.task}"],
        "created": [f"/api/tasks?list_id={slots.list}&q={slots.nonce}"],
        "list": [
            f"/api/lists/{slots.list}",
            f"/api/lists/{slots.list}/members",
            f"/api/tasks?list_id={slots.list}",
        ],
    }[what]
    seen = []
    for path in paths:
        response = await world.client.get(path, headers=world.owner.auth)
        seen.append((response.status_code, response.json()))
    return seen


def assert_same_answer(real: httpx.Response, missing: httpx.Response) -> None:
    def headers(response: httpx.Response) -> dict[str, str]:
        return {
            name.lower(): value
            for name, value in response.headers.items()
            if name.lower() not in PER_RESPONSE_HEADERS
        }

    assert real.status_code == missing.status_code
    assert real.content == missing.content
    assert headers(real) == headers(missing)


async def check(world: World, shape: str, action: Action, role: str, expected: int) -> None:
    slots = await slots_for(world, shape, role, action)
    before = await observe(world, action.observe, slots) if action.observe else None
    request = action.request(slots)
    response = await send(world, shape, role, request)
    assert response.status_code == expected, response.text

    if expected == 404:
        twin = action.request(slots.missing(hidden(shape, role, action)))
        assert twin != request
        assert_same_answer(response, await send(world, shape, role, twin))
    if expected == 403 and action.owner_only:
        assert response.json()["error"]["message"] == "only the list's owner may do this"
    reached = expected < 300 and not (shape == "todo" and role in OWN_INBOX_URL)
    if action.observe and not reached:
        assert await observe(world, action.observe, slots) == before, "a refused write wrote"


def cases(table: dict[str, dict[str, Any]], actions: dict[str, Any]) -> list[Any]:
    """One case per cell of the table, named "role: action"."""
    assert list(table) == list(actions)
    return [
        pytest.param(name, role, expected, id=f"{role}: {name}")
        for name, row in table.items()
        for role, expected in row.items()
    ]


# --- the native API ---

NATIVE = matrix("""
                                              owner  editor  viewer  former  stranger
    read the task                               200     200     200     404       404
    read the task, If-None-Match its version    304     304     304     404       404
    read the list                               200     200     200     404       404
    read its members                            200     200     200     404       404
    list its tasks                              200     200     200     404       404
    create a task in it                         201     201     403     404       404
    change the task                             200     200     403     404       404
    replace the task                            200     200     403     404       404
    change the task, If-Match a stale version   412     412     403     404       404
    delete the task                             204     204     403     404       404
    move the task to one's own Inbox            200     200     403     404       404
    move it to a list one only views            403     403     403     404       404
    move it to a list one is not in             404     404     403     404       404
""")

NATIVE_ACTIONS = {
    "read the task": Action(lambda s: Request("GET", f"/api/tasks/{s.task}")),
    "read the task, If-None-Match its version": Action(
        lambda s: Request("GET", f"/api/tasks/{s.task}", headers={"If-None-Match": '"1"'})
    ),
    "read the list": Action(lambda s: Request("GET", f"/api/lists/{s.list}")),
    "read its members": Action(lambda s: Request("GET", f"/api/lists/{s.list}/members")),
    "list its tasks": Action(lambda s: Request("GET", f"/api/tasks?list_id={s.list}")),
    "create a task in it": Action(
        lambda s: Request("POST", "/api/tasks", {"title": s.nonce, "list_id": s.list}),
        observe="created",
    ),
    "change the task": Action(
        lambda s: Request("PATCH", f"/api/tasks/{s.task}", {"done": True}),
        uses="task",
        observe="task",
    ),
    "replace the task": Action(
        lambda s: Request("PUT", f"/api/tasks/{s.task}", {"title": "replaced"}),
        uses="task",
        observe="task",
    ),
    "change the task, If-Match a stale version": Action(
        lambda s: Request(
            "PATCH", f"/api/tasks/{s.task}", {"title": "late"}, headers={"If-Match": '"99"'}
        ),
        uses="task",
        observe="task",
    ),
    "delete the task": Action(
        lambda s: Request("DELETE", f"/api/tasks/{s.task}"), uses="task", observe="task"
    ),
    **{
        name: Action(
            lambda s: Request("PATCH", f"/api/tasks/{s.task}", {"list_id": s.target}),
            uses="task",
            target=target,
            observe="task",
        )
        for name, target in (
            ("move the task to one's own Inbox", "own"),
            ("move it to a list one only views", "read-only"),
            ("move it to a list one is not in", "hidden"),
        )
    },
}


@pytest.mark.parametrize(("action", "role", "expected"), cases(NATIVE, NATIVE_ACTIONS))
async def test_native_api(world, action, role, expected):
    await check(world, "native", NATIVE_ACTIONS[action], role, expected)


# --- managing the list ---

LIST_MANAGEMENT = matrix("""
                                              owner  editor  viewer  former  stranger
    rename the list                             200     403     403     404       404
    delete the list                             204     403     403     404       404
    add a member                                200     403     403     404       404
    change a member's role                      200     403     403     404       404
    remove a member                             204     403     403     404       404
    leave the list                              409     204     204     404       404
    get a new todos_url for it                  200     200     403     404       404
""")


def member_path(s: Slots, who: str) -> str:
    return f"/api/lists/{s.list}/members/{s.names[who]}"


def owners(request: Callable[[Slots], Request]) -> Action:
    return Action(request, uses="list", observe="list", owner_only=True)


LIST_ACTIONS = {
    "rename the list": owners(
        lambda s: Request("PATCH", f"/api/lists/{s.list}", {"name": "Renamed"})
    ),
    "delete the list": owners(lambda s: Request("DELETE", f"/api/lists/{s.list}")),
    "add a member": owners(
        lambda s: Request("PUT", member_path(s, "newcomer"), {"role": "viewer"})
    ),
    "change a member's role": owners(
        lambda s: Request("PUT", member_path(s, "viewer"), {"role": "editor"})
    ),
    "remove a member": owners(lambda s: Request("DELETE", member_path(s, "bystander"))),
    "leave the list": Action(
        lambda s: Request("DELETE", member_path(s, "me")), uses="list", observe="list"
    ),
    "get a new todos_url for it": Action(
        lambda s: Request("POST", f"/api/lists/{s.list}/todos_url"), uses="list", observe="list"
    ),
}


@pytest.mark.parametrize(("action", "role", "expected"), cases(LIST_MANAGEMENT, LIST_ACTIONS))
async def test_list_management(world, action, role, expected):
    await check(world, "native", LIST_ACTIONS[action], role, expected)


# --- the classic shape: the caller's default list only ---

CLASSIC = matrix("""
                                              owner  editor  viewer  former  stranger
    read a task of the shared list              404     404     404     404       404
    change it                                   404     404     404     404       404
    delete it                                   404     404     404     404       404
    read a task of one's own Inbox              200     200     200     200       200
""")

CLASSIC_TASK = "/todo/api/v1.0/tasks/{}"

CLASSIC_ACTIONS = {
    "read a task of the shared list": Action(lambda s: Request("GET", CLASSIC_TASK.format(s.task))),
    "change it": Action(
        lambda s: Request("PUT", CLASSIC_TASK.format(s.task), {"done": True}),
        uses="task",
        observe="task",
    ),
    "delete it": Action(
        lambda s: Request("DELETE", CLASSIC_TASK.format(s.task)), uses="task", observe="task"
    ),
    "read a task of one's own Inbox": Action(
        lambda s: Request("GET", CLASSIC_TASK.format(s.task)), uses="inbox"
    ),
}


@pytest.mark.parametrize(("action", "role", "expected"), cases(CLASSIC, CLASSIC_ACTIONS))
async def test_classic_shape(world, action, role, expected):
    await check(world, "classic", CLASSIC_ACTIONS[action], role, expected)


# --- the Todo-Backend shape: the owner's and editors' URL of the list (from GET
# /api/lists/{id}); the URL the former member held; the viewer's and stranger's own
# Inbox URL, as they have none for the list ---

TODO_BACKEND = matrix("""
                                              owner  editor  viewer  former  stranger
    list the todos                              200     200     200     404       200
    add a todo                                  201     201     201     404       201
    read the task                               200     200     404     404       404
    change it                                   200     200     404     404       404
    delete it                                   204     204     404     404       404
    delete all todos                            204     204     204     404       204
""")

TODO_ACTIONS = {
    "list the todos": Action(lambda s: Request("GET", f"/todos/{s.cap}")),
    "add a todo": Action(
        lambda s: Request("POST", f"/todos/{s.cap}", {"title": s.nonce}), observe="created"
    ),
    "read the task": Action(lambda s: Request("GET", f"/todos/{s.cap}/{s.task}")),
    "change it": Action(
        lambda s: Request("PATCH", f"/todos/{s.cap}/{s.task}", {"completed": True}),
        uses="task",
        observe="task",
    ),
    "delete it": Action(
        lambda s: Request("DELETE", f"/todos/{s.cap}/{s.task}"), uses="task", observe="task"
    ),
    "delete all todos": Action(
        lambda s: Request("DELETE", f"/todos/{s.cap}"), uses="list", observe="list"
    ),
}


@pytest.mark.parametrize(("action", "role", "expected"), cases(TODO_BACKEND, TODO_ACTIONS))
async def test_todo_backend_shape(world, action, role, expected):
    await check(world, "todo", TODO_ACTIONS[action], role, expected)


# --- what each role is shown: listings, the list's URL, live and catch-up ---

SHOWN = matrix("""
                                              owner  editor  viewer  former  stranger
    the list, in GET /api/lists                 yes     yes     yes      no        no
    its task, in GET /api/tasks                 yes     yes     yes      no        no
    its task, in GET /todo/api/v1.0/tasks        no      no      no      no        no
    its task, at one's Todo-Backend URL         yes     yes      no      no        no
    a todos_url, in GET /api/lists/{id}         yes     yes      no      no        no
    its changes, on a live socket               yes     yes     yes      no        no
    its changes, in GET /api/changes?since=     yes     yes     yes      no        no
    its changes, from /api/live?since=          yes     yes     yes      no        no
""")

TASK_CHANGES = ("task.created", "task.updated", "task.deleted")


async def get_json(world: World, who: Member, path: str) -> Any:
    response = await world.client.get(path, headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()


async def in_lists(world: World, who: Member) -> bool:
    lists = (await get_json(world, who, "/api/lists"))["lists"]
    return world.shared.id in [entry["id"] for entry in lists]


async def in_tasks(world: World, who: Member) -> bool:
    tasks = (await get_json(world, who, f"/api/tasks?q={world.shared.title}"))["tasks"]
    return world.shared.task in [task["id"] for task in tasks]


async def in_classic(world: World, who: Member) -> bool:
    tasks = (await get_json(world, who, "/todo/api/v1.0/tasks"))["tasks"]
    return any(task["uri"].endswith("/" + world.shared.task) for task in tasks)


async def at_todos_url(world: World, who: Member, role: str) -> bool:
    slots = await slots_for(world, "todo", role, Action(lambda s: Request("GET", "")))
    response = await world.client.get(f"/todos/{slots.cap}")
    if role == "former":
        assert response.status_code == 404
        return False
    assert response.status_code == 200, response.text
    return any(todo["url"].endswith("/" + world.shared.task) for todo in response.json())


async def todos_url_shown(world: World, who: Member) -> bool:
    response = await world.client.get(f"/api/lists/{world.shared.id}", headers=who.auth)
    if response.status_code == 404:
        return False
    assert response.status_code == 200, response.text
    return response.json()["list"]["todos_url"] is not None


async def owner_changes_a_task(world: World) -> str:
    """The owner creates, changes and deletes a task of the shared list: its id."""
    owner = world.owner
    task = await create(world.client, owner.auth, list_id=world.shared.id)
    path = f"/api/tasks/{task['id']}"
    changed = await world.client.patch(path, json={"done": True}, headers=owner.auth)
    assert changed.status_code == 200, changed.text
    assert (await world.client.delete(path, headers=owner.auth)).status_code == 204
    return task["id"]


def about(messages: list[Any], task_id: str) -> list[str]:
    """The task changes among ``messages`` about the task, by type."""
    return [
        m["type"]
        for m in messages
        if isinstance(m, dict) and m.get("type") in TASK_CHANGES and m["task"]["id"] == task_id
    ]


def all_or_nothing(kinds: list[str]) -> bool:
    assert kinds in ([], list(TASK_CHANGES)), kinds
    return bool(kinds)


async def marker(world: World, who: Member) -> str:
    """A task of the caller's own Inbox: a change they are told of, after the others."""
    return (await create(world.client, who.auth, title="marker"))["id"]


async def on_live_socket(world: World, who: Member) -> bool:
    socket = await connect(world.ws_url, token=who.token)
    try:
        await socket.ready()
        task_id = await owner_changes_a_task(world)
        # each user's changes come in seq order: the marker comes after any of the
        # shared task's changes they were told of, so nothing of those is still to come
        mark = await marker(world, who)
        await socket.until(lambda m: m.get("type") == "task.created" and m["task"]["id"] == mark)
        return all_or_nothing(about(socket.received, task_id))
    finally:
        close_clients()


async def seq_now(world: World, who: Member) -> int:
    return (await get_json(world, who, "/api/changes"))["seq"]


async def in_changes(world: World, who: Member) -> bool:
    since = await seq_now(world, who)
    task_id = await owner_changes_a_task(world)
    answer = await get_json(world, who, f"/api/changes?since={since}&limit=1000")
    assert answer["more"] is False
    return all_or_nothing(about(answer["changes"], task_id))


async def from_live_catch_up(world: World, who: Member) -> bool:
    since = await seq_now(world, who)
    task_id = await owner_changes_a_task(world)
    socket = await connect(world.ws_url, token=who.token, since=since)
    try:
        assert (await socket.ready())["type"] == "ready"
        return all_or_nothing(about(socket.received, task_id))
    finally:
        close_clients()


SHOWN_PROBES: dict[str, Callable[[World, Member, str], Any]] = {
    "the list, in GET /api/lists": lambda w, who, _: in_lists(w, who),
    "its task, in GET /api/tasks": lambda w, who, _: in_tasks(w, who),
    "its task, in GET /todo/api/v1.0/tasks": lambda w, who, _: in_classic(w, who),
    "its task, at one's Todo-Backend URL": at_todos_url,
    "a todos_url, in GET /api/lists/{id}": lambda w, who, _: todos_url_shown(w, who),
    "its changes, on a live socket": lambda w, who, _: on_live_socket(w, who),
    "its changes, in GET /api/changes?since=": lambda w, who, _: in_changes(w, who),
    "its changes, from /api/live?since=": lambda w, who, _: from_live_catch_up(w, who),
}


@pytest.mark.parametrize(("shown", "role", "expected"), cases(SHOWN, SHOWN_PROBES))
async def test_what_each_role_is_shown(world, shown, role, expected):
    assert expected in ("yes", "no")
    seen = await SHOWN_PROBES[shown](world, world.people[role], role)
    assert seen == (expected == "yes")


# --- roles that change ---


async def test_an_editor_made_a_viewer_writes_no_more(world):
    """An editor made a viewer gets 403 on writes, and their Todo-Backend URL of the
    list answers as a missing one does; so does the former member's, once they are
    back as a viewer."""
    client, owner, editor = world.client, world.owner, world.people["editor"]
    shared = await shared_list(client, world.people)
    cap = await list_capability(client, editor, shared.id)
    assert (await client.get(f"/todos/{cap}")).status_code == 200
    await share(client, owner, shared.id, editor, "viewer")
    await share(client, owner, shared.id, world.people["former"], "viewer")

    assert await list_capability(client, editor, shared.id) is None
    for dead in (cap, shared.former_cap):
        answer = await client.get(f"/todos/{dead}/{shared.task}")
        assert answer.status_code == 404
        missing = await client.get(f"/todos/{secrets.token_urlsafe(32)}/{shared.task}")
        assert_same_answer(answer, missing)
    path = f"/api/tasks/{shared.task}"
    refused = await client.patch(path, json={"done": True}, headers=editor.auth)
    assert refused.status_code == 403, refused.text
    assert (await client.get(path, headers=editor.auth)).json()["task"]["version"] == 1
