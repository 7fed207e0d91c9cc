"""audit.bundle on hostile bundles: every problem is a named failure, never an exception, and each
section gets one verdict. (Found while matching the browser verifier against audit on the shared
vectors in tests/vectors/bundles/.)"""

from __future__ import annotations

import copy
import json
from typing import Any

from audit.bundle import Trust, verify_bundle
from conftest import ROOT

VECTORS = ROOT / "tests" / "vectors" / "bundles"


def _load(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text())


def _trust() -> Trust:
    book, genesis = _load("addressbook.json"), _load("genesis.json")
    return Trust(chain_id=book["chainId"], genesis_hash=bytes.fromhex(book["deployment"]["blockHash"][2:]),
                 genesis_sealers=tuple(bytes.fromhex(a[2:]) for a in genesis["registry"]["sealers"]))


def test_a_moved_indexed_flag_is_a_log_content_failure_not_an_exception() -> None:
    # The indexed flags are not in the signature: moving one makes a topic decode as bytes18 with
    # non-zero padding, which eth_abi raises on; audit used to let that escape.
    report = verify_bundle(_load("indexed-flag-moved/bundle.json"), _trust())
    assert [(f.check, f.subject) for f in report.failures] == [("log-content", "event 0 (Credit.EntryIssued)")]


def test_a_malformed_claimed_sealer_fails_the_sealer_change() -> None:
    bundle = _load("valid-trace/bundle.json")
    bundle["sealerChanges"][0]["sealers"] = ["not hex"]
    report = verify_bundle(bundle, _trust())
    assert {f.check for f in report.failures} == {"sealer-change"}


def test_a_sealer_change_gets_one_verdict() -> None:
    report = verify_bundle(_load("sealer-change-sealers/bundle.json"), _trust())
    changes = [r for r in report.results if r.subject.startswith("sealer change 0")]
    assert [(r.check, r.ok) for r in changes] == [("sealer-change", False)]


def test_malformed_abi_inputs_are_a_format_failure() -> None:
    bundle = _load("valid-trace/bundle.json")
    bundle["events"][1]["inputs"] = ["not an object"]
    report = verify_bundle(bundle, _trust())
    assert [(f.check, f.subject) for f in report.failures] == [("format", "event 1 (SupplyCustody.LotSplit)")]


def test_a_chain_without_seals_needs_its_genesis_hash_pinned() -> None:
    bundle = copy.deepcopy(_load("valid-trace/bundle.json"))
    bundle["consensus"] = "none"
    trust = _trust()
    assert verify_bundle(bundle, Trust(trust.chain_id, trust.genesis_hash, None)).ok
    for unpinned in (Trust(trust.chain_id, None, None), Trust(trust.chain_id, None, trust.genesis_sealers)):
        report = verify_bundle(bundle, unpinned)
        assert [(f.check, f.subject) for f in report.failures] == [("genesis", "genesis")]
