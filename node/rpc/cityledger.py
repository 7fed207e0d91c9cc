"""The ``cityledger`` namespace: node status and the sealer set."""

from __future__ import annotations

from typing import Any

from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.formatters import addr, status_json


async def status(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return status_json(await ctx.service.status())


async def sealers(ctx: RpcContext, params: list[Any]) -> Any:
    """The sealer set valid for the block after ``block`` (read from the member registry)."""
    (ref_raw,) = p.arity(params, 0, 1)
    return [addr(a) for a in await ctx.service.sealers(p.block_ref(ref_raw))]


METHODS: dict[str, Handler] = {
    "cityledger_status": status,
    "cityledger_sealers": sealers,
}
