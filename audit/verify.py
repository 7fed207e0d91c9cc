"""``cityledger audit verify``: one entry for every document the audit checks offline.

* an evidence bundle (``cityledger-evidence/1``, ``audit.bundle``), pinned by a genesis document,
  an address book and/or witness keys;
* a proof of equivocation (``cityledger-equivocation/1``, ``audit.equivocation``): the document
  holds when it proves what it claims — that a sealer signed two conflicting statements (so
  ``verify`` exits 0 for a valid proof of guilt and names the signer, and 1 for a forged or
  mistaken one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit import equivocation, tlog
from audit.bundle import FORMAT as BUNDLE_FORMAT
from audit.bundle import BundleReport, Trust, verify_bundle
from audit.commit import CommitError, Validator, parse_validators
from audit.genesis import ADDRESSBOOK_FORMAT, GENESIS_FORMAT, TrustInvalid


def trust_from(documents: Sequence[Any], witness_keys: Sequence[tlog.WitnessKey] = (), min_cosignatures: int = 0) -> Trust:
    """What the pinned files say: a genesis document gives the chain id and the genesis sealer
    set; an address book the chain id and the genesis block hash; a CometBFT genesis
    (``genesis.json`` of a ``scripts/testnet`` network: ``chain_id``, ``validators``, ``app_hash``)
    the validator set that checks commits, and — its app hash — the genesis block hash."""
    chain_id: int | None = None
    genesis_hash: bytes | None = None
    sealers: tuple[bytes, ...] | None = None
    comet_chain: str | None = None
    comet_validators: tuple[Validator, ...] | None = None
    for doc in documents:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        try:
            if fmt == GENESIS_FORMAT:
                chain_id = int(doc["chainId"])
                sealers = tuple(bytes.fromhex(a[2:]) for a in doc["registry"]["sealers"])
            elif fmt is None and isinstance(doc, dict) and {"chain_id", "validators", "app_hash"} <= doc.keys():
                comet_chain = str(doc["chain_id"])
                comet_validators = tuple(parse_validators(doc["validators"]))
                if doc["app_hash"]:
                    app_hash = bytes.fromhex(str(doc["app_hash"]))
                    if genesis_hash is not None and genesis_hash != app_hash:
                        raise TrustInvalid("--trust", "the CometBFT genesis' app hash is not the pinned genesis hash")
                    genesis_hash = app_hash
            elif fmt == ADDRESSBOOK_FORMAT:
                chain_id = int(doc["chainId"])
                book_hash = bytes.fromhex(doc["deployment"]["blockHash"][2:])
                if genesis_hash is not None and genesis_hash != book_hash:
                    raise TrustInvalid("--trust", "the address book's genesis hash is not the pinned genesis hash")
                genesis_hash = book_hash
            else:
                raise TrustInvalid("--trust", f"neither {GENESIS_FORMAT} nor {ADDRESSBOOK_FORMAT} nor a CometBFT genesis")
        except (KeyError, TypeError, ValueError, CommitError) as exc:
            raise TrustInvalid("--trust", f"malformed: {exc!r}") from exc
    return Trust(chain_id, genesis_hash, sealers, tuple(witness_keys), min_cosignatures, comet_chain, comet_validators)


def verify_document(doc: Any, trust_documents: Sequence[Any], witness_keys: Sequence[tlog.WitnessKey] = (),
                    min_cosignatures: int = 0) -> BundleReport:
    """Verify a bundle or a proof of equivocation; the report holds every check."""
    trust = trust_from(trust_documents, witness_keys, min_cosignatures)
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt == equivocation.FORMAT:
        report = BundleReport()
        verdict = equivocation.verify(doc, trust.chain_id, trust.genesis_hash, trust.genesis_sealers)
        report.add("equivocation", f"{doc.get('kind')} at chain {doc.get('chainId')}", verdict.ok,
                   ("PROVEN: " if verdict.ok else "") + verdict.detail)
        return report
    if fmt != BUNDLE_FORMAT:
        report = BundleReport()
        report.add("format", "document", False, f"neither {BUNDLE_FORMAT} nor {equivocation.FORMAT}")
        return report
    return verify_bundle(doc, trust)
