"""LedgerChain in-process: genesis as data, sealing, and refusing what the rules forbid.

MemoryKV is the in-memory store meant for unit tests; the on-disk store has its own suite.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from eth_account import Account
from eth_keys import keys

from conftest import DevNet, artifact
from node.chain import LedgerChain
from node.consensus import recover_sealer
from node.errors import BlockRejected, GenesisError
from node.genesis import load_genesis, parse_genesis
from node.kv import MemoryKV
from node.txpool import decode_transaction


def _tx(devnet: DevNet, key: str, nonce: int, data: bytes) -> object:
    raw = Account.sign_transaction({"data": data, "gas": 1_000_000, "gasPrice": 0, "value": 0,
                                    "nonce": nonce, "chainId": devnet.chain_id}, key).raw_transaction
    return decode_transaction(bytes(raw), devnet.chain_id)


def test_genesis_is_deterministic_and_checked_on_reopen(devnet: DevNet) -> None:
    genesis = load_genesis(devnet.genesis_path)
    store = MemoryKV()
    first = LedgerChain(store, genesis).head
    assert LedgerChain(MemoryKV(), genesis).head.hash == first.hash
    assert LedgerChain(store, genesis).head.hash == first.hash  # reopening the same store
    other = dataclasses.replace(genesis, timestamp=genesis.timestamp + 1)
    with pytest.raises(GenesisError, match="genesis"):
        LedgerChain(store, other)


def test_genesis_errors_name_the_field(devnet: DevNet) -> None:
    doc = load_genesis(devnet.genesis_path).to_json()
    doc["registry"]["threshold"] = 9
    with pytest.raises(GenesisError, match="genesis.registry.threshold"):
        parse_genesis(doc)
    doc = load_genesis(devnet.genesis_path).to_json()
    doc["registry"]["members"][0]["kind"] = "bank"
    with pytest.raises(GenesisError, match=r"members\[0\]\.kind"):
        parse_genesis(doc)
    # The registry's role rules: admins and sealers are accounts of admin-kind members, and the
    # threshold counts admin members, not accounts.
    doc = load_genesis(devnet.genesis_path).to_json()
    doc["registry"]["sealers"] = [doc["registry"]["members"][3]["accounts"][0]]  # a department's
    with pytest.raises(GenesisError, match=r"genesis.registry.sealers: .* not an account of a member of kind admin"):
        parse_genesis(doc)
    doc = load_genesis(devnet.genesis_path).to_json()
    doc["registry"]["admins"].append(doc["registry"]["members"][10]["accounts"][0])  # the auditor's
    with pytest.raises(GenesisError, match=r"genesis.registry.admins: .* not an account of a member of kind admin"):
        parse_genesis(doc)
    doc = load_genesis(devnet.genesis_path).to_json()
    doc["registry"]["admins"] = doc["registry"]["members"][0]["accounts"] + doc["registry"]["admins"][1:2]
    doc["registry"]["threshold"] = 3  # three accounts, two members
    with pytest.raises(GenesisError, match=r"genesis.registry.threshold: 3 is more than the 2 distinct admin members"):
        parse_genesis(doc)


def test_sealed_block_carries_the_sealers_signature(devnet: DevNet) -> None:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    tx = _tx(devnet, devnet.member(0)["private_key"], 0, bytes.fromhex(artifact("Recorder")["bytecode"][2:]))
    built = chain.build_block([tx], int(time.time()), sealer)  # type: ignore[list-item]
    assert built.block is not None and chain.head.hash == built.block.header.hash
    assert recover_sealer(chain.head) == sealer.public_key.to_canonical_address()
    assert chain.head.base_fee_per_gas == 0


def test_only_sealers_can_seal(devnet: DevNet) -> None:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    tx = _tx(devnet, devnet.member(0)["private_key"], 0, b"")
    with pytest.raises(BlockRejected) as refused:
        chain.build_block([tx], int(time.time()), keys.PrivateKey(b"\x07" * 32))  # type: ignore[list-item]
    assert refused.value.check == "sealer"
    assert chain.head.block_number == 0


def test_non_member_transaction_is_dropped_and_no_empty_block_is_sealed(devnet: DevNet) -> None:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    stranger = _tx(devnet, Account.create().key.hex(), 0, b"")
    built = chain.build_block([stranger], int(time.time()), sealer)  # type: ignore[list-item]
    assert built.block is None
    assert [reason for _tx, reason in built.dropped] and "not an active member" in built.dropped[0][1]
    assert chain.head.block_number == 0
    member = _tx(devnet, devnet.member(1)["private_key"], 0, b"")
    built = chain.build_block([stranger, member], int(time.time()), sealer)  # type: ignore[list-item]
    assert built.block is not None and [t.hash for t in built.block.transactions] == [member.hash]  # type: ignore[attr-defined]
