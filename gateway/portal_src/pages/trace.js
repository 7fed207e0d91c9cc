// "/trace/{code}": every handoff of a donation, each step checked here, in the browser, before it
// is shown as verified: the receipt-trie proof, the header hash, the seal against the sealer set
// derived (genesis state proof + proven sealer changes) from the evidence bundle, all pinned to
// the trust anchor; the log decoded with the contracts' ABIs at the pinned addresses and bound to
// the typed receipt code and to this donation's lots. Figures shown come from the proven logs.

import * as v from "/static/cityledger-verify.js";
import { api, problemView } from "../app/api.js";
import { bundleCheckpoint } from "../app/checkpoint.js";
import { checkReceiptCode, codeForm, rawCode } from "../app/codes.js";
import { belongs, bytes32Text, replay } from "../app/custody.js";
import { app, clear, formatNumber, h, num, raw, short, svg, svgRaw, when } from "../app/dom.js";
import { href, t, tx } from "../app/i18n.js";
import { qrSvg } from "../app/qr.js";
import { run, start } from "../app/shell.js";
import { recordOptions, trustOf } from "../app/trust.js";
import { checking, checkRecord, failed, resultsList, settle } from "../app/verdict.js";

const KINDS = ["LotRegistered", "LotSplit", "TransferSent", "TransferAccepted", "TransferRefused", "TransferRecalled",
  "LotConsumed", "CorrectionRecorded"];

function namer(trace) {
  const names = new Map();
  const add = (party) => party && names.set(String(party.id), party.name);
  add(trace.charity);
  for (const lot of trace.lots ?? []) add(lot.holder);
  for (const e of trace.events ?? []) { add(e.by); add(e.from); add(e.to); }
  return (id) => {
    const name = names.get(String(id));
    return name ? raw(name, { cls: "party" }) : tx("trace.member-id", { id }, "span", { class: "party" });
  };
}

/** The figures of one step, from its proven log. */
function stepBody(event, args, who, unit) {
  const q = (value) => h("span", { class: "qty" }, num(value), raw(unit, { cls: "unit" }));
  switch (event) {
    case "LotRegistered":
      return [h("p", {}, who(args.charityId), tx("trace.step.registered"), q(args.quantity)),
        args.donorPublicName ? h("p", {}, tx("trace.donor"), raw(args.donorPublicName)) : null,
        args.documentsCid ? h("p", {}, tx("trace.documents"), short(args.documentsCid, { keep: 14 })) : null];
    case "LotSplit":
      return [h("p", {}, who(args.memberId), tx("trace.step.split", { qty: formatNumber(args.quantity), parent: args.parentLotId, child: args.childLotId }))];
    case "TransferSent":
      return [h("p", { class: "handoff" }, who(args.fromMemberId), h("span", { class: "arrow", "aria-hidden": "true" }, raw("→")),
        tx("trace.step.sent-to"), who(args.toMemberId)), h("p", {}, tx("trace.sent"), q(args.quantity), tx("trace.lot", { lot: args.lotId }))];
    case "TransferAccepted": {
      const lost = BigInt(args.sent) - BigInt(args.received);
      return [h("p", {}, who(args.memberId), tx("trace.step.accepted")),
        h("dl", { class: "figures" },
          h("div", {}, tx("trace.sent", {}, "dt"), h("dd", {}, q(args.sent))),
          h("div", {}, tx("trace.received", {}, "dt"), h("dd", {}, q(args.received))),
          h("div", { class: lost > 0n ? "loss" : "" }, tx("trace.lost", {}, "dt"), h("dd", { "data-loss": String(lost) }, q(lost)))),
        lost > 0n ? h("p", { class: "loss-reason" }, tx("trace.loss-reason"), raw(args.lossReason || "—")) : null];
    }
    case "TransferRefused":
      return [h("p", { class: "refusal" }, who(args.memberId), tx("trace.step.refused", { qty: formatNumber(args.quantity) })),
        h("p", {}, tx("trace.reason"), raw(args.reason || "—"))];
    case "TransferRecalled":
      return [h("p", {}, who(args.memberId), tx("trace.step.recalled", { qty: formatNumber(args.quantity) })),
        h("p", {}, tx("trace.reason"), raw(args.reason || "—"))];
    case "LotConsumed":
      return [h("p", {}, who(args.memberId), tx("trace.step.consumed"), q(args.quantity)),
        args.documentsCid ? h("p", {}, tx("trace.documents"), short(args.documentsCid, { keep: 14 })) : null];
    case "CorrectionRecorded":
      return [h("p", {}, who(args.memberId), tx(Number(args.kind) === 0 ? "trace.step.correction-loss" : "trace.step.correction-found",
        { qty: formatNumber(args.quantity), event: args.correctedEventId })), h("p", {}, tx("trace.reason"), raw(args.reason || "—"))];
    default:
      return [];
  }
}

function stepElement(record, index) {
  const kind = KINDS.includes(record.kind) ? record.kind : "other";
  const el = h("li", { class: "step", id: `step-${index}`, "data-kind": record.kind, "data-event-id": record.eventId ?? "" },
    h("header", {}, h("p", { class: "badge" }), tx(`event.${kind}`, {}, "h3")),
    h("div", { class: "body" }));
  return el;
}

function fillStep(el, record, verdict, who, unit) {
  const body = clear(el.querySelector(".body"));
  if (verdict.ok) {
    body.append(h("p", { class: "time" }, when(verdict.timestamp)), ...stepBody(verdict.log.event, verdict.log.args, who, unit).filter(Boolean));
  } else {
    // What the gateway claimed, shown as unverified so the person sees what failed.
    body.append(h("p", { class: "unverified" }, tx("trace.claimed"), raw(record.kind), num(record.quantity)));
  }
  const proof = record.proof ?? {};
  body.append(h("details", { class: "proof" }, h("summary", {}, tx("trace.proof-details")),
    h("dl", {},
      h("div", {}, tx("proof.block", {}, "dt"), h("dd", {}, raw(proof.blockNumber))),
      h("div", {}, tx("proof.tx", {}, "dt"), h("dd", {}, short(proof.txHash))),
      h("div", {}, tx("proof.log-index", {}, "dt"), h("dd", {}, raw(proof.logIndex))),
      record.evidence ? h("div", {}, tx("proof.evidence", {}, "dt"), h("dd", {}, h("a", { href: record.evidence, download: "" }, tx("proof.download")))) : null)));
  settle(el, verdict);
}

/** The custody graph: holders top to bottom in order of first appearance, handoffs as arrows. */
function graph(state, who, unit) {
  const order = [];
  const seen = (id) => { if (!order.includes(id)) order.push(id); };
  for (const l of state.lots) if (l.parent === null) seen(l.holder);
  for (const tr of state.transfers) { seen(tr.from); seen(tr.to); }
  for (const l of state.lots) seen(l.holder);
  const rowH = 84;
  const width = 420;
  const height = Math.max(1, order.length) * rowH + 10;
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "custody-graph", role: "img", "aria-label": t("trace.graph.label") });
  const y = (id) => order.indexOf(id) * rowH + 10;
  const pairs = new Map();
  for (const tr of state.transfers) {
    const key = `${tr.from}>${tr.to}`;
    const p = pairs.get(key) ?? { from: tr.from, to: tr.to, sent: 0n, received: 0n, refused: 0n, transit: 0n };
    p.sent += tr.quantity;
    if (tr.status === "accepted") p.received += tr.received;
    if (tr.status === "refused" || tr.status === "recalled") p.refused += tr.quantity;
    if (tr.status === "in-transit") p.transit += tr.quantity;
    pairs.set(key, p);
  }
  [...pairs.values()].forEach((p, i) => {
    const y1 = y(p.from) + 26;
    const y2 = y(p.to) + 26;
    const bend = 250 + (i % 3) * 30;
    const cls = p.refused > 0n && p.received === 0n && p.transit === 0n ? "edge refused" : p.transit > 0n ? "edge transit" : "edge";
    box.append(svg("path", { d: `M228 ${y1} C ${bend} ${y1}, ${bend} ${y2}, 234 ${y2}`, class: cls, "marker-end": "url(#arrow)" }));
    const mid = (y1 + y2) / 2;
    const lost = p.sent - p.received - p.refused - p.transit;
    const label = `${formatNumber(p.sent)}→${formatNumber(p.received)}${lost > 0n ? ` (−${formatNumber(lost)})` : ""}`;
    box.append(svgRaw(label, { x: bend + 4, y: mid, class: lost > 0n ? "edge-label loss" : "edge-label" }));
    if (p.refused > 0n) {
      const refused = svg("text", { x: bend + 4, y: mid + 14, class: "edge-label refused", "data-i18n": "trace.graph.refused" });
      refused.textContent = t("trace.graph.refused", { qty: formatNumber(p.refused) });
      box.append(refused);
    }
  });
  box.prepend(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
    svg("path", { d: "M0 0 L10 5 L0 10 z", class: "arrowhead" }))));
  for (const id of order) {
    const held = state.lots.filter((l) => l.holder === id).reduce((acc, l) => acc + l.held, 0n);
    const nameEl = who(id);
    const name = nameEl.textContent.length > 28 ? `${nameEl.textContent.slice(0, 27)}…` : nameEl.textContent;
    box.append(svg("rect", { x: 8, y: y(id), width: 220, height: 52, rx: 8, class: "node" }));
    box.append(svgRaw(name, { x: 18, y: y(id) + 22, class: "node-name" }));
    const heldText = svg("text", { x: 18, y: y(id) + 42, class: "node-held", "data-i18n": "trace.graph.holds" });
    heldText.textContent = t("trace.graph.holds", { qty: formatNumber(held), unit });
    box.append(heldText);
  }
  return box;
}

function whereNow(state, who, unit, verdict) {
  const rows = [];
  for (const l of state.lots) {
    if (l.held > 0n) rows.push(h("tr", { id: `lot-${l.id}` }, h("td", {}, raw(`#${l.id}`)), h("td", {}, who(l.holder)), h("td", {}, tx("trace.state.held")), h("td", { class: "num" }, num(l.held), raw(unit, { cls: "unit" }))));
    if (l.inTransit > 0n) {
      const tr = state.transfers.find((x) => x.lot === l.id && x.status === "in-transit");
      rows.push(h("tr", {}, h("td", {}, raw(`#${l.id}`)), h("td", {}, tr ? who(tr.to) : raw("—")), h("td", {}, tx("trace.state.transit")), h("td", { class: "num" }, num(l.inTransit), raw(unit, { cls: "unit" }))));
    }
  }
  const table = h("table", { class: "where-now" },
    h("caption", {}, tx("trace.where-now.caption")),
    h("thead", {}, h("tr", {}, tx("trace.col.lot", {}, "th", { scope: "col" }), tx("trace.col.holder", {}, "th", { scope: "col" }),
      tx("trace.col.state", {}, "th", { scope: "col" }), tx("trace.col.quantity", {}, "th", { scope: "col" }))),
    h("tbody", {}, rows));
  const section = h("section", { class: "card", id: "where-now", "aria-labelledby": "where-h" },
    h("header", {}, h("p", { class: "badge" }), tx("trace.where-now.title", {}, "h2", { id: "where-h" })),
    h("div", { class: "table-wrap" }, table),
    h("dl", { class: "totals" },
      ...[["donated", state.totals.donated], ["held", state.totals.held], ["in-transit", state.totals.inTransit],
        ["consumed", state.totals.consumed], ["lost", state.totals.lost]].map(([k, value]) =>
        h("div", { "data-total": k }, tx(`trace.total.${k}`, {}, "dt"), h("dd", {}, num(value), raw(unit, { cls: "unit" }))))));
  settle(section, verdict);
  return section;
}

function receipt(code, state, who, unit, item, registered) {
  const base = `${location.origin}/trace/${code}`;
  return h("section", { class: "card receipt", id: "receipt", "aria-labelledby": "receipt-h" },
    tx("trace.receipt.title", {}, "h2", { id: "receipt-h" }),
    h("p", { class: "receipt-code" }, rawCode(code)),
    h("dl", { class: "receipt-facts" },
      h("div", {}, tx("trace.item", {}, "dt"), h("dd", {}, raw(item))),
      h("div", {}, tx("trace.total.donated", {}, "dt"), h("dd", {}, num(state.totals.donated), raw(unit, { cls: "unit" }))),
      h("div", {}, tx("trace.charity", {}, "dt"), h("dd", {}, registered ? who(registered.charityId) : raw("—")))),
    h("ul", { class: "receipt-lots" }, state.lots.map((l) => h("li", { class: "receipt-lot", "data-lot": l.id },
      qrSvg(`${base}#lot-${l.id}`, t("trace.receipt.qr", { lot: l.id })),
      h("p", {}, tx("trace.lot", { lot: l.id }), who(l.holder), num(l.original), raw(unit, { cls: "unit" }))))),
    tx("trace.receipt.note", {}, "p", { class: "note" }),
    h("button", { type: "button", class: "no-print", onclick: () => window.print() }, tx("trace.receipt.print")));
}

async function main() {
  const anchor = await start();
  const root = app();
  const typed = decodeURIComponent(location.pathname.split("/trace/")[1] ?? "");
  const field = codeForm({ labelKey: "home.trace.label", placeholderKey: "home.trace.placeholder", buttonKey: "home.trace.button",
    check: checkReceiptCode, onSubmit: (c) => location.assign(href(`/trace/${encodeURIComponent(c)}`)), value: typed, name: "receipt-code" });
  root.append(h("section", { class: "card search no-print" }, field.form));
  const parsed = checkReceiptCode(typed);
  if (!parsed.ok) return;
  const code = parsed.code;
  const status = tx("trace.loading", {}, "p", { class: "loading", role: "status" });
  root.append(status);
  let trace;
  let bundle;
  try {
    [trace, bundle] = await Promise.all([api(`/v1/trace/${encodeURIComponent(code)}`), api(`/v1/evidence/trace/${encodeURIComponent(code)}`)]);
  } catch (error) {
    status.replaceWith(problemView(error));
    return;
  }
  const who = namer(trace);
  const trust = trustOf(anchor);
  const options = recordOptions(anchor);

  // The chain of trust for this page: sealer set from the pinned genesis through proven changes.
  const chainBox = h("section", { class: "card trust-chain", id: "trust-chain", "aria-labelledby": "chain-h" },
    h("header", {}, h("p", { class: "badge" }), tx("trace.chain.title", {}, "h2", { id: "chain-h" })));
  const steps = h("ol", { class: "timeline" }, trace.events.map(stepElement));
  const summary = h("section", { class: "card summary", id: "summary", "aria-labelledby": "summary-h" },
    h("header", {}, h("p", { class: "badge" }), tx("trace.summary.title", {}, "h2", { id: "summary-h" })),
    h("p", { class: "receipt-code" }, rawCode(code)));
  status.replaceWith(summary, h("section", { class: "card", "aria-labelledby": "timeline-h" }, tx("trace.timeline.title", {}, "h2", { id: "timeline-h" }), steps), chainBox);
  [summary, chainBox, ...steps.children].forEach(checking);
  await new Promise(requestAnimationFrame); // let "checking" paint before the work

  const derived = v.deriveSealerSet(bundle, trust);
  const chainFailure = derived.results.find((r) => !r.ok);
  settle(chainBox, chainFailure ? { ok: false, check: chainFailure.check, detail: chainFailure.detail } : { ok: true });
  chainBox.append(resultsList(derived.results), bundleCheckpoint(bundle, trust));
  if (!options.events) chainBox.append(tx("trust.no-contracts", {}, "p", { class: "warn" }));

  const known = new Set();
  const proven = [];
  let registered = null;
  let firstFailure = null;
  trace.events.forEach((record, i) => {
    let verdict;
    if (chainFailure) verdict = failed(chainFailure.check, "the sealer set could not be derived from the pinned trust anchor");
    else if (!options.events) verdict = failed("log-content", "the trust anchor pins no contract addresses");
    else verdict = checkRecord(record, { ...options, sealerSet: derived.sealerSet, poa: derived.poa, expect: { event: record.kind } }, `step ${i}`);
    if (verdict.ok) {
      const { event, args } = verdict.log;
      if (event === "LotRegistered" && !v.receiptCodeMatches(code, args.receiptCode)) {
        verdict = failed("log-content", "the proven registration's receiptCode does not spell this receipt code");
      } else if (!belongs(known, event, args)) {
        verdict = failed("log-content", "the proven event is about a lot outside this donation");
      } else {
        if (event === "LotRegistered") { known.add(String(args.lotId)); registered = args; }
        if (event === "LotSplit") known.add(String(args.childLotId));
        proven.push(verdict.log);
      }
    }
    if (!verdict.ok && !firstFailure) firstFailure = verdict;
    steps.children[i].verdict = verdict;
  });
  const unit = registered ? bytes32Text(registered.unit) : "";
  const item = registered ? bytes32Text(registered.itemCode) : "";
  trace.events.forEach((record, i) => fillStep(steps.children[i], record, steps.children[i].verdict, who, unit));

  const state = replay(proven);
  const allOk = !firstFailure && registered !== null;
  const overall = allOk ? { ok: true } : firstFailure ?? failed("log-content", "no proven registration");
  summary.append(h("dl", { class: "facts" },
    h("div", {}, tx("trace.item", {}, "dt"), h("dd", {}, raw(item || trace.item))),
    h("div", {}, tx("trace.charity", {}, "dt"), h("dd", {}, registered ? who(registered.charityId) : raw("—"))),
    h("div", {}, tx("trace.donor", {}, "dt"), h("dd", {}, raw(registered?.donorPublicName || t("trace.donor-anonymous")))),
    h("div", {}, tx("trace.total.donated", {}, "dt"), h("dd", {}, num(state.totals.donated), raw(unit, { cls: "unit" }))),
    h("div", {}, tx("trace.steps", {}, "dt"), h("dd", {}, tx("trace.steps.count", { ok: proven.length, all: trace.events.length })))));
  if (!state.balanced && allOk) summary.append(tx("trace.unbalanced", {}, "p", { class: "warn" }));
  settle(summary, overall);

  const graphBox = h("section", { class: "card", id: "graph", "aria-labelledby": "graph-h" },
    tx("trace.graph.title", {}, "h2", { id: "graph-h" }), graph(state, who, unit),
    allOk ? null : tx("trace.graph.partial", {}, "p", { class: "warn" }));
  chainBox.before(graphBox, whereNow(state, who, unit, overall), receipt(code, state, who, unit, item, registered));
  document.body.dataset.traceDone = allOk ? "verified" : "failed";
}

run(main);
