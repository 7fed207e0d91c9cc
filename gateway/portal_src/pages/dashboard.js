// "/dashboard": pictures of the city's ledger. Goods flowing between holders (Sankey), stock per
// holder, losses by reason, share requests by department and status, and the chain's health
// (head, index lag, sealers, witnesses, the latest witnessed checkpoint). These are totals from the
// gateway's index, labelled as such: the records behind them are verified on the trace, credit
// and console pages. Charts: Chart.js (+ chartjs-chart-sankey), canvas only, no inline styles.

import { ArcElement, BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { Flow, SankeyController } from "chartjs-chart-sankey";
import { api, problemView } from "../app/api.js";
import { checkpointHealth, latestCheckpoint } from "../app/checkpoint.js";
import { app, h, num, raw, short } from "../app/dom.js";
import { href, keyOr, t, tx } from "../app/i18n.js";
import { run, start } from "../app/shell.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend, ArcElement, SankeyController, Flow);
Chart.defaults.animation = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;

const PALETTE = ["#1f6feb", "#d97706", "#059669", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777", "#4b5563"];
const TOKEN_KEY = "cityledger.session.v1";

function figure(id, titleKey, labelKey, table) {
  const canvas = h("canvas", { id: `${id}-canvas`, role: "img", "aria-label": t(labelKey) });
  return {
    canvas,
    el: h("figure", { class: "card chart-card", id, "aria-labelledby": `${id}-h` },
      tx(titleKey, {}, "h2", { id: `${id}-h` }),
      h("div", { class: "chart" }, canvas),
      h("details", {}, h("summary", {}, tx("dashboard.as-table")), table)),
  };
}

function table(headKeys, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, headKeys.map((k) => tx(k, {}, "th", { scope: "col" })))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

function custodyCharts(root, data) {
  const name = new Map(data.members.map((m) => [String(m.id), m.name]));
  const who = (id) => name.get(String(id)) ?? `#${id}`;
  const lossNode = t("dashboard.flows.losses");
  const flows = [];
  for (const f of data.flows) {
    if (f.received + f.inTransit > 0) flows.push({ from: who(f.from), to: who(f.to), flow: f.received + f.inTransit });
    if (f.lost > 0) flows.push({ from: who(f.from), to: lossNode, flow: f.lost });
  }
  const sankey = figure("flows", "dashboard.flows.title", "dashboard.flows.label",
    table(["dashboard.col.from", "dashboard.col.to", "dashboard.col.sent", "dashboard.col.received", "dashboard.col.lost", "dashboard.col.refused", "dashboard.col.transit"],
      data.flows.map((f) => [raw(who(f.from)), raw(who(f.to)), num(f.sent), num(f.received), num(f.lost), num(f.refused), num(f.inTransit)])));
  root.append(sankey.el);
  if (flows.length) {
    new Chart(sankey.canvas, { type: "sankey", data: { datasets: [{ data: flows, colorFrom: (c) => PALETTE[c.dataIndex % PALETTE.length],
      colorTo: (c) => (c.raw?.to === lossNode ? "#dc2626" : PALETTE[(c.dataIndex + 1) % PALETTE.length]), borderWidth: 0 }] },
    options: { responsive: true, maintainAspectRatio: false } });
  } else sankey.canvas.replaceWith(tx("dashboard.empty", {}, "p"));

  const holders = [...new Set(data.stock.map((s) => s.holder))];
  const items = [...new Set(data.stock.map((s) => `${s.item} (${s.unit})`))];
  const stock = figure("stock", "dashboard.stock.title", "dashboard.stock.label",
    table(["dashboard.col.holder", "dashboard.col.item", "dashboard.col.held"], data.stock.map((s) => [raw(who(s.holder)), raw(`${s.item} (${s.unit})`), num(s.held)])));
  root.append(stock.el);
  new Chart(stock.canvas, { type: "bar", data: { labels: holders.map(who), datasets: items.map((item, i) => ({ label: item,
    backgroundColor: PALETTE[i % PALETTE.length],
    data: holders.map((holder) => data.stock.filter((s) => s.holder === holder && `${s.item} (${s.unit})` === item).reduce((a, s) => a + s.held, 0)) })) },
  options: { indexAxis: "y", responsive: true, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true } } } });

  const losses = figure("losses", "dashboard.losses.title", "dashboard.losses.label",
    table(["dashboard.col.receiver", "dashboard.col.reason", "dashboard.col.lost"], data.losses.map((l) => [raw(who(l.receiver)), raw(l.reason || "—"), num(l.quantity)])));
  root.append(losses.el);
  if (data.losses.length) {
    new Chart(losses.canvas, { type: "bar", data: { labels: data.losses.map((l) => `${who(l.receiver)}: ${l.reason || "—"}`),
      datasets: [{ label: t("dashboard.col.lost"), data: data.losses.map((l) => l.quantity), backgroundColor: "#dc2626" }] },
    options: { indexAxis: "y", responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } } } });
  } else losses.canvas.replaceWith(tx("dashboard.empty", {}, "p"));
}

function sharingChart(root, data) {
  const name = new Map(data.members.map((m) => [String(m.id), m.name]));
  const who = (id) => name.get(String(id)) ?? `#${id}`;
  const owners = [...new Set(data.counts.map((c) => c.owner))];
  const statuses = [...new Set(data.counts.map((c) => c.status))];
  const statusLabel = (s) => t(keyOr(`status.${s}`, "status.other"));
  const fig = figure("sharing", "dashboard.sharing.title", "dashboard.sharing.label",
    table(["dashboard.col.owner", "dashboard.col.requester", "dashboard.col.status", "dashboard.col.count"],
      data.counts.map((c) => [raw(who(c.owner)), raw(who(c.requester)), tx(keyOr(`status.${c.status}`, "status.other")), num(c.count)])));
  fig.el.append(tx(data.scope === "all" ? "dashboard.sharing.scope-all" : "dashboard.sharing.scope-own", {}, "p", { class: "note" }));
  root.append(fig.el);
  if (!data.counts.length) {
    fig.canvas.replaceWith(tx("dashboard.empty", {}, "p"));
    return;
  }
  new Chart(fig.canvas, { type: "bar", data: { labels: owners.map(who), datasets: statuses.map((s, i) => ({ label: statusLabel(s),
    backgroundColor: PALETTE[i % PALETTE.length],
    data: owners.map((o) => data.counts.filter((c) => c.owner === o && c.status === s).reduce((a, c) => a + c.count, 0)) })) },
  options: { responsive: true, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } } });
}

function health(status, roles, checkpoint) {
  const tile = (key, value, state = "") => h("div", { class: ["tile", state] }, tx(key, {}, "p", { class: "tile-label" }), h("p", { class: "tile-value" }, value));
  return h("section", { class: "card", id: "health", "aria-labelledby": "health-h" },
    tx("dashboard.health.title", {}, "h2", { id: "health-h" }),
    h("div", { class: "tiles" },
      tile("dashboard.health.head", num(status.head)),
      tile("dashboard.health.indexed", num(status.indexedHeight)),
      tile("dashboard.health.lag", num(status.lag), status.lag > 10 ? "warn" : "ok"),
      tile("dashboard.health.sealers", num(roles.sealers?.length ?? 0)),
      tile("dashboard.health.witnesses", num(roles.witnesses?.length ?? 0), roles.witnesses?.length ? "ok" : "warn"),
      tile("dashboard.health.admins", h("span", {}, num(roles.admins?.length ?? 0), raw(` / ${roles.threshold ?? "—"}`)))),
    status.indexerError ? h("p", { class: "warn" }, tx("dashboard.health.indexer-error"), raw(status.indexerError.detail, { lang: "en" })) : null,
    h("div", { class: "checkpoint-health" }, tx("dashboard.health.checkpoint", {}, "h3"), checkpointHealth(checkpoint)),
    h("ul", { class: "plain sealers" }, (status.sealers ?? []).map((s) => h("li", {}, tx("dashboard.health.sealer"), short(s, { keep: 12 })))));
}

async function main() {
  await start();
  const root = app();
  root.append(tx("dashboard.intro", {}, "p", { class: "note" }));
  try {
    const [status, roles, checkpoint, custody] = await Promise.all([api("/v1/status"), api("/v1/roles"), latestCheckpoint(), api("/v1/dashboard/custody")]);
    root.append(health(status, roles, checkpoint));
    custodyCharts(root, custody);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      try {
        sharingChart(root, await api("/v1/dashboard/sharing", { token }));
      } catch (error) {
        root.append(h("section", { class: "card" }, tx("dashboard.sharing.title", {}, "h2"), problemView(error)));
      }
    } else {
      root.append(h("section", { class: "card", id: "sharing" }, tx("dashboard.sharing.title", {}, "h2"),
        h("p", {}, tx("dashboard.sharing.sign-in"), h("a", { href: href("/console") }, tx("nav.console")))));
    }
  } catch (error) {
    root.append(problemView(error));
  }
  document.body.dataset.dashboardDone = "true";
}

run(main);
