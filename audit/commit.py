"""Finality under CometBFT: check that a commit certifies an Ethereum block.

On a CityLedger network run by CometBFT validators (``node run --consensus cometbft``), blocks
carry no proof-of-authority seal. Each Ethereum block is certified instead by the CometBFT header
of the height after the one that made it: that header's ``app_hash`` is the Ethereum block's hash
(the node's ABCI application answers its latest block hash as app hash), and > 2/3 of the
validators' voting power signed the header's hash in their precommits. ``cityledger_getCommit``
returns the header, the commit and the validator set in CometBFT's JSON; this module checks them
with nothing from the node (STYLE rule 1), re-implementing the few protobuf encodings involved:

* **header hash** (CometBFT ``types.Header.Hash``): the RFC 6962 Merkle root (SHA-256, leaf
  prefix 0x00, inner 0x01; ``crypto/merkle``) of 14 fields, each protobuf-encoded — the version,
  the time and the last block id as messages, every other field wrapped as a
  ``google.protobuf.{String,Int64,Bytes}Value`` (empty when the value is empty);
* **validator set hash**: the same Merkle root over each validator's ``SimpleValidator``
  (ed25519 public key, voting power), in the set's order;
* **vote sign bytes** (``types.VoteSignBytes``): the length-prefixed (uvarint) protobuf
  ``CanonicalVote`` — type 2 (precommit), height and round as ``sfixed64``, the canonical block
  id, the signature's timestamp, the CometBFT chain id — verified with Ed25519 (RFC 8032).

A commit passes when: its block id is the header's hash, its height the header's; the validator
set hashes to the header's ``validators_hash`` and equals the trusted set (from the CometBFT
genesis, which a static validator set keeps); the Ed25519 signatures of validators flagged
``COMMIT`` verify and carry > 2/3 of the total voting power; and ``app_hash`` equals the Ethereum
block hash being certified.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.errors import AuditError

#: ``tendermint.types.SignedMsgType``: PRECOMMIT.
PRECOMMIT = 2
#: ``tendermint.types.BlockIDFlag``: the validator signed for the block.
FLAG_COMMIT = 2


class CommitError(AuditError):
    """Raised when a CometBFT commit does not certify the block it was offered for; ``check``
    names the failed check (``header``, ``validators``, ``signature``, ``quorum``, ``app-hash``)."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"commit check {check} failed: {reason}")


@dataclass(frozen=True)
class Validator:
    """A validator as the commit check needs it: address, Ed25519 key, voting power."""

    address: bytes
    public_key: bytes
    power: int


@dataclass(frozen=True)
class CommitVerdict:
    """What a verified commit established."""

    height: int
    app_hash: bytes
    signed_power: int
    total_power: int
    signers: tuple[bytes, ...]


# ---------------------------------------------------------------------- protobuf, by hand
def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    """A varint field; proto3 omits zero. Negative int64 values are 10-byte two's complement."""
    if value == 0:
        return b""
    return _uvarint(number << 3) + _uvarint(value & 0xFFFFFFFFFFFFFFFF)


def _bytes_field(number: int, value: bytes, *, always: bool = False) -> bytes:
    if not value and not always:
        return b""
    return _uvarint(number << 3 | 2) + _uvarint(len(value)) + value


def _sfixed64_field(number: int, value: int) -> bytes:
    if value == 0:
        return b""
    return _uvarint(number << 3 | 1) + (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def _timestamp(seconds: int, nanos: int) -> bytes:
    """``google.protobuf.Timestamp``."""
    return _varint_field(1, seconds) + _varint_field(2, nanos)


def _part_set_header(parts: Mapping[str, Any]) -> bytes:
    return _varint_field(1, int(parts.get("total") or 0)) + _bytes_field(2, _hex(parts.get("hash")))


def _block_id(block_id: Mapping[str, Any]) -> bytes:
    """``tendermint.types.BlockID`` (and ``CanonicalBlockID``: the same fields and numbers); the
    part set header is a non-nullable field, so it is written even when empty."""
    return (_bytes_field(1, _hex(block_id.get("hash")))
            + _bytes_field(2, _part_set_header(block_id.get("parts") or {}), always=True))


# ---------------------------------------------------------------------- JSON fields
def _hex(value: Any) -> bytes:
    return bytes.fromhex(value) if value else b""


def parse_time(text: str) -> tuple[int, int]:
    """RFC 3339 with up to nanoseconds (CometBFT's JSON time) → (seconds, nanos) since the epoch."""
    if not text.endswith("Z"):
        raise CommitError("header", f"time {text!r} is not in UTC")
    main, _, fraction = text[:-1].partition(".")
    moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    seconds = int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return seconds, nanos


def merkle_root(items: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash with SHA-256 (CometBFT ``crypto/merkle.HashFromByteSlices``)."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1 << ((len(items) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(items[:split]) + merkle_root(items[split:])).digest()


def header_hash(header: Mapping[str, Any]) -> bytes:
    """CometBFT ``types.Header.Hash`` of a header in CometBFT's JSON."""
    version = header.get("version") or {}
    seconds, nanos = parse_time(str(header["time"]))
    fields = [
        _varint_field(1, int(version.get("block") or 0)) + _varint_field(2, int(version.get("app") or 0)),
        _bytes_field(1, str(header["chain_id"]).encode()),
        _varint_field(1, int(header["height"])),
        _timestamp(seconds, nanos),
        _block_id(header.get("last_block_id") or {}),
    ] + [_bytes_field(1, _hex(header.get(name))) for name in (
        "last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash",
        "app_hash", "last_results_hash", "evidence_hash", "proposer_address")]
    return merkle_root(fields)


def parse_validators(entries: Sequence[Mapping[str, Any]]) -> list[Validator]:
    """Validators from CometBFT's JSON (``/validators``: ``voting_power``; genesis: ``power``)."""
    out = []
    for entry in entries:
        key = entry["pub_key"]
        if key.get("type") != "tendermint/PubKeyEd25519":
            raise CommitError("validators", f"unsupported validator key type {key.get('type')!r}")
        public_key = base64.b64decode(key["value"])
        power = int(entry.get("voting_power", entry.get("power", 0)))
        address = hashlib.sha256(public_key).digest()[:20]
        if entry.get("address") and _hex(entry["address"]) != address:
            raise CommitError("validators", f"validator {entry['address']} is not the address of its key")
        out.append(Validator(address, public_key, power))
    return out


def validator_set_hash(validators: Sequence[Validator]) -> bytes:
    """``ValidatorSet.Hash``: each ``SimpleValidator{PublicKey{ed25519}, voting_power}``."""
    return merkle_root([_bytes_field(1, _bytes_field(1, v.public_key)) + _varint_field(2, v.power)
                        for v in validators])


def vote_sign_bytes(chain_id: str, height: int, round_: int, block_id: Mapping[str, Any],
                    timestamp: str) -> bytes:
    """``types.VoteSignBytes`` of a precommit for ``block_id``."""
    seconds, nanos = parse_time(timestamp)
    body = (_varint_field(1, PRECOMMIT) + _sfixed64_field(2, height) + _sfixed64_field(3, round_)
            + _bytes_field(4, _block_id(block_id), always=True)
            + _bytes_field(5, _timestamp(seconds, nanos), always=True)
            + _bytes_field(6, chain_id.encode()))
    return _uvarint(len(body)) + body


# ---------------------------------------------------------------------- the check
def verify_commit(certificate: Mapping[str, Any], block_hash: bytes,
                  trusted: Sequence[Validator] | None = None) -> CommitVerdict:
    """Check that ``certificate`` (``cityledger_getCommit``'s answer) certifies the Ethereum block
    ``block_hash``; ``trusted`` is the validator set the auditor pinned (the CometBFT genesis'),
    without which the set in the certificate is only checked against the signed header."""
    signed = certificate["signedHeader"]
    header, commit = signed["header"], signed["commit"]
    computed = header_hash(header)
    commit_block = _hex((commit.get("block_id") or {}).get("hash"))
    if commit_block != computed:
        raise CommitError("header", f"the commit signs block 0x{commit_block.hex()}, the header hashes to "
                                    f"0x{computed.hex()}")
    height = int(header["height"])
    if int(commit["height"]) != height:
        raise CommitError("header", f"the commit is for height {commit['height']}, the header {height}")
    app_hash = _hex(header.get("app_hash"))
    if app_hash != block_hash:
        raise CommitError("app-hash", f"the header's app hash is 0x{app_hash.hex()}, the block's hash "
                                      f"0x{block_hash.hex()}")
    validators = parse_validators(certificate["validators"])
    if validator_set_hash(validators) != _hex(header.get("validators_hash")):
        raise CommitError("validators", "the validator set does not hash to the header's validators_hash")
    if trusted is not None and {(v.public_key, v.power) for v in validators} != \
            {(v.public_key, v.power) for v in trusted}:
        raise CommitError("validators", "the validator set differs from the trusted (genesis) set")
    by_address = {v.address: v for v in validators}
    total = sum(v.power for v in validators)
    signed_power = 0
    signers: list[bytes] = []
    chain_id = str(header["chain_id"])
    for index, sig in enumerate(commit.get("signatures") or []):
        if int(sig.get("block_id_flag", 0)) != FLAG_COMMIT:
            continue
        address = _hex(sig.get("validator_address"))
        validator = by_address.get(address)
        if validator is None:
            raise CommitError("signature", f"signature {index} is by 0x{address.hex()}, not a validator")
        if address in signers:
            raise CommitError("signature", f"validator 0x{address.hex()} signed twice")
        message = vote_sign_bytes(chain_id, height, int(commit.get("round") or 0), commit["block_id"],
                                  str(sig["timestamp"]))
        try:
            Ed25519PublicKey.from_public_bytes(validator.public_key).verify(
                base64.b64decode(sig.get("signature") or ""), message)
        except (InvalidSignature, ValueError) as exc:
            raise CommitError("signature", f"signature {index} by validator 0x{address.hex()} does not "
                                           f"verify") from exc
        signed_power += validator.power
        signers.append(address)
    if 3 * signed_power <= 2 * total:
        raise CommitError("quorum", f"signatures carry {signed_power} of {total} voting power; more than "
                                    f"2/3 is needed")
    return CommitVerdict(height, app_hash, signed_power, total, tuple(signers))


# ---------------------------------------------------------------------- a whole chain
@dataclass(frozen=True)
class BlockFinality:
    """One block's outcome in :func:`audit_commits`: ``verdict`` when certified, ``error`` when a
    check failed, neither while the certifying header is not committed yet (the newest block)."""

    number: int
    block_hash: bytes
    verdict: CommitVerdict | None = None
    error: CommitError | None = None


def audit_commits(rpc_url: str, trusted: Sequence[Validator], start: int = 1, end: int | None = None
                  ) -> list[BlockFinality]:
    """Check the CometBFT commit of every block from ``start`` to ``end`` (the head when None).

    Each block's hash is computed here, keccak256 of its raw header (``debug_getRawHeader``;
    Yellow Paper 4.3), so the commit certifies the header's own content — state, transactions
    and receipts roots — not a hash the node reported; consecutive headers must link by
    ``parentHash`` (RLP field 0)."""
    import rlp
    from eth_hash.auto import keccak

    from audit.rpc import RpcClient

    client = RpcClient(rpc_url)
    try:
        top = int(client.call("eth_blockNumber"), 16) if end is None else end
        out: list[BlockFinality] = []
        parent: bytes | None = None
        if start > 0:
            raw_parent = client.call("debug_getRawHeader", [hex(start - 1)])
            parent = keccak(bytes.fromhex(str(raw_parent)[2:]))
        for number in range(start, top + 1):
            raw = bytes.fromhex(str(client.call("debug_getRawHeader", [hex(number)]))[2:])
            block_hash = keccak(raw)
            if parent is not None and bytes(rlp.decode(raw)[0]) != parent:
                out.append(BlockFinality(number, block_hash, error=CommitError(
                    "header", f"block {number}'s parentHash is not block {number - 1}'s hash")))
                parent = block_hash
                continue
            parent = block_hash
            certificate = client.call("cityledger_getCommit", [hex(number)])
            if certificate is None:
                out.append(BlockFinality(number, block_hash))
                continue
            try:
                out.append(BlockFinality(number, block_hash, verdict=verify_commit(certificate, block_hash, trusted)))
            except CommitError as exc:
                out.append(BlockFinality(number, block_hash, error=exc))
            except (KeyError, TypeError, ValueError) as exc:
                out.append(BlockFinality(number, block_hash, error=CommitError("format", f"malformed commit: {exc}")))
        return out
    finally:
        client.close()
