// Clerks (charity, warehouse, logistics, hospital): stock, goods in transit and alerts from the
// gateway's index; register a donated lot (charities), hand goods over, accept with the quantity
// actually received (the difference is recorded as a loss with its reason), refuse, consume.
// Every action is a transaction signed in this tab; its proven events are checked here.

import * as v from "/static/cityledger-verify.js";
import { bytes32Text } from "../custody.js";
import { clear, formatNumber, h, num, raw, uid, when } from "../dom.js";
import { href, t, tx } from "../i18n.js";
import { actionForm, bytes32, get, keccakHex, randomHex, send, session } from "./session.js";

const CUSTODY_KINDS = ["Charity", "Warehouse", "Logistics", "Hospital"];

function field(labelKey, input, helpKey = null) {
  const id = input.id || uid("in");
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, tx(labelKey)), input, helpKey ? tx(helpKey, {}, "p", { class: "help" }) : null);
}

const numberInput = (attrs = {}) => h("input", { type: "number", min: 0, step: 1, inputmode: "numeric", required: true, ...attrs });
const textInput = (attrs = {}) => h("input", { type: "text", autocomplete: "off", ...attrs });

async function members() {
  const all = (await get("/v1/members")).items;
  return all.filter((m) => CUSTODY_KINDS.includes(m.kind) && m.id !== session.member.id && m.status === "Active");
}

function stockTable(stock, onTransfer, onConsume) {
  if (!stock.lots.length) return tx("console.stock.empty", {}, "p");
  return h("div", { class: "table-wrap" }, h("table", { class: "stock" },
    h("caption", {}, tx("console.stock.caption")),
    h("thead", {}, h("tr", {}, ["lot", "item", "held", "since", "actions"].map((c) => tx(`console.col.${c}`, {}, "th", { scope: "col" })))),
    h("tbody", {}, stock.lots.map((lot) => h("tr", { "data-lot": lot.id },
      h("td", {}, raw(`#${lot.id}`)), h("td", {}, raw(lot.item)),
      h("td", { class: "num" }, num(lot.held), raw(bytes32Text(lot.unit), { cls: "unit" })), h("td", {}, when(lot.heldSince)),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => onTransfer(lot) }, tx("console.transfer.button")),
        h("button", { type: "button", class: "small secondary", onclick: () => onConsume(lot) }, tx("console.consume.button"))))))));
}

function transitList(transit, onAccept, onRefuse) {
  const incoming = transit.items.filter((x) => x.to.id === session.member.id);
  const outgoing = transit.items.filter((x) => x.from.id === session.member.id);
  const item = (x, actions) => h("li", { class: "transit-item", "data-transfer": x.transferId },
    h("p", {}, tx("console.transit.line", { qty: formatNumber(x.quantity), lot: x.lotId }), raw(x.from.name), h("span", { "aria-hidden": "true" }, raw("→")), raw(x.to.name), when(x.sentAt)),
    actions);
  return h("div", { class: "transit" },
    tx("console.transit.incoming", {}, "h4"),
    incoming.length ? h("ul", { class: "plain" }, incoming.map((x) => item(x, h("div", { class: "row" },
      h("button", { type: "button", class: "small", onclick: () => onAccept(x) }, tx("console.accept.button")),
      h("button", { type: "button", class: "small danger", onclick: () => onRefuse(x) }, tx("console.refuse.button")))))) : tx("console.transit.none", {}, "p"),
    tx("console.transit.outgoing", {}, "h4"),
    outgoing.length ? h("ul", { class: "plain" }, outgoing.map((x) => item(x, null))) : tx("console.transit.none", {}, "p"));
}

function alertsList(alerts) {
  if (!alerts.items.length) return tx("console.alerts.none", {}, "p");
  return h("ul", { class: "plain alerts" }, alerts.items.map((a) => h("li", { class: "alert", "data-alert": a.kind },
    tx(`console.alert.${a.kind}`, { lot: a.lotId, qty: formatNumber(a.quantity ?? a.losses ?? 0) }), a.since ? when(a.since) : null)));
}

/** A form in a dialog-like panel; `fields` are elements, `submit` gets the form and the result box. */
function actionPanel(titleKey, titleParams, fields, submitKey, onSubmit) {
  const out = h("div", { class: "results" });
  const form = actionForm("h4", titleKey, titleParams, fields, submitKey, out, onSubmit);
  return h("div", { class: "action-panel" }, form, out);
}

export async function custodySection(container) {
  const section = h("section", { class: "card", id: "custody", "aria-labelledby": "custody-h" }, tx("console.custody.title", {}, "h2", { id: "custody-h" }));
  container.append(section);
  const panel = h("div", { id: "custody-panel", "aria-live": "polite" });
  const body = h("div", {});
  section.append(panel, body);
  let peers = [];
  const refresh = async () => {
    const [stock, transit, alerts] = await Promise.all([get("/v1/stock"), get("/v1/transit"), get("/v1/alerts")]);
    peers = await members();
    clear(body).append(
      tx("console.stock.title", {}, "h3"), stockTable(stock, transferPanel, consumePanel),
      tx("console.transit.title", {}, "h3"), transitList(transit, acceptPanel, refusePanel),
      tx("console.alerts.title", {}, "h3"), alertsList(alerts));
    section.dataset.loaded = String(Number(section.dataset.loaded ?? 0) + 1);
  };
  const show = (el) => { clear(panel).append(el); el.querySelector("input, select, button")?.focus(); };

  function transferPanel(lot) {
    const qty = numberInput({ max: lot.held, value: lot.held, name: "quantity" });
    const to = h("select", { name: "to", required: true }, peers.map((m) => h("option", { value: m.id }, raw(m.name))));
    show(actionPanel("console.transfer.title", { lot: lot.id }, [field("console.transfer.quantity", qty), field("console.transfer.to", to)], "console.transfer.submit",
      async (out) => { await send(out, "SupplyCustody", "transfer", [lot.id, BigInt(qty.value), BigInt(to.value)]); await refresh(); }));
  }
  function consumePanel(lot) {
    const qty = numberInput({ max: lot.held, value: lot.held, name: "quantity" });
    const doc = textInput({ name: "documents", placeholder: t("console.documents.placeholder") });
    show(actionPanel("console.consume.title", { lot: lot.id }, [field("console.consume.quantity", qty), field("console.documents", doc)], "console.consume.submit",
      async (out) => { await send(out, "SupplyCustody", "consume", [lot.id, BigInt(qty.value), doc.value.trim()]); await refresh(); }));
  }
  function acceptPanel(x) {
    const received = numberInput({ max: x.quantity, value: x.quantity, name: "received" });
    const reason = textInput({ name: "loss-reason" });
    show(actionPanel("console.accept.title", { transfer: x.transferId, qty: formatNumber(x.quantity) },
      [field("console.accept.received", received, "console.accept.received.help"), field("console.accept.reason", reason)], "console.accept.submit",
      async (out) => {
        if (BigInt(received.value) < BigInt(x.quantity) && !reason.value.trim()) {
          reason.setAttribute("aria-invalid", "true");
          out.prepend(tx("console.accept.reason-needed", {}, "p", { class: "problem", role: "alert" }));
          return;
        }
        await send(out, "SupplyCustody", "accept", [x.transferId, BigInt(received.value), reason.value.trim()]);
        await refresh();
      }));
  }
  function refusePanel(x) {
    const reason = textInput({ name: "refuse-reason", required: true });
    show(actionPanel("console.refuse.title", { transfer: x.transferId }, [field("console.refuse.reason", reason)], "console.refuse.submit",
      async (out) => { await send(out, "SupplyCustody", "refuse", [x.transferId, reason.value.trim()]); await refresh(); }));
  }

  if (session.member.kind === "Charity") {
    const item = textInput({ name: "item", required: true, maxlength: 32 });
    const qty = numberInput({ name: "quantity", min: 1 });
    const unit = textInput({ name: "unit", required: true, maxlength: 32 });
    const donor = textInput({ name: "donor" });
    const publicName = textInput({ name: "public-name" });
    const documents = textInput({ name: "documents", placeholder: t("console.documents.placeholder") });
    const expiry = h("input", { type: "date", name: "expiry" });
    const register = actionPanel("console.register.title", {}, [field("console.register.item", item), field("console.register.quantity", qty),
      field("console.register.unit", unit), field("console.register.donor", donor, "console.register.donor.help"),
      field("console.register.public-name", publicName), field("console.documents", documents), field("console.register.expiry", expiry)],
    "console.register.submit", async (out) => {
      const salt = randomHex(16);
      const commitment = keccakHex(new TextEncoder().encode(`${salt}|${donor.value.trim()}`));
      const expirySeconds = expiry.value ? BigInt(Math.floor(Date.parse(`${expiry.value}T00:00:00Z`) / 1000)) : 0n;
      const result = await send(out, "SupplyCustody", "registerLot", [bytes32(item.value.trim()), BigInt(qty.value), bytes32(unit.value.trim()),
        commitment, publicName.value.trim(), documents.value.trim(), expirySeconds]);
      const i = result.answer.events.findIndex((e) => e.event === "LotRegistered");
      if (i >= 0 && result.verdicts[i].ok) {
        const code = v.shortReceiptCode(result.verdicts[i].log.args.receiptCode);
        out.querySelector(".tx-result").append(h("div", { class: "receipt-issued" }, tx("console.register.code"), raw(code, { tag: "code", cls: "code" }),
          h("a", { href: href(`/trace/${code}#receipt`) }, tx("console.register.receipt")),
          h("p", {}, tx("console.register.salt"), raw(salt, { tag: "code" }))));
      }
      await refresh();
    });
    section.insertBefore(h("details", { class: "register" }, h("summary", {}, tx("console.register.title")), register), panel);
  }
  await refresh();
}
