// What every page does first: pin (or read) the trust anchor and show it in the footer, so the
// person can always see what the page checks against and where to replace it.

import { problemView } from "./api.js";
import { app, clear, h, raw, short, when } from "./dom.js";
import { href, tx } from "./i18n.js";
import { contractsOf, loadAnchor, trustOf } from "./trust.js";

function sourceKey(anchor) {
  return anchor.source === "gateway" ? "trust.source.gateway" : "trust.source.file";
}

export function trustSummary(anchor) {
  const trust = trustOf(anchor);
  const box = h("div", { class: "trust-summary", "data-trust-source": anchor.source },
    tx("trust.anchor", {}, "strong"),
    h("span", {}, tx("trust.chain"), raw(trust.chainId ?? "—")),
    trust.genesisHash ? h("span", {}, tx("trust.genesis-hash"), short("0x" + Array.from(trust.genesisHash, (b) => b.toString(16).padStart(2, "0")).join(""))) : null,
    trust.genesisSealers ? h("span", {}, tx("trust.genesis-sealers"), raw(trust.genesisSealers.length)) : null,
    h("span", {}, tx(sourceKey(anchor)), when(anchor.pinnedAt, { dateOnly: true })),
    contractsOf(anchor) ? null : tx("trust.no-contracts", {}, "span", { class: "warn" }),
    h("a", { href: href("/verify#trust") }, tx("trust.manage")));
  return box;
}

export function renderTrustSummary(anchor) {
  const slot = document.getElementById("trust-summary");
  if (slot) clear(slot).append(trustSummary(anchor));
}

/** Start a page: the anchor (pinned on first use), shown in the footer. */
export async function start() {
  try {
    const anchor = await loadAnchor();
    renderTrustSummary(anchor);
    return anchor;
  } catch (error) {
    app().append(h("section", { class: "card" }, tx("trust.unavailable", {}, "p"), problemView(error)));
    throw error;
  }
}

/**
 * Run a page's main function, showing any unexpected error instead of a blank page. When it has
 * finished (every check on the page ran) the body says so: data-ready="true" (or "error"), what
 * tests and scripts wait for instead of sleeping.
 */
export function run(main) {
  main().then(() => {
    document.body.dataset.ready = "true";
  }, (error) => {
    console.error(error);
    app().append(problemView(error));
    document.body.dataset.ready = "error";
  });
}
