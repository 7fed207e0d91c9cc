"""The ``cityledger`` namespace: node status, the sealer set, the genesis document, and the
block-hash transparency log (``node.checkpoints``): signed checkpoints and RFC 6962 proofs.

* ``cityledger_checkpoint(size)`` / ``cityledger_latestCheckpoint()`` → ``{"size", "note"}`` (the
  C2SP signed note, sealer signature included) or null when none was signed at that size;
* ``cityledger_inclusionProof(number, size)`` → ``{"number", "blockHash", "size", "proof": [hash…]}``,
  block ``number``'s hash and its audit path in the tree of ``size`` leaves;
* ``cityledger_consistencyProof(old, new)`` → ``[hash…]`` from the tree of ``old`` leaves to ``new``;
* ``cityledger_genesis()`` → the genesis document (``node.genesis``).

Hashes are 0x-hex (JSON-RPC DATA); sizes and numbers are hex quantities in parameters and JSON
numbers in answers, like ``cityledger_status``.
"""

from __future__ import annotations

from typing import Any

from node.checkpoints import SignedCheckpoint
from node.rpc import params as p
from node.rpc.context import Handler, RpcContext
from node.rpc.formatters import addr, d, status_json


async def status(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return status_json(await ctx.service.status())


async def sealers(ctx: RpcContext, params: list[Any]) -> Any:
    """The sealer set valid for the block after ``block`` (read from the member registry)."""
    (ref_raw,) = p.arity(params, 0, 1)
    return [addr(a) for a in await ctx.service.sealers(p.block_ref(ref_raw))]


def _checkpoint_json(signed: SignedCheckpoint | None) -> Any:
    return None if signed is None else {"size": signed.size, "note": signed.note}


async def checkpoint(ctx: RpcContext, params: list[Any]) -> Any:
    (size_raw,) = p.arity(params, 1, 1)
    return _checkpoint_json(await ctx.service.checkpoint(p.quantity(size_raw, "size")))


async def latest_checkpoint(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return _checkpoint_json(await ctx.service.checkpoint(None))


async def inclusion_proof(ctx: RpcContext, params: list[Any]) -> Any:
    number_raw, size_raw = p.arity(params, 2, 2)
    number, size = p.quantity(number_raw, "number"), p.quantity(size_raw, "size")
    block_hash, proof = await ctx.service.inclusion_proof(number, size)
    return {"number": number, "blockHash": d(block_hash), "size": size, "proof": [d(h) for h in proof]}


async def consistency_proof(ctx: RpcContext, params: list[Any]) -> Any:
    old_raw, new_raw = p.arity(params, 2, 2)
    proof = await ctx.service.consistency_proof(p.quantity(old_raw, "old size"), p.quantity(new_raw, "new size"))
    return [d(h) for h in proof]


async def get_commit(ctx: RpcContext, params: list[Any]) -> Any:
    """CometBFT mode: the commit certifying Ethereum block ``number`` — ``{"number", "blockHash",
    "height" (the CometBFT height that made the block), "signedHeader" (header and commit of the
    next CometBFT height, whose ``app_hash`` is ``blockHash``), "canonical", "validators"}``, in
    CometBFT's own JSON; null while that next header is not committed yet."""
    (number_raw,) = p.arity(params, 1, 1)
    return await ctx.service.commit(p.quantity(number_raw, "number"))


async def genesis(ctx: RpcContext, params: list[Any]) -> Any:
    p.arity(params, 0, 0)
    return await ctx.service.genesis_document()


METHODS: dict[str, Handler] = {
    "cityledger_status": status,
    "cityledger_sealers": sealers,
    "cityledger_checkpoint": checkpoint,
    "cityledger_latestCheckpoint": latest_checkpoint,
    "cityledger_inclusionProof": inclusion_proof,
    "cityledger_consistencyProof": consistency_proof,
    "cityledger_genesis": genesis,
    "cityledger_getCommit": get_commit,
}
