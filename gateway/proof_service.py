"""Proofs for indexed records, assembled from stored rows and checked before they are served.

A record's proof is read, not computed: the block's sealed header (``indexed_block``), the
transaction's trie proofs (``tx_proof``) and the log's position (``chain_event``). Before a record
is served as verified, the gateway runs the same checks an outside verifier runs
(``gateway.proofs``): the header hashes to the block hash, its seal is by a sealer of the set in
force at its parent, both trie proofs lead to the header's roots, and the proven log decodes to
exactly the arguments the index holds for the record. A failure is never served as verified: the
record carries ``"verified": false`` and ``"failedCheck"``, and the metric
``cityledger_gateway_proof_self_check_failures`` counts it.

On a CometBFT chain the proof carries, in place of a seal, the ``commit`` that certifies its block
(stored by the indexer, which checked it), and the gateway checks it again before serving it: the
header signed by > 2/3 of the pinned validator set's power, its app hash = the block's hash
(``gateway.chain.commit``; check name ``commit``).

Verdicts are cached by the SHA-256 of everything checked, so a changed row is checked again.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from gateway import db
from gateway.chain.codec import Log
from gateway.chain.commit import CometGenesis, verify_commit
from gateway.contracts import EventCodec
from gateway.errors import ProofInvalid
from gateway.metrics import Metrics
from gateway.proofs import ReceiptProof, verify_receipt_proof, verify_seal
from gateway.records.members import RoleSet

CACHE_SIZE = 100_000


@dataclass(frozen=True)
class Verdict:
    verified: bool
    failed_check: str | None = None
    detail: str | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verified": self.verified}
        if not self.verified:
            out["failedCheck"] = self.failed_check
            out["failedDetail"] = self.detail
        return out


class ProofService:
    """Builds and checks the proof of any indexed event."""

    def __init__(self, codec: EventCodec, chain_id: int, poa: bool, metrics: Metrics,
                 comet: CometGenesis | None = None) -> None:
        self.codec = codec
        self.comet = comet
        self.chain_id = chain_id
        self.poa = poa
        self.metrics = metrics
        self._verdicts: OrderedDict[bytes, Verdict] = OrderedDict()

    def receipt_proofs(self, s: Session, positions: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[dict[str, Any], Verdict]]:
        """The proofs of many events at once: one query joining the event, its block's header and
        its transaction's proofs (a read, not a trie walk), then each proof checked (or its
        verdict taken from the cache when nothing it depends on changed)."""
        wanted = sorted(set(positions))
        if not wanted:
            return {}
        e, b, t = db.ChainEvent.__table__, db.IndexedBlock.__table__, db.TxProof.__table__  # type: ignore[attr-defined]
        c = db.BlockCommit.__table__  # type: ignore[attr-defined]
        query = (sa.select(e.c.block_number, e.c.block_log_index, e.c.tx_index, e.c.log_index, e.c.contract,
                           e.c.name, e.c.args, b.c.hash, b.c.header, t.c.tx_hash, t.c.receipt_proof, t.c.tx_proof,
                           c.c.certificate)
                 .select_from(e.join(b, b.c.number == e.c.block_number)
                              .join(t, (t.c.block_number == e.c.block_number) & (t.c.tx_index == e.c.tx_index))
                              .outerjoin(c, c.c.number == e.c.block_number))
                 .where(sa.tuple_(e.c.block_number, e.c.block_log_index).in_(wanted)))
        out: dict[tuple[int, int], tuple[dict[str, Any], Verdict]] = {}
        for row in s.connection().execute(query):
            proof = {
                "type": "receipt", "chainId": self.chain_id, "blockNumber": row.block_number, "blockHash": row.hash,
                "header": row.header, "txIndex": row.tx_index, "txHash": row.tx_hash,
                "receiptProof": json.loads(row.receipt_proof), "txProof": json.loads(row.tx_proof),
                "logIndex": row.log_index,
            }
            if self.comet is not None:
                proof["commit"] = None if row.certificate is None else json.loads(row.certificate)
            out[(row.block_number, row.block_log_index)] = (
                proof, self._verdict(s, proof, row.contract, row.name, row.args))
        for position in wanted:
            if position not in out:
                out[position] = ({}, Verdict(False, "format", f"no indexed proof for block {position[0]} position {position[1]}"))
        return out

    def receipt_proof(self, s: Session, block_number: int, block_log_index: int) -> tuple[dict[str, Any], Verdict]:
        """The proof of the event at (block, position in block) and the gateway's verdict on it."""
        event = s.get(db.ChainEvent, (block_number, block_log_index))
        block = s.get(db.IndexedBlock, block_number)
        if event is None or block is None:
            return {}, Verdict(False, "format", f"no indexed event at block {block_number} position {block_log_index}")
        tx = s.get(db.TxProof, (block_number, event.tx_index))
        if tx is None:
            return {}, Verdict(False, "format", f"no transaction proof for block {block_number} tx {event.tx_index}")
        proof = {
            "type": "receipt", "chainId": self.chain_id, "blockNumber": block_number, "blockHash": block.hash,
            "header": block.header, "txIndex": event.tx_index, "txHash": tx.tx_hash,
            "receiptProof": json.loads(tx.receipt_proof), "txProof": json.loads(tx.tx_proof),
            "logIndex": event.log_index,
        }
        if self.comet is not None:
            commit = s.get(db.BlockCommit, block_number)
            proof["commit"] = None if commit is None else json.loads(commit.certificate)
        return proof, self.check(s, proof, event)

    def check(self, s: Session, proof: dict[str, Any], event: db.ChainEvent) -> Verdict:
        return self._verdict(s, proof, event.contract, event.name, event.args)

    def _verdict(self, s: Session, proof: dict[str, Any], contract: str, name: str, args: str) -> Verdict:
        digest = hashlib.sha256(repr((proof, contract, name, args)).encode()).digest()
        cached = self._verdicts.get(digest)
        if cached is not None:
            self._verdicts.move_to_end(digest)
            return cached
        verdict = self._check(s, proof, contract, name, args)
        if not verdict.verified:
            self.metrics.proof_failures.labels(verdict.failed_check or "unknown").inc()
        self._verdicts[digest] = verdict
        if len(self._verdicts) > CACHE_SIZE:
            self._verdicts.popitem(last=False)
        return verdict

    def _check(self, s: Session, proof_json: dict[str, Any], contract: str, name: str, args: str) -> Verdict:
        try:
            proof = ReceiptProof.from_json(proof_json)
            proven = verify_receipt_proof(proof)
            if self.poa and proof.block_number > 0:
                verify_seal(proven.header, self.sealers_at(s, proof.block_number - 1))
            if self.comet is not None:
                verify_commit(proof_json.get("commit"), proven.header.hash, self.comet)
            self._check_content(proven.log, contract, name, args)
        except ProofInvalid as exc:
            return Verdict(False, exc.check, exc.detail)
        return Verdict(True)

    def _check_content(self, log: Log, contract: str, name: str, args: str) -> None:
        abi = self.codec.lookup(log.address, log.topics)
        if abi is None or (abi.contract, abi.name) != (contract, name):
            raise ProofInvalid("log-content", f"the proven log is not a {contract}.{name} event")
        if abi.decode(log.topics, log.data) != json.loads(args):
            raise ProofInvalid("log-content", "the proven log's arguments differ from the indexed record")

    def sealers_at(self, s: Session, number: int) -> list[bytes]:
        """The sealer set in force after block ``number`` (the set that seals block number + 1)."""
        row = s.exec(select(RoleSet).where(RoleSet.role == "sealers", RoleSet.block_number <= number)
                     .order_by(col(RoleSet.block_number).desc(), col(RoleSet.block_log_index).desc()).limit(1)).first()
        if row is None:
            return []
        return [bytes.fromhex(a[2:]) for a in json.loads(row.accounts)]
