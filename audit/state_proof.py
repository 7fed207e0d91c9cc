"""Verify an ``eth_getProof`` response (EIP-1186) against a state root the auditor trusts.

The state root comes from a block header the auditor has checked itself; the response comes from a
node it does not trust. The account proof is walked in the state trie under keccak256(address)
and must prove the account RLP [nonce, balance, storageRoot, codeHash] (Yellow Paper section 4.1)
that the response claims, or prove the account absent, in which case the response must report the
empty account. Each storage proof is then walked in the storage trie under
keccak256(slot as 32 bytes) from the proven storage root and must prove the claimed value
(RLP of the big-endian integer without leading zeros; 0 is stored as absence).

Responses are accepted as the JSON the wire carries (hex strings) and, for convenience, as
web3.py returns them (``int`` quantities, ``bytes`` data).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak

from audit.errors import ProofMalformed, ProofValueMismatch, ResponseMalformed
from audit.mpt import EMPTY_TRIE_ROOT, verify_proof
from audit.types import Address, Hash32

EMPTY_CODE_HASH = Hash32(keccak(b""))
"""Code hash of an account without code: keccak256 of the empty string (Yellow Paper 4.1)."""

_ADDRESS_LENGTH = 20
_HASH_LENGTH = 32
_SLOT_LENGTH = 32
"""A storage slot key is a 256-bit word (Yellow Paper 4.1, the storage trie maps 32-byte keys)."""


@dataclass(frozen=True)
class VerifiedSlot:
    """One storage slot whose value a proof established (EIP-1186 ``storageProof`` entry)."""

    key: bytes
    """The slot as a 32-byte big-endian word."""
    value: int
    """The proven value; 0 when the proof shows the slot is absent."""


@dataclass(frozen=True)
class VerifiedAccount:
    """An account as proven against a trusted state root (EIP-1186).

    ``exists`` is False when the proof shows the address is absent from the state trie; the other
    fields then hold the empty account's values (nonce 0, balance 0, empty storage root, empty
    code hash).
    """

    address: Address
    exists: bool
    nonce: int
    balance: int
    storage_root: Hash32
    code_hash: Hash32
    storage: tuple[VerifiedSlot, ...]

    def slot_value(self, slot: int) -> int:
        """Return the proven value of ``slot``; ``KeyError`` if the response did not prove it."""
        word = slot.to_bytes(_SLOT_LENGTH, "big")
        for entry in self.storage:
            if entry.key == word:
                return entry.value
        raise KeyError(f"slot 0x{word.hex()} was not in the verified response")


def verify_account_proof(state_root: bytes, response: Mapping[str, Any]) -> VerifiedAccount:
    """Verify an ``eth_getProof`` response against ``state_root`` and return what it proves.

    Follows EIP-1186: ``accountProof`` proves keccak256(``address``) in the state trie, whose leaf
    is RLP([nonce, balance, storageRoot, codeHash]) (Yellow Paper 4.1) and must equal the claimed
    ``nonce``, ``balance``, ``storageHash`` and ``codeHash``; an absent account must be claimed as
    nonce 0, balance 0, codeHash keccak256(b"") and storageHash the empty-trie root. Each
    ``storageProof`` entry proves keccak256(``key`` as 32 bytes) in the storage trie rooted at the
    proven storage root and must equal the claimed ``value`` (absent means 0).

    Raises ``ResponseMalformed`` for a missing or mistyped field, and the ``ProofError`` subclasses
    of ``audit.mpt.verify_proof`` plus ``ProofValueMismatch`` for a claim the proof does not
    support; each message names the account (and slot).
    """
    if len(state_root) != _HASH_LENGTH:
        raise ValueError(f"a state root is {_HASH_LENGTH} bytes, got {len(state_root)}")
    address = Address(_data(_field(response, "address", "address"), "address", _ADDRESS_LENGTH))
    claimed_nonce = _quantity(_field(response, "nonce", "nonce"), "nonce")
    claimed_balance = _quantity(_field(response, "balance", "balance"), "balance")
    claimed_storage_root = Hash32(
        _data(_field(response, "storageHash", "storageHash"), "storageHash", _HASH_LENGTH)
    )
    claimed_code_hash = Hash32(
        _data(_field(response, "codeHash", "codeHash"), "codeHash", _HASH_LENGTH)
    )
    account_proof = _proof(_field(response, "accountProof", "accountProof"), "accountProof")
    storage_entries = _field(response, "storageProof", "storageProof")
    if not isinstance(storage_entries, Sequence) or isinstance(storage_entries, (str, bytes)):
        raise ResponseMalformed("storageProof", "must be a list of {key, value, proof} objects")

    subject = f"account 0x{address.hex()}"
    path = keccak(address)
    depth = max(len(account_proof) - 1, 0)
    claimed = (claimed_nonce, claimed_balance, claimed_storage_root, claimed_code_hash)
    claimed_rlp: bytes = rlp.encode(list(claimed))

    proven_rlp = verify_proof(state_root, path, account_proof, subject=subject)
    if proven_rlp is None:
        proven = (0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
        reason_prefix = "the proof shows the account is absent, so it is the empty account, but "
    else:
        proven = _decode_account(proven_rlp, path, depth, subject)
        reason_prefix = ""
    differences = [
        f"the response claims {name} {_show(claim)} where the proof proves {_show(fact)}"
        for name, claim, fact in zip(
            ("nonce", "balance", "storageHash", "codeHash"), claimed, proven, strict=True
        )
        if claim != fact
    ]
    if differences:
        raise ProofValueMismatch(
            path,
            depth,
            reason_prefix + "; ".join(differences) + " (EIP-1186, Yellow Paper 4.1)",
            expected=claimed_rlp,
            actual=proven_rlp,
            subject=subject,
        )

    storage = tuple(
        _verify_slot(claimed_storage_root, address, entry, f"storageProof[{index}]")
        for index, entry in enumerate(storage_entries)
    )
    return VerifiedAccount(
        address=address,
        exists=proven_rlp is not None,
        nonce=claimed_nonce,
        balance=claimed_balance,
        storage_root=claimed_storage_root,
        code_hash=claimed_code_hash,
        storage=storage,
    )


def _verify_slot(
    storage_root: Hash32, address: Address, entry: Any, field: str
) -> VerifiedSlot:
    """Verify one EIP-1186 ``storageProof`` entry against the account's proven storage root.

    The storage trie is keyed by keccak256 of the slot as a 32-byte word and stores
    RLP(value as big-endian bytes without leading zeros); a zero value is never stored, so a
    proof of absence proves 0 (Yellow Paper 4.1 and the SSTORE rule of appendix H).
    """
    if not isinstance(entry, Mapping):
        raise ResponseMalformed(field, "must be an object with key, value and proof")
    slot = _slot(_field(entry, "key", f"{field}.key"), f"{field}.key")
    claimed_value = _quantity(_field(entry, "value", f"{field}.value"), f"{field}.value")
    proof = _proof(_field(entry, "proof", f"{field}.proof"), f"{field}.proof")
    if claimed_value >= 1 << 256:
        raise ResponseMalformed(f"{field}.value", "exceeds 256 bits, the width of a storage word")

    subject = f"storage slot 0x{slot.hex()} of account 0x{address.hex()}"
    path = keccak(slot)
    depth = max(len(proof) - 1, 0)
    proven_rlp = verify_proof(storage_root, path, proof, subject=subject)
    proven_value = 0 if proven_rlp is None else _decode_storage_value(
        proven_rlp, path, depth, subject
    )
    if proven_value != claimed_value:
        raise ProofValueMismatch(
            path,
            depth,
            f"the response claims value {claimed_value:#x} where the proof proves "
            f"{proven_value:#x}{' (the slot is absent)' if proven_rlp is None else ''} (EIP-1186)",
            expected=rlp.encode(claimed_value) if claimed_value else None,
            actual=proven_rlp,
            subject=subject,
        )
    return VerifiedSlot(key=slot, value=proven_value)


def _decode_account(
    encoded: bytes, path: bytes, depth: int, subject: str
) -> tuple[int, int, Hash32, Hash32]:
    """Decode the state-trie leaf RLP([nonce, balance, storageRoot, codeHash]) (Yellow Paper 4.1:
    nonce and balance are scalars, i.e. big-endian without leading zeros; the roots are 32-byte
    hashes)."""
    try:
        items = rlp.decode(encoded, strict=True)
    except rlp.DecodingError as exc:
        raise ProofMalformed(
            path, depth, f"the account leaf is not canonical RLP ({exc})", subject=subject
        ) from exc
    if not (
        isinstance(items, list) and len(items) == 4 and all(isinstance(i, bytes) for i in items)
    ):
        raise ProofMalformed(
            path,
            depth,
            "the account leaf is not a list of 4 byte strings [nonce, balance, storageRoot, "
            "codeHash] (Yellow Paper 4.1)",
            subject=subject,
        )
    nonce, balance, storage_root, code_hash = items
    for name, scalar in (("nonce", nonce), ("balance", balance)):
        if scalar[:1] == b"\x00":
            raise ProofMalformed(
                path,
                depth,
                f"the account {name} has leading zero bytes; RLP scalars have none (Yellow Paper "
                "appendix B)",
                subject=subject,
            )
    for name, digest in (("storageRoot", storage_root), ("codeHash", code_hash)):
        if len(digest) != _HASH_LENGTH:
            raise ProofMalformed(
                path,
                depth,
                f"the account {name} is {len(digest)} bytes, not {_HASH_LENGTH}",
                subject=subject,
            )
    return (
        int.from_bytes(nonce, "big"),
        int.from_bytes(balance, "big"),
        Hash32(storage_root),
        Hash32(code_hash),
    )


def _decode_storage_value(encoded: bytes, path: bytes, depth: int, subject: str) -> int:
    """Decode a storage-trie leaf: RLP of a non-zero 256-bit integer as big-endian bytes without
    leading zeros (Yellow Paper 4.1, the storage trie stores RLP(value) and deletes zeros)."""
    try:
        value = rlp.decode(encoded, strict=True)
    except rlp.DecodingError as exc:
        raise ProofMalformed(
            path, depth, f"the storage leaf is not canonical RLP ({exc})", subject=subject
        ) from exc
    if not isinstance(value, bytes) or not value or value[0] == 0 or len(value) > _SLOT_LENGTH:
        raise ProofMalformed(
            path,
            depth,
            f"the storage leaf 0x{encoded.hex()} is not RLP of a non-zero 256-bit integer "
            "without leading zeros (Yellow Paper 4.1)",
            subject=subject,
        )
    return int.from_bytes(value, "big")


def _field(mapping: Mapping[str, Any], name: str, path: str) -> Any:
    """Return ``mapping[name]``; ``ResponseMalformed`` naming ``path`` when it is missing."""
    if name not in mapping:
        raise ResponseMalformed(path, "is missing (EIP-1186 requires it)")
    return mapping[name]


def _hex_digits(value: str, field: str) -> str:
    """Strip the 0x prefix the JSON-RPC encoding requires and check the rest is hex."""
    if not value.startswith(("0x", "0X")):
        raise ResponseMalformed(field, f"{value!r} lacks the 0x prefix of JSON-RPC hex")
    digits = value[2:]
    if any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ResponseMalformed(field, f"{value!r} is not hex")
    return digits


def _data(value: Any, field: str, length: int | None = None) -> bytes:
    """Parse a JSON-RPC DATA value (0x-prefixed, two hex digits per byte) of ``length`` bytes,
    or take ``bytes`` as they are."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        digits = _hex_digits(value, field)
        if len(digits) % 2:
            raise ResponseMalformed(field, f"{value!r} has an odd number of hex digits")
        data = bytes.fromhex(digits)
    else:
        raise ResponseMalformed(field, f"must be 0x-hex DATA, got {type(value).__name__}")
    if length is not None and len(data) != length:
        raise ResponseMalformed(field, f"must be {length} bytes, got {len(data)}")
    return data


def _quantity(value: Any, field: str) -> int:
    """Parse a JSON-RPC QUANTITY (0x-prefixed hex integer), or take a non-negative ``int``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ResponseMalformed(field, f"must be non-negative, got {value}")
        return value
    if isinstance(value, str):
        digits = _hex_digits(value, field)
        if not digits:
            raise ResponseMalformed(field, f"{value!r} has no digits")
        return int(digits, 16)
    raise ResponseMalformed(field, f"must be a 0x-hex QUANTITY, got {type(value).__name__}")


def _slot(value: Any, field: str) -> bytes:
    """Parse a storage key into a 32-byte word. EIP-1186 asks for 32-byte DATA, but clients
    echo the key as the caller wrote it (geth accepts "0x0"), so any hex or int up to 256 bits
    is accepted and left-padded."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, (bytes, bytearray)):
        number = int.from_bytes(value, "big") if len(value) <= _SLOT_LENGTH else -1
    elif isinstance(value, str):
        digits = _hex_digits(value, field)
        if not digits or len(digits) > 2 * _SLOT_LENGTH:
            raise ResponseMalformed(field, f"{value!r} is not a hex word of 1 to 32 bytes")
        number = int(digits, 16)
    else:
        raise ResponseMalformed(field, f"must be a 0x-hex storage key, got {type(value).__name__}")
    if not 0 <= number < 1 << 256:
        raise ResponseMalformed(field, "is not a 256-bit storage slot")
    return number.to_bytes(_SLOT_LENGTH, "big")


def _proof(value: Any, field: str) -> list[bytes]:
    """Parse an EIP-1186 proof: a list of DATA values, each an RLP-encoded trie node."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ResponseMalformed(field, "must be a list of 0x-hex RLP-encoded trie nodes")
    return [_data(node, f"{field}[{index}]") for index, node in enumerate(value)]


def _show(value: object) -> str:
    """Render a claimed or proven account field (an int or a hash) for a message."""
    if isinstance(value, bytes):
        return f"0x{value.hex()}"
    return f"{value:#x}" if isinstance(value, int) else repr(value)
