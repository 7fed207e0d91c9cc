"""Finality under CometBFT, checked by the gateway itself: does a commit certify a block?

On a CityLedger network of CometBFT validators (``node run --consensus cometbft``) headers carry
no seal. Ethereum block N is certified by the CometBFT header of the height after the one that
made it: that header's ``app_hash`` is block N's hash, and validators holding > 2/3 of the voting
power signed the header's hash in their precommits. ``cityledger_getCommit(N)`` returns the
signed header, its commit and the validator set in CometBFT's JSON.

This is the gateway's own code (STYLE 1: the audit toolkit has its own, ``audit/commit.py``, and
both are judged by the same vector, ``tests/vectors/cometbft_commit.json``). The encodings
(CometBFT v0.39 ``types``):

* header hash: the RFC 6962 Merkle root (SHA-256; ``crypto/merkle``) of the header's 14 fields,
  each protobuf-encoded (version, time and last block id as messages, the rest wrapped as
  ``google.protobuf.{String,Int64,Bytes}Value``);
* validator set hash: the same root over each ``SimpleValidator{ed25519 key, voting power}``;
* vote sign bytes: the uvarint-length-prefixed ``CanonicalVote`` (precommit, height and round as
  ``sfixed64``, block id, timestamp, chain id), verified with Ed25519 (RFC 8032).

Every failure is ``ProofInvalid("commit", …)``: ``commit`` is the stable check name, the detail
says which part failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import ProofInvalid

_PRECOMMIT = 2
_FLAG_COMMIT = 2


def _fail(detail: str) -> ProofInvalid:
    return ProofInvalid("commit", detail)


@dataclass(frozen=True)
class Validator:
    address: bytes
    public_key: bytes
    power: int


@dataclass(frozen=True)
class CometGenesis:
    """The trust anchor of a CometBFT chain: its CometBFT chain id, the genesis validator set
    (static until validator-set governance exists) and the app hash it starts from (CityLedger's
    genesis block hash, ``scripts/testnet``)."""

    chain_id: str
    validators: tuple[Validator, ...]
    app_hash: bytes
    #: The validator entries as the genesis file writes them (the bundle's trust anchor section).
    entries: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, path: Path) -> CometGenesis:
        try:
            doc = json.loads(path.read_text())
            return cls.from_json(doc)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _fail(f"cannot read the CometBFT genesis {path}: {exc!r}") from exc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CometGenesis:
        entries = tuple(dict(v) for v in doc["validators"])
        return cls(str(doc["chain_id"]), tuple(parse_validators(entries)), _hex(doc.get("app_hash")), entries)

    def anchor(self) -> dict[str, Any]:
        """The bundle's ``cometbft`` section: what a verifier compares with the genesis it pins."""
        return {"chainId": self.chain_id, "appHash": "0x" + self.app_hash.hex(),
                "validators": [dict(v) for v in self.entries]}


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _varint(number: int, value: int) -> bytes:
    return b"" if value == 0 else _uvarint(number << 3) + _uvarint(value & 0xFFFFFFFFFFFFFFFF)


def _field(number: int, value: bytes, *, always: bool = False) -> bytes:
    return b"" if not value and not always else _uvarint(number << 3 | 2) + _uvarint(len(value)) + value


def _sfixed64(number: int, value: int) -> bytes:
    return b"" if value == 0 else _uvarint(number << 3 | 1) + (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def _hex(value: Any) -> bytes:
    return bytes.fromhex(value) if value else b""


def _time(text: str) -> bytes:
    """RFC 3339 UTC with up to nanoseconds → ``google.protobuf.Timestamp``."""
    if not text.endswith("Z"):
        raise _fail(f"time {text!r} is not in UTC")
    main, _, fraction = text[:-1].partition(".")
    moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    seconds = int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())
    return _varint(1, seconds) + _varint(2, int((fraction + "000000000")[:9]) if fraction else 0)


def _block_id(block_id: Mapping[str, Any]) -> bytes:
    parts = block_id.get("parts") or {}
    return _field(1, _hex(block_id.get("hash"))) + _field(
        2, _varint(1, int(parts.get("total") or 0)) + _field(2, _hex(parts.get("hash"))), always=True)


def merkle_root(items: Sequence[bytes]) -> bytes:
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1 << ((len(items) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(items[:split]) + merkle_root(items[split:])).digest()


def header_hash(header: Mapping[str, Any]) -> bytes:
    version = header.get("version") or {}
    fields = [
        _varint(1, int(version.get("block") or 0)) + _varint(2, int(version.get("app") or 0)),
        _field(1, str(header["chain_id"]).encode()),
        _varint(1, int(header["height"])),
        _time(str(header["time"])),
        _block_id(header.get("last_block_id") or {}),
    ] + [_field(1, _hex(header.get(name))) for name in (
        "last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash",
        "app_hash", "last_results_hash", "evidence_hash", "proposer_address")]
    return merkle_root(fields)


def parse_validators(entries: Sequence[Mapping[str, Any]]) -> list[Validator]:
    out = []
    for entry in entries:
        key = entry["pub_key"]
        if key.get("type") != "tendermint/PubKeyEd25519":
            raise _fail(f"unsupported validator key type {key.get('type')!r}")
        public_key = base64.b64decode(key["value"])
        address = hashlib.sha256(public_key).digest()[:20]
        if entry.get("address") and _hex(entry["address"]) != address:
            raise _fail(f"validator {entry['address']} is not the address of its key")
        out.append(Validator(address, public_key, int(entry.get("voting_power", entry.get("power", 0)))))
    return out


def validator_set_hash(validators: Sequence[Validator]) -> bytes:
    return merkle_root([_field(1, _field(1, v.public_key)) + _varint(2, v.power) for v in validators])


def _sign_bytes(chain_id: str, height: int, round_: int, block_id: Mapping[str, Any], timestamp: str) -> bytes:
    body = (_varint(1, _PRECOMMIT) + _sfixed64(2, height) + _sfixed64(3, round_)
            + _field(4, _block_id(block_id), always=True) + _field(5, _time(timestamp), always=True)
            + _field(6, chain_id.encode()))
    return _uvarint(len(body)) + body


def verify_commit(certificate: Any, block_hash: bytes, genesis: CometGenesis) -> int:
    """Check that ``certificate`` (``cityledger_getCommit``'s answer) certifies the Ethereum block
    ``block_hash`` under the pinned ``genesis``; returns the signed voting power."""
    try:
        return _verify(certificate, block_hash, genesis)
    except ProofInvalid:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _fail(f"malformed commit: {exc!r}") from exc


def _verify(certificate: Any, block_hash: bytes, genesis: CometGenesis) -> int:
    if not isinstance(certificate, dict):
        raise _fail("no CometBFT commit for this block")
    signed = certificate["signedHeader"]
    header, commit = signed["header"], signed["commit"]
    if str(header["chain_id"]) != genesis.chain_id:
        raise _fail(f"the header is for CometBFT chain {header['chain_id']!r}, the pinned one is {genesis.chain_id!r}")
    computed = header_hash(header)
    if _hex((commit.get("block_id") or {}).get("hash")) != computed:
        raise _fail(f"the commit does not sign the header (which hashes to 0x{computed.hex()})")
    height = int(header["height"])
    if int(commit["height"]) != height:
        raise _fail(f"the commit is for height {commit['height']}, the header {height}")
    app_hash = _hex(header.get("app_hash"))
    if app_hash != block_hash:
        raise _fail(f"the header's app hash is 0x{app_hash.hex()}, the block's hash 0x{block_hash.hex()}")
    validators = parse_validators(certificate["validators"])
    if validator_set_hash(validators) != _hex(header.get("validators_hash")):
        raise _fail("the validator set does not hash to the header's validators_hash")
    if {(v.public_key, v.power) for v in validators} != {(v.public_key, v.power) for v in genesis.validators}:
        raise _fail("the validator set differs from the pinned CometBFT genesis set")
    by_address = {v.address: v for v in validators}
    total = sum(v.power for v in validators)
    signed_power = 0
    seen: set[bytes] = set()
    for index, sig in enumerate(commit.get("signatures") or []):
        if int(sig.get("block_id_flag", 0)) != _FLAG_COMMIT:
            continue
        address = _hex(sig.get("validator_address"))
        validator = by_address.get(address)
        if validator is None or address in seen:
            raise _fail(f"signature {index} is by 0x{address.hex()}, not a validator or a second time")
        message = _sign_bytes(str(header["chain_id"]), height, int(commit.get("round") or 0), commit["block_id"],
                              str(sig["timestamp"]))
        try:
            Ed25519PublicKey.from_public_bytes(validator.public_key).verify(
                base64.b64decode(sig.get("signature") or ""), message)
        except (InvalidSignature, ValueError) as exc:
            raise _fail(f"signature {index} by validator 0x{address.hex()} does not verify") from exc
        signed_power += validator.power
        seen.add(address)
    if 3 * signed_power <= 2 * total:
        raise _fail(f"signatures carry {signed_power} of {total} voting power; more than 2/3 is needed")
    return signed_power
