// "/verify": the auditor's page. Everything is checked here against the trust anchor this browser
// pinned (replaceable below with the auditor's own address book, genesis document or values):
// * an evidence bundle dropped or chosen → every check of audit's verify_bundle, by name;
// * a pasted transaction hash, CID, credit entry id (N or batch/index) → the gateway's records
//   for it, each proof checked against the sealer set derived from its own evidence bundle;
// * any other file dropped → its SHA-256 and CID computed here, the ledger's records naming it
//   found and checked, and the "payload" check passed only when a proven event names this file.

import * as v from "/static/cityledger-verify.js";
import { api, problemView } from "../app/api.js";
import { checkReceiptCode, checkUscc } from "../app/codes.js";
import { app, clear, formatNumber, h, num, raw, readText, short, uid, when } from "../app/dom.js";
import { href, t, tx } from "../app/i18n.js";
import { renderTrustSummary, run, start } from "../app/shell.js";
import { contractsOf, recordOptions, replaceAnchor, resetAnchor, saveWitnessKeys, trustOf, witnessKeys } from "../app/trust.js";
import { checking, checkRecord, failed, resultsList, settle } from "../app/verdict.js";

let anchor = null;
const results = () => document.getElementById("results");

// ------------------------------------------------------------------------------- trust anchor
function anchorDetails() {
  const trust = trustOf(anchor);
  const contracts = contractsOf(anchor);
  const hex = (bytes) => "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return h("dl", { class: "anchor-details", id: "anchor-details", "data-source": anchor.source },
    h("div", {}, tx("trust.source", {}, "dt"), h("dd", {}, tx(anchor.source === "gateway" ? "trust.source.gateway" : "trust.source.file"),
      anchor.files?.length ? raw(anchor.files.join(", "), { cls: "files" }) : null, when(anchor.pinnedAt))),
    h("div", {}, tx("trust.chain", {}, "dt"), h("dd", {}, raw(trust.chainId ?? "—"))),
    h("div", {}, tx("trust.genesis-hash", {}, "dt"), h("dd", {}, trust.genesisHash ? short(hex(trust.genesisHash), { keep: 18 }) : tx("trust.not-pinned"))),
    h("div", {}, tx("trust.genesis-sealers", {}, "dt"), h("dd", {}, trust.genesisSealers ? h("ul", { class: "plain" }, trust.genesisSealers.map((s) => h("li", {}, short(hex(s), { keep: 12 })))) : tx("trust.not-pinned"))),
    trust.cometbft ? h("div", {}, tx("trust.cometbft-validators", {}, "dt"), h("dd", {}, raw(trust.cometbft.chainId, { cls: "mono" }),
      h("ul", { class: "plain" }, trust.cometbft.validators.map((val) => h("li", {}, short(hex(val.address), { keep: 12 })))))) : null,
    h("div", {}, tx("trust.contracts", {}, "dt"), h("dd", {}, contracts ? h("ul", { class: "plain" }, Object.entries(contracts).map(([name, address]) => h("li", {}, raw(name), short(address, { keep: 12 })))) : tx("trust.no-contracts"))),
    h("div", {}, tx("trust.witness-keys", {}, "dt"), h("dd", {}, num(witnessKeys().length))));
}

function trustSection() {
  const fileId = uid("trust");
  const files = h("input", { id: fileId, type: "file", accept: ".json,application/json", multiple: true, class: "file", "data-role": "trust-files" });
  const message = h("p", { class: "field-message", "aria-live": "polite", id: "trust-message" });
  const details = h("div", {}, anchorDetails());
  const refresh = () => {
    clear(details).append(anchorDetails());
    renderTrustSummary(anchor);
  };
  files.addEventListener("change", async () => {
    const chosen = [...(files.files ?? [])];
    if (!chosen.length) return;
    try {
      anchor = replaceAnchor(await Promise.all(chosen.map(async (f) => ({ name: f.name, text: await readText(f) }))));
      clear(message).append(tx("trust.replaced"));
      message.dataset.state = "ok";
      refresh();
      document.body.dataset.trustVersion = String(Number(document.body.dataset.trustVersion ?? 0) + 1);
    } catch (error) {
      clear(message).append(tx("trust.file-invalid"), raw(error.message, { lang: "en", cls: "detail" }));
      message.dataset.state = "error";
    }
    files.value = "";
  });
  const reset = h("button", { type: "button", class: "secondary" }, tx("trust.reset"));
  reset.addEventListener("click", async () => {
    resetAnchor();
    anchor = await start();
    clear(message).append(tx("trust.reset-done"));
    refresh();
  });
  const witnessId = uid("witness");
  const witnesses = h("textarea", { id: witnessId, rows: 3, class: "mono", spellcheck: "false" });
  witnesses.value = witnessKeys().join("\n");
  const saveWitnesses = h("button", { type: "button", class: "secondary" }, tx("trust.witness-save"));
  saveWitnesses.addEventListener("click", () => {
    try {
      saveWitnessKeys(witnesses.value);
    } catch (error) {
      clear(message).append(tx("trust.file-invalid"), raw(error.message, { lang: "en", cls: "detail" }));
      message.dataset.state = "error";
      return;
    }
    refresh();
    clear(message).append(tx("trust.witness-saved"));
    message.dataset.state = "ok";
  });
  return h("section", { class: "card", id: "trust", "aria-labelledby": "trust-h" },
    tx("trust.title", {}, "h2", { id: "trust-h" }), tx("trust.intro", {}, "p"), details,
    h("div", { class: "row" }, h("label", { for: fileId, class: "button" }, tx("trust.replace")), files, reset),
    tx("trust.replace.help", {}, "p", { class: "help" }),
    h("label", { for: witnessId }, tx("trust.witness-label")), witnesses, saveWitnesses, message);
}

// ------------------------------------------------------------------------------- bundles
function verifyBundleDoc(bundle, name) {
  let report;
  try {
    report = v.verifyBundle(bundle, { ...trustOf(anchor), witnessKeys: witnessKeys() });
  } catch (error) {
    report = { ok: false, results: [{ check: "cosignature", subject: "witness keys", ok: false, detail: String(error.message ?? error) }] };
  }
  const first = report.results.find((r) => !r.ok);
  const box = h("article", { class: "card result bundle-result", "data-kind": "bundle", "data-name": name },
    h("header", {}, h("p", { class: "badge" }), tx("verify.bundle.title", {}, "h3"), raw(name, { cls: "file-name" })),
    h("p", {}, tx("verify.bundle.summary", { passed: report.results.filter((r) => r.ok).length, all: report.results.length })),
    resultsList(report.results));
  settle(box, report.ok ? { ok: true } : { ok: false, check: first?.check ?? "format", detail: first?.detail ?? "" });
  const payloads = Array.isArray(bundle?.payloads) ? bundle.payloads : [];
  if (payloads.length) box.append(payloadChecker(payloads));
  return box;
}

function payloadChecker(payloads) {
  const id = uid("payload");
  const input = h("input", { id, type: "file", class: "file" });
  const out = h("div", { class: "payload-results" });
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    const row = checking(h("div", { class: "record", "data-kind": "payload" }, h("p", { class: "badge" })));
    clear(out).append(row);
    const computed = await v.hashPayload(file);
    const match = payloads.find((p) => p.cid === computed.cid || p.sha256 === computed.sha256);
    const verdict = match ? await v.verifyPayload(file, { cid: match.cid, sha256: match.sha256 }) : { ok: false, check: "payload", detail: "the file is none of the bundle's payloads" };
    settle(row, verdict.ok ? { ok: true } : { ok: false, check: "payload", detail: verdict.detail });
    row.append(h("p", {}, tx("verify.file.cid"), short(computed.cid, { keep: 16 })), h("p", {}, tx("verify.file.sha256"), short(computed.sha256, { keep: 16 })));
  });
  return h("div", { class: "payload-check" }, tx("verify.bundle.payloads", { n: payloads.length }, "p"),
    h("ul", { class: "plain" }, payloads.map((p) => h("li", {}, short(p.cid, { keep: 16 }), p.sha256 ? short(p.sha256) : null))),
    h("label", { for: id, class: "button secondary" }, tx("verify.bundle.payload-drop")), input, out);
}

// ------------------------------------------------------------------------------- records
const bundles = new Map();
async function sealerSetFor(evidence) {
  if (!bundles.has(evidence)) {
    bundles.set(evidence, api(evidence).then((bundle) => v.deriveSealerSet(bundle, trustOf(anchor))));
  }
  return bundles.get(evidence);
}

/** One served record (with proof and evidence link), checked against its own bundle's sealer set. */
async function checkServed(record, expect = {}) {
  const options = recordOptions(anchor);
  if (!options.events) return failed("log-content", "the trust anchor pins no contract addresses");
  const derived = await sealerSetFor(record.evidence);
  const bad = derived.results.find((r) => !r.ok);
  if (bad) return failed(bad.check, bad.detail);
  return checkRecord(record, { ...options, sealerSet: derived.sealerSet, poa: derived.poa, expect });
}

function recordCard(title, record) {
  const el = h("article", { class: "card result record", "data-kind": "record" },
    h("header", {}, h("p", { class: "badge" }), title), h("div", { class: "body" }));
  checking(el);
  return el;
}

function showArgs(el, verdict, record) {
  const body = el.querySelector(".body");
  const args = verdict.ok ? verdict.log.args : record.args ?? {};
  body.append(h("p", {}, raw(`${verdict.log?.contract ?? record.contract ?? ""}.${verdict.log?.event ?? record.event ?? record.kind ?? ""}`, { tag: "code" }),
    verdict.timestamp ? when(verdict.timestamp) : null),
  h("dl", { class: "args" }, Object.entries(args).map(([k, value]) => h("div", {}, raw(k, { tag: "dt" }),
    h("dd", {}, typeof value === "object" ? raw(JSON.stringify(value), { tag: "code" }) : String(value).startsWith("0x") ? short(String(value), { keep: 14 }) : raw(value))))),
  record.evidence ? h("p", {}, h("a", { href: record.evidence, download: "" }, tx("proof.download"))) : null);
}

async function showRecords(items, heading, compare = null) {
  const box = h("section", { class: "result-group" }, heading);
  results().prepend(box);
  if (!items.length) {
    box.append(tx("verify.lookup.none", {}, "p", { class: "warn", "data-lookup": "none" }));
    return [];
  }
  const verdicts = [];
  for (const record of items) {
    const el = recordCard(raw(`${record.contract ?? "Credit"}.${record.event ?? record.kind ?? record.action ?? "entry"}`, { tag: "h3" }), record);
    box.append(el);
    let verdict = await checkServed(record, record.event ? { event: record.event } : {});
    if (verdict.ok && compare) verdict = compare(verdict) ?? verdict;
    settle(el, verdict);
    showArgs(el, verdict, record);
    verdicts.push(verdict);
  }
  return verdicts;
}

async function lookup(text) {
  const value = text.trim();
  try {
    if (/^0x[0-9a-fA-F]{64}$/.test(value)) {
      const found = await api(`/v1/lookup/tx/${value}`);
      await showRecords(found.items, tx("verify.lookup.tx", { hash: value.slice(0, 12) + "…" }, "h3"));
    } else if (checkReceiptCode(value).ok) {
      location.assign(href(`/trace/${checkReceiptCode(value).code}`));
    } else if (checkUscc(value).ok) {
      location.assign(href(`/credit/${checkUscc(value).code}`));
    } else if (/^\d+$/.test(value)) {
      const entry = await api(`/v1/credit/entries/${value}`);
      const event = { Issue: "EntryIssued", Supersede: "EntrySuperseded", Revoke: "EntryRevoked" }[entry.action];
      await showRecords([{ ...entry, contract: "Credit", event }], tx("verify.lookup.entry", { id: value }, "h3"));
    } else if (/^\d+\/\d+$/.test(value)) {
      const [batch, index] = value.split("/");
      const entry = await api(`/v1/credit/batches/${batch}/entries/${index}`);
      await showRecords([{ ...entry, contract: "Credit", event: "BatchAnchored" }], tx("verify.lookup.batch-entry", { batch, index }, "h3"));
    } else if (/^[A-Za-z0-9]{8,128}$/.test(value)) {
      const found = await api(`/v1/lookup/payload?cid=${encodeURIComponent(value)}`);
      await showRecords(found.items, tx("verify.lookup.cid", { cid: value.slice(0, 16) + "…" }, "h3"), (verdict) =>
        JSON.stringify(verdict.log.args).includes(`"${value}"`) ? null : failed("payload", "the proven event does not name this CID"));
    } else {
      results().prepend(tx("verify.lookup.unknown", {}, "p", { class: "problem", role: "alert" }));
    }
  } catch (error) {
    results().prepend(problemView(error));
  }
}

// ------------------------------------------------------------------------------- files
async function checkFile(file) {
  const row = h("article", { class: "card result file-result", "data-kind": "file", "data-name": file.name },
    h("header", {}, tx("verify.file.title", {}, "h3"), raw(file.name, { cls: "file-name" })));
  results().prepend(row);
  const progress = h("progress", { max: 1, value: 0, "aria-label": t("verify.file.hashing") });
  row.append(progress);
  const computed = await v.hashPayload(file, { onProgress: (done) => { progress.value = file.size ? done / file.size : 1; } });
  progress.remove();
  row.append(h("dl", { class: "args" },
    h("div", {}, tx("verify.file.size", {}, "dt"), h("dd", {}, raw(formatNumber(computed.size)))),
    h("div", {}, tx("verify.file.cid", {}, "dt"), h("dd", {}, short(computed.cid, { keep: 16 }))),
    h("div", {}, tx("verify.file.sha256", {}, "dt"), h("dd", {}, short(computed.sha256, { keep: 16 })))));
  let found;
  try {
    found = await api(`/v1/lookup/payload?cid=${encodeURIComponent(computed.cid)}&sha256=${computed.sha256}`);
  } catch (error) {
    row.append(problemView(error));
    return;
  }
  const verdicts = await showRecords(found.items, tx("verify.file.records", { name: file.name }, "h3"), (verdict) => {
    const text = JSON.stringify(verdict.log.args).toLowerCase();
    return text.includes(`"${computed.cid.toLowerCase()}"`) || text.includes(`"${computed.sha256.toLowerCase()}"`)
      ? null : failed("payload", "the proven event names neither this file's CID nor its SHA-256");
  });
  const ok = verdicts.length > 0 && verdicts.some((x) => x.ok);
  settle(row, ok ? { ok: true } : { ok: false, check: "payload", detail: verdicts.length ? "no proven record names this file" : "the ledger names no such file" });
}

async function handleFiles(list) {
  for (const file of list) {
    let doc = null;
    if (file.size < 64 * 1024 * 1024 && (/\.json$/i.test(file.name) || file.type === "application/json")) {
      try {
        doc = JSON.parse(await readText(file));
      } catch {
        doc = null;
      }
    }
    if (doc && typeof doc === "object" && ("events" in doc || String(doc.format ?? "").startsWith("cityledger-evidence"))) {
      results().prepend(verifyBundleDoc(doc, file.name));
    } else {
      await checkFile(file);
    }
  }
  document.body.dataset.verifyRuns = String(Number(document.body.dataset.verifyRuns ?? 0) + 1);
}

function dropSection() {
  const id = uid("drop");
  const input = h("input", { id, type: "file", multiple: true, class: "file", "data-role": "drop-files" });
  input.addEventListener("change", async () => {
    await handleFiles([...(input.files ?? [])]);
    input.value = "";
  });
  const zone = h("div", { class: "dropzone", tabindex: "-1" },
    tx("verify.drop.title", {}, "p", { class: "big" }), tx("verify.drop.help", {}, "p"),
    h("label", { for: id, class: "button" }, tx("verify.drop.choose")), input);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    await handleFiles([...(e.dataTransfer?.files ?? [])]);
  });
  const pasteId = uid("paste");
  const paste = h("input", { id: pasteId, type: "text", class: "mono", autocomplete: "off", spellcheck: "false", placeholder: t("verify.paste.placeholder") });
  const form = h("form", { class: "code-form" }, h("label", { for: pasteId }, tx("verify.paste.label")),
    h("div", { class: "row" }, paste, h("button", { type: "submit" }, tx("verify.paste.button"))), tx("verify.paste.help", {}, "p", { class: "help" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (paste.value.trim()) await lookup(paste.value);
    document.body.dataset.verifyRuns = String(Number(document.body.dataset.verifyRuns ?? 0) + 1);
  });
  return h("section", { class: "card", "aria-labelledby": "drop-h" }, tx("verify.drop.heading", {}, "h2", { id: "drop-h" }), zone, form);
}

async function main() {
  anchor = await start();
  app().append(dropSection(),
    h("section", { class: "results", "aria-labelledby": "results-h" }, tx("verify.results", {}, "h2", { id: "results-h" }),
      h("div", { id: "results", "aria-live": "polite" })),
    trustSection());
}

run(main);
