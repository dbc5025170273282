// The JSON API: every change carries the session's CSRF token; errors become readable messages.
let csrf = null;
export const setCsrf = (token) => { csrf = token; };

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin",
      body: method === "GET" ? undefined : JSON.stringify(body ?? {}) });
  } catch (e) {
    throw new ApiError("the UI server cannot be reached: is `pio run ui` running?", 0);
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/login") window.dispatchEvent(new Event("pio:logged-out"));
    throw new ApiError((data && data.error) || `${response.status} ${response.statusText}`, response.status);
  }
  return data;
}

export const get = (path, params) => {
  const q = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
  return call("GET", path + q);
};
export const post = (path, body) => call("POST", path, body);
export const enc = encodeURIComponent;
