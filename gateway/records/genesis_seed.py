"""Records that exist at the deployment block, read from the registry's views at that block.

On a CityLedger chain the registry is created at genesis: its constructor's events (members,
admins, sealers) are in no receipt. The gateway reads them with ``eth_call`` at block 0 — the
sealer set, which seals are checked against, is instead proven from state (``gateway.sealers``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from sqlmodel import Session

from gateway.chain.rpc import RpcClient
from gateway.records.members import RoleSet, seed_from_registry


def _selector(signature: str) -> str:
    return "0x" + keccak(signature.encode())[:4].hex()


async def _call(rpc: RpcClient, to: bytes, data: str, block: int) -> bytes:
    result = await rpc.call("eth_call", [{"to": "0x" + to.hex(), "data": data}, hex(block)])
    return bytes.fromhex(str(result)[2:])


async def read_genesis_records(rpc: RpcClient, registry: bytes, block: int) -> Callable[[Session], None]:
    """Read members, admins and witnesses at ``block``; return what writes them into the index."""
    (count,) = abi_decode(["uint256"], await _call(rpc, registry, _selector("memberCount()"), block))
    calls = [("eth_call", [{"to": "0x" + registry.hex(),
                            "data": _selector("getMember(uint256)") + abi_encode(["uint256"], [i]).hex()}, hex(block)])
             for i in range(1, count + 1)]
    members: list[dict[str, Any]] = []
    for raw in await rpc.batch(calls):
        (view,) = abi_decode(["(uint256,string,uint8,uint8,uint8,address[],bytes32)"], bytes.fromhex(raw[2:]))
        member_id, name, kind, level, status, accounts, key = view
        members.append({"id": member_id, "name": name, "kind": kind, "level": level, "status": status,
                        "accounts": [to_checksum_address(a) for a in accounts], "encryptionKey": "0x" + key.hex()})
    (admins,) = abi_decode(["address[]"], await _call(rpc, registry, _selector("admins()"), block))
    (threshold,) = abi_decode(["uint256"], await _call(rpc, registry, _selector("threshold()"), block))
    (witnesses,) = abi_decode(["address[]"], await _call(rpc, registry, _selector("witnesses()"), block))
    (sealers,) = abi_decode(["address[]"], await _call(rpc, registry, _selector("sealers()"), block))

    def write(s: Session) -> None:
        seed_from_registry(s, members, block)
        for role, accounts, extra in (("admins", admins, threshold), ("witnesses", witnesses, None),
                                      ("sealers", sealers, None)):
            if not accounts:
                continue  # the constructor emits no event for an empty set: index the same way
            s.add(RoleSet(role=role, block_number=block, block_log_index=-1,
                          accounts=json.dumps([a.lower() for a in accounts]), threshold=extra, epoch=None))

    return write
