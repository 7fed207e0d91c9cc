"""The sealer set at the start of the chain, proven from state rather than asked for.

The member registry keeps its sealers in an OpenZeppelin ``EnumerableSet.AddressSet`` whose
first storage slot (``_values.length``) the compiler's storage layout names; element ``i`` lives
at ``keccak256(pad32(slot)) + i`` (Solidity storage layout of dynamic arrays). The gateway asks
the node for an EIP-1186 proof of those slots at the deployment block and checks it against the
deployment block's header, whose hash the operator pinned in the address book. The same state
proof goes into evidence bundles, so any verifier can derive the genesis sealer set from a
genesis hash alone. Later changes come from the registry's ``SealersChanged`` events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie
from trie.exceptions import BadTrieProof

from gateway.chain.codec import Header, encode_header
from gateway.chain.rpc import RpcClient
from gateway.errors import ProofInvalid

SEALERS_LABEL = "_sealers"


def sealer_slot(artifacts: Path) -> int:
    """The first storage slot of the registry's sealer set, from the compiler's layout."""
    layout = json.loads((artifacts / "MemberRegistry.json").read_text())["storageLayout"]
    for item in layout["storage"]:
        if item["label"] == SEALERS_LABEL:
            return int(item["slot"])
    raise ProofInvalid("format", "MemberRegistry's storage layout has no _sealers set")


def element_slot(base: int, index: int) -> int:
    return int.from_bytes(keccak(base.to_bytes(32, "big")), "big") + index


@dataclass(frozen=True)
class StateProof:
    """``"type": "state"``: an ``eth_getProof`` answer and the header it is checked against."""

    chain_id: int
    block_number: int
    block_hash: bytes
    header: bytes
    get_proof: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": "state", "chainId": self.chain_id, "blockNumber": self.block_number,
                "blockHash": "0x" + self.block_hash.hex(), "header": "0x" + self.header.hex(),
                "account": self.get_proof}

    @classmethod
    def from_json(cls, doc: Any) -> StateProof:
        if not isinstance(doc, dict) or doc.get("type") != "state":
            raise ProofInvalid("format", 'expected an object with "type": "state"')
        try:
            return cls(int(doc["chainId"]), int(doc["blockNumber"]), bytes.fromhex(doc["blockHash"][2:]),
                       bytes.fromhex(doc["header"][2:]), dict(doc["account"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofInvalid("format", f"state proof: {exc!r}") from exc


def _walk(root: bytes, key: bytes, nodes: list[str], check: str) -> bytes:
    try:
        decoded = [rlp.decode(bytes.fromhex(n[2:])) for n in nodes]
        return bytes(HexaryTrie.get_from_proof(root, keccak(key), decoded))
    except (BadTrieProof, rlp.DecodingError, ValueError, TypeError, KeyError) as exc:
        raise ProofInvalid(check, f"the proof does not lead from root 0x{root.hex()}: {exc}") from exc


def verify_state_proof(proof: StateProof) -> dict[int, int]:
    """Check the account proof against the header's state root and every storage proof against
    the account's storage root; return ``{slot: value}``. Raises ``ProofInvalid`` by check name:
    ``header-hash``, ``account-proof``, ``storage-proof``."""
    header = Header.decode(proof.header)
    if header.hash != proof.block_hash or header.number != proof.block_number:
        raise ProofInvalid("header-hash", "the header does not hash to blockHash at blockNumber")
    account = proof.get_proof
    address = bytes.fromhex(account["address"][2:])
    encoded = _walk(header.state_root, address, account["accountProof"], "account-proof")
    if not encoded:
        raise ProofInvalid("account-proof", f"account 0x{address.hex()} is absent")
    _nonce, _balance, storage_root, _code_hash = rlp.decode(encoded)
    if "0x" + bytes(storage_root).hex() != account["storageHash"].lower():
        raise ProofInvalid("account-proof", "storageHash differs from the proven account's storage root")
    values: dict[int, int] = {}
    for item in account["storageProof"]:
        slot = int(item["key"], 16)
        raw = _walk(bytes(storage_root), slot.to_bytes(32, "big"), item["proof"], "storage-proof")
        value = int.from_bytes(rlp.decode(raw), "big") if raw else 0
        if value != int(item["value"], 16):
            raise ProofInvalid("storage-proof", f"slot {hex(slot)}: proven {hex(value)}, claimed {item['value']}")
        values[slot] = value
    return values


def sealers_from_state(proof: StateProof, base_slot: int) -> list[bytes]:
    """The sealer list a verified state proof shows (length slot, then each element)."""
    values = verify_state_proof(proof)
    if base_slot not in values:
        raise ProofInvalid("storage-proof", "the proof does not cover the sealer set's length slot")
    out = []
    for i in range(values[base_slot]):
        slot = element_slot(base_slot, i)
        if slot not in values:
            raise ProofInvalid("storage-proof", f"the proof does not cover sealer {i}")
        out.append(values[slot].to_bytes(32, "big")[12:])
    return out


async def prove_sealers(rpc: RpcClient, chain_id: int, registry: bytes, base_slot: int, block: int) -> StateProof:
    """Ask the node for the state proof of the sealer set after ``block``."""
    block_json = await rpc.call("eth_getBlockByNumber", [hex(block), False])
    header = encode_header(block_json)
    first = await rpc.call("eth_getProof", ["0x" + registry.hex(), [hex(base_slot)], hex(block)])
    length = int(first["storageProof"][0]["value"], 16)
    slots = [hex(base_slot)] + [hex(element_slot(base_slot, i)) for i in range(length)]
    answer = await rpc.call("eth_getProof", ["0x" + registry.hex(), slots, hex(block)])
    return StateProof(chain_id, block, keccak(header), header, answer)
