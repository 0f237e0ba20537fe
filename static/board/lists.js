// Lists: the sidebar and the head of the list shown, choosing a list (kept in the
// URL's #list/<id>), and creating, renaming and deleting lists.

import { api, newKey } from "./api.js";
import { ask, toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { closeDrawer } from "./drawer.js";
import { loadLists, loadTasks } from "./loading.js";
import { renderAll } from "./render.js";
import { openSharing } from "./sharing.js";
import { ROLE_NAMES, currentList, inbox, mine, orderedLists, state, upsertList } from "./state.js";
import { write } from "./writes.js";

export function forgetList(id) {
  state.lists.delete(id);
  for (const [taskId, task] of state.tasks) if (task.list_id === id) state.tasks.delete(taskId);
  if (state.current === id) select("all", { focus: false });
  if (state.sharing && state.sharing.id === id) $("#share-dialog").close();
}

export function select(id, { focus = true } = {}) {
  state.current = state.lists.has(id) ? id : "all";
  history.replaceState(null, "", state.current === "all" ? location.pathname : `#list/${state.current}`);
  $("#notice").hidden = true;
  closeDrawer(false);
  renderAll();
  if (state.current !== "all") loadTasks(state.current);
  if (focus) $("#list-title").focus();
}

export function fromHash() {
  const match = location.hash.match(/^#list\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : "all";
}

export async function createList(name) {
  const answer = await write(() => api("POST", "/api/lists", { body: { name }, key: newKey() }));
  if (!answer) return null;
  upsertList(answer.list);
  select(answer.list.id);
  return answer;
}

export async function renameList(list) {
  const name = await ask({
    title: "Rename list",
    message: "",
    value: list.name,
    ok: "Rename",
  });
  if (!name || name === list.name) return;
  const answer = await write(
    () => api("PATCH", `/api/lists/${encodeURIComponent(list.id)}`, { body: { name }, version: list.version }),
    list.id
  );
  if (answer) {
    upsertList(answer.list);
    renderAll();
  } else {
    loadLists();
  }
}

export async function deleteList(list) {
  const count = [...state.tasks.values()].filter((t) => t.list_id === list.id).length;
  const sure = await ask({
    title: `Delete “${list.name}”?`,
    message:
      `The list goes with its ${count === 1 ? "task" : `${count} tasks`}, for everyone it is shared with. ` +
      "This cannot be undone.",
    ok: "Delete list",
    danger: true,
  });
  if (!sure) return;
  const done = await write(
    () => api("DELETE", `/api/lists/${encodeURIComponent(list.id)}`, { version: list.version }),
    list.id
  );
  if (done !== null) {
    forgetList(list.id);
    renderAll();
    toast(`Deleted “${list.name}”.`);
  } else {
    loadLists();
  }
}

export function renderLists() {
  const ul = $("#lists");
  const entry = (id, name, detail, count) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "list-link";
    button.dataset.list = id;
    if (state.current === id) button.setAttribute("aria-current", "page");
    const label = document.createElement("span");
    label.className = "list-label";
    label.textContent = name;
    button.append(label);
    if (detail) {
      const small = document.createElement("span");
      small.className = "list-detail";
      small.textContent = detail;
      button.append(small);
    }
    const badge = document.createElement("span");
    badge.className = "list-count";
    badge.textContent = count ? String(count) : "";
    button.append(badge);
    button.addEventListener("click", () => select(id));
    li.append(button);
    return li;
  };
  const open = new Map();
  for (const t of state.tasks.values()) if (!t.done && !state.hidden.has(t.id)) open.set(t.list_id, (open.get(t.list_id) || 0) + 1);
  const total = [...open.values()].reduce((a, b) => a + b, 0);
  const focused = ul.contains(document.activeElement) ? document.activeElement.dataset.list : null;
  ul.replaceChildren(
    entry("all", "All", "", total),
    ...orderedLists().map((l) =>
      entry(
        l.id,
        l.name,
        mine(l) ? "" : `${l.owner.username} · ${ROLE_NAMES[l.role].toLowerCase()}`,
        open.get(l.id) || 0
      )
    )
  );
  if (focused) $(`[data-list="${CSS.escape(focused)}"]`, ul)?.focus();
}

export function renderHead() {
  const list = currentList();
  $("#list-title").textContent = list ? list.name : "All";
  $("#list-title").tabIndex = -1;
  $("#list-owner").textContent = list
    ? mine(list)
      ? list.default
        ? "Your default list"
        : ""
      : `${list.owner.username}'s list · you are ${list.role === "editor" ? "an editor" : "a viewer"}`
    : "Every list you can see";
  const owner = !!list && list.role === "owner";
  $("#share-list").hidden = !list;
  $("#share-list").textContent = owner ? "Share" : "Members";
  $("#rename-list").hidden = !owner;
  $("#delete-list").hidden = !owner || list.default;
  const editable = !list || list.role !== "viewer";
  $("#add-task").hidden = !editable;
  const notice = $("#notice");
  if (!editable) {
    notice.textContent = `You are a viewer of “${list.name}”: you can read it, but only its owner (${list.owner.username}) and editors can change it.`;
    notice.dataset.kind = "viewer";
    notice.hidden = false;
  } else if (notice.dataset.kind === "viewer") {
    notice.hidden = true;
  }
  const inboxList = inbox();
  $("#add-task [name=title]").placeholder =
    list || !inboxList ? "Add a task…" : `Add a task to ${inboxList.name}…`;
}

export function setupLists() {
  $("#add-list").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem("name");
    const name = input.value.trim();
    if (!name) return;
    input.value = "";
    if (!(await createList(name))) input.value = name;
  });

  $("#rename-list").addEventListener("click", () => currentList() && renameList(currentList()));
  $("#delete-list").addEventListener("click", () => currentList() && deleteList(currentList()));
  $("#share-list").addEventListener("click", () => currentList() && openSharing(currentList()));

  window.addEventListener("hashchange", () => {
    if (state.user && fromHash() !== state.current) select(fromHash(), { focus: false });
  });
}
