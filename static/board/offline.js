// Being offline: a banner saying how many writes wait and when the next try is,
// counting down each second, with "Retry now". Tries back off (2 s, 4 s … 60 s) and
// also happen when the browser says it is online again or the live socket is back.
// Every answer from taskhub (api.js) says whether it could be reached.

import { $ } from "./dom.js";
import { loadEverything } from "./loading.js";
import { flush, markPending, storageKey, waiting } from "./outbox.js";
import { render } from "./render.js";
import { state } from "./state.js";

let offline = false;
let tries = 0;
let nextTry = 0; // when the timer fires (ms since the epoch)
let timer = null;
let ticker = null;
let retrying = false;
let reloadNeeded = false; // a read failed: read everything again once back

export function isOffline() {
  return offline;
}

// What api() learnt from one request: whether taskhub answered (`ok`), and whether
// it was a read that is now missing.
export function reached(ok, read) {
  if (!state.user) return;
  if (!ok) {
    if (read) reloadNeeded = true;
    if (!offline || (!timer && !retrying)) schedule();
    if (!offline) {
      offline = true;
      markPending(); // the write on the wire waits too now
    }
    renderBanner();
    return;
  }
  if (!offline) return;
  stopRetrying();
  if (reloadNeeded) {
    reloadNeeded = false;
    loadEverything();
  }
  if (waiting()) flush();
}

function schedule() {
  const delay = Math.min(60000, 2000 * 2 ** tries);
  tries += 1;
  nextTry = Date.now() + delay;
  clearTimeout(timer);
  timer = setTimeout(retryNow, delay);
  clearInterval(ticker);
  ticker = setInterval(renderBanner, 1000);
}

export async function retryNow() {
  if (!state.user || retrying) return;
  clearTimeout(timer);
  timer = null;
  retrying = true;
  renderBanner();
  try {
    // the writes first, in order; with none waiting, a read says whether we are back
    if (waiting()) await flush();
    else await loadEverything();
  } finally {
    retrying = false;
    if (offline && !timer) schedule();
    renderBanner();
  }
}

// The live socket is back: so may be taskhub.
export function connectionBack() {
  if (offline) retryNow();
  else if (waiting()) flush();
}

export function stopRetrying() {
  offline = false;
  tries = 0;
  clearTimeout(timer);
  clearInterval(ticker);
  timer = null;
  renderBanner();
}

export function renderBanner() {
  const banner = $("#offline-banner");
  banner.hidden = !offline;
  if (!offline) return;
  const count = waiting();
  const changes = count === 1 ? "1 change waiting" : `${count} changes waiting`;
  $("#offline-text").textContent = count ? `You're offline — ${changes}.` : "You're offline.";
  const left = Math.ceil((nextTry - Date.now()) / 1000);
  $("#offline-countdown").textContent = retrying || left < 1 ? "Retrying…" : `Retrying in ${left}s`;
}

export function setupOffline() {
  window.addEventListener("online", retryNow);
  $("#retry-now").addEventListener("click", retryNow);
  // another tab of this user sent or queued writes: show the queue as it is now
  window.addEventListener("storage", (event) => {
    if (state.user && event.key === storageKey()) {
      render();
      renderBanner();
    }
  });
}
