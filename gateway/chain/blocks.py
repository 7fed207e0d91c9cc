"""A block as the gateway trusts it: header, transactions and receipts re-encoded and checked.

``fetch_blocks`` reads blocks over standard JSON-RPC (``eth_getBlockByNumber`` with full
transactions, then ``eth_getBlockReceipts`` — or, on a node without it, one
``eth_getTransactionReceipt`` per transaction in a batch), re-encodes everything and checks the
header hash and the transaction and receipt roots. Only then are proofs cut from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak
from trie import HexaryTrie

from gateway.chain.codec import Header, encode_header, encode_receipt, hex_bytes, hex_int
from gateway.chain.mpt import ordered_trie, proof_of
from gateway.chain.rpc import METHOD_NOT_FOUND, RpcClient
from gateway.chain.transactions import encode_transaction
from gateway.errors import ChainDataInvalid, UpstreamRpcError


@dataclass(frozen=True)
class ChainLog:
    """One log with its place in the block."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    tx_index: int
    tx_hash: bytes
    #: Position of the log inside its receipt (the proof's ``logIndex``).
    log_index: int
    #: Position of the log in the whole block (execution-API ``logIndex``).
    block_log_index: int


@dataclass
class VerifiedBlock:
    """A block whose header hash and transaction and receipt roots were recomputed here."""

    header: Header
    transactions: tuple[bytes, ...]
    tx_hashes: tuple[bytes, ...]
    senders: tuple[bytes, ...]
    receipts: tuple[bytes, ...]
    statuses: tuple[int, ...]
    logs: tuple[ChainLog, ...]
    _tries: dict[str, HexaryTrie] = field(default_factory=dict, repr=False)

    @property
    def number(self) -> int:
        return self.header.number

    @property
    def hash(self) -> bytes:
        return self.header.hash

    def receipt_proof(self, tx_index: int) -> list[bytes]:
        if "receipts" not in self._tries:
            self._tries["receipts"] = ordered_trie(self.receipts)
        return proof_of(self._tries["receipts"], tx_index)

    def tx_proof(self, tx_index: int) -> list[bytes]:
        if "transactions" not in self._tries:
            self._tries["transactions"] = ordered_trie(self.transactions)
        return proof_of(self._tries["transactions"], tx_index)


def verify_block(block: dict[str, Any], receipts: Sequence[dict[str, Any]]) -> VerifiedBlock:
    """Re-encode ``block`` (with full transactions) and its ``receipts``; check every root."""
    number = hex_int(block.get("number"), "block.number")
    header = Header.decode(encode_header(block))
    txs_json = block.get("transactions") or []
    if any(not isinstance(tx, dict) for tx in txs_json):
        raise ChainDataInvalid(f"block {number}", "transactions must be full objects")
    transactions = tuple(encode_transaction(tx) for tx in txs_json)
    tx_hashes = tuple(keccak(raw) for raw in transactions)
    for i, (tx, digest) in enumerate(zip(txs_json, tx_hashes)):
        if hex_bytes(tx.get("hash"), "transaction.hash") != digest:
            raise ChainDataInvalid(f"block {number} transaction {i}",
                                   f"re-encoded transaction hashes to 0x{digest.hex()}, node said {tx.get('hash')}")
    if len(receipts) != len(transactions):
        raise ChainDataInvalid(f"block {number}", f"{len(transactions)} transactions but {len(receipts)} receipts")
    if ordered_trie(transactions).root_hash != header.transactions_root:
        raise ChainDataInvalid(f"block {number}", "transactions do not rebuild the header's transactionsRoot")
    encoded_receipts = tuple(encode_receipt(r) for r in receipts)
    receipt_trie = ordered_trie(encoded_receipts)
    if receipt_trie.root_hash != header.receipts_root:
        raise ChainDataInvalid(f"block {number}", "receipts do not rebuild the header's receiptsRoot")
    logs: list[ChainLog] = []
    for tx_index, receipt in enumerate(receipts):
        for position, log in enumerate(receipt.get("logs") or []):
            logs.append(ChainLog(
                address=hex_bytes(log["address"], "log.address"),
                topics=tuple(hex_bytes(t, "log.topics") for t in log["topics"]),
                data=hex_bytes(log["data"], "log.data"),
                tx_index=tx_index, tx_hash=tx_hashes[tx_index], log_index=position,
                block_log_index=len(logs)))
    verified = VerifiedBlock(
        header=header, transactions=transactions, tx_hashes=tx_hashes,
        senders=tuple(hex_bytes(tx["from"], "transaction.from") for tx in txs_json),
        receipts=encoded_receipts,
        statuses=tuple(hex_int(r.get("status"), "receipt.status") for r in receipts),
        logs=tuple(logs))
    verified._tries["receipts"] = receipt_trie
    return verified


async def fetch_blocks(rpc: RpcClient, numbers: Sequence[int]) -> list[VerifiedBlock]:
    """Fetch and verify the blocks ``numbers`` (two batched round trips in the usual case)."""
    if not numbers:
        return []
    blocks = await rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
    for n, block in zip(numbers, blocks):
        if block is None:
            raise ChainDataInvalid(f"block {n}", "the node does not have it")
    receipts = await _receipts(rpc, blocks)
    return [verify_block(b, r) for b, r in zip(blocks, receipts)]


_block_receipts_supported: dict[str, bool] = {}


async def _receipts(rpc: RpcClient, blocks: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    wanted = [b for b in blocks if b.get("transactions")]
    found: dict[str, list[dict[str, Any]]] = {}
    if wanted and _block_receipts_supported.get(rpc.url, True):
        try:
            answers = await rpc.batch([("eth_getBlockReceipts", [b["number"]]) for b in wanted])
            found = {b["number"]: list(a or []) for b, a in zip(wanted, answers)}
        except UpstreamRpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            _block_receipts_supported[rpc.url] = False
    missing = [b for b in wanted if b["number"] not in found]
    if missing:
        calls = [("eth_getTransactionReceipt", [tx["hash"]]) for b in missing for tx in b["transactions"]]
        results = iter(await rpc.batch(calls))
        for b in missing:
            found[b["number"]] = [next(results) for _ in b["transactions"]]
    return [found.get(b["number"], []) for b in blocks]
