"""CID text and binary forms: our standard-library encoder and splitter agree with the maintained
``multiformats`` library on every kind of CID we make, and text from outside is parsed by it."""

from __future__ import annotations

import hashlib
import os

import pytest
from multiformats import CID, multihash

from gateway.errors import InvalidCid
from gateway.payloads.cids import (DAG_PB, RAW, cid_text, normalize_cid, parse_cid, read_varint, sha256_cid,
                                   split_cid, varint)


@pytest.mark.parametrize("version,codec", [(0, DAG_PB), (1, DAG_PB), (1, RAW)])
def test_our_cid_text_and_split_agree_with_multiformats(version: int, codec: int) -> None:
    for _ in range(50):
        digest = hashlib.sha256(os.urandom(16)).digest()
        binary = sha256_cid(version, codec, digest)  # type: ignore[arg-type]
        reference = CID.decode(binary)
        expected = str(reference) if version == 0 else reference.encode("base32")
        assert cid_text(binary) == expected
        parts = split_cid(binary)
        assert (parts.version, parts.codec, parts.hash_code, parts.digest) == (
            reference.version, reference.codec.code, reference.hashfun.code, reference.raw_digest)
        assert parse_cid(expected) == binary == bytes(reference)


def test_published_reference_cids_parse_to_the_same_digest() -> None:
    # NOTES "IPFS": Kubo's CIDs of the 12 bytes "hello world\n".
    v0 = parse_cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    v1 = parse_cid("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    assert split_cid(v1).digest == hashlib.sha256(b"hello world\n").digest()
    assert split_cid(v0).codec == DAG_PB and split_cid(v1).codec == RAW


def test_any_multibase_normalises_to_base32_v1_or_base58_v0() -> None:
    v1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    other_bases = CID.decode(v1)
    assert normalize_cid(other_bases.encode("base58btc")) == v1  # js-ipfs answers in base58btc ("zb2…")
    assert normalize_cid(other_bases.encode("base36")) == v1
    assert normalize_cid(v1.upper()) == v1  # multibase "B": base32 upper case
    assert normalize_cid(f"/ipfs/{v1}") == v1
    assert normalize_cid("  QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\n") == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


@pytest.mark.parametrize("text", ["", "hello", "bafy", "Qm123", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei"])
def test_garbage_is_an_invalid_cid(text: str) -> None:
    with pytest.raises(InvalidCid):
        parse_cid(text)


def test_other_hash_functions_and_codecs_are_refused_with_the_reason() -> None:
    blake = CID("base32", 1, "raw", multihash.digest(b"x", "blake2b-256"))
    with pytest.raises(InvalidCid, match="blake2b-256"):
        parse_cid(str(blake))
    cbor = CID("base32", 1, "dag-cbor", multihash.digest(b"x", "sha2-256"))
    with pytest.raises(InvalidCid, match="dag-cbor"):
        parse_cid(str(cbor))


def test_varints_round_trip() -> None:
    for value in [0, 1, 127, 128, 255, 300, 2**14, 2**21 + 5, 2**35, 2**62]:
        encoded = varint(value)
        assert read_varint(encoded, 0) == (value, len(encoded))
    with pytest.raises(ValueError):
        read_varint(b"\x80\x80", 0)
