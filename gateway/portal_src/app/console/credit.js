// Regulators: issue a credit entry (the USCC validated as typed), and upload a batch CSV with
// progress; the gateway answers with the batch's root and the unsigned anchorBatch call, which is
// checked here (the pinned Credit address, the same root, count, category and file CID), and the
// batch file it stored is downloaded, re-hashed into its CID, compared line by line with the
// regulator's own rows and its Merkle root rebuilt here (as the members' client does) before the
// regulator's key signs it; then the batch's indexing is followed until its entries resolve.

import * as v from "/static/cityledger-verify.js";
import { api, upload, problemView } from "../api.js";
import { checkUscc, codeInput } from "../codes.js";
import { clear, h, num, raw, short, uid } from "../dom.js";
import { keyOr, t, tx } from "../i18n.js";
import { ENUMS, contractAddress, decodeCall, get, keccakHex, send, session } from "./session.js";

const CATEGORIES = ENUMS["Credit.Category"];

function field(labelKey, input, helpKey = null) {
  input.id ||= uid("in");
  return h("div", { class: "field" }, h("label", { for: input.id }, tx(labelKey)), input, helpKey ? tx(helpKey, {}, "p", { class: "help" }) : null);
}

function categorySelect(name) {
  const allowed = session.member.roles.filter((r) => r.startsWith("issuer:")).map((r) => r.slice(7));
  return h("select", { name, required: true }, CATEGORIES.map((c, i) => h("option", { value: i, disabled: allowed.length > 0 && !allowed.includes(c) },
    tx(keyOr(`credit.category.${c}`, "credit.category.other")))));
}

const dateSeconds = (value) => (value ? BigInt(Math.floor(Date.parse(`${value}T00:00:00Z`) / 1000)) : 0n);

function issueForm(out) {
  const { id: usccId, input: uscc, message, show: validate } = codeInput({ check: checkUscc, name: "uscc", required: true });
  validate();
  const category = categorySelect("category");
  const severity = h("input", { type: "number", min: 0, max: 255, value: 1, name: "severity", required: true });
  const effective = h("input", { type: "date", name: "effective", required: true });
  const expiry = h("input", { type: "date", name: "expiry" });
  const amount = h("input", { type: "number", min: 0, step: 1, value: 0, name: "amount" });
  const summary = h("textarea", { name: "summary", rows: 2, required: true });
  const evidence = h("input", { type: "text", name: "evidence", placeholder: t("console.documents.placeholder") });
  const formEl = h("form", { class: "panel-form", id: "issue-form" }, tx("console.issue.title", {}, "h3"),
    h("div", { class: "field" }, h("label", { for: usccId }, tx("home.credit.label")), uscc, message),
    field("console.issue.category", category), field("credit.severity", severity), field("credit.effective", effective),
    field("credit.expiry", expiry), field("credit.amount", amount, "console.issue.amount.help"), field("credit.summary", summary, "console.issue.summary.help"),
    field("credit.evidence", evidence), h("button", { type: "submit" }, tx("console.issue.submit")));
  formEl.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = validate();
    if (!r.ok) { uscc.focus(); return; }
    try {
      await send(out, "Credit", "issue", [{ uscc: r.code, category: BigInt(category.value), severity: BigInt(severity.value),
        effectiveDate: dateSeconds(effective.value), expiryDate: dateSeconds(expiry.value), amount: BigInt(amount.value || 0),
        summaryHash: keccakHex(new TextEncoder().encode(summary.value.trim())), evidenceCid: evidence.value.trim() }]);
    } catch (error) {
      if (!out.querySelector("[data-error]")) out.prepend(problemView(error));
    }
  });
  return formEl;
}

/** Rows of a CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF). */
export function csvRows(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

class BatchRefused extends Error {
  constructor(check, detail) {
    super(`${check}: ${detail}`);
    this.check = check;
    this.detail = detail;
  }
}

const ZERO32 = "0x" + "00".repeat(32);

/**
 * The batch file the gateway stored (cityledger-credit-batch/1, JSON Lines), checked against the
 * uploaded CSV and the offer: its CID, one line per row with this index, issuer and category, each
 * public line the row's USCC, severity, amount, summary and evidence CID; returns the root rebuilt
 * from the lines (contracts/README.md "Batch leaves", "Batch tree: positional").
 */
async function rebuildBatchRoot(offer, csvText, issuer, category) {
  const { bytes } = await api(`/v1/payloads/${encodeURIComponent(offer.batchFileCid)}`, { as: "bytes" });
  const computed = await v.hashPayload(bytes);
  if (computed.cid !== offer.batchFileCid) throw new BatchRefused("payload", `the batch file served for ${offer.batchFileCid} has CID ${computed.cid}`);
  const [header, ...data] = csvRows(csvText);
  const column = Object.fromEntries((header ?? []).map((name, i) => [name.trim().toLowerCase(), i]));
  const lines = new TextDecoder("utf-8", { fatal: true }).decode(bytes).split("\n").filter((line) => line !== "");
  if (lines.length !== data.length || lines.length !== offer.entryCount) {
    throw new BatchRefused("batch-file", `the batch file holds ${lines.length} entries, the CSV ${data.length} rows, the offer says ${offer.entryCount}`);
  }
  const hashes = lines.map((line, index) => {
    const doc = JSON.parse(line);
    const row = data[index];
    const cell = (name) => String(row[column[name]] ?? "");
    if (doc.indexInBatch !== index || doc.issuerMemberId !== issuer || doc.category !== category) {
      throw new BatchRefused("batch-file", `line ${index + 1} carries index ${doc.indexInBatch}, issuer ${doc.issuerMemberId}, category ${doc.category}`);
    }
    const leaf = { issuerMemberId: issuer, category, indexInBatch: index, isPublic: doc.isPublic === true, uscc: "0x" + "00".repeat(18),
      severity: 0, effectiveDate: 0, expiryDate: 0, amount: 0, summaryHash: ZERO32, evidenceCidHash: ZERO32, subjectTag: ZERO32, commitment: ZERO32 };
    if (doc.isPublic === true) {
      const same = doc.uscc === cell("uscc").trim().toUpperCase() && BigInt(doc.severity) === BigInt(cell("severity").trim())
        && BigInt(doc.amount) === BigInt(cell("amount").trim() || "0") && doc.summary === cell("summary")
        && doc.evidenceCid === cell("evidence_cid").trim() && cell("visibility").trim().toLowerCase() === "public";
      if (!same) throw new BatchRefused("batch-file", `line ${index + 1} of the batch file is not row ${index + 2} of the CSV`);
      Object.assign(leaf, { uscc: doc.uscc, severity: doc.severity, effectiveDate: doc.effectiveDate, expiryDate: doc.expiryDate,
        amount: doc.amount, summaryHash: keccakHex(new TextEncoder().encode(doc.summary)), evidenceCidHash: keccakHex(new TextEncoder().encode(doc.evidenceCid)) });
    } else {
      if (cell("visibility").trim().toLowerCase() !== "restricted") throw new BatchRefused("batch-file", `line ${index + 1} is restricted, row ${index + 2} is public`);
      if (![doc.subjectTag, doc.commitment].every((x) => typeof x === "string" && /^0x[0-9a-fA-F]{64}$/.test(x) && x !== ZERO32)) {
        throw new BatchRefused("batch-file", `line ${index + 1}: a restricted entry needs a subject tag and commitment`);
      }
      Object.assign(leaf, { subjectTag: doc.subjectTag, commitment: doc.commitment });
    }
    return v.batchLeafHash(leaf);
  });
  return v.toHex(v.batchRoot(hashes));
}

function batchForm(out) {
  const fileId = uid("batch");
  const file = h("input", { id: fileId, type: "file", accept: ".csv,.jsonl,text/csv", name: "batch", required: true, class: "file-visible" });
  const category = categorySelect("batch-category");
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": t("console.batch.progress") });
  const stage = h("p", { class: "field-message", "aria-live": "polite", id: "batch-stage" });
  const formEl = h("form", { class: "panel-form", id: "batch-form" }, tx("console.batch.title", {}, "h3"), tx("console.batch.help", {}, "p", { class: "help" }),
    h("div", { class: "field" }, h("label", { for: fileId }, tx("console.batch.file")), file), field("console.issue.category", category),
    h("button", { type: "submit" }, tx("console.batch.submit")), progress, stage);
  const say = (key, params = {}) => { clear(stage).append(tx(key, params)); stage.dataset.stage = key; };
  formEl.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const name = CATEGORIES[Number(category.value)];
    progress.hidden = false;
    progress.value = 0;
    say("console.batch.uploading");
    try {
      const batch = await upload(`/v1/credit/batches?category=${encodeURIComponent(name)}`, chosen, { token: session.token,
        contentType: /\.jsonl$/i.test(chosen.name) ? "application/x-ndjson" : "text/csv",
        onProgress: (done, total) => { progress.value = done / total; } });
      progress.value = 1;
      // The call to sign is checked against what the gateway says it built and the pinned address.
      const call = decodeCall("Credit", batch.anchor.data);
      const [root, count, cat, cid] = call.args;
      if (batch.anchor.to.toLowerCase() !== contractAddress("Credit").toLowerCase() || call.name !== "anchorBatch" || root !== batch.merkleRoot
        || Number(count) !== batch.entryCount || Number(cat) !== Number(category.value) || cid !== batch.batchFileCid) {
        throw new Error("the anchorBatch call the gateway built does not match the batch it reported");
      }
      if (!/\.jsonl$/i.test(chosen.name)) {
        say("console.batch.checking");
        const rebuilt = await rebuildBatchRoot(batch, await chosen.text(), session.member.id, Number(category.value));
        if (rebuilt !== String(batch.merkleRoot).toLowerCase()) throw new BatchRefused("batch-root", `the batch file rebuilds to root ${rebuilt}, the offer says ${batch.merkleRoot}`);
        formEl.dataset.rootRebuilt = rebuilt;
      }
      say("console.batch.validated", { n: batch.entryCount });
      out.prepend(h("dl", { class: "facts batch-facts" },
        h("div", {}, tx("console.batch.entries", {}, "dt"), h("dd", {}, num(batch.entryCount))),
        h("div", {}, tx("console.batch.root", {}, "dt"), h("dd", {}, short(batch.merkleRoot))),
        h("div", {}, tx("console.batch.cid", {}, "dt"), h("dd", {}, short(batch.batchFileCid, { keep: 14 })))));
      say("console.batch.signing");
      const sent = await send(out, "Credit", "anchorBatch", [root, count, cat, cid]);
      const anchored = sent.answer.events.find((ev) => ev.event === "BatchAnchored");
      const batchId = anchored.args.batchId;
      say("console.batch.indexing", { id: batchId });
      for (let i = 0; i < 600; i++) {
        const state = await get(`/v1/credit/batches/${batchId}`);
        if (state.state === "indexed") {
          say("console.batch.indexed", { id: batchId, n: batch.entryCount });
          formEl.dataset.batch = String(batchId);
          return;
        }
        if (state.state === "mismatch") throw new Error(state.problem ?? "mismatch");
        await new Promise((resolve) => setTimeout(resolve, 500)); // polling the gateway's indexer while the person waits
      }
      say("console.batch.slow");
    } catch (error) {
      say("console.batch.failed");
      if (!out.querySelector("[data-error]")) out.prepend(problemView(error));
    }
  });
  return formEl;
}

export async function creditSection(container) {
  const out = h("div", { class: "results activity", id: "credit-activity", "aria-live": "polite" });
  container.append(h("section", { class: "card", id: "credit", "aria-labelledby": "credit-h" },
    tx("console.credit.title", {}, "h2", { id: "credit-h" }),
    h("p", {}, tx("console.credit.categories"), raw(session.member.roles.filter((r) => r.startsWith("issuer:")).map((r) => r.slice(7)).join(", ") || "—")),
    issueForm(out), batchForm(out), tx("console.activity", {}, "h3"), out));
}
