"""The ``cityledger`` namespace: node status and the sealer set."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.eth import require


async def status(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return await ctx.service.run(ctx.service.status)


async def sealers(ctx: RpcContext, params: list[Any]) -> Any:
    """The sealer set valid for the block after ``block`` (read from the member registry)."""
    (ref_raw,) = p.arity(params, 0, 1)
    ref = p.block_ref(ref_raw)

    def work() -> Any:
        chain = ctx.service.chain
        return [to_checksum_address(a) for a in chain.sealers_at(require(chain, ref))]

    return await ctx.service.run(work)


METHODS: dict[str, Handler] = {
    "cityledger_status": status,
    "cityledger_sealers": sealers,
}
