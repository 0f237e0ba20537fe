// The one way to draw: render() after tasks changed, renderAll() after the lists or
// the list shown changed too.

import { renderHead, renderLists } from "./lists.js";
import { applyPending, markPending } from "./outbox.js";
import { renderClearButton } from "./removal.js";
import { renderSearch } from "./search.js";
import { renderTasks } from "./tasks.js";

// The sidebar's counts and the tasks shown; `flashId` marks the task that changed.
export function render(flashId) {
  applyPending(); // writes still waiting show as made
  renderLists();
  renderTasks(flashId);
  markPending();
  renderClearButton();
  renderSearch(); // last: it may ask the server again, and draw once more
}

// The sidebar, the head of the list shown and its tasks.
export function renderAll() {
  renderLists();
  renderHead();
  render();
}
