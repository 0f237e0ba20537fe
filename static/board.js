// taskhub's board: sign-in; lists in a sidebar (a drawer at phone width), shared with
// members by role; tasks with their details, through the native API (/api/lists,
// /api/tasks); live updates from /api/live with reconnects that catch up from the
// last seq seen.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const LIVE = document.body.dataset.live === "on";
  const ORDER_STEP = 1024;

  const state = {
    user: null,
    lists: new Map(), // id -> list, as the API answers it (with the caller's role)
    current: "all", // the list shown: a list id, or "all"
    tasks: new Map(), // id -> task, as the API answers it
    deleted: new Set(), // ids deleted while a list fetch may still bring them back
    filter: "all",
    lastSeq: null, // the last change seen; a reconnect asks for what came after it
    socket: null,
    retries: 0,
    retryTimer: null,
    countdown: null,
    loading: new Map(), // what is being fetched ("lists", "all", a list id) -> its promise
    sharing: null, // the list whose sharing dialog is open: {id, members}
    openDetails: null, // the task whose details are open
    pendingRender: false,
  };

  // --- the API ---

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `request failed (${status})`);
      this.status = status;
      this.code = body && body.error ? body.error.code : undefined;
      this.field = body && body.error ? body.error.field : undefined;
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

  // --- lists ---

  const ROLE_NAMES = { owner: "Owner", editor: "Editor", viewer: "Viewer" };

  function mine(list) {
    return state.user && list.owner.id === state.user.id;
  }

  // Your Inbox first, then by name (the server's order, kept as lists come and go).
  function orderedLists() {
    return [...state.lists.values()].sort((a, b) => {
      const ad = a.default && mine(a) ? 0 : 1;
      const bd = b.default && mine(b) ? 0 : 1;
      if (ad !== bd) return ad - bd;
      return a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1);
    });
  }

  function currentList() {
    return state.current === "all" ? null : state.lists.get(state.current) || null;
  }

  function canEdit(listId) {
    const list = state.lists.get(listId);
    return !list || list.role !== "viewer"; // a list not known yet: let the server decide
  }

  function inbox() {
    return orderedLists().find((l) => l.default && mine(l)) || null;
  }

  function upsertList(list) {
    const known = state.lists.get(list.id);
    // a role change (list.updated) keeps the version: only an older version loses
    if (known && known.version > list.version) return false;
    state.lists.set(list.id, list);
    return true;
  }

  function forgetList(id) {
    state.lists.delete(id);
    for (const [taskId, task] of state.tasks) if (task.list_id === id) state.tasks.delete(taskId);
    if (state.current === id) select("all", { focus: false });
    if (state.sharing && state.sharing.id === id) $("#share-dialog").close();
  }

  async function loadLists() {
    await fetchOnce("lists", async () => {
      const { lists } = await api("GET", "/api/lists");
      state.lists = new Map(lists.map((l) => [l.id, l]));
      if (state.current !== "all" && !state.lists.has(state.current)) state.current = "all";
      renderAll();
    });
  }

  function select(id, { focus = true } = {}) {
    state.current = state.lists.has(id) ? id : "all";
    history.replaceState(null, "", state.current === "all" ? location.pathname : `#list/${state.current}`);
    $("#notice").hidden = true;
    closeDrawer(false);
    renderAll();
    if (state.current !== "all") loadTasks(state.current);
    if (focus) $("#list-title").focus();
  }

  function fromHash() {
    const match = location.hash.match(/^#list\/([^/]+)$/);
    return match ? decodeURIComponent(match[1]) : "all";
  }

  async function createList(name) {
    const answer = await write(() => api("POST", "/api/lists", { body: { name }, key: newKey() }));
    if (!answer) return null;
    upsertList(answer.list);
    select(answer.list.id);
    return answer;
  }

  async function renameList(list) {
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

  async function deleteList(list) {
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

  // --- the drawer (the sidebar at phone width) ---

  const narrow = window.matchMedia("(max-width: 760px)");

  function openDrawer() {
    document.body.classList.add("drawer-open");
    $("#drawer-backdrop").hidden = false;
    $("#open-lists").setAttribute("aria-expanded", "true");
    // the page behind the drawer is out of reach (keyboard, screen readers) while it is open
    for (const behind of document.querySelectorAll(".topbar, .content")) behind.inert = true;
    const current = $("#lists [aria-current=page]") || $("#lists button");
    if (current) current.focus();
  }

  function closeDrawer(focusButton = true) {
    if (!document.body.classList.contains("drawer-open")) return;
    document.body.classList.remove("drawer-open");
    $("#drawer-backdrop").hidden = true;
    $("#open-lists").setAttribute("aria-expanded", "false");
    for (const behind of document.querySelectorAll(".topbar, .content")) behind.inert = false;
    if (focusButton && narrow.matches) $("#open-lists").focus();
  }

  // --- the tasks ---

  // The server's order: tasks with an order first, by order; then by creation time.
  function compare(a, b) {
    const ao = a.order ?? Infinity;
    const bo = b.order ?? Infinity;
    if (ao !== bo) return ao < bo ? -1 : 1;
    if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
    return a.id < b.id ? -1 : 1;
  }

  // The tasks of the list shown (or of every list), in order.
  function sorted() {
    return [...state.tasks.values()]
      .filter((t) => state.current === "all" || t.list_id === state.current)
      .sort(compare);
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
      } else toast(error.message);
    } finally {
      state.loading.delete(kind);
    }
  }

  // The tasks of one list (GET /api/tasks?list_id=), or of every list ("all").
  async function loadTasks(listId = "all") {
    await fetchOnce(listId, async () => {
      const fresh = new Map();
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
      }
      state.tasks = fresh;
      for (const id of state.deleted) state.tasks.delete(id);
      state.deleted.clear();
      render();
    });
  }

  async function loadEverything() {
    await Promise.all([loadLists(), loadTasks("all")]);
  }

  // --- live updates ---

  function setLive(stateName, text) {
    const pill = $("#live-status");
    pill.dataset.state = stateName;
    pill.textContent = text;
  }

  function connectLive() {
    if (!LIVE) {
      setLive("off", "Live updates off");
      return;
    }
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
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
      if (typeof message.seq === "number" && message.type !== "ready" && message.type !== "resync") {
        state.lastSeq = message.seq;
      }
      switch (message.type) {
        case "ready": // caught up; the first time, the lists are fetched from here
          state.retries = 0;
          setLive("live", "Live");
          if (state.lastSeq === null) {
            state.lastSeq = message.seq;
            loadEverything();
          }
          state.lastSeq = message.seq;
          break;
        case "resync": // the changes we missed are gone: fetch everything again
          state.retries = 0;
          state.lastSeq = message.seq;
          setLive("live", "Live");
          loadEverything();
          break;
        case "task.created":
        case "task.updated":
          if (upsert(message.task)) render(message.task.id);
          break;
        case "task.deleted":
          if (remove(message.task.id)) render();
          break;
        case "list.created":
        case "list.updated":
          if (upsertList(message.list)) renderAll();
          if (state.sharing && state.sharing.id === message.list.id) renderMembers();
          break;
        case "list.added": // shared with us: its tasks came before we could see them
          upsertList(message.list);
          renderAll();
          loadTasks(message.list.id);
          toast(`${message.list.owner.username} shared “${message.list.name}” with you.`);
          break;
        case "list.deleted":
        case "list.removed": {
          const known = state.lists.get(message.list.id);
          const shown = state.current === message.list.id;
          forgetList(message.list.id);
          renderAll();
          if (known && (shown || !mine(known))) {
            toast(
              message.type === "list.deleted"
                ? `“${known.name}” was deleted.`
                : `You are no longer a member of “${known.name}”.`
            );
          }
          break;
        }
        case "member.added":
        case "member.updated":
        case "member.removed":
          if (state.sharing && state.sharing.id === message.list_id) {
            const others = state.sharing.members.filter((m) => m.user.id !== message.member.user.id);
            if (message.type !== "member.removed") others.push(message.member);
            state.sharing.members = others;
            renderMembers();
          }
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
      const at = Date.now() + delay;
      const tick = () => {
        const left = Math.ceil((at - Date.now()) / 1000);
        setLive("offline", left > 1 ? `Offline · retrying in ${left}s` : "Offline · retrying");
      };
      tick();
      state.countdown = setInterval(tick, 1000);
      state.retryTimer = setTimeout(connectLive, delay);
    };
  }

  function disconnectLive() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close(1000);
  }

  window.addEventListener("online", () => {
    if (state.user && !state.socket && LIVE) connectLive();
  });

  // Without live updates, a page shown again fetches what may have changed meanwhile.
  document.addEventListener("visibilitychange", () => {
    if (!LIVE && state.user && document.visibilityState === "visible") loadEverything();
  });

  // --- writes ---

  // A refusal said in the page, next to what it is about, rather than in a toast.
  function explain(error, listId) {
    const list = listId ? state.lists.get(listId) : null;
    const name = list ? `“${list.name}”` : "this list";
    let text = error.message;
    if (list && list.role === "viewer") {
      text = `You are a viewer of ${name}: you can read it, but only its owner (${list.owner.username}) and editors can change it.`;
    } else if (list && list.role === "editor") {
      text = `Only the owner of ${name} (${list.owner.username}) can do that; as an editor you can change its tasks.`;
    }
    const notice = $("#notice");
    notice.textContent = text.charAt(0).toUpperCase() + text.slice(1);
    notice.dataset.kind = "refused";
    notice.hidden = false;
  }

  // The answer of a write (true for one without a body), or null when it was refused.
  async function write(call, listId) {
    try {
      return (await call()) ?? true;
    } catch (error) {
      if (error.status === 401) signedOut("Your session ended. Sign in again.");
      else if (error.status === 403 && error.code !== "limit_reached") {
        await loadLists(); // our role may have changed meanwhile: explain with the new one
        explain(error, listId);
      } else if (error.status === 412) toast("That changed elsewhere; showing the latest.");
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
    const answer = await write(
      () => api("PATCH", `/api/tasks/${encodeURIComponent(task.id)}`, { body: fields, version: task.version }),
      task.list_id
    );
    if (answer) {
      upsert(answer.task);
      render(answer.task.id);
    } else {
      await refreshTask(task.id);
    }
    return answer;
  }

  async function addTask(title) {
    const key = newKey();
    const list = currentList();
    const body = list ? { title, list_id: list.id } : { title };
    const answer = await write(() => api("POST", "/api/tasks", { body, key }), list && list.id);
    if (answer) {
      upsert(answer.task);
      render(answer.task.id);
    }
    return answer;
  }

  async function deleteTask(task) {
    remove(task.id);
    render();
    const done = await write(() => api("DELETE", `/api/tasks/${encodeURIComponent(task.id)}`), task.list_id);
    if (done === null) {
      state.deleted.delete(task.id);
      await refreshTask(task.id);
    }
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
      .filter(([t, wanted]) => t.order !== wanted && canEdit(t.list_id));
    for (const [t, wanted] of updates) state.tasks.set(t.id, { ...t, order: wanted });
    render();
    await Promise.all(updates.map(([t, wanted]) => patch(t, { order: wanted })));
  }

  // --- due dates, in the user's time zone ---

  const PRIORITIES = ["", "Low", "Medium", "High"];

  function localDate(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  // The day a task is due, as YYYY-MM-DD where the user is: a date as it is, a
  // date-time (an instant) on the user's own calendar.
  function dueDay(due) {
    if (!due) return "";
    if (/^\d{4}-\d{2}-\d{2}$/.test(due)) return due;
    const at = new Date(due);
    return Number.isNaN(at.getTime()) ? "" : localDate(at);
  }

  function dueText(task) {
    const day = dueDay(task.due);
    if (!day) return null;
    const today = new Date();
    const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    const [y, m, d] = day.split("-").map(Number);
    const date = new Date(y, m - 1, d);
    const sameYear = y === today.getFullYear();
    const shown = date.toLocaleDateString(undefined, sameYear
      ? { weekday: "short", month: "short", day: "numeric" }
      : { year: "numeric", month: "short", day: "numeric" });
    const time = /T/.test(task.due)
      ? " " + new Date(task.due).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
      : "";
    if (day === localDate(today)) return { text: `Due today${time}`, kind: "today" };
    if (day === localDate(tomorrow)) return { text: `Due tomorrow${time}`, kind: "soon" };
    if (day < localDate(today) && !task.done) return { text: `Overdue · ${shown}`, kind: "overdue" };
    return { text: `Due ${shown}${time}`, kind: "later" };
  }

  function parseLabels(text) {
    const labels = [];
    for (const part of text.split(",")) {
      const label = part.trim();
      if (label && !labels.includes(label)) labels.push(label);
    }
    return labels;
  }

  // --- drawing ---

  function visible() {
    return sorted().filter(
      (t) => state.filter === "all" || (state.filter === "done" ? t.done : !t.done)
    );
  }

  function renderAll() {
    renderLists();
    renderHead();
    render();
  }

  function renderLists() {
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
    for (const t of state.tasks.values()) if (!t.done) open.set(t.list_id, (open.get(t.list_id) || 0) + 1);
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

  function renderHead() {
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

  function meta(task) {
    const parts = [];
    const chip = (text, kind) => {
      const span = document.createElement("span");
      span.className = `chip ${kind}`;
      span.textContent = text;
      parts.push(span);
    };
    const due = dueText(task);
    if (due) chip(due.text, `due ${due.kind}`);
    if (task.priority) chip(PRIORITIES[task.priority], `priority p${task.priority}`);
    for (const label of task.labels || []) chip(`#${label}`, "label");
    if (state.current === "all" && state.lists.size > 1) {
      const list = state.lists.get(task.list_id);
      if (list) chip(list.name, "in-list");
    }
    if (task.updated_by && state.user && task.updated_by.id !== state.user.id) {
      chip(`changed by ${task.updated_by.username}`, "by");
    }
    return parts;
  }

  function editingNow() {
    const list = $("#tasks");
    if (list.querySelector(".title-edit:not([hidden])")) return true;
    const details = document.activeElement && document.activeElement.closest(".details");
    return !!details && list.contains(details);
  }

  function render(flashId) {
    const list = $("#tasks");
    renderLists();
    if (editingNow()) {
      state.pendingRender = true; // don't redraw under someone typing; done when they finish
      return;
    }
    state.pendingRender = false;
    const tasks = visible();
    const template = $("#task-template");
    list.replaceChildren(
      ...tasks.map((task, i) => {
        const item = template.content.firstElementChild.cloneNode(true);
        const editable = canEdit(task.list_id);
        item.dataset.id = task.id;
        item.classList.toggle("done", task.done);
        item.classList.toggle("readonly", !editable);
        $(".title", item).textContent = task.title;
        $(".description", item).textContent = task.description;
        $(".meta", item).replaceChildren(...meta(task));
        const box = $(".check input", item);
        box.checked = task.done;
        if (editable) {
          box.addEventListener("change", () => patch(task, { done: box.checked }));
          $(".title", item).addEventListener("click", () => startEdit(item, task));
          $(".up", item).disabled = i === 0;
          $(".down", item).disabled = i === tasks.length - 1;
          $(".up", item).addEventListener("click", () => move(task, -1));
          $(".down", item).addEventListener("click", () => move(task, +1));
          $(".delete", item).addEventListener("click", () => deleteTask(task));
          const toggle = $(".details-toggle", item);
          toggle.setAttribute("aria-label", `Details of ${task.title}`);
          toggle.addEventListener("click", () => toggleDetails(item, task));
          if (state.openDetails === task.id) showDetails(item, task, false);
        } else {
          // a viewer reads: no control that would only be refused
          $(".check", item).remove();
          if (task.done) {
            const done = document.createElement("span");
            done.className = "chip done-chip";
            done.textContent = "Done";
            $(".meta", item).prepend(done);
          }
          const title = document.createElement("span");
          title.className = "title";
          title.textContent = task.title;
          $(".title", item).replaceWith(title);
          $(".actions", item).remove();
          $(".details", item).remove();
          $(".title-edit", item).remove();
        }
        if (task.id === flashId) {
          item.classList.add("flash");
          requestAnimationFrame(() => requestAnimationFrame(() => item.classList.remove("flash")));
        }
        return item;
      })
    );
    const shown = sorted();
    const open = shown.filter((t) => !t.done).length;
    const done = shown.length - open;
    $("#counts").textContent = shown.length ? `${open} open · ${done} done` : "";
    $("#empty").hidden = tasks.length > 0;
    const viewer = currentList() && currentList().role === "viewer";
    $("#empty").textContent = shown.length
      ? "No tasks in this view."
      : viewer
        ? "Nothing in this list yet."
        : "Nothing here yet. Add your first task above.";
  }

  function toggleDetails(item, task) {
    if (state.openDetails === task.id) {
      state.openDetails = null;
      render();
      $(`.task[data-id="${CSS.escape(task.id)}"] .details-toggle`)?.focus();
    } else {
      state.openDetails = task.id;
      render();
      const fresh = $(`.task[data-id="${CSS.escape(task.id)}"]`);
      if (fresh) $("[name=description]", fresh).focus();
    }
  }

  function showDetails(item, task) {
    const form = $(".details", item);
    const toggle = $(".details-toggle", item);
    toggle.setAttribute("aria-expanded", "true");
    item.classList.add("open");
    form.hidden = false;
    form.id = `details-${task.id}`;
    toggle.setAttribute("aria-controls", form.id);
    form.description.value = task.description || "";
    form.due.value = dueDay(task.due);
    form.priority.value = String(task.priority || 0);
    form.labels.value = (task.labels || []).join(", ");
    const when = new Date(task.updated_at);
    const by = task.updated_by ? task.updated_by.username : "someone";
    const created = task.created_by ? ` · created by ${task.created_by.username}` : "";
    $(".changed", form).textContent =
      `Last changed by ${by}, ${when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}${created}`;
    form.addEventListener("focusout", (event) => {
      if (!form.contains(event.relatedTarget) && state.pendingRender) setTimeout(render);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    const close = () => {
      state.openDetails = null;
      document.activeElement?.blur();
      render();
      $(`.task[data-id="${CSS.escape(task.id)}"] .details-toggle`)?.focus();
    };
    $(".cancel", form).addEventListener("click", close);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = {};
      const description = form.description.value;
      if (description !== (task.description || "")) fields.description = description;
      const due = form.due.value;
      if (due !== dueDay(task.due)) fields.due = due || null;
      const priority = Number(form.priority.value);
      if (priority !== (task.priority || 0)) fields.priority = priority;
      const labels = parseLabels(form.labels.value);
      if (JSON.stringify(labels) !== JSON.stringify(task.labels || [])) fields.labels = labels;
      if (!Object.keys(fields).length) {
        close();
        return;
      }
      const save = $("[type=submit]", form);
      save.disabled = true;
      document.activeElement?.blur();
      const answer = await patch(state.tasks.get(task.id) || task, fields);
      save.disabled = false;
      if (answer) close();
    });
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

  // --- sharing ---

  async function openSharing(list) {
    state.sharing = { id: list.id, members: [] };
    $("#share-error").hidden = true;
    $("#add-member").reset();
    renderMembers();
    $("#share-dialog").showModal();
    try {
      const { members } = await api("GET", `/api/lists/${encodeURIComponent(list.id)}/members`);
      if (state.sharing && state.sharing.id === list.id) {
        state.sharing.members = members;
        renderMembers();
      }
    } catch (error) {
      shareError(error, list.id);
    }
  }

  function shareError(error, listId, username) {
    if (error.status === 401) {
      $("#share-dialog").close();
      signedOut("Your session ended. Sign in again.");
      return;
    }
    const list = state.lists.get(listId);
    let text = error.message;
    if (error.status === 403 && list && list.role !== "owner") {
      text = `Only the owner of “${list.name}” (${list.owner.username}) decides who its members are.`;
    } else if (error.status === 404 && username && error.field !== "list_id") {
      text = `Nobody is called “${username}” here: check the spelling of their username.`;
    }
    $("#share-error").textContent = text.charAt(0).toUpperCase() + text.slice(1);
    $("#share-error").hidden = false;
  }

  function renderMembers() {
    if (!state.sharing) return;
    const list = state.lists.get(state.sharing.id);
    if (!list) return;
    const owner = list.role === "owner";
    $("#share-title").textContent = `Sharing “${list.name}”`;
    $("#share-intro").textContent = owner
      ? "Editors can add, change and delete tasks; viewers can only read them."
      : `${list.owner.username} shares this list with you as ${list.role === "editor" ? "an editor" : "a viewer"}.`;
    $("#add-member").hidden = !owner;
    $("#leave-list").hidden = owner;
    const members = [...state.sharing.members].sort((a, b) => {
      if (a.role === "owner") return -1;
      if (b.role === "owner") return 1;
      return a.user.username.localeCompare(b.user.username);
    });
    $("#members").replaceChildren(
      ...members.map((member) => {
        const li = document.createElement("li");
        li.className = "member";
        li.dataset.username = member.user.username;
        const name = document.createElement("span");
        name.className = "member-name";
        name.textContent = member.user.username + (state.user && member.user.id === state.user.id ? " (you)" : "");
        li.append(name);
        if (owner && member.role !== "owner") {
          const select = document.createElement("select");
          select.setAttribute("aria-label", `Role of ${member.user.username}`);
          for (const role of ["editor", "viewer"]) {
            const option = new Option(ROLE_NAMES[role], role, false, member.role === role);
            select.append(option);
          }
          select.addEventListener("change", () => setMember(list, member.user.username, select.value));
          const removeButton = document.createElement("button");
          removeButton.type = "button";
          removeButton.className = "secondary danger small";
          removeButton.textContent = "Remove";
          removeButton.setAttribute("aria-label", `Remove ${member.user.username}`);
          removeButton.addEventListener("click", () => removeMember(list, member.user.username));
          li.append(select, removeButton);
        } else {
          const role = document.createElement("span");
          role.className = `role ${member.role}`;
          role.textContent = ROLE_NAMES[member.role];
          li.append(role);
        }
        return li;
      })
    );
  }

  async function setMember(list, username, role) {
    $("#share-error").hidden = true;
    try {
      const { member } = await api(
        "PUT",
        `/api/lists/${encodeURIComponent(list.id)}/members/${encodeURIComponent(username)}`,
        { body: { role } }
      );
      if (state.sharing && state.sharing.id === list.id) {
        state.sharing.members = state.sharing.members.filter((m) => m.user.id !== member.user.id);
        state.sharing.members.push(member);
        renderMembers();
      }
      return member;
    } catch (error) {
      shareError(error, list.id, username);
      return null;
    }
  }

  async function removeMember(list, username) {
    $("#share-error").hidden = true;
    try {
      await api("DELETE", `/api/lists/${encodeURIComponent(list.id)}/members/${encodeURIComponent(username)}`);
      if (state.sharing && state.sharing.id === list.id) {
        state.sharing.members = state.sharing.members.filter((m) => m.user.username !== username);
        renderMembers();
      }
      return true;
    } catch (error) {
      shareError(error, list.id);
      return false;
    }
  }

  // --- dialogs ---

  // A question in a modal dialog: the text typed (with `value`), true, or null.
  function ask({ title, message, value, ok, danger = false }) {
    const dialog = $("#ask-dialog");
    $("#ask-title").textContent = title;
    $("#ask-message").textContent = message || "";
    $("#ask-message").hidden = !message;
    const field = $("#ask-field");
    const input = $("#ask-form [name=value]");
    field.hidden = value === undefined;
    input.required = value !== undefined;
    input.value = value ?? "";
    $("#ask-ok").textContent = ok;
    $("#ask-ok").classList.toggle("danger", danger);
    dialog.returnValue = "";
    dialog.showModal();
    if (value !== undefined) input.select();
    else $("#ask-ok").focus();
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          if (dialog.returnValue !== "ok") resolve(null);
          else resolve(value === undefined ? true : input.value.trim() || null);
        },
        { once: true }
      );
    });
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
    state.lists = new Map();
    state.current = fromHash();
    state.deleted.clear();
    $("#whoami").textContent = user.username;
    $(".session").hidden = false;
    $("#auth").hidden = true;
    $("#board").hidden = false;
    renderAll();
    connectLive(); // with live updates off, it says so
    if (!LIVE) loadEverything();
    $("#add-task [name=title]").focus();
  }

  function signedOut(message) {
    state.user = null;
    disconnectLive();
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
    closeDrawer(false);
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
  $("#open-lists").addEventListener("click", () =>
    document.body.classList.contains("drawer-open") ? closeDrawer() : openDrawer()
  );
  $("#close-lists").addEventListener("click", () => closeDrawer());
  $("#drawer-backdrop").addEventListener("click", () => closeDrawer());
  $("#sidebar").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDrawer();
  });
  narrow.addEventListener("change", () => closeDrawer(false));

  $("#add-member").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const list = state.sharing && state.lists.get(state.sharing.id);
    const username = form.username.value.trim();
    if (!list || !username) return;
    const submit = $("[type=submit]", form);
    submit.disabled = true;
    if (await setMember(list, username, form.role.value)) form.username.value = "";
    submit.disabled = false;
    form.username.focus();
  });

  $("#leave-list").addEventListener("click", async () => {
    const list = state.sharing && state.lists.get(state.sharing.id);
    if (!list || !state.user) return;
    if (await removeMember(list, state.user.username)) {
      $("#share-dialog").close();
      forgetList(list.id);
      renderAll();
      toast(`You left “${list.name}”.`);
    }
  });
  $("#share-close").addEventListener("click", () => $("#share-dialog").close());
  $("#share-dialog").addEventListener("close", () => {
    state.sharing = null;
    if (state.user && !$("#share-list").hidden) $("#share-list").focus();
  });

  $("#ask-cancel").addEventListener("click", () => $("#ask-dialog").close("cancel"));

  window.addEventListener("hashchange", () => {
    if (state.user && fromHash() !== state.current) select(fromHash(), { focus: false });
  });

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
