// Regulators: issue a credit entry (the USCC validated as typed), and upload a batch CSV with
// progress; the gateway answers with the batch's root and the unsigned anchorBatch call, which is
// checked here (the pinned Credit address, the same root, count, category and file CID) before
// the regulator's key signs it; then the batch's indexing is followed until its entries resolve.

import { upload, problemView } from "../api.js";
import { checkUscc } from "../codes.js";
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
  const usccId = uid("uscc");
  const uscc = h("input", { id: usccId, type: "text", name: "uscc", required: true, autocomplete: "off", class: "code-input", "aria-describedby": `${usccId}-msg` });
  const message = h("p", { id: `${usccId}-msg`, class: "field-message", "aria-live": "polite" });
  const validate = () => {
    const r = checkUscc(uscc.value);
    clear(message).append(tx(r.key, r.params));
    message.dataset.state = r.state;
    uscc.setAttribute("aria-invalid", r.state === "error" ? "true" : "false");
    return r;
  };
  uscc.addEventListener("input", validate);
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
