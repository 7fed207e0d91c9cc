"""Evidence bundles: one JSON file that verifies a record offline (``cityledger-evidence/1``).

A bundle holds, for the events behind a record:

* ``events`` — each event's contract, address, ABI (signature and inputs), decoded arguments and
  receipt proof (sealed header, receipt-trie and transaction-trie proofs, log position);
* ``genesis`` — the deployment block's hash and an EIP-1186 proof of the registry's sealer set in
  that block's state, so the set a verifier starts from derives from one pinned hash;
* ``sealerChanges`` — every ``SealersChanged`` event up to the record's last block, each with its
  own receipt proof, so the sealer set in force at every height derives from genesis; a verifier
  checks each change's own seal with the set before it. (Whether a bundle leaves a change out is
  what witnessed checkpoints settle: an omission makes a seal fail against a witnessed head.)
* ``cometbft`` — on a CometBFT chain (``"consensus": "cometbft"``), the trust anchor in place of
  the sealer set: the CometBFT chain id, the genesis app hash (CityLedger's genesis block hash)
  and the genesis validators, as the network's CometBFT ``genesis.json`` writes them; each
  event's proof then carries the ``commit`` that certifies its block (the signed header of the
  next CometBFT height, its commit and the validator set, as ``cityledger_getCommit`` answers).
  A verifier pins the same genesis file (``audit verify --trust genesis.json``) and checks a
  ``commit`` per block in place of ``seal``; there are no sealer changes and no checkpoint;
* ``payloads`` — CIDs and SHA-256 hashes of the off-chain payloads the record names;
* ``checkpoint`` — the newest checkpoint covering every block of the bundle (one that witnesses
  cosigned if there is one), with the witnesses' cosignatures and key bindings, an RFC 6962
  inclusion proof of each block, the head header and the witness set's state proof at the head
  (``gateway.records.checkpoints.evidence_section``); null until the chain has signed one. The
  sealer changes then run up to the checkpoint's head, whose parent's sealer signed it.

The JSON Schema is ``gateway/schemas/evidence.schema.json``; ``cityledger audit verify`` (audit
package, independent code) and the portal check bundles without the gateway.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session, col, select

from gateway import db
from gateway.app import Services
from gateway.errors import GatewayError
from gateway.records import checkpoints
from gateway.records.members import RoleSet
from gateway.routers.common import proofs
from gateway.sealers import prove_sealers, sealer_slot

FORMAT = "cityledger-evidence/1"
CHECKS = ("format", "genesis", "sealer-change", "header-hash", "block-number", "tx-proof", "tx-hash",
          "receipt-proof", "receipt-status", "log-index", "log-content", "seal", "payload", "checkpoint",
          "inclusion", "cosignature")
#: On a CometBFT chain each block's commit is checked in place of its seal.
COMETBFT_CHECKS = tuple("commit" if c == "seal" else c for c in CHECKS
                        if c not in ("sealer-change", "checkpoint", "inclusion", "cosignature"))


class EvidenceUnavailable(GatewayError):
    """Raised when a bundle cannot be assembled (an event's proof is missing from the index)."""

    status = 503
    slug = "evidence-unavailable"


def _abi_of(services: Services, contract: str, name: str) -> dict[str, Any]:
    for item in services.codec.abis[contract]:
        if item.get("type") == "event" and item["name"] == name:
            return {"name": name, "inputs": item["inputs"]}
    raise EvidenceUnavailable(f"{contract} has no event {name}")


def event_evidence(services: Services, s: Session, block_number: int, block_log_index: int) -> dict[str, Any]:
    event = s.get(db.ChainEvent, (block_number, block_log_index))
    if event is None:
        raise EvidenceUnavailable(f"no indexed event at block {block_number} position {block_log_index}")
    proof, verdict = proofs(services).receipt_proof(s, block_number, block_log_index)
    if not verdict.verified:
        raise EvidenceUnavailable(f"the stored proof of block {block_number} position {block_log_index} fails "
                                  f"the gateway's own check ({verdict.failed_check}); it is not served as evidence")
    abi = _abi_of(services, event.contract, event.name)
    signature = services.codec.signature_of(event.contract, event.name)
    return {"contract": event.contract, "address": "0x" + services.book.addresses[event.contract].hex(),
            "event": event.name, "signature": signature, "inputs": abi["inputs"], "args": json.loads(event.args),
            "proof": proof}


async def genesis_evidence(services: Services) -> dict[str, Any]:
    cached = services.extras.get("genesis-evidence")
    if cached is None:
        if not services.poa:
            cached = {"blockNumber": services.book.deployment_block,
                      "blockHash": "0x" + services.book.deployment_hash.hex(), "sealers": [], "sealersProof": None}
        else:
            slot = sealer_slot(services.settings.artifacts)
            proof = await prove_sealers(services.rpc, services.book.chain_id, services.book.addresses["MemberRegistry"],
                                        slot, services.book.deployment_block)
            from gateway.sealers import sealers_from_state

            cached = {"blockNumber": proof.block_number, "blockHash": "0x" + proof.block_hash.hex(),
                      "registry": "0x" + services.book.addresses["MemberRegistry"].hex(), "sealerSlot": slot,
                      "sealers": ["0x" + a.hex() for a in sealers_from_state(proof, slot)],
                      "sealersProof": proof.to_json()}
        services.extras["genesis-evidence"] = cached
    assert isinstance(cached, dict)
    return cached


async def bundle(services: Services, s: Session, kind: str, record_id: str, record: dict[str, Any],
                 positions: list[tuple[int, int]], payloads: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The bundle for a record whose events sit at ``positions`` (block, position in block)."""
    events = [event_evidence(services, s, b, p) for b, p in sorted(set(positions))]
    last = max((b for b, _ in positions), default=0)
    changes: list[dict[str, Any]] = []
    checkpoint = None
    if services.poa:
        def sealer_changes(before: int) -> list[dict[str, Any]]:
            rows = s.exec(select(RoleSet).where(RoleSet.role == "sealers", RoleSet.block_log_index >= 0,
                                                RoleSet.block_number < before)
                          .order_by(col(RoleSet.block_number), col(RoleSet.block_log_index))).all()
            return [{"blockNumber": row.block_number, "sealers": json.loads(row.accounts),
                     **event_evidence(services, s, row.block_number, row.block_log_index)} for row in rows]

        blocks = [(e["proof"]["blockNumber"], e["proof"]["blockHash"]) for e in events + sealer_changes(last)]
        checkpoint = await checkpoints.evidence_section(
            services.rpc, s, services.book.addresses["MemberRegistry"], services.settings.artifacts,
            services.indexer.indexed, blocks)
        if checkpoint is not None:
            last = max(last, checkpoint["size"] - 1)
        changes = sealer_changes(last)
        if checkpoint is not None:
            covered = {i["blockNumber"] for i in checkpoint["inclusions"]}
            for change in changes:
                number = change["proof"]["blockNumber"]
                if number not in covered:
                    proof = await services.rpc.call("cityledger_inclusionProof", [hex(number), hex(checkpoint["size"])])
                    checkpoint["inclusions"].append({"blockNumber": number, "blockHash": change["proof"]["blockHash"],
                                                     "proof": proof["proof"]})
    doc = {
        "format": FORMAT,
        "chainId": services.book.chain_id,
        "consensus": services.consensus,
        "generatedAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "record": {"kind": kind, "id": record_id, "data": record},
        "genesis": await genesis_evidence(services),
        "sealerChanges": changes,
        "events": events,
        "payloads": payloads or [],
        "checkpoint": checkpoint,
        "checks": list(COMETBFT_CHECKS if services.comet is not None else CHECKS),
    }
    if services.comet is not None:
        doc["cometbft"] = services.comet.anchor()
    return doc


def strip_proofs(value: Any) -> Any:
    """A served record without its per-item proofs (the bundle carries them once, in ``events``)."""
    if isinstance(value, dict):
        return {k: strip_proofs(v) for k, v in value.items() if k not in ("proof", "evidence")}
    if isinstance(value, list):
        return [strip_proofs(v) for v in value]
    return value
