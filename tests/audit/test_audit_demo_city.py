"""``cityledger audit run`` on the real demo city (``scripts/start --demo``, shared by the session):
the chain the README tells a newcomer to start passes clean, every block re-executed by go-ethereum's
``evm t8n``, its payloads and batch file fetched from the gateway's store and re-hashed, and its
short delivery reported as a loss with a proof that verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audit.bundle import verify_receipt
from conftest import ROOT
from demo_harness import DemoCity


def test_the_demo_city_audits_clean_and_shows_its_short_delivery(demo_city: DemoCity, tmp_path: Path) -> None:
    out = tmp_path / "report"
    process = subprocess.run(
        [sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", demo_city.rpc, "--gateway", demo_city.gateway,
         "--store", str(demo_city.data_dir / "gateway" / "payloads"), "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and report["summary"]["violations"] == 0
    executor = report["executor"]
    assert executor["name"].startswith("go-ethereum evm t8n")
    assert executor["blocksJudged"] == executor["blocksAgreed"] >= 1
    checks = report["summary"]["checks"]
    for name in ("seal", "re-execution", "custody events", "accesses", "credit entries", "credit batches", "payload"):
        assert checks.get(name, 0) > 0, (name, checks)
    # The demo's short delivery; other suites share the session's demo city and may add losses.
    (loss,) = [f for f in report["findings"] if f["severity"] == "loss" and "water-damaged" in f["message"]]
    assert "50 of 8000" in loss["message"].replace(",", ""), loss["message"]
    assert "water-damaged" in loss["message"]
    assert verify_receipt(loss["evidence"]["proof"], report["chain"]["chainId"]).header.number == loss["block"]
    # Nothing the demo stored is missing or changed: no payload finding at all.
    assert not [f for f in report["findings"] if f["rule"] == "payload"], report["findings"]
    assert (out / "report.html").exists()
