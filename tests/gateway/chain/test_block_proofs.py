"""The gateway re-encodes blocks read over JSON-RPC, checks their roots, and cuts receipt proofs
that verify — and fail by name when a byte is changed. Against a real node process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_account import Account

from conftest import NodeProcess, artifact
from gateway.chain.blocks import fetch_blocks, verify_block
from gateway.chain.codec import Header
from gateway.chain.rpc import RpcClient
from gateway.errors import ChainDataInvalid, ProofInvalid
from gateway.proofs import ReceiptProof, verify_receipt_proof, verify_seal


def _logged_transaction(node: NodeProcess, devnet: Any) -> dict[str, Any]:
    """Send transactions until one emits a log (a department registers a dataset)."""
    from web3 import Web3

    sharing = Web3().eth.contract(abi=artifact("DataSharing")["abi"])
    officer = next(m for m in devnet.keys["members"] if m["kind"] == "department")
    fn = next(f for f in artifact("DataSharing")["abi"] if f.get("name") == "registerDataset")
    args: list[Any] = []
    for param in fn["inputs"]:
        kind = param["type"]
        args.append("Travel records" if kind == "string" else 0 if kind.startswith("uint") else b"")
    data = sharing.encode_abi("registerDataset", args)
    tx = {"to": "0x00000000000000000000000000000000c1700002", "data": data, "gas": 3_000_000, "gasPrice": 0,
          "value": 0, "nonce": 0, "chainId": devnet.chain_id}
    signed = Account.sign_transaction(tx, officer["private_key"])
    tx_hash = node.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        pass
    return dict(receipt)


def test_block_verifies_and_its_receipt_proof_checks(node: NodeProcess, devnet: Any) -> None:
    receipt = _logged_transaction(node, devnet)
    assert receipt["status"] == "0x1" and receipt["logs"], receipt
    number = int(receipt["blockNumber"], 16)

    async def fetch() -> Any:
        rpc = RpcClient(node.url)
        try:
            return (await fetch_blocks(rpc, [number]))[0]
        finally:
            await rpc.close()

    block = asyncio.run(fetch())
    assert block.hash.hex() == receipt["blockHash"][2:]
    tx_index = int(receipt["transactionIndex"], 16)
    proof = ReceiptProof.cut(devnet.chain_id, block, tx_index, 0)
    again = ReceiptProof.from_json(proof.to_json())
    assert again == proof
    proven = verify_receipt_proof(again)
    assert proven.log.address.hex() == receipt["logs"][0]["address"][2:].lower()
    sealer = bytes.fromhex(devnet.keys["sealer"]["address"][2:])
    assert verify_seal(proven.header, [sealer]) == sealer
    with pytest.raises(ProofInvalid) as refused:
        verify_seal(proven.header, [b"\x11" * 20])
    assert refused.value.check == "seal"

    # One byte changed anywhere is caught, and the failed check is named.
    doc = proof.to_json()
    node_hex = doc["receiptProof"][-1]
    doc["receiptProof"][-1] = node_hex[:-2] + ("00" if node_hex[-2:] != "00" else "01")
    with pytest.raises(ProofInvalid) as bad:
        verify_receipt_proof(ReceiptProof.from_json(doc))
    assert bad.value.check == "receipt-proof"
    doc = proof.to_json()
    doc["header"] = doc["header"][:-2] + ("00" if doc["header"][-2:] != "00" else "01")
    with pytest.raises(ProofInvalid) as bad:
        verify_receipt_proof(ReceiptProof.from_json(doc))
    assert bad.value.check == "header-hash"
    with pytest.raises(ProofInvalid) as bad:
        verify_receipt_proof(ReceiptProof.from_json({**proof.to_json(), "logIndex": 99}))
    assert bad.value.check == "log-index"
    with pytest.raises(ProofInvalid) as bad:
        verify_receipt_proof(ReceiptProof.from_json({**proof.to_json(), "txHash": "0x" + "00" * 32}))
    assert bad.value.check == "tx-hash"


def test_node_json_that_does_not_match_the_header_is_refused(node: NodeProcess, devnet: Any) -> None:
    receipt = _logged_transaction(node, devnet)
    block = node.rpc("eth_getBlockByNumber", [receipt["blockNumber"], True])
    receipts = [node.rpc("eth_getTransactionReceipt", [tx["hash"]]) for tx in block["transactions"]]
    assert Header.decode(verify_block(block, receipts).header.raw).number == int(receipt["blockNumber"], 16)
    forged = [{**receipts[0], "logs": []}]
    with pytest.raises(ChainDataInvalid, match="receiptsRoot"):
        verify_block(block, forged)
    with pytest.raises(ChainDataInvalid, match="header.hash"):
        verify_block({**block, "timestamp": hex(int(block["timestamp"], 16) + 1)}, receipts)
