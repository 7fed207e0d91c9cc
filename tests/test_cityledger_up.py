"""``cityledger up``: ``scripts/start --demo`` brings up the node and the gateway and plays the demo
city through them (the session's demo city, tests/demo_harness.py); each flow's outcome is checked
here through the public and member APIs, with plain HTTP and the members' own signatures, not
through the client that made them. Then: a second start on the same directory only starts the
services; Ctrl-C and SIGTERM stop both children; a child that dies takes ``up`` down with it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import ROOT, free_port
from demo_harness import DemoCity


def bearer(city: DemoCity, name: str) -> dict[str, str]:
    keys = json.loads(city.keys.read_text())
    entry = next(e for e in keys["members"] + keys["admins"] if e["name"] == name)
    account = Account.from_key(entry["private_key"])
    message = httpx.post(f"{city.gateway}/v1/auth/challenge", json={"address": account.address}).json()["message"]
    signature = "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex().removeprefix("0x")
    token = httpx.post(f"{city.gateway}/v1/auth/token", json={"message": message, "signature": signature})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['token']}"}


def get(city: DemoCity, path: str, headers: dict[str, str] | None = None) -> Any:
    answer = httpx.get(city.gateway + path, headers=headers, timeout=30)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:500]}"
    return answer.json()


def test_the_demo_left_every_flow_done(demo_city: DemoCity) -> None:
    doc = demo_city.doc
    assert {"gateway", "rpc", "keys", "receipt_codes", "short_delivery_receipt_code", "uscc", "grants",
            "batches"} <= set(doc)
    assert doc["gateway"] == demo_city.gateway and doc["rpc"] == demo_city.rpc and Path(doc["keys"]) == demo_city.keys
    node = httpx.post(demo_city.rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).json()
    assert int(node["result"], 16) == get(demo_city, "/v1/status")["chainId"]

    # The whole consortium, Chinese and English names as stored.
    members = {m["name"]: m for m in get(demo_city, "/v1/members")["items"]}
    for name in ("市通信管理局 Municipal Communications Administration (telecom regulator)", "市公安局 Municipal Public Security Bureau",
                 "市民政局 Municipal Civil Affairs Bureau", "市第二人民医院 Second People's Hospital",
                 "Municipal Health Commission", "City Emergency Logistics", "Independent Audit NGO"):
        assert members[name]["status"] == "Active"

    # Supplies: the short delivery (a loss with its reason) and the refused one, conservation kept.
    short = get(demo_city, f"/v1/trace/{doc['short_delivery_receipt_code']}")
    losses = [e for e in short["events"] if e["kind"] == "TransferAccepted" and e["lost"]]
    assert [(e["lost"], e["reason"]) for e in losses] == [(50, "50 masks water-damaged in the truck (rain at the depot)")]
    assert short["donor"]["publicName"] == "华信纺织 Huaxin Textile" and short["verified"]
    refused = get(demo_city, f"/v1/trace/{doc['refused_delivery_receipt_code']}")
    assert [e["reason"] for e in refused["events"] if e["kind"] == "TransferRefused"] == ["wrong size: ordered L, received S"]
    for trace in (short, refused):
        t = trace["totals"]
        assert t["donated"] == t["consumed"] + t["lost"] + t["held"] + t["inTransit"]
        assert {e["kind"] for e in trace["events"]} >= {"LotRegistered", "TransferSent", "TransferAccepted", "LotConsumed"}
    parties = {e["by"]["name"] for e in short["events"]}
    assert {"City Red Cross Society", "City Emergency Logistics", "Central Relief Warehouse", "First People's Hospital",
            "市第二人民医院 Second People's Hospital"} <= parties

    # Data sharing: asked for six fields, narrowed to four, approved, delivered, fetched.
    health, auditor = bearer(demo_city, "Municipal Health Commission"), bearer(demo_city, "Independent Audit NGO")
    grant = doc["grants"][0]
    request = get(demo_city, f"/v1/requests/{grant['id']}", health)
    assert request["status"] == "Granted" and request["fields"] == ["name", "train", "date", "seat"]
    assert request["requestedFields"] == ["name", "id_number", "phone", "train", "date", "seat"]
    assert request["maxAccesses"] == 5 and request["accessCount"] >= 1
    assert "传染病防治法" in request["legalBasis"] and "Close-contact tracing" in request["purpose"]
    assert request["delivery"]["cid"] == grant["cid"]
    assert [h["event"] for h in request["history"]][:4] == ["RequestSubmitted", "RequestApproved", "PayloadDelivered",
                                                          "AccessRecorded"]
    assert [get(demo_city, f"/v1/requests/{g['id']}", auditor)["status"] for g in doc["grants"][1:]] == ["Revoked", "Rejected"]
    accesses = get(demo_city, f"/v1/datasets/{grant['dataset']}/accesses", auditor)["items"]
    assert accesses[0]["reason"] == "tracing cluster 7: first pass" and not accesses[0]["refused"]

    # Credit: issued, one corrected, one revoked; a batch of 10,000 anchored with its file.
    corrected = get(demo_city, f"/v1/credit/{doc['uscc'][0]}")
    assert [e["action"] for e in corrected["entries"]] == ["Issue", "Supersede"]
    assert corrected["current"] == [corrected["entries"][1]["id"]] and corrected["entries"][1]["amount"] == "500000"
    assert get(demo_city, f"/v1/credit/{doc['uscc'][1]}")["current"] != []
    assert get(demo_city, f"/v1/credit/{doc['uscc'][2]}")["current"] == []
    batch = doc["batches"][0]
    anchored = get(demo_city, f"/v1/credit/batches/{batch['id']}")
    assert anchored["entryCount"] == 10_000 and anchored["category"] == "AbnormalOperation"
    assert (anchored["merkleRoot"], anchored["batchFileCid"]) == (batch["merkleRoot"], batch["batchFileCid"])
    lines = httpx.get(f"{demo_city.gateway}/v1/payloads/{batch['batchFileCid']}", timeout=60).content.splitlines()
    assert len(lines) == 10_000 and json.loads(lines[0])["uscc"] == batch["sampleUscc"]
    roles = get(demo_city, "/v1/me", bearer(demo_city, "Market Supervision Administration"))["roles"]
    assert {"issuer:Penalty", "issuer:AbnormalOperation"} <= set(roles)


def test_a_second_start_only_starts_and_ctrl_c_stops_both(demo_city: DemoCity) -> None:
    before = (demo_city.data_dir / "demo.json").read_bytes()
    requests = len(get(demo_city, "/v1/requests", bearer(demo_city, "Independent Audit NGO"))["items"])
    assert demo_city.stop(signal.SIGINT) == 130
    assert "stopping (SIGINT)" in demo_city.output()
    for url in (demo_city.rpc + "/health", demo_city.gateway + "/v1/status"):
        try:
            httpx.get(url, timeout=2)
            raise AssertionError(f"{url} still answers after up stopped")
        except httpx.HTTPError:
            pass
    demo_city.start()
    assert "already played" in demo_city.output() and "playing the demo city" not in demo_city.output()
    assert (demo_city.data_dir / "demo.json").read_bytes() == before
    assert len(get(demo_city, "/v1/requests", bearer(demo_city, "Independent Audit NGO"))["items"]) == requests


def test_up_goes_down_with_a_child_and_sigterm_stops_it(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    args = [sys.executable, "-m", "cityledger_cli", "up", "--data-dir", str(tmp_path / "chain"), "--node-port",
            str(ports[0]), "--ws-port", "0", "--gateway-port", str(ports[1]), "--block-time", "0.1"]
    log = tmp_path / "up.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 120
        while "ready; Ctrl-C" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)  # polling up's output for its ready line, bounded by the deadline
        return proc

    proc = start()
    assert (tmp_path / "chain" / "genesis.json").exists() and (tmp_path / "chain" / "dev-keys.json").exists()
    gateway_pid = int(re.search(r"gateway .*pid (\d+)", log.read_text())[1])  # type: ignore[index]
    os.kill(gateway_pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == 1
    text = log.read_text()
    assert "the gateway exited with -9" in text and "gateway.log" in text
    node_pid = int(re.search(r"node .*pid (\d+)", text)[1])  # type: ignore[index]
    assert not Path(f"/proc/{node_pid}").exists() or "zombie" in Path(f"/proc/{node_pid}/status").read_text().lower()

    proc = start()  # the same directory starts again (no second init)
    assert "wrote" not in log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert "stopping (SIGTERM)" in log.read_text()
