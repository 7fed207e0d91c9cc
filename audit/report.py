"""The audit report: ``report.json`` for machines and ``report.html`` for a person.

The page reads top-down: the verdict and the counts, what was checked and by which executor, the
notes (what did not apply and why), then the charts drawn from the audited chain — stock held per
holder over time, custody flows per member, losses per lot, the access timeline per dataset,
transactions per block — and every finding with a link to its evidence file
(``evidence/<id>.json``: the finding and its proofs, verifiable offline). The charts are drawn by
chart.js, copied next to the page from ``audit/report_assets`` (vendored from the pinned npm
package by ``scripts/vendor-report-assets``): the page loads nothing from the network.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent / "report_assets"
CHART_JS = "chart.umd.min.js"


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def write_report(out: Path, doc: dict[str, Any]) -> None:
    """Write ``report.json``, ``report.html``, the evidence files and the chart library."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    evidence = out / "evidence"
    shutil.rmtree(evidence, ignore_errors=True)
    evidence.mkdir()
    for finding in doc["findings"]:
        (evidence / f"{finding['id']}.json").write_text(json.dumps(finding, indent=1, default=str) + "\n")
    shutil.copyfile(ASSETS / CHART_JS, out / CHART_JS)
    (out / "report.html").write_text(render_html(doc))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.2rem;margin:28px 0 10px}
.verdict{padding:18px 22px;border-radius:10px;color:#fff;margin:16px 0}
.ok{background:#1b7f4b}.bad{background:#b42318}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.card{background:#fff;border-radius:10px;padding:14px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:1.5rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
.chart{background:#fff;border-radius:10px;padding:12px;box-shadow:0 1px 2px #0001;height:320px;position:relative}
.chart h3{font-size:.95rem;margin:0 0 6px}
.chart canvas{max-height:270px}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:10px;overflow:hidden;box-shadow:0 1px 2px #0001}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eceef2;vertical-align:top;font-size:.9rem}
th{background:#eef1f5}
.sev{font-weight:600;text-transform:uppercase;font-size:.75rem;padding:2px 6px;border-radius:4px;color:#fff}
.violation{background:#b42318}.anomaly{background:#b54708}.loss{background:#6941c6}.warning{background:#667085}
code{font-size:.82rem;word-break:break-all}
ul.notes li{margin:4px 0}
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('report-data').textContent);
const palette = ['#2e90fa','#12b76a','#f79009','#f04438','#7a5af8','#ee46bc','#06aed4','#667085','#84cc16','#0e9384'];
const base = {animation:false,responsive:true,maintainAspectRatio:false,plugins:{legend:{position:'bottom'}}};
function when(t){return new Date(t*1000).toISOString().replace('T',' ').slice(0,19);}
function chart(id, config){const el=document.getElementById(id); if(el){el.chart=new Chart(el, config);}}
const stock = data.charts.stock;
const holders = [...new Set(stock.flatMap(s => Object.keys(s.held)))];
chart('chart-stock', {type:'line', data:{labels: stock.map(s => '#'+s.block+' '+when(s.time)),
  datasets: holders.map((h,i) => ({label:h, data: stock.map(s => s.held[h] || 0), borderColor:palette[i%10],
  backgroundColor:palette[i%10]+'33', fill:true, stepped:true}))}, options:{...base, scales:{y:{stacked:true,title:{display:true,text:'units held'}}}}});
const flows = data.charts.flows; const members = Object.keys(flows);
chart('chart-flows', {type:'bar', data:{labels: members, datasets: ['received','sent','consumed','lost'].map((k,i) => ({label:k,
  data: members.map(m => flows[m][k]), backgroundColor: palette[i]}))}, options: base});
const losses = data.charts.losses;
chart('chart-losses', {type:'bar', data:{labels: losses.map(l => 'lot '+l.lot), datasets:[
  {label:'original', data: losses.map(l => l.original), backgroundColor: palette[0]},
  {label:'lost', data: losses.map(l => l.losses), backgroundColor: palette[3]}]}, options: base});
const accesses = data.charts.accesses; const datasets = Object.keys(accesses);
const times = [...new Set(datasets.flatMap(d => accesses[d].map(a => a.time)))].sort((a,b) => a-b);
chart('chart-accesses', {type:'line', data:{labels: times.map(when), datasets: datasets.map((d,i) => ({
  label: 'dataset '+d+': '+(data.charts.datasets[d]||''), borderColor: palette[i%10], stepped:true,
  data: times.map(t => { const seen = accesses[d].filter(a => a.time <= t); return seen.length ? seen[seen.length-1].count : 0; })}))},
  options:{...base, scales:{y:{title:{display:true,text:'accesses so far'}}}}});
const blocks = data.blocks;
chart('chart-blocks', {type:'bar', data:{labels: blocks.map(b => b.number), datasets:[{label:'transactions per block',
  data: blocks.map(b => b.transactions), backgroundColor: blocks.map(b => b.agreed === false ? palette[3] : palette[0])}]}, options: base});
"""


def render_html(doc: dict[str, Any]) -> str:
    """The report page (module docstring)."""
    chain, summary = doc["chain"], doc["summary"]
    ok = doc["ok"]
    e = html.escape
    verdict = (f"<div class='verdict ok'><b>PASSED</b> — no rule of the ledger is broken on chain {chain['chainId']} "
               f"up to block {chain['head']}.</div>" if ok else
               f"<div class='verdict bad'><b>FAILED</b> — {summary['violations']} violation(s) on chain "
               f"{chain['chainId']} up to block {chain['head']}.</div>")
    cards = "".join(f"<div class='card'><b>{e(str(v))}</b>{e(k)}</div>" for k, v in (
        ("violations", summary["violations"]), ("anomalies", summary["anomalies"]), ("losses", summary["losses"]),
        ("warnings", summary["warnings"]), ("blocks", chain["blocks"]), ("transactions", chain["transactions"]),
        ("blocks re-executed", doc["executor"]["blocksJudged"]), ("seconds", doc["timing"]["seconds"])))
    checks = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in sorted(summary["checks"].items()))
    notes = "".join(f"<li>{e(n)}</li>" for n in doc["notes"]) or "<li>None.</li>"
    rows = []
    for f in doc["findings"]:
        where = f"block {f['block']}" if f.get("block") is not None else ""
        tx = f"<br><code>{e(f['txHash'])}</code>" if f.get("txHash") else ""
        rows.append(f"<tr id='{e(f['id'])}'><td><a href='evidence/{e(f['id'])}.json'>{e(f['id'])}</a></td>"
                    f"<td><span class='sev {e(f['severity'])}'>{e(f['severity'])}</span></td><td>{e(f['rule'])}</td>"
                    f"<td>{e(f['message'])}</td><td>{e(where)}{tx}</td></tr>")
    findings = "".join(rows) or "<tr><td colspan='5'>No findings.</td></tr>"
    data = json.dumps({"charts": doc["charts"], "blocks": doc["blocks"]}).replace("</", "<\\/")
    charts = "".join(f"<div class='chart'><h3>{e(title)}</h3><canvas id='{cid}'></canvas></div>" for cid, title in (
        ("chart-stock", "Stock held per holder (after each block with custody events)"),
        ("chart-flows", "Custody flows per member"),
        ("chart-losses", "Losses per lot"),
        ("chart-accesses", "Access timeline per dataset"),
        ("chart-blocks", "Transactions per block (red: re-execution disagreed)")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CityLedger audit — chain {chain['chainId']}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><main>
<h1>CityLedger audit report</h1>
<div>Chain {chain['chainId']} ({e(chain['consensus'])}) · genesis <code>{e(chain['genesisHash'])}</code> ·
head {chain['head']} <code>{e(chain['headHash'])}</code> at {_time(chain['headTime'])} UTC · generated {e(doc['generatedAt'])}</div>
{verdict}
<section class="cards">{cards}</section>
<h2>What was checked</h2>
<p>Every block was re-executed by <b>{e(doc['executor']['name'])}</b>
({doc['executor']['blocksAgreed']} of {doc['executor']['blocksJudged']} blocks agreed with their headers).</p>
<table><tr><th>check</th><th>items checked</th></tr>{checks}</table>
<h2>Notes</h2><ul class="notes">{notes}</ul>
<h2>Charts from the audited chain</h2>
<section class="charts">{charts}</section>
<h2>Findings</h2>
<table><tr><th>id</th><th>severity</th><th>rule</th><th>finding</th><th>where</th></tr>{findings}</table>
</main>
<script id="report-data" type="application/json">{data}</script>
<script src="{CHART_JS}"></script>
<script>{_SCRIPT}</script>
</body></html>
"""
