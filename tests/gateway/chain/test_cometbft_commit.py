"""gateway.chain.commit: the gateway's own check of a CometBFT commit, judged by the same real
vector as the audit's (``tests/vectors/cometbft_commit.json``), each forgery failing ``commit``."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from conftest import ROOT
from gateway.chain.commit import CometGenesis, verify_commit
from gateway.errors import ProofInvalid

VECTOR = json.loads((ROOT / "tests" / "vectors" / "cometbft_commit.json").read_text())
GENESIS = CometGenesis.from_json({"chain_id": VECTOR["certificate"]["signedHeader"]["header"]["chain_id"],
                                  "validators": VECTOR["genesisValidators"], "app_hash": ""})


def _cert() -> dict[str, Any]:
    return copy.deepcopy(VECTOR["certificate"])


def _hash(cert: dict[str, Any]) -> bytes:
    return bytes.fromhex(cert["blockHash"][2:])


def test_real_commit_verifies() -> None:
    cert = _cert()
    assert verify_commit(cert, _hash(cert), GENESIS) >= 30


def _flip_signature(cert: dict[str, Any]) -> None:
    sig = next(s for s in cert["signedHeader"]["commit"]["signatures"] if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[7] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def _drop_validator(cert: dict[str, Any]) -> None:
    cert["validators"].pop()


def _other_app_hash(cert: dict[str, Any]) -> None:
    cert["signedHeader"]["header"]["app_hash"] = "00" * 32


def _two_of_four(cert: dict[str, Any]) -> None:
    kept = 0
    for sig in cert["signedHeader"]["commit"]["signatures"]:
        if sig["block_id_flag"] == 2:
            kept += 1
            if kept > 2:
                sig["block_id_flag"] = 1


@pytest.mark.parametrize("forge", [_flip_signature, _drop_validator, _other_app_hash, _two_of_four])
def test_forgeries_fail_commit(forge: Any) -> None:
    cert = _cert()
    forge(cert)
    with pytest.raises(ProofInvalid) as err:
        verify_commit(cert, _hash(cert), GENESIS)
    assert err.value.check == "commit"


def test_another_genesis_set_fails_commit() -> None:
    other = copy.deepcopy(VECTOR["genesisValidators"])
    other[0]["power"] = "11"
    cert = _cert()
    with pytest.raises(ProofInvalid, match="pinned CometBFT genesis"):
        verify_commit(cert, _hash(cert), CometGenesis.from_json(
            {"chain_id": GENESIS.chain_id, "validators": other, "app_hash": ""}))
