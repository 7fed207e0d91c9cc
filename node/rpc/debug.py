"""The ``debug`` namespace: raw RLP of headers, blocks, receipts and transactions.

Replicas fetch blocks with ``debug_getRawBlock`` and re-execute them; auditors use the raw forms
to check hashes and seals without trusting the JSON formatting.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import ReceiptAPI

from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.eth import resolve
from node.rpc.formatters import d


def encode_receipt(receipt: ReceiptAPI) -> bytes:
    """EIP-2718 receipt encoding: legacy receipts as RLP, typed as type byte || RLP."""
    encode = getattr(receipt, "encode", None)
    return bytes(encode()) if encode is not None else bytes(rlp.encode(receipt))


def _raw(what: str) -> Handler:
    async def handler(ctx: RpcContext, params: list[Any]) -> Any:
        (ref_raw,) = p.arity(params, 1, 1)
        ref = p.block_ref(ref_raw)

        def work() -> Any:
            chain = ctx.service.chain
            header = resolve(chain, ref)
            if header is None:
                return None
            if what == "header":
                return d(rlp.encode(header))
            block = chain.block(header)
            if what == "block":
                return d(rlp.encode(block))
            return [d(encode_receipt(r)) for r in chain.receipts(block)]

        return await ctx.service.run(work)

    return handler


async def raw_transaction(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    tx_hash = p.hash32(raw, "hash")

    def work() -> Any:
        chain = ctx.service.chain
        where = chain.transaction_location(tx_hash)
        if where is None:
            pending = ctx.service.pending_transaction(tx_hash)
            return d(pending.encode()) if pending is not None else None
        header = chain.header_by_number(where[0])
        if header is None:
            return None
        return d(chain.block(header).transactions[where[1]].encode())

    return await ctx.service.run(work)


METHODS: dict[str, Handler] = {
    "debug_getRawHeader": _raw("header"),
    "debug_getRawBlock": _raw("block"),
    "debug_getRawReceipts": _raw("receipts"),
    "debug_getRawTransaction": raw_transaction,
}
