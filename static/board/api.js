import { reached } from "./offline.js";

// The native API over fetch: every request the board makes goes through api(), so
// that whatever wraps requests (retries, a queue of writes) does it in one place.

export class ApiError extends Error {
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
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// No answer at all (status 0), or nginx saying taskhub is down or slow: worth trying
// again later, unlike a refusal.
export function unreachable(error) {
  return error instanceof ApiError && [0, 502, 503, 504].includes(error.status);
}

// The answer's JSON (null without a body, or with nginx's HTML error page); an
// ApiError for any status but 2xx, with status 0 when nothing answered. `keepalive`
// lets a request outlive the page (one sent as it unloads).
export async function api(method, path, { body, version, key, keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  if (key !== undefined) headers["Idempotency-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-XSRFToken"] = xsrfToken();
  if (version !== undefined) headers["If-Match"] = `"${version}"`;
  let response;
  let text;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      keepalive,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    text = await response.text();
  } catch {
    reached(false, method === "GET");
    throw new ApiError(0, { error: { message: "taskhub cannot be reached", code: "unreachable" } });
  }
  reached(![502, 503, 504].includes(response.status), method === "GET");
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) throw new ApiError(response.status, null); // a 2xx is always JSON
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
