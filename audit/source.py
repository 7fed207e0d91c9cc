"""Where the audit reads a chain: blocks with their transactions and receipts, from any node.

On a CityLedger node the raw forms (``debug_getRawBlock``, ``debug_getRawReceipts``) are read and
decoded here; on any other node (anvil, Besu) the JSON forms (``eth_getBlockByNumber`` with full
transactions, ``eth_getBlockReceipts``) are re-encoded field by field. Either way the audit then
checks everything against the header it hashed itself: the transactions and receipts must give
the header's roots (``audit.trie``), so a node that serves other data than it sealed is caught
whichever form it used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import rlp  # type: ignore[import-untyped, unused-ignore]

from audit.chain import ChainDataError, Header, encode_receipt_json, encode_transaction_json, hexb
from audit.rpc import RpcClient

BATCH = 32


@dataclass(frozen=True)
class FetchedBlock:
    """A block as served: its header and the EIP-2718 encodings of its transactions and receipts."""

    header: Header
    transactions: tuple[bytes, ...]
    receipts: tuple[bytes, ...]


class ChainSource:
    """Reads blocks from ``rpc``; ``raw`` says which form the node serves."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc
        self.raw = rpc.supports("debug_getRawBlock", ["0x0"]) and rpc.supports("debug_getRawReceipts", ["0x0"])

    def head(self) -> int:
        return int(self.rpc.call("eth_blockNumber"), 16)

    def blocks(self, start: int, end: int, batch: int = BATCH) -> Iterator[FetchedBlock]:
        """Blocks ``start`` to ``end`` inclusive, fetched in batches."""
        for first in range(start, end + 1, batch):
            last = min(end, first + batch - 1)
            numbers = range(first, last + 1)
            if self.raw:
                answers = self.rpc.batch([c for n in numbers for c in
                                          (("debug_getRawBlock", [hex(n)]), ("debug_getRawReceipts", [hex(n)]))])
                for i, n in enumerate(numbers):
                    yield self._from_raw(n, answers[2 * i], answers[2 * i + 1])
            else:
                answers = self.rpc.batch([c for n in numbers for c in
                                          (("eth_getBlockByNumber", [hex(n), True]), ("eth_getBlockReceipts", [hex(n)]))])
                for i, n in enumerate(numbers):
                    yield self._from_json(n, answers[2 * i], answers[2 * i + 1])

    def header(self, number: int) -> Header:
        if self.raw:
            return Header.decode(hexb(self.rpc.call("debug_getRawHeader", [hex(number)]), "header"))
        block = self.rpc.call("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            raise ChainDataError(f"block {number}", "the node does not serve it")
        return Header.from_json(block)

    @staticmethod
    def _from_raw(number: int, raw_block: object, raw_receipts: object) -> FetchedBlock:
        if raw_block is None or not isinstance(raw_receipts, list):
            raise ChainDataError(f"block {number}", "the node does not serve it")
        try:
            header_item, txs, _uncles, *_rest = rlp.decode(hexb(raw_block, "block"))
        except Exception as exc:  # not a block
            raise ChainDataError(f"block {number}", f"the raw block is not RLP of a block: {exc}") from exc
        header = Header(rlp.encode(header_item), tuple(header_item))
        raws = tuple(bytes(rlp.encode(t)) if isinstance(t, list) else bytes(t) for t in txs)
        return FetchedBlock(header, raws, tuple(hexb(r, "receipt") for r in raw_receipts))

    @staticmethod
    def _from_json(number: int, block: object, receipts: object) -> FetchedBlock:
        if not isinstance(block, dict) or not isinstance(receipts, list):
            raise ChainDataError(f"block {number}", "the node does not serve it with its receipts")
        header = Header.from_json(block)
        txs = tuple(encode_transaction_json(tx) for tx in block.get("transactions") or [])
        ordered = sorted(receipts, key=lambda r: int(r["transactionIndex"], 16))
        return FetchedBlock(header, txs, tuple(encode_receipt_json(r) for r in ordered))
