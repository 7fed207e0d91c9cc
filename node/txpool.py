"""Transaction admission and the pending pool.

Admission decodes a raw transaction once, recovers its sender once (py-evm caches it on the
object, so block building never recovers it again) and checks, in order: size, type, chain id
(EIP-155 replay protection required), signature, gas against intrinsic gas and the block gas
limit, membership of the sender at the head, nonce, and funds. Messages follow go-ethereum's
txpool wording so that clients classify them correctly.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import rlp
from eth.abc import SignedTransactionAPI
from eth.constants import SECPK1_N
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_typing import Address
from eth_utils import ValidationError, encode_hex

from node.consensus import mark_validated
from node.errors import TransactionRejected

MAX_TX_BYTES = 128 * 1024
MAX_POOL = 50_000
MAX_NONCE_GAP = 4096
BLOB_TX_TYPE = 3


def decode_transaction(raw: bytes, chain_id: int) -> SignedTransactionAPI:
    """Decode and statelessly check a raw transaction; the sender is recovered here, once."""
    if len(raw) > MAX_TX_BYTES:
        raise TransactionRejected("oversized", f"oversized data: {len(raw)} bytes, limit {MAX_TX_BYTES}")
    if not raw:
        raise TransactionRejected("malformed", "empty transaction")
    if raw[0] == BLOB_TX_TYPE:
        raise TransactionRejected("type", "transaction type not supported: blob transactions (type 3)")
    try:
        tx: SignedTransactionAPI = PragueTransactionBuilder.decode(raw)
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError, TypeError) as exc:
        raise TransactionRejected("malformed", f"invalid transaction encoding: {exc}") from exc
    except Exception as exc:  # py-evm raises assorted errors for unknown type bytes
        raise TransactionRejected("malformed", f"invalid transaction encoding: {exc}") from exc
    tx_chain_id = getattr(tx, "chain_id", None)
    if tx_chain_id is None:
        raise TransactionRejected(
            "unprotected", "only replay-protected (EIP-155) transactions allowed over RPC")
    if tx_chain_id != chain_id:
        raise TransactionRejected(
            "chain_id", f"invalid chain id: transaction is for chain {tx_chain_id}, this is chain {chain_id}")
    if tx.gas < tx.intrinsic_gas:
        raise TransactionRejected(
            "intrinsic_gas", f"intrinsic gas too low: gas {tx.gas}, minimum needed {tx.intrinsic_gas}")
    try:
        _ = tx.sender  # the one signature recovery (secp256k1 ECDSA, EIP-155 / EIP-2718 signing hash)
        # validate() checks every field, then the signature by recovering the key again and
        # verifying against it: a signature that recovered a key verifies for that key, so the
        # recovery above stands for both (two fewer elliptic-curve operations per transaction).
        getattr(tx, "_inner", tx).__dict__["check_signature_validity"] = _signature_recovered
        tx.validate()
    except Exception as exc:
        raise TransactionRejected("signature", f"invalid sender: bad signature ({exc})") from exc
    if tx.s > SECPK1_N // 2:
        # EIP-2: (r, n - s) is a second signature of the same transaction under another hash.
        # py-evm only checks this when it applies the transaction, so check it at admission.
        raise TransactionRejected("signature", "invalid sender: bad signature (s above secp256k1n/2, EIP-2)")
    mark_validated(tx)
    return tx


def _signature_recovered() -> None:
    """Stands in for ``check_signature_validity`` once the sender was recovered."""


@dataclass
class _Entry:
    tx: SignedTransactionAPI
    arrival: int


class TxPool:
    """Pending transactions by sender and nonce; hands out blocks' worth in arrival order."""

    def __init__(self) -> None:
        self._by_sender: dict[Address, dict[int, _Entry]] = {}
        self._by_hash: dict[bytes, _Entry] = {}
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        entry = self._by_hash.get(tx_hash)
        return entry.tx if entry else None

    def pending_nonce(self, sender: Address, state_nonce: int) -> int:
        """The next nonce after the sender's contiguous pending run."""
        nonces = self._by_sender.get(sender, {})
        nonce = state_nonce
        while nonce in nonces:
            nonce += 1
        return nonce

    def admit(
        self,
        tx: SignedTransactionAPI,
        *,
        state_nonce: int,
        balance: int,
        is_member: bool,
        block_gas_limit: int,
    ) -> None:
        """Check ``tx`` against the head state and add it, or raise TransactionRejected."""
        if tx.hash in self._by_hash:
            raise TransactionRejected("known", f"already known: {encode_hex(tx.hash)}")
        if tx.gas > block_gas_limit:
            raise TransactionRejected(
                "gas_limit", f"exceeds block gas limit: gas {tx.gas}, block gas limit {block_gas_limit}")
        if not is_member:
            raise TransactionRejected(
                "not_member", f"sender {encode_hex(tx.sender)} is not an active member")
        if tx.nonce < state_nonce:
            raise TransactionRejected(
                "nonce_too_low", f"nonce too low: next nonce {state_nonce}, tx nonce {tx.nonce}")
        if tx.nonce > state_nonce + MAX_NONCE_GAP:
            raise TransactionRejected(
                "nonce_too_high",
                f"nonce too high: next nonce {state_nonce}, tx nonce {tx.nonce} (gap limit {MAX_NONCE_GAP})")
        sender_txs = self._by_sender.setdefault(tx.sender, {})
        if tx.nonce in sender_txs:
            raise TransactionRejected(
                "replacement", "replacement transaction underpriced: a transaction with this nonce is pending")
        max_fee = getattr(tx, "max_fee_per_gas", None)
        price = tx.gas_price if max_fee is None else max_fee
        cost = tx.gas * price + tx.value
        if cost > balance:
            raise TransactionRejected(
                "funds", f"insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")
        if len(self._by_hash) >= MAX_POOL:
            raise TransactionRejected("pool_full", "txpool is full")
        entry = _Entry(tx, next(self._arrivals))
        sender_txs[tx.nonce] = entry
        self._by_hash[tx.hash] = entry

    def ready(self, state_nonce: Callable[[Address], int], limit: int) -> list[SignedTransactionAPI]:
        """Up to ``limit`` executable transactions: each sender's contiguous nonce run from its
        state nonce, interleaved across senders by arrival order."""
        heads: list[tuple[int, Address, int]] = []
        for sender, txs in self._by_sender.items():
            nonce = state_nonce(sender)
            if nonce in txs:
                heads.append((txs[nonce].arrival, sender, nonce))
        heapq.heapify(heads)
        out: list[SignedTransactionAPI] = []
        while heads and len(out) < limit:
            _arrival, sender, nonce = heapq.heappop(heads)
            txs = self._by_sender[Address(sender)]
            out.append(txs[nonce].tx)
            following = txs.get(nonce + 1)
            if following is not None:
                heapq.heappush(heads, (following.arrival, sender, nonce + 1))
        return out

    def remove(self, txs: Iterable[SignedTransactionAPI]) -> None:
        """Remove by hash. Transactions copied out of a block are other objects than the pool's,
        so the sender is read from the pool's own (already recovered) object."""
        for tx in txs:
            entry = self._by_hash.pop(tx.hash, None)
            if entry is None:
                continue
            sender_txs = self._by_sender.get(entry.tx.sender)
            if sender_txs is not None:
                sender_txs.pop(entry.tx.nonce, None)
                if not sender_txs:
                    del self._by_sender[entry.tx.sender]

    def prune(self, state_nonce: Callable[[Address], int]) -> list[SignedTransactionAPI]:
        """Drop transactions whose nonce is already used on chain; returns them."""
        stale = [
            entry.tx
            for sender, txs in self._by_sender.items()
            for nonce, entry in txs.items()
            if nonce < state_nonce(sender)
        ]
        self.remove(stale)
        return stale
