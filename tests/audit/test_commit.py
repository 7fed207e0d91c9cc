"""audit.commit: a CometBFT commit certifies an Ethereum block, and every forgery is named.

The vector is a real ``cityledger_getCommit`` answer from a four-validator scripts/testnet network
(3 of 4 signatures); tests/node/test_cometbft.py checks live commits the same way.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from audit.commit import CommitError, header_hash, merkle_root, parse_validators, verify_commit
from conftest import ROOT

VECTOR = json.loads((ROOT / "tests" / "vectors" / "cometbft_commit.json").read_text())


def _certificate() -> dict[str, Any]:
    return copy.deepcopy(VECTOR["certificate"])


def _block_hash(cert: dict[str, Any]) -> bytes:
    return bytes.fromhex(cert["blockHash"][2:])


TRUSTED = parse_validators(VECTOR["genesisValidators"])


def test_real_commit_verifies_with_three_of_four_signatures() -> None:
    cert = _certificate()
    verdict = verify_commit(cert, _block_hash(cert), TRUSTED)
    assert verdict.total_power == 40 and verdict.signed_power >= 30
    assert verdict.app_hash == _block_hash(cert)
    # The header hash we compute is the block id CometBFT's validators signed.
    assert header_hash(cert["signedHeader"]["header"]).hex().upper() == \
        cert["signedHeader"]["commit"]["block_id"]["hash"]


def test_merkle_root_follows_rfc6962() -> None:
    import hashlib

    leaf = lambda b: hashlib.sha256(b"\0" + b).digest()  # noqa: E731
    node = lambda a, b: hashlib.sha256(b"\1" + a + b).digest()  # noqa: E731
    assert merkle_root([b"a", b"b", b"c"]) == node(node(leaf(b"a"), leaf(b"b")), leaf(b"c"))
    assert merkle_root([]) == hashlib.sha256(b"").digest()


def test_other_block_hash_is_refused_by_app_hash() -> None:
    cert = _certificate()
    with pytest.raises(CommitError) as info:
        verify_commit(cert, b"\x11" * 32, TRUSTED)
    assert info.value.check == "app-hash"


def test_edited_app_hash_breaks_the_header_hash() -> None:
    cert = _certificate()
    cert["signedHeader"]["header"]["app_hash"] = "22" * 32
    with pytest.raises(CommitError) as info:
        verify_commit(cert, b"\x22" * 32, TRUSTED)
    assert info.value.check == "header"


def test_forged_signature_is_named() -> None:
    cert = _certificate()
    sig = next(s for s in cert["signedHeader"]["commit"]["signatures"] if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[5] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(CommitError) as info:
        verify_commit(cert, _block_hash(cert), TRUSTED)
    assert info.value.check == "signature"


def test_changed_vote_timestamp_breaks_the_signature() -> None:
    cert = _certificate()
    sig = next(s for s in cert["signedHeader"]["commit"]["signatures"] if s["block_id_flag"] == 2)
    stamp = sig["timestamp"]  # RFC 3339 with nanoseconds: move the last digit
    sig["timestamp"] = stamp[:-2] + ("0" if stamp[-2] != "0" else "1") + "Z"
    with pytest.raises(CommitError) as info:
        verify_commit(cert, _block_hash(cert), TRUSTED)
    assert info.value.check == "signature"


def test_two_of_four_signatures_are_no_quorum() -> None:
    cert = _certificate()
    kept = 0
    for sig in cert["signedHeader"]["commit"]["signatures"]:
        if sig["block_id_flag"] == 2:
            kept += 1
            if kept > 2:
                sig["block_id_flag"] = 1
    with pytest.raises(CommitError) as info:
        verify_commit(cert, _block_hash(cert), TRUSTED)
    assert info.value.check == "quorum"


def test_untrusted_validator_set_is_refused() -> None:
    cert = _certificate()
    with pytest.raises(CommitError) as info:
        verify_commit(cert, _block_hash(cert), TRUSTED[:3])
    assert info.value.check == "validators"
    # A set swapped in the certificate no longer hashes to the signed header's validators_hash.
    cert["validators"] = cert["validators"][:3]
    with pytest.raises(CommitError) as info:
        verify_commit(cert, _block_hash(cert), None)
    assert info.value.check == "validators"
