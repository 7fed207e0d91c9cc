"""Deploy CityLedger's contracts to any Ethereum JSON-RPC chain and write the address book.

Two modes:

* ``--consortium FILE --key HEX``: deploy ``MemberRegistry`` (members, admins and threshold,
  sealers from the consortium description, the same format as ``cityledger node init
  --consortium``) and then every domain contract, constructed with the registry's address, to a
  chain such as anvil or a Hyperledger Besu QBFT network. The deployer pays gas at the chain's
  gas price; it needs no role in the registry.
* ``--genesis FILE``: a CityLedger chain deploys its contracts at genesis; record those.

Both check that every address holds code and write ``--out`` (default ``addressbook.json``)::

    {"format": "cityledger-addressbook/1", "chainId": 17228,
     "deployment": {"block": 0, "blockHash": "0x..."},
     "compiler": {...from contracts/artifacts/manifest.json...},
     "contracts": {"MemberRegistry": {"address": "0x...", "artifactSha256": "...", "codeHash": "0x..."}, ...}}

The gateway and the audit toolkit read this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node.genesis import load_genesis  # noqa: E402
from node.genesis_init import GENESIS_DOMAIN_CONTRACTS, consortium_genesis  # noqa: E402

ARTIFACTS = ROOT / "contracts" / "artifacts"
FORMAT = "cityledger-addressbook/1"


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=60)

    def __call__(self, method: str, params: list[Any]) -> Any:
        answer = self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in answer:
            raise SystemExit(f"deploy: {method} failed: {answer['error']}")
        return answer["result"]


def _artifact_sha(name: str) -> str:
    return hashlib.sha256((ARTIFACTS / f"{name}.json").read_bytes()).hexdigest()


def _send_create(rpc: Rpc, key: str, chain_id: int, init_code: bytes, nonce: int) -> dict[str, Any]:
    gas_price = int(rpc("eth_gasPrice", []), 16)
    tx = {"data": init_code, "value": 0, "nonce": nonce, "chainId": chain_id, "gasPrice": gas_price}
    tx["gas"] = int(int(rpc("eth_estimateGas", [{"from": Account.from_key(key).address,
                                                  "data": "0x" + init_code.hex()}]), 16) * 1.2)
    signed = Account.sign_transaction(tx, key)
    tx_hash = rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        receipt = rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            if receipt["status"] != "0x1":
                raise SystemExit(f"deploy: creation transaction {tx_hash} reverted")
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.2)  # polling for the receipt of our own transaction
    raise SystemExit(f"deploy: no receipt for {tx_hash} after 120 s")


def deploy(rpc: Rpc, key: str, consortium: Path) -> dict[str, Any]:
    genesis = consortium_genesis(consortium, ARTIFACTS)  # validates the description
    chain_id = int(rpc("eth_chainId", []), 16)
    deployer = Account.from_key(key).address
    nonce = int(rpc("eth_getTransactionCount", [deployer, "pending"]), 16)
    receipt = _send_create(rpc, key, chain_id, genesis.registry.init_code(), nonce)
    registry = to_checksum_address(receipt["contractAddress"])
    contracts = {"MemberRegistry": {"address": registry, "artifactSha256": _artifact_sha("MemberRegistry")}}
    first = receipt
    for offset, name in enumerate(GENESIS_DOMAIN_CONTRACTS, start=1):
        art = json.loads((ARTIFACTS / f"{name}.json").read_text())
        init = bytes.fromhex(art["bytecode"][2:]) + bytes(12) + bytes.fromhex(registry[2:])
        r = _send_create(rpc, key, chain_id, init, nonce + offset)
        contracts[name] = {"address": to_checksum_address(r["contractAddress"]), "artifactSha256": _artifact_sha(name)}
    return _book(rpc, chain_id, int(first["blockNumber"], 16), first["blockHash"], contracts)


def from_genesis(rpc: Rpc, genesis_path: Path) -> dict[str, Any]:
    genesis = load_genesis(genesis_path)
    chain_id = int(rpc("eth_chainId", []), 16)
    if chain_id != genesis.chain_id:
        raise SystemExit(f"deploy: the node serves chain {chain_id}, the genesis file describes {genesis.chain_id}")
    block0 = rpc("eth_getBlockByNumber", ["0x0", False])
    contracts = {"MemberRegistry": {"address": to_checksum_address(genesis.registry.address),
                                    "artifactSha256": genesis.registry.artifact_sha256}}
    for c in genesis.contracts:
        contracts[c.name] = {"address": to_checksum_address(c.address), "artifactSha256": c.artifact_sha256}
    return _book(rpc, chain_id, 0, block0["hash"], contracts)


def _book(rpc: Rpc, chain_id: int, block: int, block_hash: str, contracts: dict[str, dict[str, str]]) -> dict[str, Any]:
    for name, entry in contracts.items():
        code = bytes.fromhex(rpc("eth_getCode", [entry["address"], "latest"])[2:])
        if not code:
            raise SystemExit(f"deploy: no code at {entry['address']} for {name}")
        entry["codeHash"] = "0x" + keccak(code).hex()
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    return {"format": FORMAT, "chainId": chain_id, "deployment": {"block": block, "blockHash": block_hash},
            "compiler": manifest["compiler"], "contracts": contracts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc", required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--consortium", type=Path)
    mode.add_argument("--genesis", type=Path)
    parser.add_argument("--key", help="deployer private key (hex); with --consortium")
    parser.add_argument("--out", type=Path, default=Path("addressbook.json"))
    args = parser.parse_args(argv)
    rpc = Rpc(args.rpc)
    if args.consortium:
        if not args.key:
            parser.error("--consortium needs --key")
        book = deploy(rpc, args.key, args.consortium)
    else:
        book = from_genesis(rpc, args.genesis)
    args.out.write_text(json.dumps(book, indent=2) + "\n")
    print(f"wrote {args.out}: " + ", ".join(f"{n} {e['address']}" for n, e in book["contracts"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
