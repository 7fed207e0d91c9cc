// The contract between pages, tests and outside verifiers (issue 12): an element that shows a
// verified record carries data-verified="true" once the in-browser check passed, and
// data-verified="false" with data-failed-check="<check name>" when it failed; nothing is marked
// before its check ran (aria-busy while it runs). Check names are the verifier's (and audit's).

import * as v from "/static/cityledger-verify.js";
import { clear, h, raw } from "./dom.js";
import { has, tx } from "./i18n.js";

/** The label of a check: its name in the page's language, and the stable name itself. */
export function checkLabel(check) {
  const key = has(`check.${check}`) ? `check.${check}` : "check.unknown";
  return h("span", { class: "check-name" }, tx(key), raw(check, { tag: "code", cls: "check-code" }));
}

function badgeOf(el) {
  let badge = el.querySelector(":scope > .badge, :scope > header > .badge");
  if (!badge) {
    badge = h("p", { class: "badge" });
    el.prepend(badge);
  }
  return badge;
}

/** Mark `el` as being checked (no verdict attribute yet). */
export function checking(el) {
  el.removeAttribute("data-verified");
  el.removeAttribute("data-failed-check");
  el.setAttribute("aria-busy", "true");
  clear(badgeOf(el)).append(tx("verify.checking"));
  badgeOf(el).className = "badge pending";
  return el;
}

/** Record the verdict on `el`: {ok, check, detail}. */
export function settle(el, verdict) {
  el.removeAttribute("aria-busy");
  const badge = clear(badgeOf(el));
  if (verdict.ok) {
    el.dataset.verified = "true";
    el.removeAttribute("data-failed-check");
    badge.className = "badge ok";
    badge.append(h("span", { class: "mark", "aria-hidden": "true" }, raw("✓")), tx("verify.ok"));
    if (verdict.blockNumber !== undefined && verdict.blockNumber !== null) {
      badge.append(tx("verify.in-block", { block: verdict.blockNumber }, "span", { class: "sub" }));
    }
  } else {
    el.dataset.verified = "false";
    el.dataset.failedCheck = verdict.check;
    badge.className = "badge fail";
    badge.append(h("span", { class: "mark", "aria-hidden": "true" }, raw("✗")), tx("verify.failed"), checkLabel(verdict.check));
    if (verdict.detail) badge.append(raw(verdict.detail, { tag: "span", lang: "en", cls: "detail" }));
  }
  return el;
}

/** verifyRecordProof reduced to one verdict: {ok, check, detail, log, blockNumber, timestamp}. */
export function checkRecord(record, options, subject = "record") {
  const result = v.verifyRecordProof(record, options, subject);
  const first = result.results[0];
  return { ok: result.ok, check: first.check, detail: first.detail, log: result.log,
    blockNumber: result.blockNumber ?? null, timestamp: result.timestamp ?? null };
}

/** A failed verdict for a record the page could not even start checking (e.g. no sealer set). */
export const failed = (check, detail = "") => ({ ok: false, check, detail, log: null, blockNumber: null, timestamp: null });

/** A list of check results ({check, subject, ok, detail}), each row marked by the same contract. */
export function resultsList(results) {
  return h("ol", { class: "checks" }, results.map((r) => {
    const row = h("li", { class: r.ok ? "check ok" : "check fail", "data-check": r.check, "data-subject": r.subject,
      "data-ok": r.ok ? "true" : "false" },
      h("span", { class: "mark", "aria-hidden": "true" }, raw(r.ok ? "✓" : "✗")),
      tx(r.ok ? "verify.passed" : "verify.failed-short", {}, "span", { class: "verdict-word" }),
      checkLabel(r.check), raw(r.subject, { cls: "subject", lang: "en" }),
      r.detail ? raw(r.detail, { tag: "span", lang: "en", cls: "detail" }) : null);
    row.dataset.verified = r.ok ? "true" : "false";
    if (!r.ok) row.dataset.failedCheck = r.check;
    return row;
  }));
}
