"""``audit run`` against anvil (npm ``@foundry-rs/anvil``) with the contracts deployed by
``scripts/deploy``: the chain carries no seals and the report says so; re-execution by go-ethereum's
t8n, the rules, the loss and its proof all apply as on CityLedger's own chain."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from conftest import ROOT, NODE_BIN, free_port
from gateway_harness import ChainActor
from test_audit_run import audit_run


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


class _Signer:
    """Signs zero-fee EIP-1559 transactions (eth_account wants the checksummed ``to`` here)."""

    def __init__(self, key: str, chain_id: int) -> None:
        self.key, self.chain_id, self.address = key, chain_id, Account.from_key(key).address

    def sign(self, to: bytes, data: bytes, *, nonce: int, gas: int) -> bytes:
        tx = {"type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to_checksum_address(to), "data": data,
              "value": 0, "gas": gas, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        return bytes(Account.sign_transaction(tx, self.key).raw_transaction)


def _actor(url: str, book: Path, key: str) -> ChainActor:
    actor = ChainActor(url, book, key, 31337)
    actor.signer = _Signer(key, 31337)  # type: ignore[assignment]
    return actor


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("anvil")
    port = free_port()
    log = (root / "anvil.log").open("wb")
    proc = subprocess.Popen([str(NODE_BIN / "anvil"), "--port", str(port), "--hardfork", "prague", "--base-fee", "0",
                             "--gas-price", "0", "--gas-limit", "500000000"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # polling for the port to open, with a deadline
    try:
        keys = {name: "0x" + keccak(f"anvil audit {name}".encode()).hex() for name in
                ("admin1", "admin2", "admin3", "sealer", "charity", "warehouse")}
        # anvil's first development account (funded at genesis) pays for the deployment.
        keys["deployer"] = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        addr = {name: Account.from_key(k).address for name, k in keys.items()}
        consortium = {"chainId": 31337, "threshold": 2, "admins": [addr["admin1"], addr["admin2"], addr["admin3"]],
                      "sealers": [addr["sealer"]], "members": [
                          {"name": "Admin A", "kind": "admin", "level": "city", "accounts": [addr["admin1"], addr["sealer"]]},
                          {"name": "Admin B", "kind": "admin", "level": "city", "accounts": [addr["admin2"]]},
                          {"name": "Admin C", "kind": "admin", "level": "city", "accounts": [addr["admin3"]]},
                          {"name": "City Red Cross Society", "kind": "charity", "level": "city", "accounts": [addr["charity"]]},
                          {"name": "Central Relief Warehouse", "kind": "warehouse", "level": "district", "accounts": [addr["warehouse"]]}]}
        (root / "consortium.json").write_text(json.dumps(consortium))
        book = root / "addressbook.json"
        deployed = subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy_contracts.py"), "--rpc", url, "--consortium",
                                   str(root / "consortium.json"), "--key", keys["deployer"], "--out", str(book)],
                                  capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        charity, warehouse = _actor(url, book, keys["charity"]), _actor(url, book, keys["warehouse"])
        receipt = charity.send("SupplyCustody", "registerLot", _b32("GTIN:06901234567892"), 500, _b32("piece"),
                               keccak(b"salt|Donor"), "Donor", "bafkintake", 1_900_000_000)
        lot = charity.event_args(receipt, "LotRegistered")["lotId"]
        receipt = charity.send("SupplyCustody", "transfer", lot, 300, 5)
        transfer = charity.event_args(receipt, "TransferSent")["transferId"]
        warehouse.send("SupplyCustody", "accept", transfer, 296, "4 boxes wet")
        yield {"url": url, "book": book, "root": root}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_audit_run_works_against_anvil(anvil: dict[str, Any]) -> None:
    code, report, output = audit_run(anvil["url"], anvil["root"] / "report", "--trust", str(anvil["book"]))
    assert code == 0, output
    assert report["chain"]["consensus"] == "none"
    assert any("carries no seals" in note for note in report["notes"])
    checks = report["summary"]["checks"]
    assert "seal" not in checks and "checkpoint" not in checks
    assert checks["re-execution"] == report["chain"]["head"] >= 7
    assert report["executor"]["blocksAgreed"] == report["executor"]["blocksJudged"] == report["chain"]["head"]
    assert checks["setup transactions"] == 4 and checks["custody events"] >= 4
    (loss,) = [f for f in report["findings"] if f["severity"] == "loss"]
    assert "4 of 300" in loss["message"] and loss["evidence"]["proof"]["chainId"] == 31337
