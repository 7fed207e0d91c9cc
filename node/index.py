"""The chain's lookup index: transactions, receipts and logs by hash or position in O(1) reads.

py-evm keeps a block's transactions and receipts only as the leaves of its two ordered tries, so
answering one receipt means walking both tries of the whole block, decoding every receipt and
recovering every sender again. At seal or import time the chain also writes, in the block's one
atomic commit (so ``kill -9`` can never leave a block without its index):

* ``cl:tx:<tx hash>`` → ``rlp([block hash, index, sender, raw transaction, raw receipt,
  gas used, first log index])``: everything one transaction's JSON, receipt and raw forms need;
  the sender recovered once, at admission or import, never again;
* ``cl:block:<block hash>`` → ``rlp([[tx hash, ...], [[tx index, address, [topic, ...], data], ...],
  size])``: the block's transaction hashes in order, its compact log index (``eth_getLogs``) and
  the byte size of the block's RLP;
* ``cityledger:schema`` → the index layout version (:data:`SCHEMA_VERSION`).

Raw transactions and receipts are the EIP-2718 encodings (legacy: plain RLP; typed: type byte ||
RLP), exactly the bytes whose ordered trie gives the header's roots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_typing import Address

from node.ordered_trie import encode_bytes, encode_node

SCHEMA_KEY = b"cityledger:schema"
#: Version 1: the layout above. A data directory without the key predates the index.
SCHEMA_VERSION = 1
TX_PREFIX = b"cl:tx:"
BLOCK_PREFIX = b"cl:block:"


def tx_key(tx_hash: bytes) -> bytes:
    return TX_PREFIX + tx_hash


def block_key(block_hash: bytes) -> bytes:
    return BLOCK_PREFIX + block_hash


def _int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _to_int(value: bytes) -> int:
    return int.from_bytes(value, "big")


@dataclass(frozen=True)
class LogEntry:
    """One log with its place in the chain (execution-apis ``Log``)."""

    address: Address
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    block_timestamp: int
    transaction_index: int
    transaction_hash: bytes
    log_index: int


@dataclass(frozen=True)
class IndexedTransaction:
    """A transaction as included in a block (or pending, with no block)."""

    raw: bytes
    sender: Address
    hash: bytes
    block_hash: bytes | None = None
    block_number: int | None = None
    index: int | None = None
    #: The including block's base fee (zero on this chain), for the effective gas price.
    base_fee: int = 0

    def decoded(self) -> SignedTransactionAPI:
        """py-evm's transaction object, its sender set from the index (never recovered)."""
        tx: SignedTransactionAPI = PragueTransactionBuilder.decode(self.raw)
        tx.__dict__["sender"] = self.sender
        return tx


@dataclass(frozen=True)
class IndexedReceipt:
    """A receipt with what execution-apis ``ReceiptInfo`` derives from its block."""

    transaction: IndexedTransaction
    raw: bytes
    status: int
    cumulative_gas_used: int
    gas_used: int
    bloom: int
    logs: tuple[LogEntry, ...]


def encode_tx_record(block_hash: bytes, index: int, sender: bytes, raw_tx: bytes, raw_receipt: bytes,
                     gas_used: int, first_log: int) -> bytes:
    return encode_node([block_hash, _int(index), sender, raw_tx, raw_receipt, _int(gas_used), _int(first_log)])


def encode_block_record(tx_hashes: Sequence[bytes], logs: Sequence[list[Any]], size: int) -> bytes:
    return encode_node([list(tx_hashes), list(logs), _int(size)])


def block_index_writes(block: BlockAPI, receipts: Sequence[ReceiptAPI], senders: Sequence[bytes],
                       raw_txs: Sequence[bytes] | None = None,
                       raw_receipts: Sequence[bytes] | None = None) -> dict[bytes, bytes]:
    """Every index key of ``block`` (executed to ``receipts``, sent by ``senders``); the
    EIP-2718 encodings may be passed in when the caller already made them for the roots."""
    block_hash = block.header.hash
    writes: dict[bytes, bytes] = {}
    tx_hashes: list[bytes] = []
    logs: list[list[Any]] = []
    previous_gas = 0
    encoded_txs = list(raw_txs) if raw_txs is not None else [bytes(tx.encode()) for tx in block.transactions]
    encoded_receipts = list(raw_receipts) if raw_receipts is not None else [bytes(r.encode()) for r in receipts]
    for index, (tx, receipt, sender) in enumerate(zip(block.transactions, receipts, senders, strict=True)):
        tx_hash = bytes(tx.hash)
        tx_hashes.append(tx_hash)
        first_log = len(logs)
        for log in receipt.logs:
            logs.append([_int(index), bytes(log.address), [t.to_bytes(32, "big") for t in log.topics],
                         bytes(log.data)])
        writes[tx_key(tx_hash)] = encode_tx_record(
            block_hash, index, sender, encoded_txs[index], encoded_receipts[index],
            receipt.gas_used - previous_gas, first_log)
        previous_gas = receipt.gas_used
    size = len(encode_block_raw(rlp.encode(block.header), encoded_txs))
    writes[block_key(block_hash)] = encode_block_record(tx_hashes, logs, size)
    return writes


@dataclass(frozen=True)
class TxRecord:
    """A decoded ``cl:tx:`` record."""

    block_hash: bytes
    index: int
    sender: Address
    raw_tx: bytes
    raw_receipt: bytes
    gas_used: int
    first_log: int


def decode_tx_record(encoded: bytes) -> TxRecord:
    block_hash, index, sender, raw_tx, raw_receipt, gas_used, first_log = rlp.decode(encoded)
    return TxRecord(bytes(block_hash), _to_int(index), Address(bytes(sender)), bytes(raw_tx),
                    bytes(raw_receipt), _to_int(gas_used), _to_int(first_log))


def decode_block_record(
    encoded: bytes,
) -> tuple[list[bytes], list[tuple[int, bytes, tuple[bytes, ...], bytes]], int]:
    """(transaction hashes, logs as (tx index, address, topics, data), block size)."""
    tx_hashes, logs, size = rlp.decode(encoded)
    return ([bytes(h) for h in tx_hashes],
            [(_to_int(i), bytes(a), tuple(bytes(t) for t in topics), bytes(data)) for i, a, topics, data in logs],
            _to_int(size))


def decode_receipt_fields(raw: bytes) -> tuple[int, int, int, list[tuple[bytes, tuple[bytes, ...], bytes]]]:
    """(status, cumulative gas used, bloom, logs) of an EIP-2718 receipt (EIP-658 status)."""
    body = raw[1:] if raw and raw[0] < 0x7F else raw
    status, cumulative, bloom, logs = rlp.decode(body)
    return (1 if bytes(status) == b"\x01" else 0, _to_int(cumulative), _to_int(bloom),
            [(bytes(a), tuple(bytes(t) for t in topics), bytes(data)) for a, topics, data in logs])


def encode_block_raw(header_rlp: bytes, raw_txs: Sequence[bytes]) -> bytes:
    """The block's RLP (``[header, transactions, uncles, withdrawals]``, as ``rlp.encode`` of
    py-evm's Prague block) from its header RLP and raw transactions: legacy transactions are
    RLP lists embedded as they are, typed ones (EIP-2718) byte strings."""
    items = b"".join(raw if raw[0] >= 0xC0 else encode_bytes(raw) for raw in raw_txs)
    empty = encode_node([])
    return _list(header_rlp + _list(items) + empty + empty)


def _list(payload: bytes) -> bytes:
    if len(payload) < 56:
        return bytes((0xC0 + len(payload),)) + payload
    size = _int(len(payload))
    return bytes((0xF7 + len(size),)) + size + payload


@dataclass(frozen=True)
class LogFilter:
    """Which logs a query or a subscription wants (execution-apis ``Filter``): any of
    ``addresses`` (None: any), and per topic position any of a set (None: any)."""

    addresses: frozenset[bytes] | None
    topics: tuple[frozenset[bytes] | None, ...]
    from_block: str | int = "latest"
    to_block: str | int = "latest"
    block_hash: bytes | None = None

    def matches(self, entry: LogEntry) -> bool:
        if self.addresses is not None and entry.address not in self.addresses:
            return False
        for position, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if position >= len(entry.topics) or entry.topics[position] not in wanted:
                return False
        return True

    def bloom_may_match(self, bloom: int) -> bool:
        """False when a block's logs bloom (Yellow Paper section 4.3.1) rules every log out."""
        from eth_bloom import BloomFilter

        block_bloom = BloomFilter(bloom)
        if self.addresses is not None and not any(a in block_bloom for a in self.addresses):
            return False
        return all(wanted is None or any(t in block_bloom for t in wanted) for wanted in self.topics)
