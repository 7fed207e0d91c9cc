"""Offline verification of CityLedger evidence bundles (``cityledger-evidence/1``).

Everything here is re-derived from the specifications, not taken from the gateway: headers are
decoded from their RLP and hashed (Yellow Paper 4.3), seals recovered with secp256k1 over the
Clique seal hash (EIP-225 layout), receipts and transactions walked out of their tries with this
package's own Merkle-Patricia verifier (``audit.mpt``), the genesis sealer set read from an
EIP-1186 state proof (``audit.state_proof``), and every log decoded with the ABI the bundle states
and compared with the arguments it claims.

The verifier never stops at the first failure: it runs every check it can and reports each one,
by the stable check names of the bundle format (``format``, ``genesis``, ``sealer-change``,
``header-hash``, ``block-number``, ``tx-proof``, ``tx-hash``, ``receipt-proof``,
``receipt-status``, ``log-index``, ``log-content``, ``seal``, ``payload``, ``checkpoint``,
``inclusion``, ``cosignature``), with what was expected and what was found.

On a CometBFT chain (``"consensus": "cometbft"``) there are no seals: each event's proof carries
the CometBFT commit that certifies its block, and the ``commit`` check (one per block, in place of
``seal``) runs ``audit.commit.verify_commit`` against the validator set of the CometBFT genesis the
caller pins (``--trust`` the network's CometBFT ``genesis.json``, whose ``app_hash`` is also the
CityLedger genesis hash, so it pins the ``genesis`` check too); the bundle's ``cometbft`` section
must state that same set.

Trust: the bundle proves its records relative to a genesis. The caller pins that genesis by its
block hash (from an address book, ``deployment.blockHash``), by the sealer set written in the
genesis document, or both; a bundle that starts from another genesis fails the ``genesis`` check.
Or the caller pins witness keys: a checkpoint cosigned by enough of them names the chain and its
genesis hash in its origin line, and the rest derives from that (``audit.tlog``).

The ``checkpoint`` section (when the gateway has one covering the record): the newest signed
checkpoint (C2SP signed note, sealer signature and witness cosignatures) whose tree covers every
block of the bundle; the sealed header of its last block with an RFC 6962 inclusion proof (its
state proves the registry's witness set at that height, and its parent's sealer set signs the
checkpoint); an inclusion proof of each event's block hash; the witnesses' key bindings. Checks:
``checkpoint`` (origin, size, head, the sealer's signature), ``inclusion`` (each block in the
witnessed tree), ``cosignature`` (each line, and the number of valid ones against
``--min-cosignatures``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils import to_checksum_address

from audit.commit import CommitError, Validator, verify_commit
from audit.credit_batch import EntryInvalid, verify_entry
from audit import tlog
from audit.errors import AuditError
from audit.mpt import verify_proof
from audit.state_proof import verify_account_proof

FORMAT = "cityledger-evidence/1"
_SEAL = 65
_VANITY = 32
_SAFE_INT = 2**53


@dataclass(frozen=True)
class Trust:
    """What the auditor pinned: the genesis block hash and/or the genesis sealer set, and the chain."""

    chain_id: int | None = None
    genesis_hash: bytes | None = None
    genesis_sealers: tuple[bytes, ...] | None = None
    #: Witness keys the caller trusts (``--witness-key``).
    witness_keys: tuple[tlog.WitnessKey, ...] = ()
    #: Valid witness cosignatures the checkpoint must carry (``--min-cosignatures``).
    min_cosignatures: int = 0
    #: From a pinned CometBFT genesis: its chain id and validator set (checks ``commit``).
    cometbft_chain_id: str | None = None
    cometbft_validators: tuple[Validator, ...] | None = None


@dataclass(frozen=True)
class CheckResult:
    """One check: its stable name, what it was about, whether it held, and the facts."""

    check: str
    subject: str
    ok: bool
    detail: str = ""


@dataclass
class BundleReport:
    """Every check run on a bundle."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        failed = self.failures
        if not failed:
            return f"all {len(self.results)} checks hold"
        return f"{len(failed)} of {len(self.results)} checks failed: " + ", ".join(sorted({f.check for f in failed}))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary(),
                "results": [{"check": r.check, "subject": r.subject, "ok": r.ok, "detail": r.detail} for r in self.results]}

    def add(self, check: str, subject: str, ok: bool, detail: str = "") -> bool:
        self.results.append(CheckResult(check, subject, ok, detail))
        return ok


class _Failed(Exception):
    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise _Failed("format", f"{what}: expected 0x-hex, got {value!r:.60}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise _Failed("format", f"{what}: {exc}") from exc


@dataclass(frozen=True)
class _Header:
    raw: bytes
    fields: list[bytes]

    @property
    def hash(self) -> bytes:
        return keccak(self.raw)

    @property
    def number(self) -> int:
        return int.from_bytes(self.fields[8], "big")

    def root(self, index: int) -> bytes:
        return self.fields[index]

    def sealer(self) -> bytes:
        """Recover the Clique-layout seal: the signature over keccak256 of the header whose
        extraData is cut back to its 32-byte vanity (EIP-225)."""
        extra = self.fields[12]
        if len(extra) != _VANITY + _SEAL:
            raise _Failed("seal", f"extraData is {len(extra)} bytes; a sealed header has {_VANITY + _SEAL}")
        unsealed = list(self.fields)
        unsealed[12] = extra[:-_SEAL]
        digest = keccak(rlp.encode(unsealed))
        try:
            public = keys.Signature(extra[-_SEAL:]).recover_public_key_from_msg_hash(digest)
        except Exception as exc:  # eth-keys raises BadSignature and ValueError for malformed seals
            raise _Failed("seal", f"the seal does not recover a key: {exc}") from exc
        return bytes(public.to_canonical_address())


def _decode_header(raw: bytes) -> _Header:
    try:
        fields = rlp.decode(raw)
    except Exception as exc:  # rlp raises DecodingError subclasses
        raise _Failed("header-hash", f"the header is not RLP: {exc}") from exc
    if not isinstance(fields, list) or len(fields) < 15 or not all(isinstance(f, bytes) for f in fields):
        raise _Failed("header-hash", "the header is not a list of at least 15 byte strings")
    return _Header(raw, fields)


def _walk(root: bytes, index: int, nodes: Sequence[bytes], check: str) -> bytes:
    try:
        value = verify_proof(root, rlp.encode(index), nodes)
    except (AuditError, ValueError) as exc:
        raise _Failed(check, str(exc)) from exc
    if value is None:
        raise _Failed(check, f"the proof shows index {index} is absent under root {_hex(root)}")
    return value


def _receipt_logs(encoded: bytes) -> tuple[int, list[tuple[bytes, list[bytes], bytes]]]:
    """(status, logs) of an EIP-2718 receipt (legacy RLP, or type byte then RLP; EIP-658)."""
    body = encoded if encoded[0] >= 0xC0 else encoded[1:]
    try:
        status, _gas, _bloom, logs = rlp.decode(body)
        return int.from_bytes(status, "big"), [(bytes(a), [bytes(t) for t in ts], bytes(d)) for a, ts, d in logs]
    except Exception as exc:  # any decoding failure means it is not a receipt
        raise _Failed("receipt-proof", f"the proven value is not a receipt: {exc}") from exc


@dataclass(frozen=True)
class ProvenLog:
    header: _Header
    address: bytes
    topics: list[bytes]
    data: bytes


def verify_receipt(proof: dict[str, Any], chain_id: int | None) -> ProvenLog:
    """The receipt checks of one proof (all but ``seal``); raises ``_Failed`` by check name."""
    if not isinstance(proof, dict) or proof.get("type") != "receipt":
        raise _Failed("format", 'expected a proof object with "type": "receipt"')
    if chain_id is not None and proof.get("chainId") != chain_id:
        raise _Failed("format", f"the proof is for chain {proof.get('chainId')}, expected {chain_id}")
    header = _decode_header(_bytes(proof.get("header"), "header"))
    if header.hash != _bytes(proof.get("blockHash"), "blockHash"):
        raise _Failed("header-hash", f"keccak256(header) is {_hex(header.hash)}, blockHash is {proof.get('blockHash')}")
    if header.number != proof.get("blockNumber"):
        raise _Failed("block-number", f"the header is block {header.number}, the proof says {proof.get('blockNumber')}")
    index = proof.get("txIndex")
    if not isinstance(index, int) or index < 0:
        raise _Failed("format", "txIndex must be a non-negative integer")
    tx_nodes = [_bytes(n, "txProof") for n in proof.get("txProof") or []]
    transaction = _walk(header.root(4), index, tx_nodes, "tx-proof")
    if keccak(transaction) != _bytes(proof.get("txHash"), "txHash"):
        raise _Failed("tx-hash", f"the proven transaction hashes to {_hex(keccak(transaction))}, txHash is {proof.get('txHash')}")
    receipt_nodes = [_bytes(n, "receiptProof") for n in proof.get("receiptProof") or []]
    status, logs = _receipt_logs(_walk(header.root(5), index, receipt_nodes, "receipt-proof"))
    if status != 1:
        raise _Failed("receipt-status", "the transaction failed (status 0); a failed transaction has no logs")
    position = proof.get("logIndex")
    if not isinstance(position, int) or not 0 <= position < len(logs):
        raise _Failed("log-index", f"the receipt has {len(logs)} logs, logIndex is {position}")
    address, topics, data = logs[position]
    return ProvenLog(header, address, topics, data)


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def _json_value(param: dict[str, Any], value: Any) -> Any:
    """The bundle's JSON convention for ABI values: checksummed addresses, 0x-hex bytes, integers
    as numbers up to 2^53 and decimal strings above (JavaScript-safe)."""
    kind: str = param["type"]
    if kind.endswith("]"):
        inner = {**param, "type": kind[: kind.rindex("[")]}
        return [_json_value(inner, v) for v in value]
    if kind == "tuple":
        return {c["name"]: _json_value(c, v) for c, v in zip(param["components"], value)}
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if kind.startswith(("uint", "int")):
        return int(value) if -_SAFE_INT < value < _SAFE_INT else str(value)
    return value


def decode_log(event: dict[str, Any], log: ProvenLog) -> dict[str, Any]:
    """Decode a proven log with the event ABI the bundle states; checks address and topic0."""
    inputs = event.get("inputs")
    signature = event.get("signature")
    if not isinstance(inputs, list) or not isinstance(signature, str):
        raise _Failed("format", "an event needs its signature and ABI inputs")
    expected_sig = f"{event.get('event')}({','.join(_abi_type(p) for p in inputs)})"
    if signature != expected_sig:
        raise _Failed("log-content", f"the signature {signature} does not match the inputs ({expected_sig})")
    if log.address != _bytes(event.get("address"), "address"):
        raise _Failed("log-content", f"the log is from {to_checksum_address(log.address)}, not {event.get('address')}")
    if not log.topics or log.topics[0] != keccak(signature.encode()):
        raise _Failed("log-content", f"the log's topic0 is not keccak256({signature})")
    indexed = [p for p in inputs if p.get("indexed")]
    plain = [p for p in inputs if not p.get("indexed")]
    if len(log.topics) != 1 + len(indexed):
        raise _Failed("log-content", f"{len(log.topics)} topics for {len(indexed)} indexed inputs")
    out: dict[str, Any] = {}
    try:
        for param, topic in zip(indexed, log.topics[1:]):
            dynamic = param["type"] in ("string", "bytes") or param["type"].endswith("]") or param["type"].startswith("tuple")
            out[param["name"]] = _hex(topic) if dynamic else _json_value(param, abi_decode([param["type"]], topic)[0])
    except Exception as exc:  # eth_abi raises several decoding errors (e.g. a topic with non-zero padding)
        # The `indexed` flags are not part of the signature, so a bundle can move them and make a
        # topic decode as another type: that is a log that does not match the stated ABI.
        raise _Failed("log-content", f"an indexed topic does not decode with the stated ABI: {exc}") from exc
    try:
        values = abi_decode([_abi_type(p) for p in plain], log.data)
    except Exception as exc:  # eth_abi raises several decoding errors
        raise _Failed("log-content", f"the log's data does not decode with the stated ABI: {exc}") from exc
    for param, value in zip(plain, values):
        out[param["name"]] = _json_value(param, value)
    return {p["name"]: out[p["name"]] for p in inputs}


class _SealerSets:
    """The sealer set in force at each height, from genesis and the proven changes."""

    def __init__(self, genesis: list[bytes]) -> None:
        self.changes: list[tuple[int, list[bytes]]] = [(-1, genesis)]

    def at_parent_of(self, number: int) -> list[bytes]:
        current = self.changes[0][1]
        for changed_at, sealers in self.changes:
            if changed_at < number:
                current = sealers
        return current

    def add(self, number: int, sealers: list[bytes]) -> None:
        self.changes.append((number, sealers))


def verify_bundle(doc: Any, trust: Trust) -> BundleReport:
    """Run every check on an evidence bundle; the report holds each result."""
    report = BundleReport()
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        report.add("format", "bundle", False, f'"format" must be {FORMAT!r}')
        return report
    chain_id = doc.get("chainId")
    if trust.chain_id is not None and chain_id != trust.chain_id:
        report.add("format", "bundle", False, f"the bundle is for chain {chain_id}, the pinned chain is {trust.chain_id}")
        return report
    poa = doc.get("consensus") == "cityledger-poa"
    if trust.genesis_hash is None and trust.witness_keys:
        trust = _trust_from_witnesses(doc.get("checkpoint"), trust, report)
    sets = _SealerSets(_genesis(doc.get("genesis"), trust, poa, report))
    for i, change in enumerate(doc.get("sealerChanges") or []):
        subject = f"sealer change {i} (block {change.get('blockNumber') if isinstance(change, dict) else '?'})"
        args = _event(change, chain_id, sets if poa else None, report, subject, "sealer-change")
        if args is None:
            continue
        # One verdict per change: the pass _event recorded stands only if the change is what it claims.
        passed = report.results.pop()
        try:
            claimed = [_bytes(a, "sealers") for a in change.get("sealers") or []]
            proven = [_bytes(a, "sealers") for a in args.get("sealers") or []]
            if change.get("event") != "SealersChanged" or proven != claimed:
                report.add("sealer-change", subject, False, "the proven SealersChanged log does not list the claimed sealers")
                continue
            sets.add(int(change["blockNumber"]), proven)
        except _Failed as exc:
            report.add("sealer-change", subject, False, f"{exc.check}: {exc.detail}")
            continue
        except (KeyError, TypeError, ValueError) as exc:
            report.add("sealer-change", subject, False, f"format: malformed: {exc}")
            continue
        report.results.append(passed)
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        report.add("format", "bundle", False, "the bundle proves no event")
    proven_args: list[dict[str, Any] | None] = []
    for i, event in enumerate(events or []):
        name = f"{event.get('contract')}.{event.get('event')}" if isinstance(event, dict) else "?"
        proven_args.append(_event(event, chain_id, sets if poa else None, report, f"event {i} ({name})", None))
    if doc.get("consensus") == "cometbft":
        _commits(doc, trust, report)
    for entry in doc.get("batchEntries") or []:
        _batch_entry(entry, events or [], proven_args, report)
    _checkpoint(doc, trust, sets, report)
    return report


def _commits(doc: dict[str, Any], trust: Trust, report: BundleReport) -> None:
    """The ``commit`` check of each block the bundle's events are in (module docstring)."""
    anchor = doc.get("cometbft")
    pinned = trust.cometbft_validators
    problem = None
    if pinned is None:
        problem = "no CometBFT validator set pinned: pass the network's CometBFT genesis.json to --trust"
    elif not isinstance(anchor, dict) or not isinstance(anchor.get("validators"), list):
        problem = "the bundle has no cometbft section stating its validator set"
    else:
        try:
            from audit.commit import parse_validators

            stated = parse_validators(anchor["validators"])
            if {(v.public_key, v.power) for v in stated} != {(v.public_key, v.power) for v in pinned} or \
                    anchor.get("chainId") != trust.cometbft_chain_id:
                problem = "the bundle's CometBFT chain or validator set differs from the pinned CometBFT genesis"
        except (CommitError, KeyError, TypeError, ValueError) as exc:
            problem = f"the bundle's cometbft section is malformed: {exc}"
    blocks: dict[tuple[Any, Any], Any] = {}
    for event in doc.get("events") or []:
        proof = event.get("proof") if isinstance(event, dict) else None
        if isinstance(proof, dict):
            blocks.setdefault((proof.get("blockNumber"), proof.get("blockHash")), proof.get("commit"))
    for (number, block_hash), certificate in blocks.items():  # in the order of the events
        subject = f"block {number}"
        if problem is not None:
            report.add("commit", subject, False, problem)
            continue
        assert pinned is not None
        try:
            if not isinstance(certificate, dict):
                raise CommitError("format", "the proof carries no CometBFT commit")
            header = certificate["signedHeader"]["header"]
            if header.get("chain_id") != trust.cometbft_chain_id:
                raise CommitError("header", f"the commit is for CometBFT chain {header.get('chain_id')!r}, the pinned "
                                            f"one is {trust.cometbft_chain_id!r}")
            verdict = verify_commit(certificate, _bytes(block_hash, "blockHash"), pinned)
        except CommitError as exc:
            report.add("commit", subject, False, f"{exc.check}: {exc.reason}")
            continue
        except _Failed as exc:
            report.add("commit", subject, False, f"{exc.check}: {exc.detail}")
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            report.add("commit", subject, False, f"format: malformed commit: {exc!r}")
            continue
        report.add("commit", subject, True, f"certified at CometBFT height {verdict.height} by {len(verdict.signers)} "
                                            f"validator(s), {verdict.signed_power} of {verdict.total_power} voting power")


def _batch_entry(entry: Any, events: list[Any], proven: list[dict[str, Any] | None], report: BundleReport) -> None:
    """A credit batch entry (``batchEntries``): its leaf and path against the proven
    ``BatchAnchored`` event it names (``anchorEvent``, an index into ``events``)."""
    if not isinstance(entry, dict):
        report.add("format", "batch entry", False, "expected an object")
        return
    subject = f"batch entry {entry.get('batchId')}/{entry.get('index')}"
    position = entry.get("anchorEvent")
    if not isinstance(position, int) or not 0 <= position < len(proven) or proven[position] is None:
        report.add("batch-anchor", subject, False, "names no proven event as its anchor")
        return
    anchored = proven[position]
    assert anchored is not None
    if not isinstance(events[position], dict) or events[position].get("event") != "BatchAnchored":
        report.add("batch-anchor", subject, False, "its anchor event is not a BatchAnchored event")
        return
    try:
        detail = verify_entry(entry, anchored)
    except (EntryInvalid, KeyError, ValueError, TypeError) as exc:
        check = exc.check if isinstance(exc, EntryInvalid) else "format"
        report.add(check, subject, False, exc.detail if isinstance(exc, EntryInvalid) else str(exc))
        return
    report.add("batch-path", subject, True, detail)


def _trust_from_witnesses(section: Any, trust: Trust, report: BundleReport) -> Trust:
    """With only witness keys pinned: a checkpoint cosigned by enough of them pins the chain id and
    genesis hash its origin names (the witnesses vouch that this is the history they saw)."""
    needed = max(1, trust.min_cosignatures)
    try:
        if not isinstance(section, dict):
            raise _Failed("checkpoint", "the bundle has no checkpoint, so pinned witness keys cannot pin the chain")
        note = tlog.parse_note(str(section.get("note", "")))
        point = tlog.parse_checkpoint(note.text)
        result = tlog.check_cosignatures(note, trust.witness_keys, [], None, lambda line: line.name == point.origin)
        if len(result.counted) < needed:
            raise _Failed("checkpoint", f"{len(result.counted)} cosignature(s) by pinned witness keys, {needed} needed "
                                        "to pin the chain")
        chain_id, genesis_hash = point.chain
    except tlog.NoteError as exc:
        report.add("checkpoint", "witnessed origin", False, exc.reason)
        return trust
    except _Failed as exc:
        report.add(exc.check, "witnessed origin", False, exc.detail)
        return trust
    report.add("checkpoint", "witnessed origin", True,
               f"chain {chain_id} genesis {_hex(genesis_hash)} pinned by {len(result.counted)} pinned witness(es)")
    return Trust(chain_id, genesis_hash, trust.genesis_sealers, trust.witness_keys, trust.min_cosignatures,
                 trust.cometbft_chain_id, trust.cometbft_validators)


def _checkpoint(doc: dict[str, Any], trust: Trust, sets: _SealerSets, report: BundleReport) -> None:
    """The ``checkpoint``, ``inclusion`` and ``cosignature`` checks (module docstring)."""
    section = doc.get("checkpoint")
    if section is None:
        if trust.min_cosignatures > 0:
            report.add("cosignature", "checkpoint", False,
                       f"the bundle carries no checkpoint; {trust.min_cosignatures} witness cosignature(s) were demanded")
        return
    subject = "checkpoint"
    try:
        if not isinstance(section, dict):
            raise _Failed("checkpoint", "expected an object")
        note = tlog.parse_note(str(section.get("note", "")))
        point = tlog.parse_checkpoint(note.text)
        genesis_hash = _bytes((doc.get("genesis") or {}).get("blockHash"), "genesis.blockHash")
        if point.chain != (doc.get("chainId"), genesis_hash):
            raise _Failed("checkpoint", f"its origin {point.origin} is not this bundle's chain and genesis")
        subject = f"checkpoint {point.size}"
        if section.get("size") != point.size:
            raise _Failed("checkpoint", f"the section says size {section.get('size')}, the note {point.size}")
        head = section.get("head") or {}
        head_header = _decode_header(_bytes(head.get("header"), "checkpoint.head.header"))
        if head_header.number != point.size - 1:
            raise _Failed("checkpoint", f"the head is block {head_header.number}, the tree's last block is {point.size - 1}")
        tlog.verify_inclusion(head_header.hash, point.size - 1, point.size,
                              [_bytes(h, "head.proof") for h in head.get("proof") or []], point.root)
        sealer = tlog.verify_sealer_signature(note, sets.at_parent_of(point.size - 1))
    except (tlog.NoteError, tlog.TreeProofError) as exc:
        report.add("checkpoint", subject, False, str(exc))
        return
    except _Failed as exc:
        report.add(exc.check, subject, False, exc.detail)
        return
    report.add("checkpoint", subject, True, f"signed by sealer {_hex(sealer)}; head block {point.size - 1} proven in its tree")
    inclusions = {(i.get("blockNumber"), i.get("blockHash")): i for i in section.get("inclusions") or [] if isinstance(i, dict)}
    blocks = sorted({(e["proof"]["blockNumber"], e["proof"]["blockHash"])
                     for e in [*(doc.get("events") or []), *(doc.get("sealerChanges") or [])]
                     if isinstance(e, dict) and isinstance(e.get("proof"), dict)}, key=lambda b: (int(b[0]), str(b[1])))
    for number, block_hash in blocks:
        what = f"block {number}"
        item = inclusions.get((number, block_hash))
        try:
            if item is None:
                raise _Failed("inclusion", f"no inclusion proof of block {number} ({block_hash}) in the checkpoint")
            if not isinstance(number, int) or number >= point.size:
                raise _Failed("inclusion", f"block {number} is beyond the checkpoint's {point.size} blocks")
            tlog.verify_inclusion(_bytes(block_hash, "blockHash"), number, point.size,
                                  [_bytes(h, "inclusion proof") for h in item.get("proof") or []], point.root)
        except tlog.TreeProofError as exc:
            report.add("inclusion", what, False, str(exc))
            continue
        except _Failed as exc:
            report.add(exc.check, what, False, exc.detail)
            continue
        report.add("inclusion", what, True, f"in the witnessed tree of {point.size} blocks")
    _cosignatures(section, note, point, head_header, sealer, trust, report)


def _cosignatures(section: dict[str, Any], note: tlog.Note, point: tlog.Checkpoint, head: _Header, sealer: bytes,
                  trust: Trust, report: BundleReport) -> None:
    witnesses = section.get("witnesses") or {}
    accounts: list[bytes] | None = None
    bindings: list[tlog.KeyBinding] = []
    try:
        for raw in witnesses.get("bindings") or []:
            bindings.append(tlog.KeyBinding.from_json(raw))
        if witnesses.get("account") is not None:
            account = verify_account_proof(head.root(3), witnesses["account"])
            slot = int(witnesses["witnessSlot"])
            length = account.slot_value(slot)
            base = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
            accounts = [account.slot_value(base + i).to_bytes(32, "big")[12:] for i in range(length)]
    except (AuditError, KeyError, ValueError, TypeError) as exc:
        report.add("cosignature", "witness set", False, f"the witness set's state proof does not verify: {exc}")
        accounts = []
    sealer_id = tlog.sealer_key_id(point.origin, sealer)
    result = tlog.check_cosignatures(note, trust.witness_keys, bindings, accounts if accounts is not None else [],
                                     lambda line: line.name == point.origin and line.key_id == sealer_id)
    for name, reason in result.failed:
        report.add("cosignature", f"cosignature by {name}", False, reason)
    for name, who in result.counted:
        report.add("cosignature", f"cosignature by {name}", True,
                   "by a pinned witness key" if not who.startswith("0x") else f"by witness account {who}")
    if trust.min_cosignatures:
        enough = len(result.counted) >= trust.min_cosignatures
        report.add("cosignature", f"checkpoint {point.size}", enough,
                   f"{len(result.counted)} valid witness cosignature(s), {trust.min_cosignatures} demanded")


def _genesis(genesis: Any, trust: Trust, poa: bool, report: BundleReport) -> list[bytes]:
    subject = "genesis"
    if not isinstance(genesis, dict):
        report.add("genesis", subject, False, "the bundle has no genesis section")
        return []
    try:
        block_hash = _bytes(genesis.get("blockHash"), "genesis.blockHash")
        if trust.genesis_hash is not None and block_hash != trust.genesis_hash:
            raise _Failed("genesis", f"the bundle starts from {_hex(block_hash)}, the pinned genesis is {_hex(trust.genesis_hash)}")
        claimed = [_bytes(a, "genesis.sealers") for a in genesis.get("sealers") or []]
        if not poa:
            # Without seals only the genesis hash anchors the bundle: nothing pinned proves nothing,
            # as on a sealed chain (and a pinned sealer set cannot be checked).
            pinned = trust.genesis_hash is not None
            report.add("genesis", subject, pinned, "chain without seals: the pinned genesis hash matches" if pinned
                       else "chain without seals: only the genesis hash can be pinned, and none was")
            return []
        proof = genesis.get("sealersProof")
        if not isinstance(proof, dict):
            raise _Failed("genesis", "no state proof of the genesis sealer set")
        header = _decode_header(_bytes(proof.get("header"), "genesis.header"))
        if header.hash != block_hash:
            raise _Failed("genesis", f"the state proof's header hashes to {_hex(header.hash)}, not {_hex(block_hash)}")
        try:
            account = verify_account_proof(header.root(3), proof["account"])
            slot = int(genesis["sealerSlot"])
            length = account.slot_value(slot)
            base = int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")
            proven = [account.slot_value(base + i).to_bytes(32, "big")[12:] for i in range(length)]
        except (AuditError, KeyError, ValueError, TypeError) as exc:
            raise _Failed("genesis", f"the sealer set's state proof does not verify: {exc}") from exc
        if _bytes(proof["account"]["address"], "registry") != _bytes(genesis.get("registry"), "genesis.registry"):
            raise _Failed("genesis", "the state proof is for another account than the registry")
        if proven != claimed:
            raise _Failed("genesis", "the proven genesis sealer set differs from the one the bundle states")
        if trust.genesis_sealers is not None and list(trust.genesis_sealers) != proven:
            raise _Failed("genesis", "the proven genesis sealer set differs from the pinned genesis document's")
        if trust.genesis_hash is None and trust.genesis_sealers is None:
            raise _Failed("genesis", "nothing pinned: pass the genesis document or the address book to trust")
    except _Failed as exc:
        report.add(exc.check, subject, False, exc.detail)
        return []
    report.add("genesis", subject, True, f"{len(proven)} sealer(s) proven at block {header.number}")
    return proven


def _event(event: Any, chain_id: Any, sets: _SealerSets | None, report: BundleReport, subject: str,
           check_prefix: str | None) -> dict[str, Any] | None:
    if not isinstance(event, dict):
        report.add("format", subject, False, "expected an object")
        return None
    try:
        proven = verify_receipt(event.get("proof", {}), chain_id if isinstance(chain_id, int) else None)
        if sets is not None:
            sealers = sets.at_parent_of(proven.header.number)
            signer = proven.header.sealer()
            if signer not in sealers:
                raise _Failed("seal", f"block {proven.header.number} is sealed by {_hex(signer)}, not by a sealer "
                                      f"in force at block {proven.header.number - 1} ({', '.join(_hex(s) for s in sealers) or 'none'})")
        args = decode_log(event, proven)
        if args != event.get("args"):
            differing = sorted(k for k in args if args.get(k) != (event.get("args") or {}).get(k))
            raise _Failed("log-content", f"the proven log's arguments differ from the bundle's in {', '.join(differing) or 'their names'}")
    except _Failed as exc:
        report.add(check_prefix or exc.check, subject, False, f"{exc.check}: {exc.detail}" if check_prefix else exc.detail)
        return None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # A malformed section (an ABI input that is not an object, a missing type): a named
        # failure, never an exception out of the verifier.
        detail = f"malformed: {exc!r}"
        report.add(check_prefix or "format", subject, False, f"format: {detail}" if check_prefix else detail)
        return None
    report.add(check_prefix or "event", subject, True,
               f"block {proven.header.number}" + (", sealed by a sealer in force" if sets is not None else ", no seal here (a chain without seals, or one whose blocks carry commits: check commit)"))
    return args
