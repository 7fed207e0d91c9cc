"""The ``net`` and ``web3`` namespaces."""

from __future__ import annotations

from typing import Any

from node.rpc import params as p
from node.rpc.context import Handler, RpcContext


async def version(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return str(ctx.service.chain_id)


async def listening(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return True


async def peer_count(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return "0x0"


async def client_version(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return ctx.client_version


async def sha3(ctx: RpcContext, params: list[Any]) -> Any:
    from eth_hash.auto import keccak

    (raw,) = p.arity(params, 1, 1)
    return "0x" + keccak(p.data(raw, "data")).hex()


METHODS: dict[str, Handler] = {
    "net_version": version,
    "net_listening": listening,
    "net_peerCount": peer_count,
    "web3_clientVersion": client_version,
    "web3_sha3": sha3,
}
