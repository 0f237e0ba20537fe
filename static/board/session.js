// Signing in (or creating an account) and out, and the board shown or hidden with it.

import { api } from "./api.js";
import { forgetConflicts } from "./conflicts.js";
import { $ } from "./dom.js";
import { closeDrawer } from "./drawer.js";
import { fromHash } from "./lists.js";
import { connectLive, disconnectLive } from "./live.js";
import { loadEverything } from "./loading.js";
import { stopRetrying } from "./offline.js";
import { flush } from "./outbox.js";
import { renderAll } from "./render.js";
import { LIVE, state } from "./state.js";

let mode = "login";
function setMode(next) {
  mode = next;
  $("#tab-login").setAttribute("aria-selected", String(next === "login"));
  $("#tab-register")?.setAttribute("aria-selected", String(next === "register"));
  const invite = $("#invite-field");
  if (invite) invite.hidden = next !== "register";
  $("#auth-submit").textContent = next === "login" ? "Sign in" : "Create account";
  $("#auth-form [name=password]").autocomplete = next === "login" ? "current-password" : "new-password";
  $("#auth-error").hidden = true;
}

export function signedIn(user) {
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
  flush(); // writes left waiting by an earlier visit
  if (!LIVE) loadEverything();
  $("#add-task [name=title]").focus();
}

// The sign-in form again, with `message` saying why if given.
export function signedOut(message) {
  state.user = null;
  disconnectLive();
  stopRetrying();
  forgetConflicts();
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

export function setupSession() {
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
}

// The page as it opens: the board for a signed-in visitor, else the sign-in form.
export async function start() {
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
}
