"""The members' client checks each proof's CometBFT commit with the gateway package's own code
(``gateway.chain.commit``), on the real bundle of a four-validator network
(``tests/vectors/cometbft_bundle/``): every proof holds against the genesis validator set, and a
changed signature or an unknown validator set fails ``commit``."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from conftest import ROOT
from gateway.chain.commit import CometGenesis
from gateway.client.errors import VerificationFailed
from gateway.client.verify import ProofChecker
from gateway.contracts import AddressBook, EventCodec

VECTOR = ROOT / "tests" / "vectors" / "cometbft_bundle"
BUNDLE = json.loads((VECTOR / "bundle.json").read_text())
BOOK = AddressBook.load(VECTOR / "addressbook.json")
CODEC = EventCodec(ROOT / "contracts" / "artifacts", BOOK)
GENESIS = CometGenesis.from_json(json.loads((VECTOR / "cometbft-genesis.json").read_text()))


def test_every_proof_holds_against_the_genesis_validators() -> None:
    checker = ProofChecker(BOOK, CODEC, [], False, GENESIS)
    for event in BUNDLE["events"]:
        checker.receipt(event["proof"], event=event["event"], args=event["args"])


def test_a_changed_signature_or_no_validator_set_fails_commit() -> None:
    proof = copy.deepcopy(BUNDLE["events"][0]["proof"])
    sig = next(s for s in proof["commit"]["signedHeader"]["commit"]["signatures"] if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[3] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(VerificationFailed) as err:
        ProofChecker(BOOK, CODEC, [], False, GENESIS).receipt(proof)
    assert err.value.check == "commit"
    with pytest.raises(VerificationFailed) as err:
        ProofChecker(BOOK, CODEC, [], False, None).receipt(BUNDLE["events"][0]["proof"])
    assert err.value.check == "commit"
