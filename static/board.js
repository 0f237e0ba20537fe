// taskhub's board: sign-in, the task list through the native API (/api/tasks), and
// live updates from /api/live with reconnects that catch up from the last seq seen.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const LIVE = document.body.dataset.live === "on";
  const ORDER_STEP = 1024;

  const state = {
    user: null,
    tasks: new Map(), // id -> task, as the API answers it
    deleted: new Set(), // ids deleted while a list fetch may still bring them back
    filter: "all",
    lastSeq: null, // the last change seen; a reconnect asks for what came after it
    socket: null,
    retries: 0,
    retryTimer: null,
    loading: null,
  };

  // --- the API ---

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `request failed (${status})`);
      this.status = status;
    }
  }

  function xsrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // A fresh Idempotency-Key: a create sent twice (a retry) is stored once.
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, path, { body, version, key } = {}) {
    const headers = { Accept: "application/json" };
    if (key !== undefined) headers["Idempotency-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-XSRFToken"] = xsrfToken();
    if (version !== undefined) headers["If-Match"] = `"${version}"`;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // --- the task list ---

  // The server's order: tasks with an order first, by order; then by creation time.
  function compare(a, b) {
    const ao = a.order ?? Infinity;
    const bo = b.order ?? Infinity;
    if (ao !== bo) return ao < bo ? -1 : 1;
    if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
    return a.id < b.id ? -1 : 1;
  }

  function sorted() {
    return [...state.tasks.values()].sort(compare);
  }

  // Changes may arrive twice (our own write, then its echo) or late: the newest wins.
  function upsert(task) {
    if (state.deleted.has(task.id)) return false;
    const known = state.tasks.get(task.id);
    if (known && known.version >= task.version) return false;
    state.tasks.set(task.id, task);
    return true;
  }

  function remove(id) {
    state.deleted.add(id);
    return state.tasks.delete(id);
  }

  async function loadList() {
    if (state.loading) return state.loading;
    state.loading = (async () => {
      const fresh = new Map();
      let url = "/api/tasks?limit=200";
      while (url) {
        const page = await api("GET", url);
        for (const task of page.tasks) fresh.set(task.id, task);
        url = page.next;
      }
      // keep whatever is newer locally (a live change that overtook the fetch)
      for (const [id, task] of state.tasks) {
        const listed = fresh.get(id);
        if (listed && listed.version < task.version) fresh.set(id, task);
      }
      state.tasks = fresh;
      for (const id of state.deleted) state.tasks.delete(id);
      state.deleted.clear();
      render();
    })();
    try {
      await state.loading;
    } catch (error) {
      toast(error.message);
    } finally {
      state.loading = null;
    }
  }

  // --- live updates ---

  function setLive(stateName, text) {
    const pill = $("#live-status");
    pill.dataset.state = stateName;
    pill.textContent = text;
  }

  function connectLive() {
    if (!LIVE) {
      setLive("offline", "Live updates off");
      return;
    }
    clearTimeout(state.retryTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = state.lastSeq === null ? "" : `?since=${state.lastSeq}`;
    const socket = new WebSocket(`${scheme}://${location.host}/api/live${since}`);
    state.socket = socket;
    setLive("connecting", "Connecting…");

    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      switch (message.type) {
        case "ready": // caught up; the first time, the list is fetched from here
          state.retries = 0;
          setLive("live", "Live");
          if (state.lastSeq === null) {
            state.lastSeq = message.seq;
            loadList();
          }
          state.lastSeq = message.seq;
          break;
        case "resync": // the changes we missed are gone: fetch the list again
          state.retries = 0;
          state.lastSeq = message.seq;
          setLive("live", "Live");
          loadList();
          break;
        case "task.created":
        case "task.updated":
          state.lastSeq = message.seq;
          if (upsert(message.task)) render(message.task.id);
          break;
        case "task.deleted":
          state.lastSeq = message.seq;
          if (remove(message.task.id)) render();
          break;
      }
    };

    socket.onclose = (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.code === 4401 || !state.user) {
        signedOut("Your session ended. Sign in again.");
        return;
      }
      // back off: 0.5 s, 1 s, 2 s … up to 30 s, with jitter so that clients of a
      // restarted process do not all come back at once
      const delay = Math.min(30000, 500 * 2 ** state.retries) * (0.75 + Math.random() / 2);
      state.retries += 1;
      let left = Math.round(delay / 1000);
      setLive("offline", left > 1 ? `Offline · retrying in ${left}s` : "Offline · retrying");
      state.retryTimer = setTimeout(connectLive, delay);
    };
  }

  function disconnectLive() {
    clearTimeout(state.retryTimer);
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close(1000);
  }

  window.addEventListener("online", () => {
    if (state.user && !state.socket) connectLive();
  });

  // --- writes ---

  async function write(call) {
    try {
      return await call();
    } catch (error) {
      if (error.status === 401) signedOut("Your session ended. Sign in again.");
      else if (error.status === 412) toast("That task changed elsewhere; showing the latest.");
      else toast(error.message);
      return null;
    }
  }

  async function refreshTask(id) {
    try {
      const { task } = await api("GET", `/api/tasks/${encodeURIComponent(id)}`);
      upsert(task);
    } catch (error) {
      if (error.status === 404) remove(id);
    }
    render();
  }

  async function patch(task, fields) {
    const answer = await write(() =>
      api("PATCH", `/api/tasks/${encodeURIComponent(task.id)}`, { body: fields, version: task.version })
    );
    if (answer) {
      upsert(answer.task);
      render(answer.task.id);
    } else {
      await refreshTask(task.id);
    }
  }

  async function addTask(title) {
    const key = newKey();
    const answer = await write(() => api("POST", "/api/tasks", { body: { title }, key }));
    if (answer) {
      upsert(answer.task);
      render(answer.task.id);
    }
    return answer;
  }

  async function deleteTask(task) {
    remove(task.id);
    render();
    await write(() => api("DELETE", `/api/tasks/${encodeURIComponent(task.id)}`));
  }

  // Moves a task one place up or down: a new order between its new neighbours, or
  // when there is no room (or no orders yet), orders renumbered in steps.
  async function move(task, step) {
    const list = visible();
    const from = list.findIndex((t) => t.id === task.id);
    const to = from + step;
    if (to < 0 || to >= list.length) return;
    const all = sorted();
    const without = all.filter((t) => t.id !== task.id);
    const anchor = list[to];
    let index = without.findIndex((t) => t.id === anchor.id);
    if (step > 0) index += 1;
    const before = without[index - 1];
    const after = without[index];
    let order = null;
    if (before && after && before.order != null && after.order != null && after.order - before.order > 1) {
      order = Math.floor((before.order + after.order) / 2);
    } else if (!after && before && before.order != null) {
      order = before.order + ORDER_STEP;
    } else if (!before && after && after.order != null) {
      order = after.order - ORDER_STEP;
    }
    if (order !== null) {
      await patch(task, { order });
      return;
    }
    without.splice(index, 0, task);
    const updates = without
      .map((t, i) => [t, (i + 1) * ORDER_STEP])
      .filter(([t, wanted]) => t.order !== wanted);
    for (const [t, wanted] of updates) state.tasks.set(t.id, { ...t, order: wanted });
    render();
    await Promise.all(updates.map(([t, wanted]) => patch(t, { order: wanted })));
  }

  // --- drawing ---

  function visible() {
    return sorted().filter(
      (t) => state.filter === "all" || (state.filter === "done" ? t.done : !t.done)
    );
  }

  function render(flashId) {
    const list = $("#tasks");
    const editing = list.querySelector(".title-edit:not([hidden])");
    if (editing) return; // don't redraw under someone typing; done when they finish
    const tasks = visible();
    const template = $("#task-template");
    list.replaceChildren(
      ...tasks.map((task, i) => {
        const item = template.content.firstElementChild.cloneNode(true);
        item.dataset.id = task.id;
        item.classList.toggle("done", task.done);
        $(".title", item).textContent = task.title;
        $(".description", item).textContent = task.description;
        const box = $(".check input", item);
        box.checked = task.done;
        box.addEventListener("change", () => patch(task, { done: box.checked }));
        $(".title", item).addEventListener("click", () => startEdit(item, task));
        $(".up", item).disabled = i === 0;
        $(".down", item).disabled = i === tasks.length - 1;
        $(".up", item).addEventListener("click", () => move(task, -1));
        $(".down", item).addEventListener("click", () => move(task, +1));
        $(".delete", item).addEventListener("click", () => deleteTask(task));
        if (task.id === flashId) {
          item.classList.add("flash");
          requestAnimationFrame(() => requestAnimationFrame(() => item.classList.remove("flash")));
        }
        return item;
      })
    );
    const open = [...state.tasks.values()].filter((t) => !t.done).length;
    const done = state.tasks.size - open;
    $("#counts").textContent = state.tasks.size ? `${open} open · ${done} done` : "";
    $("#empty").hidden = tasks.length > 0;
    $("#empty").textContent = state.tasks.size
      ? "No tasks in this view."
      : "Nothing here yet. Add your first task above.";
  }

  function startEdit(item, task) {
    const label = $(".title", item);
    const input = $(".title-edit", item);
    input.value = task.title;
    label.hidden = true;
    input.hidden = false;
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      input.hidden = true;
      label.hidden = false;
      if (save && title && title !== task.title) {
        label.textContent = title;
        await patch(task, { title });
      }
      render();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }

  let toastTimer = null;
  function toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (box.hidden = true), 4000);
  }

  // --- signing in and out ---

  let mode = "login";
  function setMode(next) {
    mode = next;
    $("#tab-login").setAttribute("aria-selected", String(next === "login"));
    $("#tab-register")?.setAttribute("aria-selected", String(next === "register"));
    const invite = $("#invite-field");
    if (invite) invite.hidden = next !== "register";
    $("#auth-submit").textContent = next === "login" ? "Sign in" : "Create account";
    $("#auth-form [name=password]").autocomplete =
      next === "login" ? "current-password" : "new-password";
    $("#auth-error").hidden = true;
  }

  function signedIn(user) {
    state.user = user;
    state.lastSeq = null;
    state.tasks = new Map();
    state.deleted.clear();
    $("#whoami").textContent = user.username;
    $(".session").hidden = false;
    $("#auth").hidden = true;
    $("#board").hidden = false;
    render();
    if (LIVE) connectLive();
    else loadList();
    $("#add-task [name=title]").focus();
  }

  function signedOut(message) {
    state.user = null;
    disconnectLive();
    $(".session").hidden = true;
    $("#board").hidden = true;
    $("#auth").hidden = false;
    if (message) {
      $("#auth-error").textContent = message;
      $("#auth-error").hidden = false;
    }
  }

  $("#tab-login").addEventListener("click", () => setMode("login"));
  $("#tab-register")?.addEventListener("click", () => setMode("register"));

  $("#auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const username = form.username.value.trim();
    const password = form.password.value;
    const submit = $("#auth-submit");
    submit.disabled = true;
    $("#auth-error").hidden = true;
    try {
      if (mode === "register") {
        const invite = form.invite ? form.invite.value.trim() : "";
        await api("POST", "/api/users", { body: invite ? { username, password, invite } : { username, password } });
      }
      const { user } = await api("POST", "/api/login", { body: { username, password } });
      form.password.value = "";
      signedIn(user);
    } catch (error) {
      $("#auth-error").textContent = error.message;
      $("#auth-error").hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  $("#logout").addEventListener("click", async () => {
    state.user = null;
    disconnectLive();
    try {
      await api("POST", "/api/logout");
    } catch {
      // signed out either way
    }
    signedOut();
  });

  $("#add-task").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem("title"); // form.title is an attribute
    const title = input.value.trim();
    if (!title) return;
    input.value = "";
    if (!(await addTask(title))) input.value = title;
  });

  for (const button of document.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => {
      state.filter = button.dataset.filter;
      for (const b of document.querySelectorAll("[data-filter]")) {
        b.setAttribute("aria-pressed", String(b === button));
      }
      render();
    });
  }

  // --- start ---

  (async () => {
    setMode("login");
    if (document.body.dataset.signedIn !== "yes") {
      signedOut();
      return;
    }
    try {
      const { user } = await api("GET", "/api/me");
      signedIn(user);
    } catch {
      signedOut();
    }
  })();
})();
