// A small DOM builder. No innerHTML anywhere (the pages run under a Trusted Types CSP) and no
// inline styles (style-src 'self'): presentation lives in portal.css, selected by classes.
// Plain strings are refused as children: text is either a catalogue entry (i18n.tx) or data
// (raw), so every visible word is accounted for.

import { LANG } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "dataset") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (name === "value" || name === "checked" || name === "disabled" || name === "selected") el[name] = value;
    else if (name === "style") throw new TypeError("inline styles are not allowed (CSP); use a class");
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    if (typeof child === "string" || typeof child === "number" || typeof child === "bigint") {
      throw new TypeError(`text "${child}" must go through tx() or raw()`);
    }
    el.append(child);
  }
  return el;
}

/** An HTML element: h("p", {class: "x"}, child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  return append(el, ...children);
}

/** An SVG element. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  return append(el, ...children);
}

/** Data shown as it is (a name, a number, a hash): marked data-raw for the translation check. */
export function raw(value, { tag = "span", lang = null, cls = null, title = null } = {}) {
  const el = document.createElement(tag);
  el.dataset.raw = "";
  if (lang) el.lang = lang;
  if (cls) el.className = cls;
  if (title) el.title = title;
  el.textContent = value === null || value === undefined ? "—" : String(value);
  return el;
}

/** SVG text that is data. */
export function svgRaw(value, attrs = {}) {
  const el = svg("text", { ...attrs, "data-raw": "" });
  el.textContent = String(value);
  return el;
}

const numberFormat = new Intl.NumberFormat(LANG);
const timeFormat = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "medium" });
const dateFormat = new Intl.DateTimeFormat(LANG, { dateStyle: "medium" });

/** A number (or decimal string, or BigInt) in the page's locale. */
export function formatNumber(value) {
  if (value === null || value === undefined || value === "") return "—";
  try {
    return numberFormat.format(typeof value === "string" ? BigInt(value) : value);
  } catch {
    return String(value);
  }
}

export function num(value) {
  return raw(formatNumber(value), { cls: "num" });
}

/** A Unix time as a <time> element in the page's locale. */
export function when(seconds, { dateOnly = false } = {}) {
  const el = document.createElement("time");
  el.dataset.raw = "";
  if (seconds === null || seconds === undefined || Number(seconds) === 0) {
    el.textContent = "—";
    return el;
  }
  const date = new Date(Number(seconds) * 1000);
  el.dateTime = date.toISOString();
  el.textContent = (dateOnly ? dateFormat : timeFormat).format(date);
  return el;
}

/** A long hex value shortened for display, in full in its title and for copying. */
export function short(hex, { keep = 10 } = {}) {
  const text = String(hex ?? "");
  const shown = text.length > keep * 2 + 1 ? `${text.slice(0, keep)}…${text.slice(-6)}` : text;
  const el = raw(shown, { tag: "code", cls: "hash", title: text });
  el.dataset.full = text;
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** The page's #app container. */
export function app() {
  return document.getElementById("app");
}

/** Announce a message to screen readers through the page's live region. */
export function announce(el) {
  let region = document.getElementById("live");
  if (!region) {
    region = h("div", { id: "live", class: "sr-only", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  clear(region).append(el);
}

/** Read a File as text / bytes. */
export const readText = (file) => file.text();
export const readBytes = async (file) => new Uint8Array(await file.arrayBuffer());

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}
