// A change turned down with 412 because the task changed elsewhere first: the user's
// own values are kept and offered again ("Use mine") beside the server's version,
// which the page shows meanwhile.

import { $ } from "./dom.js";
import { submit } from "./outbox.js";
import { state } from "./state.js";

const FIELD_NAMES = {
  title: "Title",
  description: "Description",
  done: "Done",
  due: "Due",
  priority: "Priority",
  labels: "Labels",
  order: "Position",
  list_id: "List",
};
const offers = []; // {id, title, fields} not answered yet, oldest first

function same(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function shown(value) {
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.join(", ") || "none";
  return value === null || value === "" ? "none" : String(value);
}

// `current` is the task as taskhub has it now; `fields` what the user wanted.
export function offerMine(current, fields) {
  const differing = Object.entries(fields).filter(([name, value]) => !same(current[name], value));
  if (!differing.length) return; // what they wanted is there already (a resend)
  offers.push({ id: current.id, title: current.title, fields: Object.fromEntries(differing) });
  renderConflict();
}

function renderConflict() {
  const box = $("#conflict");
  const offer = offers[0];
  box.hidden = !offer;
  if (!offer) return;
  $("#conflict-text").textContent = `“${offer.title}” was changed elsewhere before your change arrived. Yours was:`;
  $("#conflict-mine").replaceChildren(
    ...Object.entries(offer.fields).map(([name, value]) => {
      const li = document.createElement("li");
      const label = document.createElement("strong");
      label.textContent = `${FIELD_NAMES[name] || name}: `;
      li.append(label, shown(value));
      return li;
    })
  );
}

// Signed out: what was offered is not for the next user.
export function forgetConflicts() {
  offers.length = 0;
  renderConflict();
}

export function setupConflicts() {
  $("#conflict-mine-button").addEventListener("click", () => {
    const offer = offers.shift();
    const task = offer && state.tasks.get(offer.id);
    if (task) submit({ op: "change", task, fields: offer.fields });
    renderConflict();
  });
  $("#conflict-theirs").addEventListener("click", () => {
    offers.shift();
    renderConflict();
  });
}
