"""Proofs of equivocation: two statements a sealer signed that cannot both be true.

A sealer that shows different histories to different parties must sign two of them; whoever sees
both (a witness, a replica, an auditor) writes them out in one JSON document that anyone can check
with this module (``cityledger audit verify PROOF.json``)::

    {"format": "cityledger-equivocation/1", "kind": "headers",
     "chainId": 17228, "genesisHash": "0x…", "number": 12,
     "headers": ["0x<RLP of sealed header A>", "0x<RLP of sealed header B>"],
     "detectedBy": "…", "detectedAt": "2026-…Z"}

— two sealed headers of the same height with different hashes (EIP-225 seals; on a chain with one
block per height, the second is a fork the sealer signed), and::

    {"format": "cityledger-equivocation/1", "kind": "checkpoints",
     "chainId": 17228, "genesisHash": "0x…",
     "checkpoints": ["<signed note A>", "<signed note B>"],
     "index": 7, "leaves": ["0x<block hash in A>", "0x<block hash in B>"],
     "proofs": [["0x<hash>", …], ["0x<hash>", …]]}

— two checkpoints signed by sealers that no consistency proof can join (C2SP tlog-checkpoint: a log
MUST NOT sign inconsistent checkpoints): of one tree size with different roots (``index``,
``leaves`` and ``proofs`` omitted), or of sizes ``m ≤ n`` where leaf ``index < m`` differs, each
leaf proven by an RFC 6962 inclusion proof against its own checkpoint's root. Two such inclusions
show the trees disagree on a leaf, which consistency rules out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from audit import tlog
from audit.chain import ChainDataError, Header

FORMAT = "cityledger-equivocation/1"


@dataclass(frozen=True)
class Verdict:
    """What a proof of equivocation establishes (``ok``) or why it does not (``detail``)."""

    ok: bool
    detail: str
    signers: tuple[bytes, ...] = ()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def header_proof(chain_id: int, genesis_hash: bytes, first: bytes, second: bytes, detected_by: str) -> dict[str, Any]:
    """The document for two sealed headers (RLP) at one height."""
    number = Header.decode(first).number
    return {"format": FORMAT, "kind": "headers", "chainId": chain_id, "genesisHash": "0x" + genesis_hash.hex(),
            "number": number, "headers": ["0x" + first.hex(), "0x" + second.hex()], "detectedBy": detected_by,
            "detectedAt": _now()}


def checkpoint_proof(chain_id: int, genesis_hash: bytes, first: str, second: str, detected_by: str,
                     index: int | None = None, leaves: Sequence[bytes] = (), proofs: Sequence[Sequence[bytes]] = ()) -> dict[str, Any]:
    """The document for two inconsistent checkpoints (signed notes)."""
    doc: dict[str, Any] = {"format": FORMAT, "kind": "checkpoints", "chainId": chain_id,
                           "genesisHash": "0x" + genesis_hash.hex(), "checkpoints": [first, second],
                           "detectedBy": detected_by, "detectedAt": _now()}
    if index is not None:
        doc.update(index=index, leaves=["0x" + x.hex() for x in leaves],
                   proofs=[["0x" + h.hex() for h in p] for p in proofs])
    return doc


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} is not 0x-hex")
    return bytes.fromhex(value[2:])


def verify(doc: Any, chain_id: int | None = None, genesis_hash: bytes | None = None,
           sealers: Sequence[bytes] | None = None) -> Verdict:
    """Check a proof of equivocation. ``chain_id``/``genesis_hash``/``sealers`` are what the
    verifier pinned (each optional): a proof about another chain is refused, and with a pinned
    sealer set the signers must be in it."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return Verdict(False, f'"format" must be {FORMAT!r}')
    try:
        doc_chain = int(doc["chainId"])
        doc_genesis = _hex(doc["genesisHash"], "genesisHash")
        if chain_id is not None and doc_chain != chain_id:
            return Verdict(False, f"the proof is about chain {doc_chain}, the pinned chain is {chain_id}")
        if genesis_hash is not None and doc_genesis != genesis_hash:
            return Verdict(False, f"the proof is about genesis 0x{doc_genesis.hex()}, the pinned genesis is 0x{genesis_hash.hex()}")
        if doc.get("kind") == "headers":
            verdict = _headers(doc)
        elif doc.get("kind") == "checkpoints":
            verdict = _checkpoints(doc, doc_chain, doc_genesis)
        else:
            return Verdict(False, '"kind" must be "headers" or "checkpoints"')
    except (KeyError, TypeError, ValueError) as exc:
        return Verdict(False, f"malformed proof: {exc!r}")
    if verdict.ok and sealers is not None:
        outsiders = [s for s in verdict.signers if s not in sealers]
        if outsiders:
            return Verdict(False, "the statements are signed by " + ", ".join("0x" + s.hex() for s in outsiders)
                           + ", not by a pinned sealer", verdict.signers)
    if verdict.ok and sealers is None and len(set(verdict.signers)) > 1:
        return Verdict(False, "the two statements are signed by different keys; pin the sealer set (--trust genesis) "
                              "to judge a fork between two sealers", verdict.signers)
    return verdict


def _headers(doc: dict[str, Any]) -> Verdict:
    first, second = (Header.decode(_hex(h, "header")) for h in doc["headers"])
    if first.number != second.number or first.number != int(doc["number"]):
        return Verdict(False, f"the headers are of heights {first.number} and {second.number}, the proof says {doc['number']}")
    if first.hash == second.hash:
        return Verdict(False, "the two headers are the same block")
    try:
        signers = (first.sealer(), second.sealer())
    except ChainDataError as exc:
        return Verdict(False, f"a header is not sealed: {exc.reason}")
    who = f"0x{signers[0].hex()}" if signers[0] == signers[1] else f"0x{signers[0].hex()} and 0x{signers[1].hex()}"
    return Verdict(True, f"{who} sealed two different blocks at height {first.number}: 0x{first.hash.hex()} and "
                         f"0x{second.hash.hex()}", signers)


def _checkpoints(doc: dict[str, Any], chain_id: int, genesis_hash: bytes) -> Verdict:
    notes = [tlog.parse_note(text) for text in doc["checkpoints"]]
    points = [tlog.parse_checkpoint(n.text) for n in notes]
    for point in points:
        if point.chain != (chain_id, genesis_hash):
            return Verdict(False, f"a checkpoint's origin {point.origin} is not the proof's chain")
    try:
        signers = tuple(tlog.checkpoint_signer(n) for n in notes)
    except tlog.NoteError as exc:
        return Verdict(False, exc.reason)
    a, b = points
    who = f"0x{signers[0].hex()}" if signers[0] == signers[1] else f"0x{signers[0].hex()} and 0x{signers[1].hex()}"
    if a.size == b.size:
        if a.root == b.root:
            return Verdict(False, "the checkpoints have the same size and root: they are consistent")
        return Verdict(True, f"{who} signed two roots for tree size {a.size}", signers)
    index = int(doc["index"])
    leaves = [_hex(x, "leaf") for x in doc["leaves"]]
    proofs = [[_hex(h, "proof hash") for h in p] for p in doc["proofs"]]
    if not 0 <= index < min(a.size, b.size):
        return Verdict(False, f"leaf {index} is not in both trees ({a.size} and {b.size} leaves)")
    if leaves[0] == leaves[1]:
        return Verdict(False, "the two leaves are equal: no disagreement shown")
    try:
        for point, leaf, proof in zip(points, leaves, proofs):
            tlog.verify_inclusion(leaf, index, point.size, proof, point.root)
    except tlog.TreeProofError as exc:
        return Verdict(False, f"an inclusion proof fails: {exc.reason}")
    return Verdict(True, f"{who} signed checkpoints of sizes {a.size} and {b.size} that disagree on block {index} "
                         f"(0x{leaves[0].hex()} against 0x{leaves[1].hex()}): no consistency proof can join them", signers)
