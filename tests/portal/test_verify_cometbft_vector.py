"""The browser verifier (built, run by Node.js) and ``audit verify`` reach the same verdict — every
(check, subject, passed) — on a real evidence bundle of a four-validator CometBFT network
(``tests/vectors/cometbft_bundle/``) and on copies with one thing changed: each block's ``commit``
check holds with the network's CometBFT genesis pinned and fails by name with a signature byte
changed, a validator removed from a commit or from the bundle's anchor, another app hash, or no
CometBFT genesis pinned."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from audit.bundle import verify_bundle
from audit.verify import trust_from
from conftest import ROOT
from portal_vectors import js_verdict, run_node, verdict

VECTOR = ROOT / "tests" / "vectors" / "cometbft_bundle"
BUNDLE = json.loads((VECTOR / "bundle.json").read_text())
GENESIS = json.loads((VECTOR / "cometbft-genesis.json").read_text())
BOOK = json.loads((VECTOR / "addressbook.json").read_text())


def _flip_signature(b: dict[str, Any]) -> None:
    sig = next(s for s in b["events"][-1]["proof"]["commit"]["signedHeader"]["commit"]["signatures"]
               if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[5] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def _app_hash(b: dict[str, Any]) -> None:
    b["events"][0]["proof"]["commit"]["signedHeader"]["header"]["app_hash"] = "11" * 32


CASES: dict[str, tuple[Callable[[dict[str, Any]], None] | None, bool, bool, set[str]]] = {
    # name: (tamper, pin the CometBFT genesis, pin the address book, failing checks)
    "valid": (None, True, False, set()),
    "valid-with-addressbook": (None, True, True, set()),
    "signature-byte": (_flip_signature, True, False, {"commit"}),
    "validator-removed-from-commit": (lambda b: b["events"][0]["proof"]["commit"]["validators"].pop(), True, False,
                                      {"commit"}),
    "validator-removed-from-anchor": (lambda b: b["cometbft"]["validators"].pop(), True, False, {"commit"}),
    "app-hash": (_app_hash, True, False, {"commit"}),
    "no-cometbft-genesis": (None, False, True, {"commit"}),
}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    inputs = []
    for tamper, pin_genesis, pin_book, _failing in CASES.values():
        bundle = copy.deepcopy(BUNDLE)
        if tamper is not None:
            tamper(bundle)
        inputs.append({"bundle": bundle, "cometbftGenesis": GENESIS if pin_genesis else None,
                       "addressbook": BOOK if pin_book else None})
    js = run_node("bundles", stdin=inputs)
    out = {}
    for name, item, raw in zip(CASES, inputs, js):
        trusted = [d for d in (item["cometbftGenesis"], item["addressbook"]) if d is not None]
        report = verify_bundle(item["bundle"], trust_from(trusted))
        out[name] = (verdict(report.ok, [(r.check, r.subject, r.ok) for r in report.results]), js_verdict(raw))
    return out


def test_the_vector_is_a_cometbft_bundle() -> None:
    assert BUNDLE["consensus"] == "cometbft" and "commit" in BUNDLE["checks"]
    assert all(isinstance(e["proof"]["commit"], dict) for e in BUNDLE["events"])


@pytest.mark.parametrize("name", list(CASES))
def test_browser_and_audit_agree(name: str, verdicts: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    python, js = verdicts[name]
    assert js == python
    failing = CASES[name][3]
    assert (python["ok"], set(python["failing"])) == (not failing, failing), python
    commits = [r for r in python["results"] if r[0] == "commit"]
    blocks = {e["proof"]["blockNumber"] for e in BUNDLE["events"]}
    assert len(commits) == len(blocks) and not any(r[0] == "seal" for r in python["results"])


def test_each_record_proof_is_checked_against_its_commit_in_the_browser() -> None:
    """The pages' per-record check (verifyRecordProof): each proof of the bundle holds with the
    CometBFT genesis pinned; a changed signature, or no pinned validator set, fails ``commit``."""
    proofs = [e["proof"] for e in BUNDLE["events"]]
    forged = copy.deepcopy(BUNDLE)
    _flip_signature(forged)
    cases = [{"proof": p, "cometbftGenesis": GENESIS} for p in proofs]
    cases += [{"proof": forged["events"][-1]["proof"], "cometbftGenesis": GENESIS},
              {"proof": proofs[0], "cometbftGenesis": None}]
    answers = run_node("proofs", stdin=cases)
    assert all(a["ok"] for a in answers[:len(proofs)]), answers
    for answer in answers[len(proofs):]:
        assert not answer["ok"] and [r["check"] for r in answer["results"]] == ["commit"], answer
