"""The client's own check of what the gateway answers: ``"verified": true`` from the gateway is
never taken on its word.

Every ``proof`` in an answer is checked here, with the same code an outside verifier uses
(``gateway.proofs``):

* receipt proofs — the header hashes to ``blockHash`` and is block ``blockNumber`` of this chain;
  the transaction-trie and receipt-trie proofs lead to the header's roots; the receipt succeeded;
  the log at ``logIndex`` exists, comes from one of the ledger's four contracts and decodes with
  the client's own ABI (the committed artifacts) to the event the record names, with the arguments
  it states; the header is sealed by a sealer (proof of authority);
* batch proofs — the Merkle path leads from the leaf at its index to the root (the positional tree
  of ``contracts/README.md``), and the root is the one the proven ``BatchAnchored`` event put on
  chain;
* for transactions the client relayed itself, the proven transaction is byte for byte the one it
  signed.

The sealer set is the one ``GET /v1/roles`` names (``--addressbook`` pins the chain and its
contracts). Evidence bundles go further (:func:`verify_bundle`): they derive the sealer set at each
height from an EIP-1186 state proof of the genesis block, which the address book pins by hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak

from gateway.chain.codec import Header
from gateway.chain.commit import CometGenesis, verify_commit
from gateway.client.errors import VerificationFailed
from gateway.contracts import AddressBook, EventAbi, EventCodec
from gateway.errors import ChainDataInvalid, ProofInvalid
from gateway.proofs import ProvenLog, ReceiptProof, verify_receipt_proof, verify_seal

EVIDENCE_FORMAT = "cityledger-evidence/1"


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _as_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise VerificationFailed("format", f"{what}: expected 0x-hex, got {value!r:.60}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise VerificationFailed("format", f"{what}: {exc}") from None


def batch_root_from_path(leaf: bytes, index: int, path: Sequence[bytes]) -> bytes:
    """Walk a positional Merkle path (contracts/README.md, "Batch tree: positional"): at level k
    the running node is the left child when bit k of the index is 0."""
    node = leaf
    for level, sibling in enumerate(path):
        node = keccak(node + sibling) if (index >> level) & 1 == 0 else keccak(sibling + node)
    return node


@dataclass
class Checked:
    """What a check established: how many proofs held, and the decoded events they prove."""

    proofs: int = 0
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class ProofChecker:
    """Checks proofs for one chain against one sealer set and the client's own ABIs."""

    def __init__(self, book: AddressBook, codec: EventCodec, sealers: Sequence[bytes], poa: bool,
                 comet: CometGenesis | None = None) -> None:
        self.book = book
        #: On a CometBFT chain, the validator set each proof's commit is checked against.
        self.comet = comet
        self.codec = codec
        self.sealers = list(sealers)
        self.poa = poa

    # -------------------------------------------------------------------- one receipt proof
    def receipt(self, proof_json: Any, *, event: str | None = None, args: Mapping[str, Any] | None = None,
                contract: str | None = None, transaction: bytes | None = None) -> tuple[ProvenLog, EventAbi, dict[str, Any]]:
        """Check one receipt proof; ``event``/``args``/``contract`` are what the record claims the
        proven log is, ``transaction`` the raw transaction the client itself signed."""
        try:
            proof = ReceiptProof.from_json(proof_json)
            if proof.chain_id != self.book.chain_id:
                raise ProofInvalid("format", f"the proof is for chain {proof.chain_id}, this is chain {self.book.chain_id}")
            proven = verify_receipt_proof(proof)
            if self.poa and proof.block_number > 0:
                if not self.sealers:
                    raise ProofInvalid("seal", "no sealer set to check the seal against")
                verify_seal(proven.header, self.sealers)
            if self.comet is not None or (isinstance(proof_json, dict) and "commit" in proof_json):
                if self.comet is None:
                    raise ProofInvalid("commit", "the proof carries a CometBFT commit but no validator set is known")
                verify_commit(proof_json.get("commit"), proven.header.hash, self.comet)
        except ProofInvalid as exc:
            raise VerificationFailed(exc.check, exc.detail) from None
        abi = self.codec.lookup(proven.log.address, proven.log.topics)
        if abi is None:
            raise VerificationFailed("log-content", f"the proven log (from {_hex(proven.log.address)}) is not an event of "
                                                    "the ledger's contracts")
        if event is not None and abi.name != event:
            raise VerificationFailed("log-content", f"the record says {event}, the proven log is {abi.contract}.{abi.name}")
        if contract is not None and abi.contract != contract:
            raise VerificationFailed("log-content", f"the record says {contract}, the proven log is from {abi.contract}")
        try:
            decoded = abi.decode(proven.log.topics, proven.log.data)
        except Exception as exc:  # eth_abi raises several decoding errors
            raise VerificationFailed("log-content", f"the proven log does not decode as {abi.name}: {exc}") from None
        if args is not None and dict(args) != decoded:
            differing = sorted(k for k in set(decoded) | set(args) if decoded.get(k) != args.get(k))
            raise VerificationFailed("log-content", f"the proven {abi.name} differs from the record in {', '.join(differing)}")
        if transaction is not None and proven.transaction != transaction:
            raise VerificationFailed("tx-hash", f"the proven transaction {_hex(keccak(proven.transaction))} is not the one "
                                                f"this client signed ({_hex(keccak(transaction))})")
        return proven, abi, decoded

    # -------------------------------------------------------------------- one batch proof
    def batch(self, proof_json: Mapping[str, Any]) -> dict[str, Any]:
        """Check a batch proof: the leaf's path to the root, and the root's proven anchor."""
        leaf = _as_bytes(proof_json.get("leaf"), "leaf")
        root = _as_bytes(proof_json.get("root"), "root")
        path = [_as_bytes(p, "path") for p in proof_json.get("path") or []]
        index = proof_json.get("index")
        if not isinstance(index, int) or index < 0:
            raise VerificationFailed("format", "a batch proof needs the leaf's index")
        if batch_root_from_path(leaf, index, path) != root:
            raise VerificationFailed("batch-path", f"the path from leaf {index} does not lead to the root {_hex(root)}")
        _, _, anchored = self.receipt(proof_json.get("anchor"), event="BatchAnchored", contract="Credit")
        if str(anchored["merkleRoot"]).lower() != _hex(root):
            raise VerificationFailed("batch-anchor", f"the proven anchor holds root {anchored['merkleRoot']}, not {_hex(root)}")
        if proof_json.get("batchId") is not None and anchored["batchId"] != proof_json["batchId"]:
            raise VerificationFailed("batch-anchor", f"the proven anchor is batch {anchored['batchId']}, "
                                                     f"not {proof_json['batchId']}")
        if index >= int(anchored["entryCount"]):
            raise VerificationFailed("batch-path", f"index {index} is beyond the batch's {anchored['entryCount']} entries")
        return anchored

    def batch_record(self, record: Mapping[str, Any], proof: Mapping[str, Any], anchored: Mapping[str, Any]) -> None:
        """A batch entry's stated fields must hash to the proven leaf (contracts/README.md, "Batch
        leaves"), with the issuer and category of the proven anchor."""
        from gateway.client.batch import leaf_hash

        if "isPublic" not in record:
            return
        if (record.get("batchId"), record.get("index")) != (proof.get("batchId"), proof.get("index")):
            raise VerificationFailed("batch-leaf", "the record names another batch entry than its proof")
        issuer, category, index = int(anchored["issuerMemberId"]), int(anchored["category"]), int(proof["index"])
        try:
            if record["isPublic"]:
                computed = leaf_hash(issuer, category, index, True, str(record["uscc"]).encode("ascii"),
                                     int(record["severity"]), int(record["effectiveDate"]), int(record.get("expiryDate") or 0),
                                     int(record["amount"]), _as_bytes(record["summaryHash"], "summaryHash"),
                                     _as_bytes(record["evidenceCidHash"], "evidenceCidHash"))
            else:
                computed = leaf_hash(issuer, category, index, False, b"", 0, 0, 0, 0, bytes(32), bytes(32),
                                     _as_bytes(record["subjectTag"], "subjectTag"), _as_bytes(record["commitment"], "commitment"))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationFailed("batch-leaf", f"the batch entry's fields are incomplete: {exc!r}") from None
        if _hex(computed) != str(proof.get("leaf", "")).lower():
            raise VerificationFailed("batch-leaf", f"the entry's fields hash to {_hex(computed)}, the proven leaf is "
                                                   f"{proof.get('leaf')}")
        if record["isPublic"] and record.get("summary") is not None \
                and _hex(keccak(str(record["summary"]).encode())) != str(record["summaryHash"]).lower():
            raise VerificationFailed("batch-leaf", "the entry's summary does not hash to its summaryHash")

    # -------------------------------------------------------------------- a whole answer
    def answer(self, doc: Any, *, transaction: bytes | None = None) -> Checked:
        """Check every proof anywhere in a gateway answer. A record naming its event (``event``
        with ``args``, as relayed transactions and the bundle list them, or ``kind`` as custody
        histories do) is checked to be exactly that event."""
        checked = Checked()
        for record in _records(doc):
            proof = record["proof"]
            if not proof:
                raise VerificationFailed("format", "a record carries an empty proof (the gateway has none for it)")
            if proof.get("type") == "batch":
                anchored = self.batch(proof)
                self.batch_record(record, proof, anchored)
                checked.events.append(("Credit", "BatchAnchored", anchored))
            elif proof.get("type") == "receipt":
                name = record.get("event") if isinstance(record.get("event"), str) else None
                if name is None and isinstance(record.get("kind"), str) and record["kind"][:1].isupper():
                    name = record["kind"]
                args = record.get("args") if isinstance(record.get("args"), dict) else None
                contract = record.get("contract") if isinstance(record.get("contract"), str) else None
                _, abi, decoded = self.receipt(proof, event=name, args=args, contract=contract, transaction=transaction)
                checked.events.append((abi.contract, abi.name, decoded))
            else:
                raise VerificationFailed("format", f"unknown proof type {proof.get('type')!r}")
            checked.proofs += 1
        return checked


def _records(doc: Any) -> Iterator[dict[str, Any]]:
    """Every object in ``doc`` that carries a ``proof`` (an answer's top-level ``proof`` repeats
    its first event's and is checked once, with that event)."""
    seen: set[str] = set()

    def walk(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, dict):
            proof = value.get("proof")
            if isinstance(proof, dict):
                key = json.dumps([proof, value.get("event"), value.get("args")], sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    yield value
            for k, v in value.items():
                if k != "proof":
                    yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)

    top_level = doc.get("proof") if isinstance(doc, dict) else None
    events = doc.get("events") if isinstance(doc, dict) else None
    for record in walk(doc):
        if record is doc and isinstance(events, list) and any(isinstance(e, dict) and e.get("proof") == top_level for e in events):
            continue  # the answer's summary proof is its first event's, checked with that event
        yield record


# ------------------------------------------------------------------------- evidence bundles
@dataclass(frozen=True)
class BundleCheck:
    """One check of a bundle: the stable check name, what it was about, whether it held."""

    check: str
    subject: str
    ok: bool
    detail: str = ""


@dataclass
class BundleReport:
    results: list[BundleCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[BundleCheck]:
        return [r for r in self.results if not r.ok]

    def add(self, check: str, subject: str, ok: bool, detail: str = "") -> None:
        self.results.append(BundleCheck(check, subject, ok, detail))


def verify_bundle(doc: Any, book: AddressBook, codec: EventCodec) -> BundleReport:
    """Run the checks of ``audit/bundle.py`` on an evidence bundle, with the gateway package's own
    proof code (the audit package is independent and is not imported here): the genesis sealer set
    from its EIP-1186 state proof under the genesis hash the address book pins, each sealer change
    proven and sealed by the set before it, and every event's receipt proof, seal and content
    (decoded with the client's ABI, from the contract address the address book names)."""
    report = BundleReport()
    if not isinstance(doc, dict) or doc.get("format") != EVIDENCE_FORMAT:
        report.add("format", "bundle", False, f'"format" must be {EVIDENCE_FORMAT!r}')
        return report
    if doc.get("chainId") != book.chain_id:
        report.add("format", "bundle", False, f"the bundle is for chain {doc.get('chainId')}, the pinned chain is {book.chain_id}")
        return report
    poa = doc.get("consensus") == "cityledger-poa"
    changes: list[tuple[int, list[bytes]]] = [(-1, _genesis(doc.get("genesis"), book, poa, report))]

    def at_parent_of(number: int) -> list[bytes]:
        current = changes[0][1]
        for changed_at, sealers in changes:
            if changed_at < number:
                current = sealers
        return current

    def event(item: Any, subject: str, name: str | None) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            report.add("format", subject, False, "expected an object")
            return None
        try:
            header = Header.decode(_as_bytes((item.get("proof") or {}).get("header"), "header"))
            checker = ProofChecker(book, codec, at_parent_of(header.number), poa)
            proven, abi, decoded = checker.receipt(item.get("proof"), event=name or item.get("event"),
                                                   args=item.get("args"), contract=item.get("contract"))
        except VerificationFailed as exc:
            report.add("sealer-change" if name else exc.check, subject, False,
                       f"{exc.check}: {exc.detail}" if name else exc.detail)
            return None
        except ChainDataInvalid as exc:
            report.add("header-hash", subject, False, str(exc))
            return None
        address = item.get("address")
        if isinstance(address, str) and address.lower() != _hex(book.addresses[abi.contract]):
            report.add("log-content", subject, False, f"the bundle names {address}, the address book {abi.contract} "
                                                      f"at {_hex(book.addresses[abi.contract])}")
            return None
        report.add("sealer-change" if name else "event", subject, True,
                   f"block {proven.header.number}" + (", sealed by a sealer in force" if poa else ", no seal"))
        return decoded

    for i, change in enumerate(doc.get("sealerChanges") or []):
        subject = f"sealer change {i}"
        decoded = event(change, subject, "SealersChanged")
        if decoded is None:
            continue
        claimed = [a.lower() for a in change.get("sealers", [])]
        if [a.lower() for a in decoded["sealers"]] != claimed:
            report.add("sealer-change", subject, False, "the proven SealersChanged log does not list the claimed sealers")
            continue
        changes.append((int(change["blockNumber"]), [bytes.fromhex(a[2:]) for a in claimed]))
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        report.add("format", "bundle", False, "the bundle proves no event")
    proven_events: list[dict[str, Any] | None] = []
    for i, item in enumerate(events or []):
        label = f"{item.get('contract')}.{item.get('event')}" if isinstance(item, dict) else "?"
        proven_events.append(event(item, f"event {i} ({label})", None))
    for i, entry in enumerate(doc.get("batchEntries") or []):
        _batch_entry(entry, proven_events, report, f"batch entry {i}")
    return report


def _batch_entry(entry: Any, proven: list[dict[str, Any] | None], report: BundleReport, subject: str) -> None:
    """A credit batch entry in a bundle: its path leads from its leaf hash to the root the proven
    ``BatchAnchored`` event (``anchorEvent``) put on chain."""
    try:
        if not isinstance(entry, dict):
            raise VerificationFailed("format", "expected an object")
        anchored = proven[int(entry["anchorEvent"])]
        if anchored is None or "merkleRoot" not in anchored:
            raise VerificationFailed("batch-anchor", "its anchoring event is not a proven BatchAnchored event")
        leaf = _as_bytes(entry.get("leafHash"), "leafHash")
        root = batch_root_from_path(leaf, int(entry["index"]), [_as_bytes(p, "path") for p in entry.get("path") or []])
        if _hex(root) != str(anchored["merkleRoot"]).lower():
            raise VerificationFailed("batch-path", f"the path leads to {_hex(root)}, the proven root is {anchored['merkleRoot']}")
        if int(entry["batchId"]) != int(anchored["batchId"]) or int(entry["index"]) >= int(anchored["entryCount"]):
            raise VerificationFailed("batch-anchor", "the entry is not within the proven batch")
    except VerificationFailed as exc:
        report.add(exc.check, subject, False, exc.detail)
        return
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        report.add("format", subject, False, repr(exc))
        return
    report.add("batch-path", subject, True, f"leaf {entry['index']} of batch {entry['batchId']} leads to the proven root")


def _genesis(genesis: Any, book: AddressBook, poa: bool, report: BundleReport) -> list[bytes]:
    from gateway.sealers import StateProof, sealers_from_state

    if not isinstance(genesis, dict):
        report.add("genesis", "genesis", False, "the bundle has no genesis section")
        return []
    try:
        block_hash = _as_bytes(genesis.get("blockHash"), "genesis.blockHash")
    except VerificationFailed as exc:
        report.add("format", "genesis", False, exc.detail)
        return []
    if block_hash != book.deployment_hash:
        report.add("genesis", "genesis", False, f"the bundle starts from {_hex(block_hash)}, the pinned genesis is "
                                                f"{_hex(book.deployment_hash)}")
        return []
    if not poa:
        report.add("genesis", "genesis", True, "chain without seals: the genesis hash is the pinned one")
        return []
    try:
        proof = StateProof.from_json(genesis.get("sealersProof"))
        if proof.block_hash != block_hash:
            raise ProofInvalid("genesis", "the state proof is for another block than the genesis")
        if proof.get_proof.get("address", "").lower() != _hex(book.addresses["MemberRegistry"]):
            raise ProofInvalid("genesis", "the state proof is for another account than the registry")
        proven = sealers_from_state(proof, int(genesis["sealerSlot"]))
    except (ProofInvalid, KeyError, ValueError, TypeError, ChainDataInvalid) as exc:
        report.add("genesis", "genesis", False, f"the sealer set's state proof does not verify: {exc}")
        return []
    claimed = [_as_bytes(a, "genesis.sealers") for a in genesis.get("sealers") or []]
    if proven != claimed:
        report.add("genesis", "genesis", False, "the proven genesis sealer set differs from the one the bundle states")
        return []
    report.add("genesis", "genesis", True, f"{len(proven)} sealer(s) proven at block {proof.block_number}")
    return proven
