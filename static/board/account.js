// The account dialog, opened from the username in the top bar: change the password,
// see and end logins (ending this one signs out), download everything, delete the
// account.

import { api } from "./api.js";
import { ask } from "./dialogs.js";
import { $ } from "./dom.js";
import { signedOut } from "./session.js";

function say(text, isError = false) {
  $("#account-message").hidden = isError || !text;
  $("#account-error").hidden = !isError;
  (isError ? $("#account-error") : $("#account-message")).textContent = text;
}

// A refusal said in the dialog; a 401 is a wrong password where one was sent, else
// the end of this login.
function failed(error, passwordSent = false) {
  if (error.status === 401 && !passwordSent) {
    signedOut("Your session ended. Sign in again.");
    return;
  }
  const text = error.status === 401 ? "That password is not right." : error.message;
  say(text.charAt(0).toUpperCase() + text.slice(1), true);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "never";
}

const BROWSERS = [
  [/MicroMessenger/, "WeChat"],
  [/Edg\//, "Edge"],
  [/Firefox\//, "Firefox"],
  [/Chrome\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS = [
  [/Android/, "Android"],
  [/iPhone|iPad/, "iOS"],
  [/Windows/, "Windows"],
  [/Mac OS X/, "macOS"],
  [/Linux/, "Linux"],
];

// "Chrome on Linux" rather than the whole User-Agent (which stays in the tooltip).
function device(agent) {
  if (!agent) return "An app";
  const browser = BROWSERS.find(([pattern]) => pattern.test(agent));
  const system = SYSTEMS.find(([pattern]) => pattern.test(agent));
  if (!browser && !system) return agent.slice(0, 40);
  return [browser ? browser[1] : "An app", system ? `on ${system[1]}` : ""].join(" ").trim();
}

async function renderLogins() {
  const ul = $("#logins");
  let logins;
  try {
    ({ logins } = await api("GET", "/api/me/logins"));
  } catch (error) {
    failed(error);
    return;
  }
  ul.replaceChildren(
    ...logins.map((login) => {
      const li = document.createElement("li");
      li.className = "member login";
      const text = document.createElement("span");
      text.className = "member-name";
      const agent = device(login.user_agent);
      text.title = login.user_agent || "";
      text.textContent = `${agent} · ${login.client || "unknown address"} · last used ${when(login.last_used_at || login.created_at)}`;
      li.append(text);
      if (login.current) {
        li.classList.add("current");
        const mark = document.createElement("span");
        mark.className = "chip current-mark";
        mark.textContent = "This device";
        li.append(mark);
      }
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "secondary small danger";
      revoke.textContent = login.current ? "Sign out here" : "Revoke";
      revoke.setAttribute("aria-label", `${login.current ? "Sign out this device" : "Revoke"}: ${agent}, ${when(login.created_at)}`);
      revoke.addEventListener("click", () => revokeLogin(login));
      li.append(revoke);
      return li;
    })
  );
}

async function revokeLogin(login) {
  try {
    await api("DELETE", `/api/me/logins/${encodeURIComponent(login.id)}`);
  } catch (error) {
    if (error.status !== 404) {
      failed(error);
      return;
    }
  }
  if (login.current) {
    signedOut("You signed out of this device.");
    return;
  }
  say("That login has ended: it is signed out.");
  await renderLogins();
}

export async function openAccount() {
  say("");
  $("#password-form").reset();
  $("#delete-account-form").reset();
  $("#logins").replaceChildren();
  $("#account-dialog").showModal();
  await renderLogins();
}

export function setupAccount() {
  $("#whoami").addEventListener("click", openAccount);
  $("#account-close").addEventListener("click", () => $("#account-dialog").close());

  $("#password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { current_password: form.current_password.value, new_password: form.new_password.value };
    try {
      await api("POST", "/api/me/password", { body });
    } catch (error) {
      failed(error, true);
      return;
    }
    form.reset();
    say("Password changed. Your other logins were signed out.");
    await renderLogins();
  });

  $("#delete-account-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = event.currentTarget.password.value;
    const sure = await ask({
      title: "Delete your account?",
      message: "Your account, the lists you own and their tasks go for good. This cannot be undone.",
      ok: "Delete my account",
      danger: true,
    });
    if (!sure) return;
    try {
      await api("DELETE", "/api/me", { body: { password } });
    } catch (error) {
      failed(error, true);
      return;
    }
    signedOut("Your account was deleted.");
  });
}
