// One message catalogue (../messages.json, {key: {"zh-CN": …, "en": …}}) for every visible string
// of the portal; the gateway's page shells read the same file. The page's language is the one the
// shell was rendered in (<html lang>): Simplified Chinese by default, English with ?lang=en.
//
// Discipline the tests hold us to: text reaches the page only through tx() (a catalogue entry,
// marked data-i18n) or dom.raw() (data: names, numbers, codes, hashes, marked data-raw). A missing
// key is logged as an error and shown marked, never silently.

import CATALOGUE from "../messages.json";

export const LANG = document.documentElement.lang === "en" ? "en" : "zh-CN";
export const OTHER_LANG = LANG === "en" ? "zh-CN" : "en";

export function has(key) {
  return Object.prototype.hasOwnProperty.call(CATALOGUE, key);
}

/** The catalogue text of `key` in the page's language, `{name}` placeholders filled from params. */
export function t(key, params = {}) {
  if (!has(key)) {
    console.error(`i18n: no catalogue entry "${key}"`);
    return `⟦${key}⟧`;
  }
  const text = CATALOGUE[key][LANG];
  return text.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** An element showing catalogue entry `key` (data-i18n marks it for the translation check). */
export function tx(key, params = {}, tag = "span", attrs = {}) {
  const el = document.createElement(tag);
  el.dataset.i18n = key;
  if (!has(key)) el.dataset.i18nMissing = "";
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.textContent = t(key, params);
  return el;
}

/** The catalogue key for a value with a per-value label (`check.receipt-proof`), or a fallback. */
export function keyOr(key, fallback) {
  return has(key) ? key : fallback;
}

/** A URL on this portal in the page's language. */
export function href(path) {
  if (LANG !== "en") return path;
  const [base, hash = ""] = path.split("#");
  return base + (base.includes("?") ? "&" : "?") + "lang=en" + (hash ? "#" + hash : "");
}
