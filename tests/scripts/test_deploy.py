"""scripts/deploy puts the whole contract set on a third-party chain (anvil) and records a
CityLedger genesis deployment; both write the same address book."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak

from conftest import ROOT, DevNet, NodeProcess, free_port
from node.genesis_init import GENESIS_DOMAIN_CONTRACTS

ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def _rpc(url: str, method: str, params: list[object]) -> object:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


@pytest.fixture
def anvil() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--hardfork", "prague", "--block-time", "1", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _rpc(url, "eth_chainId", [])
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("anvil did not start") from None
                time.sleep(0.05)  # polling interval while the port opens
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/deploy_contracts.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _is_active(url: str, registry: str, account: str) -> bool:
    data = keccak(text="isActiveAccount(address)")[:4] + bytes(12) + bytes.fromhex(account[2:])
    return int(str(_rpc(url, "eth_call", [{"to": registry, "data": "0x" + data.hex()}, "latest"])), 16) == 1


def test_deploy_to_anvil_writes_an_address_book(anvil: str, tmp_path: Path) -> None:
    deployer = Account.create()
    _rpc(anvil, "anvil_setBalance", [deployer.address, hex(10**21)])
    admin, clerk, sealer = Account.create(), Account.create(), Account.create()
    (tmp_path / "consortium.json").write_text(json.dumps({
        "chainId": 31337, "threshold": 1, "admins": [admin.address], "sealers": [sealer.address],
        "members": [{"name": "Admin Office", "kind": "admin", "level": "city",
                     "accounts": [admin.address, sealer.address]},
                    {"name": "Red Cross", "kind": "charity", "level": "city", "accounts": [clerk.address]}],
    }))
    out = tmp_path / "book.json"
    result = _deploy("--rpc", anvil, "--consortium", str(tmp_path / "consortium.json"),
                     "--key", deployer.key.hex(), "--out", str(out))
    assert result.returncode == 0, result.stderr
    book = json.loads(out.read_text())
    assert book["format"] == "cityledger-addressbook/1" and book["chainId"] == 31337
    assert set(book["contracts"]) == {"MemberRegistry", *GENESIS_DOMAIN_CONTRACTS}
    registry = book["contracts"]["MemberRegistry"]["address"]
    assert _is_active(anvil, registry, clerk.address)
    assert not _is_active(anvil, registry, deployer.address)
    for name, entry in book["contracts"].items():
        code = bytes.fromhex(str(_rpc(anvil, "eth_getCode", [entry["address"], "latest"]))[2:])
        assert "0x" + keccak(code).hex() == entry["codeHash"]
        if name != "MemberRegistry":
            wired = _rpc(anvil, "eth_call", [{"to": entry["address"], "data": "0x" + keccak(text="registry()")[:4].hex()},
                                             "latest"])
            assert int(str(wired), 16) == int(registry, 16), name


def test_address_book_of_a_cityledger_genesis(devnet: DevNet, tmp_path: Path) -> None:
    port = free_port()
    node = NodeProcess(["node", "run", "--data-dir", str(devnet.data_dir), "--http", f"127.0.0.1:{port}"],
                       port, None, tmp_path / "node.log").start()
    try:
        out = tmp_path / "book.json"
        result = _deploy("--rpc", node.url, "--genesis", str(devnet.genesis_path), "--out", str(out))
        assert result.returncode == 0, result.stderr
        book = json.loads(out.read_text())
        assert book["deployment"]["block"] == 0
        assert book["deployment"]["blockHash"] == node.rpc("eth_getBlockByNumber", ["0x0", False])["hash"]
        assert book["contracts"]["MemberRegistry"]["address"].lower() == "0x00000000000000000000000000000000c1700001"
        registry = book["contracts"]["MemberRegistry"]["address"]
        assert _is_active(node.url, registry, devnet.member(0)["address"])
        # The domain contracts deployed at genesis are wired to the genesis registry.
        assert set(book["contracts"]) == {"MemberRegistry", *GENESIS_DOMAIN_CONTRACTS}
        for name in GENESIS_DOMAIN_CONTRACTS:
            answer = str(node.rpc("eth_call", [{"to": book["contracts"][name]["address"],
                                                "data": "0x" + keccak(text="registry()")[:4].hex()}, "latest"]))
            assert int(answer, 16) == int(registry, 16), name
        # A genesis file of another chain is refused.
        doc = json.loads(devnet.genesis_path.read_text())
        doc["chainId"] = 99
        (tmp_path / "other.json").write_text(json.dumps(doc))
        refused = _deploy("--rpc", node.url, "--genesis", str(tmp_path / "other.json"), "--out", str(tmp_path / "x.json"))
        assert refused.returncode != 0 and "chain 17228" in refused.stderr
    finally:
        node.stop()
