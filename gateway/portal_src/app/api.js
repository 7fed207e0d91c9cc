// Requests to this gateway (the only origin the CSP lets the page reach: connect-src 'self').
// Errors arrive as RFC 9457 problem+json; ApiError keeps the problem so pages can name it.

import { h, raw } from "./dom.js";
import { has, tx } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem ?? {};
    this.slug = String(this.problem.type ?? "").split("/").pop() || (status ? `http-${status}` : "network");
  }
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { detail: `HTTP ${response.status}` };
  }
}

/** fetch() against this origin; JSON in and out unless `body` is a Blob/File or `as` says otherwise. */
export async function api(path, { method = "GET", body, token, headers = {}, as = "json", signal } = {}) {
  const init = { method, headers: { ...headers }, credentials: "omit", cache: "no-store", signal };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body instanceof Blob || body instanceof ArrayBuffer || body instanceof Uint8Array || typeof body === "string") {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, { detail: String(error?.message ?? error) });
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (as === "json") return response.json();
  if (as === "bytes") return { bytes: new Uint8Array(await response.arrayBuffer()), headers: response.headers };
  return response;
}

/** An upload with progress (fetch has no upload progress): resolves to the parsed JSON answer. */
export function upload(path, body, { token, contentType, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded, e.total);
    xhr.onerror = () => reject(new ApiError(0, { detail: "network error" }));
    xhr.onload = () => {
      let doc = null;
      try {
        doc = JSON.parse(xhr.responseText);
      } catch {
        doc = { detail: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(doc);
      else reject(new ApiError(xhr.status, doc));
    };
    xhr.send(body);
  });
}

/** A problem shown to a person: its kind in their language, the gateway's own words (English) below. */
export function problemView(error) {
  const slug = error instanceof ApiError ? error.slug : "client";
  const key = has(`problem.${slug}`) ? `problem.${slug}` : "problem.generic";
  const status = error instanceof ApiError ? error.status : 0;
  const box = h("div", { class: "problem", role: "alert", "data-problem": slug },
    tx(key, { status }, "p", { class: "problem-title" }));
  const name = error?.problem?.error;
  if (name) box.append(h("p", {}, tx("problem.contract-error"), raw(name, { tag: "code" })));
  const detail = error?.problem?.detail ?? error?.message;
  if (detail) box.append(raw(detail, { tag: "p", lang: "en", cls: "problem-detail" }));
  return box;
}
