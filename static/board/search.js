// Search, filters and sort. With any of them chosen, the tasks shown are the
// server's answer to GET /api/tasks with them (every page of it), asked again
// whenever a task changed: a task that stops matching leaves the view and a new
// match joins it, by the server's own rules rather than a copy of them here.

import { api } from "./api.js";
import { dueDay } from "./dates.js";
import { toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { render } from "./render.js";
import { state, upsert } from "./state.js";
import { PRIORITIES } from "./tasks.js";

const PAGE = 100;
const SETTLE_MS = 120; // changes that come together are asked about once

let foundKey = null; // the query state.found answers
let foundRevision = -1; // state.revision when it was asked
let timer = null;
let asking = false;

// A day (YYYY-MM-DD, the user's calendar) `days` later.
function shiftDay(day, days) {
  const [y, m, d] = day.split("-").map(Number);
  return dueDay(new Date(y, m - 1, d + days).toISOString());
}

// due_after for "from `day` on": the server keeps tasks due strictly after the
// bound, with a date before any moment of that date; the last millisecond of the
// day before (UTC) lets in the date `day` itself and every moment from that day on.
function fromDay(day) {
  return `${shiftDay(day, -1)}T23:59:59.999Z`;
}

// The query string of the view chosen, or null when nothing narrows or sorts it.
function viewQuery() {
  const { q, due, label, priority, sort } = state.query;
  if (!q && !due && !label && priority === "" && sort === "order") return null;
  const query = new URLSearchParams();
  if (state.current !== "all") query.set("list_id", state.current);
  if (q) query.set("q", q);
  if (label) query.set("label", label);
  if (priority !== "") query.set("priority", priority);
  if (state.filter !== "all") query.set("done", String(state.filter === "done"));
  const today = dueDay(new Date().toISOString());
  if (due === "overdue") {
    query.set("due_before", today);
    if (!query.has("done")) query.set("done", "false"); // done in time or late, it is not overdue
  } else if (due === "today" || due === "week") {
    query.set("due_after", fromDay(today));
    query.set("due_before", shiftDay(today, due === "today" ? 1 : 7));
  }
  if (sort !== "order") query.set("sort", sort);
  return query.toString();
}

async function fetchView() {
  timer = null;
  const key = viewQuery();
  if (key === null) return;
  if (asking) {
    schedule(); // once the answer in flight is in, ask again
    return;
  }
  asking = true;
  const revision = state.revision;
  try {
    const tasks = [];
    let url = `/api/tasks?${key}&limit=${PAGE}`;
    while (url) {
      const page = await api("GET", url);
      tasks.push(...page.tasks);
      url = page.next;
    }
    if (key === viewQuery()) {
      const changedMeanwhile = state.revision !== revision;
      for (const task of tasks) upsert(task);
      state.found = tasks.map((t) => t.id);
      foundKey = key;
      foundRevision = changedMeanwhile ? -1 : state.revision;
    }
  } catch (error) {
    toast(error.message);
    state.found = state.found ?? [];
    foundKey = key; // not asked again until something changes
    foundRevision = state.revision;
  } finally {
    asking = false;
  }
  if (timer === null) busy(false);
  render();
}

// The list says it is busy while its answer is on the way.
function busy(yes) {
  $("#tasks").setAttribute("aria-busy", String(yes));
}

function schedule() {
  busy(true);
  if (timer === null) timer = setTimeout(fetchView, SETTLE_MS);
}

// The labels known, as choices; the one chosen stays even when no task has it now.
function renderLabels() {
  const select = $("#filter-label");
  const labels = new Set();
  for (const task of state.tasks.values()) for (const label of task.labels || []) labels.add(label);
  if (state.query.label) labels.add(state.query.label);
  const wanted = [...labels].sort((a, b) => a.localeCompare(b));
  const have = [...select.options].slice(1).map((o) => o.value);
  if (JSON.stringify(have) === JSON.stringify(wanted)) return;
  const any = select.options[0];
  select.replaceChildren(any, ...wanted.map((label) => new Option(label, label)));
  select.value = state.query.label;
}

// Called by render(): the controls kept in step, and the view asked for again
// when what it answers is out of date.
export function renderSearch() {
  renderLabels();
  const { due, label, priority, sort } = state.query;
  const chosen = [due, label, priority, sort === "order" ? "" : sort].filter((v) => v !== "").length;
  $("#filters-toggle").textContent = chosen ? `Filters · ${chosen}` : "Filters";
  const key = viewQuery();
  if (key === null) {
    clearTimeout(timer);
    timer = null;
    busy(false);
    if (state.found !== null) {
      state.found = null;
      foundKey = null;
      render();
    }
    return;
  }
  if (key !== foundKey || state.revision !== foundRevision) schedule();
}

export function setupSearch() {
  // highest first, as they sort
  for (let priority = PRIORITIES.length - 1; priority >= 0; priority -= 1) {
    $("#filter-priority").append(new Option(PRIORITIES[priority] || "None", String(priority)));
  }
  const search = $("#search");
  search.addEventListener("input", () => {
    state.query.q = search.value.trim();
    render();
  });
  const controls = { due: "#filter-due", label: "#filter-label", priority: "#filter-priority", sort: "#sort" };
  for (const [name, selector] of Object.entries(controls)) {
    $(selector).addEventListener("change", (event) => {
      state.query[name] = event.currentTarget.value;
      render();
    });
  }
  const toggle = $("#filters-toggle");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    $("#view-filters").hidden = !open;
    if (open) $("#filter-due").focus();
  });
  $("#reset-view").addEventListener("click", () => {
    state.query = { q: "", due: "", label: "", priority: "", sort: "order" };
    search.value = "";
    for (const selector of Object.values(controls)) $(selector).value = selector === "#sort" ? "order" : "";
    render();
    search.focus();
  });
}
