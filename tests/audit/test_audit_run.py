"""``cityledger audit run`` against real node processes: a demo-like chain (made by the one sealer,
and by four CometBFT validators audited through node 1 with commits in place of seals) passes clean
and shows its short delivery as a loss with its proof; a chain with planted violations (blocks crafted and sealed
outside the rules, ``tests/audit/forge.py``) fails and lists each one; the differential executor
reports a state root it disagrees with, both roots shown; a changed payload byte is named; the
report renders in headless Chromium with charts of the audited chain and no network."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from audit.bundle import verify_receipt
from conftest import ROOT, DevNet, NodeProcess, make_devnet, sealer_process
from forge import ForgedLog, Forger
from gateway_flows import credit_flow, custody_flow, share_flow
from gateway_harness import actor, start_cometbft, write_addressbook


def audit_run(rpc: str, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI as an operator would; returns the exit code, report.json and the output."""
    process = subprocess.run([sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", rpc, "--out", str(out),
                              "--quiet", *extra], capture_output=True, text=True, cwd=ROOT, timeout=600)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return process.returncode, report, process.stdout + process.stderr


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


@pytest.fixture(scope="module", params=["cityledger", "cometbft"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A demo-like chain: the share, custody and credit flows, plus a lot whose intake document is
    a real payload in an embedded store; made by the one sealer, and by four CometBFT validators
    (audited through node 1, commits checked in place of seals)."""
    from gateway.payloads.store import StoreSettings, open_store

    root = tmp_path_factory.mktemp("demo")
    devnet = make_devnet(root / "node")
    if request.param == "cometbft":
        comet = start_cometbft(devnet)
        node, stop, consensus = comet.node, comet.stop, ["--cometbft-genesis", str(comet.cometbft_genesis)]
    else:
        node = sealer_process(devnet, block_time=0.05, ws=False).start()
        stop, consensus = node.stop, []
    try:
        book = write_addressbook(node.url, devnet.genesis_path, root / "addressbook.json")
        share_flow(node, devnet, book)
        lots = custody_flow(node, devnet, book)
        credit_flow(node, devnet, book)
        store = open_store(StoreSettings(store_dir=root / "payloads"))
        cid = str(store.put(b"Intake record: 200 protective suits, donor ABC Co.\n" * 40))
        store.close()
        red_cross = actor(node, devnet, book, "Red Cross")
        red_cross.send("SupplyCustody", "registerLot", _b32("GTIN:06901234567885"), 200, _b32("piece"),
                       keccak(b"salt|ABC Co."), "ABC Co.", cid, 1_900_000_000)
        yield {"node": node, "devnet": devnet, "book": book, "lots": lots, "store": root / "payloads", "cid": cid,
               "root": root, "kind": request.param, "consensus": consensus}
    finally:
        stop()


@pytest.fixture(scope="module")
def demo_report(demo: dict[str, Any]) -> dict[str, Any]:
    out = demo["root"] / "report"
    code, report, output = audit_run(demo["node"].url, out, "--store", str(demo["store"]), *demo["consensus"])
    assert code == 0, output
    return {"out": out, "report": report, "output": output}


def test_demo_chain_passes_and_shows_the_short_delivery_as_a_loss(demo_report: dict[str, Any], demo: dict[str, Any]) -> None:
    report = demo_report["report"]
    assert report["ok"] and report["summary"]["violations"] == 0, report["findings"]
    chain = report["chain"]
    assert chain["consensus"] == ("cometbft" if demo["kind"] == "cometbft" else "cityledger-poa")
    assert chain["transactions"] >= 19
    # Every block re-executed by go-ethereum's t8n, and every one agreed.
    assert report["executor"]["name"].startswith("go-ethereum evm t8n v1.17.10")
    assert report["executor"]["blocksJudged"] == report["executor"]["blocksAgreed"] == chain["head"]
    assert {b["executor"] for b in report["blocks"]} == {report["executor"]["name"]}
    checks = report["summary"]["checks"]
    if demo["kind"] == "cometbft":  # commits certify every block; the validators sign no checkpoints
        assert checks["commit"] >= chain["head"] and "seal" not in checks and "checkpoint" not in checks
        assert any("signs no checkpoints" in note for note in report["notes"])
    else:
        assert checks["seal"] >= chain["head"] and checks["checkpoint"] > 0 and "commit" not in checks
    for name in ("genesis", "header", "chain data", "re-execution", "conservation (state)", "custody events",
                 "accesses", "credit entries", "payload"):
        assert checks.get(name, 0) > 0, name
    (loss,) = [f for f in report["findings"] if f["severity"] == "loss"]
    assert "10 of 600" in loss["message"] and "crushed" in loss["message"]
    proven = verify_receipt(loss["evidence"]["proof"], chain["chainId"])  # the proof checks with the bundle verifier
    assert proven.header.number == loss["block"]
    # The real payload was fetched and re-hashed; the flows' placeholder CIDs are warnings, not violations.
    assert not [f for f in report["findings"] if f["rule"] == "payload" and demo["cid"] in f["message"]]
    assert all(f["severity"] in ("loss", "warning") for f in report["findings"])
    assert (demo_report["out"] / "evidence" / f"{loss['id']}.json").exists()


def test_a_changed_payload_byte_is_named(demo: dict[str, Any], tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(demo["store"], store)
    block = max((store / "blocks").rglob("*.data"), key=lambda p: p.stat().st_size)
    data = bytearray(block.read_bytes())
    data[100] ^= 0x01
    block.write_bytes(bytes(data))
    code, report, output = audit_run(demo["node"].url, tmp_path / "report", "--store", str(store), *demo["consensus"])
    assert code == 1, output
    (finding,) = [f for f in report["findings"] if f["rule"] == "payload" and f["severity"] == "violation"]
    assert demo["cid"] in finding["message"] and "hashes to sha2-256" in finding["message"]


def test_the_report_renders_offline_in_chromium(demo_report: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    out: Path = demo_report["out"]
    report = demo_report["report"]
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})

        def route(r: Any) -> None:
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_function("window.Chart !== undefined && document.getElementById('chart-stock').chart !== undefined")
        charts = page.evaluate("""() => Object.fromEntries(['chart-stock','chart-flows','chart-losses','chart-accesses','chart-blocks']
            .map(id => [id, document.getElementById(id).chart.data.datasets.map(d => ({label: d.label, data: d.data}))]))""")
        assert "PASSED" in page.inner_text(".verdict")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert outside == [] and errors == []
    assert (tmp_path / "report.png").stat().st_size > 20_000
    # The charts draw the audited chain's numbers: the custody flows and losses of report.json.
    flows = {d["label"]: d["data"] for d in charts["chart-flows"]}
    members = list(report["charts"]["flows"])
    assert flows["lost"] == [report["charts"]["flows"][m]["lost"] for m in members] and sum(flows["lost"]) == 10
    losses = {d["label"]: d["data"] for d in charts["chart-losses"]}
    assert sum(losses["lost"]) == 10 and sum(losses["original"]) == sum(lot["original"] for lot in report["charts"]["losses"])
    assert sum(charts["chart-blocks"][0]["data"]) == report["chain"]["transactions"]
    assert max(charts["chart-accesses"][0]["data"]) == 2
    stock = {d["label"]: d["data"] for d in charts["chart-stock"]}
    assert stock["First People's Hospital"][-1] == 50


# ---------------------------------------------------------------------------- planted violations
@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A chain whose honest history (the share and custody flows) is followed by blocks a sealer
    crafted outside the rules, then served by a node again."""
    root = tmp_path_factory.mktemp("planted")
    devnet = make_devnet(root / "node")
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    book = write_addressbook(node.url, devnet.genesis_path, root / "addressbook.json")
    ids = share_flow(node, devnet, book)
    lots = custody_flow(node, devnet, book)
    node.stop()
    genesis = json.loads(devnet.genesis_path.read_text())
    addresses = {c["name"]: bytes.fromhex(c["address"][2:]) for c in genesis["contracts"]}
    health = next(m for m in devnet.keys["members"] if "Health" in m["name"])
    forger = Forger(devnet)
    planted: dict[str, int] = {}
    try:
        outsider = "0x" + keccak(b"not a member").hex()
        planted["membership"] = forger.seal([forger.tx(outsider, addresses["DataSharing"], b"")], skip_membership=True).block_number
        stranger = devnet.keys["members"][0]["private_key"]
        planted["seal"] = forger.seal([forger.tx(health["private_key"], addresses["DataSharing"], b"")], key=stranger).block_number

        def harmless(nonce: int) -> bytes:  # a call that succeeds (cancelNonce emits NonceCancelled)
            return keccak(b"cancelNonce(uint256)")[:4] + abi_encode(["uint256"], [nonce])

        topic = int.from_bytes(keccak(b"AccessRecorded(uint256,uint256,uint256,address,uint32,string)"), "big")
        access = ForgedLog(0, addresses["DataSharing"], (topic, ids["request"], ids["dataset"], health["id"]),
                           abi_encode(["address", "uint32", "string"], [health["address"], 3, "Tracing cluster 9"]))
        planted["access"] = forger.seal([forger.tx(health["private_key"], addresses["DataSharing"], harmless(101))],
                                        logs=[access]).block_number
        issuer = int.from_bytes(keccak(b"IssuerAuthorized(uint256,uint8,uint256)"), "big")
        governance = ForgedLog(0, addresses["Credit"], (issuer, health["id"], 1, 0), b"")
        planted["governance"] = forger.seal([forger.tx(health["private_key"], addresses["DataSharing"], harmless(102))],
                                            logs=[governance]).block_number
        lot_slot = int.from_bytes(keccak(lots["lot"].to_bytes(32, "big") + (0).to_bytes(32, "big")), "big")
        custody = addresses["SupplyCustody"]

        def mint(state: Any) -> None:  # 1,000 masks appear in the charity's held quantity
            state.set_storage(custody, lot_slot + 1, state.get_storage(custody, lot_slot + 1) + 1000)

        header = forger.seal([forger.tx(health["private_key"], addresses["DataSharing"], b"")], tamper=mint)
        planted["conservation"] = header.block_number
        planted["state root"] = header.block_number
        claimed_root = "0x" + header.state_root.hex()
    finally:
        forger.close()
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        yield {"node": node, "planted": planted, "claimed_root": claimed_root, "lot": lots["lot"], "root": root}
    finally:
        node.stop()


@pytest.fixture(scope="module")
def planted_report(planted: dict[str, Any]) -> dict[str, Any]:
    code, report, output = audit_run(planted["node"].url, planted["root"] / "report")
    assert code == 1, output
    return {"report": report, "output": output}


def test_planted_violations_are_each_listed(planted: dict[str, Any], planted_report: dict[str, Any]) -> None:
    findings = [f for f in planted_report["report"]["findings"] if f["severity"] == "violation"]
    blocks = planted["planted"]

    def at(rule: str, block: int) -> list[dict[str, Any]]:
        return [f for f in findings if f["rule"] == rule and f["block"] == block]

    assert at("membership", blocks["membership"]), findings
    assert "belongs to no member" in at("membership", blocks["membership"])[0]["message"]
    assert "not by a sealer in force" in at("seal", blocks["seal"])[0]["message"]
    (access,) = at("access", blocks["access"])
    assert "above the grant's cap of 2" in access["message"] and access["evidence"]["proof"]["type"] == "receipt"
    assert "not the effect of an executed M-of-N proposal" in at("governance", blocks["governance"])[0]["message"]
    (conservation,) = at("conservation (state)", blocks["conservation"])
    assert f"lot {planted['lot']}" in conservation["message"] and conservation["evidence"]["values"]["held"] > 0
    # The forged logs are also caught by re-execution: the receipts t8n computes differ.
    assert any(f["evidence"].get("check") == "receipts root" for f in at("re-execution", blocks["access"]))
    # The CLI lists every violation.
    for rule in ("membership", "seal", "access", "governance", "conservation (state)", "re-execution"):
        assert f" {rule}: " in planted_report["output"]


def test_the_differential_executor_reports_both_state_roots(planted: dict[str, Any], planted_report: dict[str, Any]) -> None:
    (finding,) = [f for f in planted_report["report"]["findings"] if f["rule"] == "re-execution"
                  and f["block"] == planted["planted"]["state root"] and f["evidence"]["check"] == "state root"]
    evidence = finding["evidence"]
    assert evidence["claimed"] == planted["claimed_root"]
    assert evidence["computed"] != evidence["claimed"] and len(evidence["computed"]) == 66
    assert evidence["executor"].startswith("go-ethereum evm t8n")
    assert planted["claimed_root"] in finding["message"] and evidence["computed"] in finding["message"]


def test_the_py_evm_fallback_judges_blocks_out_of_process(planted: dict[str, Any], tmp_path: Path) -> None:
    code, report, output = audit_run(planted["node"].url, tmp_path / "report", "--executor", "pyevm")
    assert code == 1, output
    assert report["executor"]["name"] == "py-evm (fallback, separate process)"
    assert any("py-evm in a separate process" in note for note in report["notes"])
    (finding,) = [f for f in report["findings"] if f["rule"] == "re-execution" and f["block"] == planted["planted"]["state root"]
                  and f["evidence"]["check"] == "state root"]
    assert finding["evidence"]["claimed"] == planted["claimed_root"] and finding["evidence"]["executor"].startswith("py-evm")
