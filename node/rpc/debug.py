"""The ``debug`` namespace: raw RLP of headers, blocks, receipts and transactions.

Replicas fetch blocks with ``debug_getRawBlock`` and re-execute them; auditors use the raw forms
to check hashes and seals without trusting the JSON formatting. Receipts and transactions are the
EIP-2718 encodings (the leaves of the block's tries).
"""

from __future__ import annotations

from typing import Any

from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.formatters import d


async def get_raw_header(ctx: RpcContext, params: list[Any]) -> Any:
    (ref_raw,) = p.arity(params, 1, 1)
    raw = await ctx.service.raw_header(p.block_ref(ref_raw))
    return None if raw is None else d(raw)


async def get_raw_block(ctx: RpcContext, params: list[Any]) -> Any:
    (ref_raw,) = p.arity(params, 1, 1)
    raw = await ctx.service.raw_block(p.block_ref(ref_raw))
    return None if raw is None else d(raw)


async def get_raw_receipts(ctx: RpcContext, params: list[Any]) -> Any:
    (ref_raw,) = p.arity(params, 1, 1)
    raws = await ctx.service.raw_receipts(p.block_ref(ref_raw))
    return None if raws is None else [d(r) for r in raws]


async def get_raw_transaction(ctx: RpcContext, params: list[Any]) -> Any:
    (raw,) = p.arity(params, 1, 1)
    found = await ctx.service.transaction(p.hash32(raw, "hash"))
    return None if found is None else d(found.raw)


METHODS: dict[str, Handler] = {
    "debug_getRawHeader": get_raw_header,
    "debug_getRawBlock": get_raw_block,
    "debug_getRawReceipts": get_raw_receipts,
    "debug_getRawTransaction": get_raw_transaction,
}
