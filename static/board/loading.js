// Reads: the lists and tasks fetched from the API and merged into the state, one
// fetch of a kind at a time.

import { api, unreachable } from "./api.js";
import { toast } from "./dialogs.js";
import { forgetList } from "./lists.js";
import { render, renderAll } from "./render.js";
import { signedOut } from "./session.js";
import { remove, state } from "./state.js";

// One fetch of a kind at a time; a second caller waits for the first.
async function fetchOnce(kind, load) {
  if (state.loading.has(kind)) return state.loading.get(kind);
  const promise = load();
  state.loading.set(kind, promise);
  try {
    await promise;
  } catch (error) {
    if (error.status === 401) signedOut("Your session ended. Sign in again.");
    else if (error.status === 404 && kind !== "all" && kind !== "lists") {
      forgetList(kind); // the list went, or we were taken off it
      renderAll();
    } else if (!unreachable(error)) toast(error.message); // unreachable: the offline banner says so
  } finally {
    state.loading.delete(kind);
  }
}

export async function loadLists() {
  await fetchOnce("lists", async () => {
    const { lists } = await api("GET", "/api/lists");
    state.lists = new Map(lists.map((l) => [l.id, l]));
    if (state.current !== "all" && !state.lists.has(state.current)) state.current = "all";
    renderAll();
  });
}

// The tasks of one list (GET /api/tasks?list_id=), or of every list ("all").
export async function loadTasks(listId = "all") {
  await fetchOnce(listId, async () => {
    const fresh = new Map();
    const known = new Set(state.tasks.keys());
    let url = "/api/tasks?limit=200";
    if (listId !== "all") url += `&list_id=${encodeURIComponent(listId)}`;
    while (url) {
      const page = await api("GET", url);
      for (const task of page.tasks) fresh.set(task.id, task);
      url = page.next;
    }
    // keep whatever is newer locally (a live change that overtook the fetch)
    for (const [id, task] of state.tasks) {
      const listed = fresh.get(id);
      if (listed && listed.version < task.version) fresh.set(id, task);
      // another list's tasks stay as they are
      else if (!listed && listId !== "all" && task.list_id !== listId) fresh.set(id, task);
      // one that arrived (created) while the pages were fetched, after they were read
      else if (!listed && !known.has(id)) fresh.set(id, task);
    }
    state.tasks = fresh;
    state.revision += 1;
    for (const id of state.deleted) state.tasks.delete(id);
    state.deleted.clear();
    render();
  });
}

export async function loadEverything() {
  await Promise.all([loadLists(), loadTasks("all")]);
}

// One task fetched again, after a write of it was refused: what taskhub has replaces
// what the page drew (null when it is gone or cannot be fetched).
export async function refreshTask(id) {
  let task = null;
  try {
    ({ task } = await api("GET", `/api/tasks/${encodeURIComponent(id)}`));
    const known = state.tasks.get(id);
    if (!known || known.version <= task.version) state.tasks.set(id, task);
  } catch (error) {
    if (error.status === 404) remove(id);
  }
  render();
  return task;
}
