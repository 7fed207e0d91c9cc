"""A sealer that breaks the rules, for the audit's tests: crafted blocks sealed into a stopped
node's store, which the node then serves like any other block.

``Forger`` opens the data directory with the node's own ``LedgerChain`` and builds blocks with its
``BlockBuilder`` — the same code that seals honest blocks — then departs from the rules where a
test asks: a transaction from a non-member (the membership check is lifted for that block), a state
change no transaction made, a log no contract emitted, or a seal by a key outside the sealer set.
Everything else (roots, receipts, the index, the block-hash log) is computed as the sealer would,
so only the broken rule distinguishes the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.berlin.receipts import TypedReceipt
from eth_account import Account
from eth_keys import keys

import node.consensus as consensus
from conftest import DevNet
from node.chain import INCLUDED, BlockBuilder, LedgerChain
from node.genesis import load_genesis
from node.kv import LmdbKV
from node.txpool import decode_transaction


@dataclass(frozen=True)
class ForgedLog:
    """A log to append to receipt ``tx_index`` of the crafted block."""

    tx_index: int
    address: bytes
    topics: tuple[int, ...]
    data: bytes


class Forger:
    """Crafted blocks on a stopped node's chain (module docstring)."""

    def __init__(self, devnet: DevNet) -> None:
        self.devnet = devnet
        self.chain = LedgerChain(LmdbKV(devnet.data_dir / "chaindata"), load_genesis(devnet.genesis_path))

    def close(self) -> None:
        self.chain.close()

    def tx(self, private_key: str, to: bytes, data: bytes, gas: int = 2_000_000) -> SignedTransactionAPI:
        account = Account.from_key(private_key)
        nonce = self.chain.state_at(self.chain.head).get_nonce(bytes.fromhex(account.address[2:]))
        raw = Account.sign_transaction({"type": 2, "chainId": self.chain.chain_id, "nonce": nonce, "to": "0x" + to.hex(),
                                        "data": data, "value": 0, "gas": gas, "maxFeePerGas": 0,
                                        "maxPriorityFeePerGas": 0}, private_key).raw_transaction
        return decode_transaction(bytes(raw), self.chain.chain_id)

    def seal(self, txs: list[SignedTransactionAPI], key: str | None = None, *, skip_membership: bool = False,
             tamper: Callable[[StateAPI], None] | None = None, logs: list[ForgedLog] | None = None) -> Any:
        """Seal one crafted block on the head; returns its header."""
        sealer = keys.PrivateKey(bytes.fromhex((key or self.devnet.sealer_key).removeprefix("0x")))
        parent = self.chain.head
        builder = BlockBuilder(self.chain, parent, parent.timestamp + 1, sealer, b"crafted")
        with _membership_lifted(skip_membership):
            for tx in txs:
                outcome = builder.add(tx)
                assert outcome == INCLUDED, outcome
        for forged in logs or []:
            old = builder.receipts[forged.tx_index]
            inner = Receipt(old.state_root, old.gas_used, [*old.logs, Log(forged.address, forged.topics, forged.data)])
            new = type(old)(old.type_id, inner) if isinstance(old, TypedReceipt) else inner  # type: ignore[attr-defined, call-arg]
            builder.receipts[forged.tx_index] = new
            builder.bloom |= new.bloom
        if tamper is not None:
            tamper(builder.vm.state)
        sealed = builder.seal()
        return sealed.block.header


@contextlib.contextmanager
def _membership_lifted(lifted: bool) -> Iterator[None]:
    """The node checks membership before each transaction (``consensus.is_active_member``); a
    rule-breaking sealer skips the check."""
    if not lifted:
        yield
        return
    original = consensus.is_active_member
    consensus.is_active_member = lambda state, registry, account: True
    try:
        yield
    finally:
        consensus.is_active_member = original
