"""eth_getProof answers verify against the block's state root with the audit toolkit's own
Merkle-Patricia verifier (audit/, which shares no code with the node)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from audit.errors import AuditError
from audit.state_proof import verify_account_proof
from conftest import DevNet, NodeProcess, artifact

ACTIVE_ACCOUNTS_SLOT = 0x45180FF7118EC8A37F0F0E4CA91E0B6E659462EBDF5F1E6B8368D0ADC997F900
REGISTRY = "0x00000000000000000000000000000000c1700001"


def _send(node: NodeProcess, devnet: DevNet, tx: dict[str, Any]) -> dict[str, Any]:
    member = devnet.member(0)
    nonce = int(node.rpc("eth_getTransactionCount", [member["address"], "pending"]), 16)
    signed = Account.sign_transaction({"gasPrice": 0, "gas": 1_000_000, "value": 0, "nonce": nonce,
                                       "chainId": devnet.chain_id, **tx}, member["private_key"])
    tx_hash = node.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        pass
    return receipt  # type: ignore[no-any-return]


def _slot(key: bytes, base: int) -> int:
    return int.from_bytes(keccak(key.rjust(32, b"\0") + base.to_bytes(32, "big")), "big")


def test_get_proof_verifies_independently(node: NodeProcess, devnet: DevNet) -> None:
    contract = _send(node, devnet, {"data": artifact("Recorder")["bytecode"]})["contractAddress"]
    selector = keccak(text="record(bytes32,bytes32,uint256)")[:4]
    key = b"\x07" * 32
    receipt = _send(node, devnet, {"to": contract, "data": selector + key + b"\x33" * 32 + (77).to_bytes(32, "big")})
    block = node.rpc("eth_getBlockByNumber", [receipt["blockNumber"], False])
    state_root = bytes.fromhex(block["stateRoot"][2:])

    record_slot = _slot(key, 0)  # Record struct: author+at packed, digest, amount
    slots = [hex(record_slot), hex(record_slot + 1), hex(record_slot + 2), hex(record_slot + 3)]
    proof = node.rpc("eth_getProof", [contract, slots, receipt["blockNumber"]])
    verified = verify_account_proof(state_root, proof)
    assert verified.exists and verified.nonce == 1
    assert verified.slot_value(record_slot + 1) == int.from_bytes(b"\x33" * 32, "big")
    assert verified.slot_value(record_slot + 2) == 77
    assert verified.slot_value(record_slot + 3) == 0
    assert verified.slot_value(record_slot) & (2**160 - 1) == int(devnet.member(0)["address"], 16)
    code = bytes.fromhex(node.rpc("eth_getCode", [contract, receipt["blockNumber"]])[2:])
    assert bytes(verified.code_hash) == keccak(code)

    # Membership itself is provable: the registry's active-account flag of a member is 1.
    member_slot = _slot(bytes.fromhex(devnet.member(1)["address"][2:]), ACTIVE_ACCOUNTS_SLOT)
    stranger = Account.create().address
    stranger_slot = _slot(bytes.fromhex(stranger[2:]), ACTIVE_ACCOUNTS_SLOT)
    reg = verify_account_proof(state_root, node.rpc("eth_getProof", [
        to_checksum_address(REGISTRY), [hex(member_slot), hex(stranger_slot)], receipt["blockNumber"]]))
    assert reg.slot_value(member_slot) == 1
    assert reg.slot_value(stranger_slot) == 0

    # An account that does not exist is proven absent.
    absent = verify_account_proof(state_root, node.rpc("eth_getProof", [stranger, [], receipt["blockNumber"]]))
    assert not absent.exists and absent.balance == 0

    # The sender's nonce is proven too.
    sender = verify_account_proof(state_root, node.rpc("eth_getProof", [devnet.member(0)["address"], [], "latest"]))
    assert sender.nonce == 2

    # A proof checked against another block's state root fails, and a forged value fails.
    genesis = node.rpc("eth_getBlockByNumber", ["0x0", False])
    with pytest.raises(AuditError):
        verify_account_proof(bytes.fromhex(genesis["stateRoot"][2:]), proof)
    forged = dict(proof)
    forged["storageProof"] = [dict(s) for s in proof["storageProof"]]
    forged["storageProof"][2]["value"] = hex(78)
    with pytest.raises(AuditError):
        verify_account_proof(state_root, forged)
