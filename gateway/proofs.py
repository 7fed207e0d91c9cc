"""The proof wire format: what every verified answer carries, and the gateway's own check of it.

These JSON names are a contract with the portal, the audit toolkit and outside verifiers; the
JSON Schema is ``gateway/schemas/proof.schema.json``. Check names (``ProofInvalid.check``) are
stable too: the audit and the portal report failures under the same names.

``receipt``: a log, proven by the sealed header that commits to the receipts root, a receipt-trie
proof of the transaction's receipt, and a transaction-trie proof of the transaction itself::

    {"type": "receipt", "chainId": 17228, "blockNumber": 12, "blockHash": "0x…",
     "header": "0x<RLP of the sealed header>", "txIndex": 3, "txHash": "0x…",
     "receiptProof": ["0x<node>", …], "txProof": ["0x<node>", …], "logIndex": 1}

``logIndex`` is the log's position inside its receipt. Batch (``"type": "batch"``) and state
(``"type": "state"``) proofs are defined alongside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from gateway.chain.blocks import VerifiedBlock
from gateway.chain.codec import DecodedReceipt, Header, Log, decode_receipt
from gateway.chain.mpt import read_proof
from gateway.errors import ChainDataInvalid, ProofInvalid

#: Every check a verifier of this format runs, in order. Stable names (wire contract). ``seal`` on
#: a proof-of-authority chain; ``commit`` on a CometBFT chain, where the proof carries the commit
#: certifying its block (``gateway.chain.commit``).
RECEIPT_CHECKS = ("format", "header-hash", "block-number", "tx-proof", "tx-hash", "receipt-proof",
                  "receipt-status", "log-index", "log-content", "seal", "commit")


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _bytes(doc: Mapping[str, Any], key: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ProofInvalid("format", f"{key}: expected 0x-prefixed hex, got {value!r:.60}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ProofInvalid("format", f"{key}: {exc}") from exc


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofInvalid("format", f"{key}: expected a non-negative integer, got {value!r:.60}")
    return value


def _nodes(doc: Mapping[str, Any], key: str) -> tuple[bytes, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or not value:
        raise ProofInvalid("format", f"{key}: expected a non-empty list of trie nodes")
    return tuple(_bytes({key: v}, key) for v in value)


@dataclass(frozen=True)
class ReceiptProof:
    """A log proven against a sealed header (see the module docstring)."""

    chain_id: int
    block_number: int
    block_hash: bytes
    header: bytes
    tx_index: int
    tx_hash: bytes
    receipt_proof: tuple[bytes, ...]
    tx_proof: tuple[bytes, ...]
    log_index: int

    @classmethod
    def cut(cls, chain_id: int, block: VerifiedBlock, tx_index: int, log_index: int) -> ReceiptProof:
        """Cut the proof of one log out of a verified block."""
        return cls(chain_id, block.number, block.hash, block.header.raw, tx_index, block.tx_hashes[tx_index],
                   tuple(block.receipt_proof(tx_index)), tuple(block.tx_proof(tx_index)), log_index)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "receipt", "chainId": self.chain_id, "blockNumber": self.block_number,
            "blockHash": _hex(self.block_hash), "header": _hex(self.header), "txIndex": self.tx_index,
            "txHash": _hex(self.tx_hash), "receiptProof": [_hex(n) for n in self.receipt_proof],
            "txProof": [_hex(n) for n in self.tx_proof], "logIndex": self.log_index,
        }

    @classmethod
    def from_json(cls, doc: Any) -> ReceiptProof:
        if not isinstance(doc, dict) or doc.get("type") != "receipt":
            raise ProofInvalid("format", 'expected an object with "type": "receipt"')
        return cls(_int(doc, "chainId"), _int(doc, "blockNumber"), _bytes(doc, "blockHash"), _bytes(doc, "header"),
                   _int(doc, "txIndex"), _bytes(doc, "txHash"), _nodes(doc, "receiptProof"),
                   _nodes(doc, "txProof"), _int(doc, "logIndex"))


@dataclass(frozen=True)
class ProvenLog:
    """What a verified receipt proof establishes."""

    header: Header
    receipt: DecodedReceipt
    log: Log
    transaction: bytes


def verify_receipt_proof(proof: ReceiptProof, expected_log: Log | None = None) -> ProvenLog:
    """Run the receipt checks except ``seal`` (which needs the sealer set: :func:`verify_seal`).

    Raises ``ProofInvalid`` naming the first check that fails."""
    try:
        header = Header.decode(proof.header)
    except ChainDataInvalid as exc:
        raise ProofInvalid("header-hash", f"the header is not a block header: {exc}") from exc
    if header.hash != proof.block_hash:
        raise ProofInvalid("header-hash", f"keccak256(header) is {_hex(header.hash)}, blockHash is {_hex(proof.block_hash)}")
    if header.number != proof.block_number:
        raise ProofInvalid("block-number", f"the header is block {header.number}, the proof says {proof.block_number}")
    transaction = read_proof(header.transactions_root, proof.tx_index, proof.tx_proof, "tx-proof")
    if keccak(transaction) != proof.tx_hash:
        raise ProofInvalid("tx-hash", f"the proven transaction hashes to {_hex(keccak(transaction))}, "
                                      f"txHash is {_hex(proof.tx_hash)}")
    encoded = read_proof(header.receipts_root, proof.tx_index, proof.receipt_proof, "receipt-proof")
    try:
        receipt = decode_receipt(encoded)
    except ChainDataInvalid as exc:
        raise ProofInvalid("receipt-proof", f"the proven value is not a receipt: {exc}") from exc
    if receipt.status != 1:
        raise ProofInvalid("receipt-status", "the transaction failed (status 0); its logs were discarded")
    if proof.log_index >= len(receipt.logs):
        raise ProofInvalid("log-index", f"the receipt has {len(receipt.logs)} logs, logIndex is {proof.log_index}")
    log = receipt.logs[proof.log_index]
    if expected_log is not None and log != expected_log:
        raise ProofInvalid("log-content", "the proven log differs from the record's log")
    return ProvenLog(header, receipt, log, transaction)


def verify_seal(header: Header, sealers: Sequence[bytes]) -> bytes | None:
    """Check the header's proof-of-authority seal against the sealer set valid at its parent.

    Returns the sealer, or None for a chain without seals (anvil, a chain whose headers carry no
    65-byte seal; the proof then says ``"consensus": "none"``)."""
    if not sealers:
        return None
    try:
        signer = header.sealer()
    except ChainDataInvalid as exc:
        raise ProofInvalid("seal", str(exc)) from exc
    if signer not in sealers:
        raise ProofInvalid("seal", f"block {header.number} is sealed by {_hex(signer)}, not a sealer at block "
                                   f"{header.number - 1} ({', '.join(_hex(s) for s in sealers)})")
    return signer
