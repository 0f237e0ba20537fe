// Writes' refusals: what the board says when the API turns a change down.

import { unreachable } from "./api.js";
import { toast } from "./dialogs.js";
import { $ } from "./dom.js";
import { loadLists } from "./loading.js";
import { signedOut } from "./session.js";
import { state } from "./state.js";

// A refusal said in the page, next to what it is about, rather than in a toast.
export function explain(error, listId) {
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

// Says why a write about `listId` was turned down.
export async function refused(error, listId) {
  if (error.status === 401) signedOut("Your session ended. Sign in again.");
  else if (error.status === 403 && error.code !== "limit_reached") {
    await loadLists(); // our role may have changed meanwhile: explain with the new one
    explain(error, listId);
  } else if (error.status === 412) toast("That changed elsewhere; showing the latest.");
  else if (!unreachable(error)) toast(error.message); // unreachable: the offline banner says so
}

// The answer of a write (true for one without a body), or null when it was refused.
export async function write(call, listId) {
  try {
    return (await call()) ?? true;
  } catch (error) {
    await refused(error, listId);
    return null;
  }
}
