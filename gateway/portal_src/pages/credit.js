// "/credit/{uscc}": an enterprise's public credit entries, corrections and revocations in chain
// order, each checked here: an on-chain entry by its receipt proof (EntryIssued / EntrySuperseded /
// EntryRevoked, bound to the entry id and the USCC); a batch entry by its Merkle path to the root of
// a proven BatchAnchored event, with the shown fields bound to the proven leaf (batch-leaf).

import * as v from "/static/cityledger-verify.js";
import CONTRACTS from "cityledger:contracts";
import { api, problemView } from "../app/api.js";
import { checkUscc, codeForm, rawCode } from "../app/codes.js";
import { app, h, num, raw, short, when } from "../app/dom.js";
import { href, keyOr, tx } from "../app/i18n.js";
import { run, start } from "../app/shell.js";
import { recordOptions, trustOf } from "../app/trust.js";
import { checking, checkRecord, failed, settle } from "../app/verdict.js";

const EVENT_OF = { Issue: "EntryIssued", Supersede: "EntrySuperseded", Revoke: "EntryRevoked" };
const CATEGORIES = CONTRACTS.enums["Credit.Category"];
const ZERO32 = "0x" + "00".repeat(32);
const ZERO18 = "0x" + "00".repeat(18);

const keccakText = (text) => v.toHex(v.keccak256(new TextEncoder().encode(text ?? "")));

/** The leaf a served batch entry stands for (contracts/README.md "Batch leaves"). */
function leafOf(entry) {
  return {
    issuerMemberId: entry.issuer.id, category: CATEGORIES.indexOf(entry.category), indexInBatch: entry.index,
    isPublic: true, uscc: entry.uscc, severity: entry.severity, effectiveDate: entry.effectiveDate,
    expiryDate: entry.expiryDate ?? 0, amount: entry.amount, summaryHash: keccakText(entry.summary),
    evidenceCidHash: keccakText(entry.evidenceCid ?? ""), subjectTag: ZERO32, commitment: ZERO32,
  };
}

function checkEntry(entry, uscc, options, sealerSet, poa) {
  if (entry.source === "batch") {
    const verdict = checkRecord(entry, { ...options, sealerSet, poa }, `batch ${entry.batchId}/${entry.index}`);
    if (!verdict.ok) return verdict;
    if (!entry.isPublic) return failed("batch-leaf", "a restricted entry's fields are not public");
    if (entry.uscc !== uscc) return failed("batch-leaf", `the entry is about ${entry.uscc}`);
    let leaf;
    try {
      leaf = v.batchLeafHash(leafOf(entry));
    } catch (error) {
      return failed("batch-leaf", String(error.message));
    }
    if (v.toHex(leaf) !== String(entry.proof.leaf).toLowerCase()) return failed("batch-leaf", "the shown fields do not hash to the proven leaf");
    const anchored = verdict.log.args;
    if (String(anchored.batchId) !== String(entry.batchId) || String(anchored.issuerMemberId) !== String(entry.issuer.id)
      || Number(anchored.category) !== CATEGORIES.indexOf(entry.category) || entry.proof.index !== entry.index) {
      return failed("batch-anchor", "the entry's batch, issuer, category or index is not the proven anchor's");
    }
    return verdict;
  }
  const event = EVENT_OF[entry.action];
  const verdict = checkRecord(entry, { ...options, sealerSet, poa, expect: { contract: "Credit", event, args: { entryId: entry.id } } }, `entry ${entry.id}`);
  if (!verdict.ok) return verdict;
  const provenUscc = verdict.log.args.uscc;
  const typed = v.toHex(new TextEncoder().encode(uscc));
  if (provenUscc !== typed && provenUscc !== ZERO18) return failed("log-content", "the proven entry is about another USCC");
  return verdict;
}

function entryCard(entry) {
  const id = entry.source === "batch" ? `batch-${entry.batchId}-${entry.index}` : `entry-${entry.id}`;
  const superseded = entry.replacedBy !== null && entry.replacedBy !== undefined;
  const el = h("li", { class: ["entry", superseded ? "superseded" : "", entry.action === "Revoke" ? "revocation" : ""], id,
    "data-source": entry.source, "data-action": entry.action },
  h("header", {}, h("p", { class: "badge" }),
    h("h3", {}, tx(keyOr(`credit.action.${entry.action}`, "credit.action.Issue")), tx(keyOr(`credit.category.${entry.category}`, "credit.category.other"))),
    entry.source === "batch" ? tx("credit.batch-entry", { batch: entry.batchId, index: entry.index }, "p", { class: "sub" }) : tx("credit.entry-id", { id: entry.id }, "p", { class: "sub" })),
  h("dl", { class: "facts" },
    h("div", {}, tx("credit.severity", {}, "dt"), h("dd", {}, num(entry.severity))),
    h("div", {}, tx("credit.amount", {}, "dt"), h("dd", {}, num(entry.amount))),
    h("div", {}, tx("credit.effective", {}, "dt"), h("dd", {}, when(entry.effectiveDate, { dateOnly: true }))),
    h("div", {}, tx("credit.expiry", {}, "dt"), h("dd", {}, entry.expiryDate ? when(entry.expiryDate, { dateOnly: true }) : tx("credit.no-expiry"))),
    h("div", {}, tx("credit.issuer", {}, "dt"), h("dd", {}, raw(entry.issuer?.name ?? `#${entry.issuer?.id}`))),
    entry.summary ? h("div", {}, tx("credit.summary", {}, "dt"), h("dd", {}, raw(entry.summary))) : h("div", {}, tx("credit.summary-hash", {}, "dt"), h("dd", {}, short(entry.summaryHash))),
    entry.evidenceCid ? h("div", {}, tx("credit.evidence", {}, "dt"), h("dd", {}, short(entry.evidenceCid, { keep: 14 }))) : null,
    entry.replaces ? h("div", {}, tx("credit.replaces", {}, "dt"), h("dd", {}, entry.replaces.entryId ? h("a", { href: `#entry-${entry.replaces.entryId}` }, tx("credit.entry-id", { id: entry.replaces.entryId })) : h("a", { href: `#batch-${entry.replaces.batchId}-${entry.replaces.index}` }, tx("credit.batch-entry", { batch: entry.replaces.batchId, index: entry.replaces.index })))) : null,
    entry.reason ? h("div", {}, tx("credit.reason", {}, "dt"), h("dd", {}, raw(entry.reason))) : null,
    superseded ? h("div", {}, tx("credit.replaced-by", {}, "dt"), h("dd", {}, h("a", { href: `#entry-${entry.replacedBy}` }, tx("credit.entry-id", { id: entry.replacedBy })))) : null),
  entry.evidence ? h("p", {}, h("a", { href: entry.evidence, download: "" }, tx("proof.download"))) : null);
  return el;
}

async function main() {
  const anchor = await start();
  const root = app();
  const typed = decodeURIComponent(location.pathname.split("/credit/")[1] ?? "");
  const field = codeForm({ labelKey: "home.credit.label", placeholderKey: "home.credit.placeholder", buttonKey: "home.credit.button",
    check: checkUscc, onSubmit: (code) => location.assign(href(`/credit/${code}`)), value: typed, name: "uscc" });
  root.append(h("section", { class: "card search" }, field.form));
  const parsed = checkUscc(typed);
  if (!parsed.ok) return;
  const uscc = parsed.code;
  const loading = tx("credit.loading", {}, "p", { class: "loading", role: "status" });
  root.append(loading);
  let history;
  try {
    history = await api(`/v1/credit/${uscc}`);
  } catch (error) {
    loading.replaceWith(problemView(error));
    return;
  }
  const list = h("ol", { class: "entries" }, history.entries.map(entryCard));
  loading.replaceWith(h("section", { class: "card", "aria-labelledby": "entries-h" },
    h("h2", { id: "entries-h" }, tx("credit.entries.title"), rawCode(uscc)),
    history.entries.length ? tx("credit.entries.count", { n: history.entries.length }, "p") : tx("credit.entries.none", {}, "p"),
    list));
  [...list.children].forEach(checking);
  await new Promise(requestAnimationFrame);
  const options = recordOptions(anchor);
  const trust = trustOf(anchor);
  const sets = new Map();
  for (const [i, entry] of history.entries.entries()) {
    let verdict;
    try {
      if (!options.events) throw Object.assign(new Error("the trust anchor pins no contract addresses"), { check: "log-content" });
      if (!sets.has(entry.evidence)) sets.set(entry.evidence, v.deriveSealerSet(await api(entry.evidence), trust));
      const derived = sets.get(entry.evidence);
      const bad = derived.results.find((r) => !r.ok);
      verdict = bad ? failed(bad.check, bad.detail) : checkEntry(entry, uscc, options, derived.sealerSet, derived.poa);
    } catch (error) {
      verdict = failed(error.check ?? "format", String(error.message ?? error));
    }
    settle(list.children[i], verdict);
  }
  document.body.dataset.creditDone = "true";
}

run(main);
