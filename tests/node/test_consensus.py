"""Consensus as configuration: every speed patch in ``node.consensus`` leaves block roots exactly
as stock py-evm computes them.

Blocks are built by ``LedgerChain`` (all patches on) and then re-executed by a VM that carries only
the chain's *rules* (seal room in extraData, base fee pinned to zero) on py-evm's stock state,
computation, storage and trie code; every header field must come out the same. The chain here is
in memory (``MemoryKV``, the store meant for unit tests): only roots are compared.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest
import rlp
from eth.abc import BlockHeaderAPI
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.vm.forks.prague import PragueVM
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from conftest import DevNet, artifact
from node.chain import LedgerChain, build_genesis_state
from node.consensus import (
    SEAL_BYTES,
    VANITY_BYTES,
    CityLedgerVM,
    create_zero_fee_header_from_parent,
    recover_sealer,
    seal_header,
    seal_hash,
)
from node.genesis import load_genesis
from node.kv import MemoryKV
from node.txpool import decode_transaction

RECORD = keccak(text="record(bytes32,bytes32,uint256)")[:4]
FAIL = keccak(text="fail(string)")[:4]


class RulesOnlyVM(PragueVM):
    """The chain's rules without any speed patch: stock py-evm state, computation and tries."""

    extra_data_max_bytes: ClassVar[int] = VANITY_BYTES + SEAL_BYTES
    create_header_from_parent = staticmethod(create_zero_fee_header_from_parent)  # type: ignore[assignment]

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        CityLedgerVM.validate_gas(header, parent_header)


def _signed(devnet: DevNet, key: str, nonce: int, *, to: str | None = None, data: bytes = b"",
            tx_type: int = 0, gas: int = 1_000_000) -> Any:
    tx: dict[str, Any] = {"data": data, "gas": gas, "value": 0, "nonce": nonce, "chainId": devnet.chain_id}
    if to is not None:
        tx["to"] = to
    if tx_type == 2:
        tx.update(type=2, maxFeePerGas=0, maxPriorityFeePerGas=0)
    elif tx_type == 1:
        tx.update(type=1, gasPrice=0, accessList=[{"address": to or "0x" + "00" * 20,
                                                   "storageKeys": ["0x" + "00" * 31 + "01"]}])
    else:
        tx["gasPrice"] = 0
    raw = Account.sign_transaction(tx, key).raw_transaction
    return decode_transaction(bytes(raw), devnet.chain_id)


def _workload(devnet: DevNet) -> list[list[Any]]:
    """Three blocks: a deployment; records of every transaction type (including a rewrite of
    the same key, a reverting call and a zero-value call to an empty account, which EIP-161
    touches); and a second deployment beside more records."""
    deployer = devnet.member(0)
    recorder = to_checksum_address(keccak(rlp.encode([bytes.fromhex(deployer["address"][2:]), 0]))[12:])
    code = bytes.fromhex(artifact("Recorder")["bytecode"][2:])
    first = [_signed(devnet, deployer["private_key"], 0, data=code)]
    second = []
    for i in range(12):
        member = devnet.member(1 + i % 4)
        nonce = i // 4
        key = (i % 5).to_bytes(32, "big")  # keys repeat: some writes overwrite earlier ones
        data = RECORD + key + keccak(bytes([i])) + (i + 1).to_bytes(32, "big")
        second.append(_signed(devnet, member["private_key"], nonce, to=recorder, data=data, tx_type=i % 3))
    second.append(_signed(devnet, devnet.member(5)["private_key"], 0, to=recorder,
                          data=FAIL + (32).to_bytes(32, "big") + (2).to_bytes(32, "big") + b"no".ljust(32, b"\0")))
    second.append(_signed(devnet, devnet.member(6)["private_key"], 0, to="0x" + "42" * 20, gas=21_000))
    third = [_signed(devnet, devnet.member(5)["private_key"], 1, data=code)]
    third += [_signed(devnet, devnet.member(7)["private_key"], n, to=recorder,
                      data=RECORD + n.to_bytes(32, "big") + b"\x07" * 32 + (n * 7).to_bytes(32, "big"))
              for n in range(5)]
    return [first, second, third]


def test_patched_blocks_have_stock_py_evm_roots(devnet: DevNet) -> None:
    genesis = load_genesis(devnet.genesis_path)
    chain = LedgerChain(MemoryKV(), genesis)
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    built = []
    for i, txs in enumerate(_workload(devnet)):
        result = chain.build_block(txs, int(time.time()) + i, sealer)
        assert result.block is not None and not result.dropped, result.dropped
        built.append(result.block)
    assert chain.receipts(built[1])[-2].state_root == b""  # the reverting call did revert

    db = AtomicDB()
    reference_vm = RulesOnlyVM.configure(__name__="RulesOnlyVM")
    header = build_genesis_state(db, genesis, reference_vm)  # type: ignore[arg-type]
    assert header.hash == chain.genesis_header.hash
    ChainDB(db).persist_header(header)
    reference_chain = Chain.configure(vm_configuration=((0, reference_vm),), chain_id=genesis.chain_id)
    for block in built:
        parent = ChainDB(db).get_canonical_head()
        base = reference_vm.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
        computed = reference_chain(db).get_vm(base).import_block(block).block
        for field in ("state_root", "transaction_root", "receipt_root", "bloom", "gas_used",
                      "requests_hash", "withdrawals_root"):
            assert getattr(computed.header, field) == getattr(block.header, field), field
        assert computed.header.hash == block.header.hash
        ChainDB(db).persist_block(computed)


def test_seal_covers_every_header_field(devnet: DevNet) -> None:
    genesis = load_genesis(devnet.genesis_path)
    chain = LedgerChain(MemoryKV(), genesis)
    header = CityLedgerVM.create_header_from_parent(chain.head, extra_data=b"v".ljust(VANITY_BYTES, b"\0"),
                                                    timestamp=chain.head.timestamp + 1)
    key = keys.PrivateKey(b"\x11" * 32)
    sealed = seal_header(header, key)
    assert recover_sealer(sealed) == key.public_key.to_canonical_address()
    assert seal_hash(sealed) == keccak(rlp.encode(header))
    for field, value in (("gas_used", 1), ("timestamp", header.timestamp + 1), ("state_root", b"\x01" * 32)):
        tampered = sealed.copy(**{field: value})
        try:
            signer = recover_sealer(tampered)
        except Exception:  # an unrecoverable seal is as good a refusal
            signer = None
        assert signer != key.public_key.to_canonical_address(), field
    with pytest.raises(ValueError, match="vanity"):
        seal_header(sealed, key)


def test_base_fee_is_pinned_to_zero(devnet: DevNet) -> None:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    full = chain.head.copy(gas_used=chain.head.gas_limit)  # London would raise the base fee now
    child = CityLedgerVM.create_header_from_parent(full, timestamp=full.timestamp + 1)
    assert child.base_fee_per_gas == 0
    with pytest.raises(Exception, match="base fee is pinned to zero"):
        CityLedgerVM.validate_gas(child.copy(base_fee_per_gas=7), full)
