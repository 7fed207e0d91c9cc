"""The chain as a transparency log: RFC 6962 Merkle trees over block hashes, checkpoints,
cosignatures and witness keys, written from the specifications (independent of the node's code).

**The log.** Leaf ``i`` is the 32-byte hash of block ``i``; the tree of a chain at height ``h`` has
``h + 1`` leaves. Hashes follow RFC 6962 section 2.1 (RFC 9162 section 2.1): SHA-256, leaf hash
``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)``, the left subtree of a
tree of ``n > 1`` leaves holding the largest power of two smaller than ``n``. Inclusion and
consistency proofs are verified with RFC 9162's algorithms (sections 2.1.3.2 and 2.1.4.2).

**Checkpoints** (C2SP ``tlog-checkpoint``): a signed note (C2SP ``signed-note``) whose text is the
origin line, the tree size and the base64 root::

    cityledger/17228/0x<genesis hash, 64 hex digits>
    40
    <base64 of the 32-byte RFC 6962 root>

**The sealer's signature** is a note signature line ``— <origin> base64(key ID || sig)`` where
``sig`` is the 65-byte secp256k1 signature ``r || s || v`` (v in {0, 1}) by a sealer key over the
EIP-191 ``personal_sign`` hash of the note text, and the key ID is
``SHA-256(origin || 0x0A || 0xff || "cityledger/secp256k1-eip191" || 20-byte address)[:4]`` (signed-note
reserves type ``0xff`` for signature types it does not number, followed by a longer identifier).
Why secp256k1 and not Ed25519: the verifier already trusts the sealer set as Ethereum addresses
(genesis and ``SealersChanged``), and an ECDSA signature recovers its address, so no separate key
needs distributing or binding; the same key (keystore or HSM) that seals headers signs checkpoints,
and EIP-191 separates the two domains (a header's RLP starts with ``0xf9``, never ``0x19``).

**Witness cosignatures** (C2SP ``tlog-cosignature``, Ed25519 ``cosignature/v1``): a note signature
line ``— <witness name> base64(key ID || timestamp (8 bytes, big-endian) || Ed25519 signature)``
over ``"cosignature/v1\\ntime <timestamp>\\n" || note text``, key ID
``SHA-256(name || 0x0A || 0x04 || public key)[:4]``; keys travel as vkeys
``<name>+<hex key ID>+<base64(0x04 || public key)>``.

**Witness key binding** (CityLedger): MemberRegistry's witness set holds Ethereum *accounts* of
auditor members; a witness's Ed25519 key is bound to its account by a statement the account signs
(EIP-191 ``personal_sign``, the same form as the sealer's)::

    cityledger-witness-key/v1
    origin <origin>
    account 0x<address, lower case>
    key <vkey>

so a cosignature counts for a verifier when its key is pinned (``--witness-key``) or bound to an
account of the registry's witness set. The binding names the origin, so it cannot be replayed on
another chain, and it needs no contract change (the encryption-key slot holds an X25519 key for
deliveries and must not be reused for signing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_hash.auto import keccak
from eth_keys import keys

from audit.errors import AuditError

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 6962: the hash of the empty tree is SHA-256 of the empty string."""

SEALER_SIGNATURE_TYPE = b"\xff" + b"cityledger/secp256k1-eip191"
"""Signature type of the sealer's checkpoint signature (signed-note type 0xff and an identifier)."""
COSIGNATURE_TYPE = b"\x04"
"""Signature type of Ed25519 ``cosignature/v1`` witness cosignatures (tlog-cosignature)."""
BINDING_HEADER = "cityledger-witness-key/v1"
_EM_DASH = "\u2014 "


class NoteError(AuditError):
    """Raised when a signed note, checkpoint, cosignature, vkey or key binding is malformed or a
    signature on it does not verify. ``check`` is the stable check name it belongs to
    (``checkpoint``, ``cosignature``), ``reason`` what exactly was wrong."""

    check: str
    reason: str

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"{check}: {reason}")


class TreeProofError(AuditError):
    """Raised when an RFC 6962 inclusion or consistency proof does not verify against the roots
    it was offered for. ``kind`` is ``inclusion`` or ``consistency``; ``reason`` says what failed."""

    kind: str
    reason: str

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind} proof: {reason}")


# ----------------------------------------------------------------------------------- RFC 6962
def leaf_hash(leaf: bytes) -> bytes:
    """RFC 6962 section 2.1: ``MTH({d}) = SHA-256(0x00 || d)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 section 2.1: an interior node is ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``): the left subtree's size."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` over leaf *hashes* (RFC 6962 section 2.1)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[start]
    k = _split(n)
    return node_hash(_mth(hashes, start, start + k), _mth(hashes, start + k, end))


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves`` (block hashes)."""
    return _mth([leaf_hash(x) for x in leaves], 0, len(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """RFC 6962 section 2.1.1 ``PATH(m, D[n])``: the audit path of leaf ``index`` in the tree of
    the first ``size`` leaves (all by default)."""
    n = len(leaves) if size is None else size
    if not 0 <= index < n <= len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {n} leaves")
    hashes = [leaf_hash(x) for x in leaves[:n]]

    def path(m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if m < k:
            return path(m, start, start + k) + [_mth(hashes, start + k, end)]
        return path(m - k, start + k, end) + [_mth(hashes, start, start + k)]

    return path(index, 0, n)


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 section 2.1.2 ``PROOF(m, D[n])``: the consistency proof from the tree of the first
    ``old_size`` leaves to the tree of the first ``new_size``."""
    if not 0 < old_size <= new_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    hashes = [leaf_hash(x) for x in leaves[:new_size]]

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [_mth(hashes, start, end)]
        k = _split(n)
        if m <= k:
            return subproof(m, start, start + k, complete) + [_mth(hashes, start + k, end)]
        return subproof(m - k, start + k, end, False) + [_mth(hashes, start, start + k)]

    return subproof(old_size, 0, new_size, True)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> None:
    """RFC 9162 section 2.1.3.2: check that ``leaf`` is leaf ``index`` of the tree of ``size``
    leaves whose root is ``expected_root``; raises :class:`TreeProofError`."""
    if not 0 <= index < size:
        raise TreeProofError("inclusion", f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            raise TreeProofError("inclusion", f"the proof has {len(proof)} hashes, more than a tree of {size} needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise TreeProofError("inclusion", f"the proof has {len(proof)} hashes, fewer than a tree of {size} needs")
    if r != expected_root:
        raise TreeProofError("inclusion", f"the path leads to root {_b64(r)}, the checkpoint's root is {_b64(expected_root)}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2: check that the tree of ``new_size`` leaves with ``new_root``
    extends the tree of ``old_size`` leaves with ``old_root``; raises :class:`TreeProofError`."""
    if old_size > new_size:
        raise TreeProofError("consistency", f"the old size {old_size} exceeds the new size {new_size}")
    if old_size == new_size:
        if proof:
            raise TreeProofError("consistency", "a proof between equal sizes must be empty")
        if old_root != new_root:
            raise TreeProofError("consistency", "two different roots for the same tree size")
        return
    if old_size == 0:
        if proof:
            raise TreeProofError("consistency", "a proof from the empty tree must be empty")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path = [old_root, *path]
    if not path:
        raise TreeProofError("consistency", "the proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise TreeProofError("consistency", "the proof is longer than the trees need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise TreeProofError("consistency", "the proof is shorter than the trees need")
    if fr != old_root:
        raise TreeProofError("consistency", f"the proof rebuilds the old root as {_b64(fr)}, not {_b64(old_root)}")
    if sr != new_root:
        raise TreeProofError("consistency", f"the proof rebuilds the new root as {_b64(sr)}, not {_b64(new_root)}")


@dataclass
class CompactRange:
    """The right edge of a growing RFC 6962 tree: the roots of its perfect subtrees, largest
    first (the binary decomposition of ``size``). Appending a leaf costs amortised one hash, and the
    root is ``O(log size)`` hashes: a witness or an audit follows a long chain in constant memory."""

    size: int = 0
    peaks: list[bytes] | None = None

    def append(self, leaf: bytes) -> None:
        """Add block hash ``leaf`` as the next leaf."""
        peaks = self.peaks if self.peaks is not None else []
        node = leaf_hash(leaf)
        size = self.size
        while size & 1:
            node = node_hash(peaks.pop(), node)
            size >>= 1
        peaks.append(node)
        self.peaks = peaks
        self.size += 1

    def root(self) -> bytes:
        """The root of the tree of the leaves appended so far (the peaks folded right to left)."""
        if not self.peaks:
            return EMPTY_ROOT
        node = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            node = node_hash(peak, node)
        return node

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "peaks": [p.hex() for p in self.peaks or []]}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> CompactRange:
        peaks = doc.get("peaks")
        size = doc.get("size")
        if not isinstance(size, int) or not isinstance(peaks, list) or len(peaks) != bin(size).count("1"):
            raise ValueError("a compact range is {size, peaks} with one peak per bit of size")
        return cls(size, [bytes.fromhex(str(p)) for p in peaks])


# ---------------------------------------------------------------------------- signed notes
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str, check: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(check, f"{what} is not base64: {exc}") from exc


def eip191_hash(message: bytes) -> bytes:
    """EIP-191 version 0x45 (``personal_sign``): keccak256 of
    ``"\\x19Ethereum Signed Message:\\n" || decimal length || message``."""
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def recover_eip191(message: bytes, signature: bytes) -> bytes:
    """The address whose key made ``signature`` (65 bytes, ``r || s || v`` with v in {0, 1, 27,
    28}) over the EIP-191 hash of ``message``; raises ``ValueError`` when it recovers nothing."""
    if len(signature) != 65:
        raise ValueError(f"a secp256k1 signature is 65 bytes, got {len(signature)}")
    v = signature[64]
    if v >= 27:
        signature = signature[:64] + bytes([v - 27])
    try:
        public = keys.Signature(signature).recover_public_key_from_msg_hash(eip191_hash(message))
    except Exception as exc:  # eth-keys raises BadSignature and ValueError
        raise ValueError(f"the signature recovers no key: {exc}") from exc
    return bytes(public.to_canonical_address())


def sign_eip191(message: bytes, private_key: bytes) -> bytes:
    """``personal_sign`` with a secp256k1 key: 65 bytes ``r || s || v`` (v in {0, 1})."""
    return bytes(keys.PrivateKey(private_key).sign_msg_hash(eip191_hash(message)).to_bytes())


@dataclass(frozen=True)
class SignatureLine:
    """One signed-note signature line: the key name, the 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def render(self) -> str:
        return f"{_EM_DASH}{self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A signed note (C2SP signed-note): its text (ending in a newline) and signature lines."""

    text: str
    signatures: tuple[SignatureLine, ...]

    def render(self) -> str:
        """The note in its wire form: text, blank line, signature lines."""
        return self.text + "\n" + "".join(s.render() for s in self.signatures)

    def with_signatures(self, extra: Sequence[SignatureLine]) -> Note:
        """The same note with ``extra`` lines added (duplicates dropped)."""
        seen = set(self.signatures)
        return Note(self.text, self.signatures + tuple(s for s in extra if s not in seen))


def parse_note(wire: str, check: str = "checkpoint") -> Note:
    """Parse a signed note (C2SP signed-note "Format"): UTF-8 text without control characters
    other than newline, ending in a newline, a blank line, then signature lines
    ``— <name> <base64>``; the text is separated at the *last* blank line."""
    if any(ord(c) < 0x20 and c != "\n" for c in wire):
        raise NoteError(check, "a signed note contains no control characters other than newline")
    cut = wire.rfind("\n\n")
    if cut < 0:
        raise NoteError(check, "a signed note has a blank line between its text and its signatures")
    text, lines = wire[: cut + 1], wire[cut + 2:]
    if not lines.endswith("\n") or not lines.strip():
        raise NoteError(check, "a signed note has at least one signature line, each ending in a newline")
    signatures = []
    for line in lines[:-1].split("\n"):
        if not line.startswith(_EM_DASH):
            raise NoteError(check, f"a signature line starts with an em dash and a space: {line[:40]!r}")
        name, _, encoded = line[len(_EM_DASH):].partition(" ")
        if not name or " " in encoded or not encoded:
            raise NoteError(check, f"a signature line is '— <key name> <base64>': {line[:60]!r}")
        raw = _unb64(encoded, f"the signature of {name}", check)
        if len(raw) < 5:
            raise NoteError(check, f"the signature of {name} is shorter than a key ID and a signature")
        signatures.append(SignatureLine(name, raw[:4], raw[4:]))
    if len(signatures) > 100:
        raise NoteError(check, f"{len(signatures)} signatures; at most 100 are accepted")
    return Note(text, tuple(signatures))


def key_id(name: str, signature_type: bytes, public_key: bytes) -> bytes:
    """signed-note's recommended key ID: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + signature_type + public_key).digest()[:4]


# ------------------------------------------------------------------------------ checkpoints
def origin_for(chain_id: int, genesis_hash: bytes) -> str:
    """The origin line of a CityLedger chain: its chain id and genesis block hash."""
    return f"cityledger/{chain_id}/0x{genesis_hash.hex()}"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's text (tlog-checkpoint "Note text"), parsed and checked."""

    origin: str
    size: int
    root: bytes

    @property
    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n"

    @property
    def chain(self) -> tuple[int, bytes]:
        """(chain id, genesis hash) named by a CityLedger origin; ``NoteError`` for another origin."""
        parts = self.origin.split("/")
        try:
            if len(parts) != 3 or parts[0] != "cityledger" or not parts[2].startswith("0x") or len(parts[2]) != 66:
                raise ValueError(self.origin)
            return int(parts[1]), bytes.fromhex(parts[2][2:])
        except ValueError as exc:
            raise NoteError("checkpoint", f"the origin {self.origin!r} is not cityledger/<chain id>/0x<genesis hash>") from exc


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint's note text: origin, decimal tree size without leading zeroes, base64
    root of 32 bytes; extension lines, if any, must be non-empty (tlog-checkpoint "Note text")."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("checkpoint", "a checkpoint is at least three non-empty lines, each ending in a newline")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if " " in origin or "+" in origin:
        raise NoteError("checkpoint", f"the origin {origin!r} contains a space or a plus")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError("checkpoint", f"the tree size {size_text!r} is not a decimal without leading zeroes")
    root_hash = _unb64(root_text, "the root hash", "checkpoint")
    if len(root_hash) != 32:
        raise NoteError("checkpoint", f"the root hash is {len(root_hash)} bytes, not 32")
    return Checkpoint(origin, int(size_text), root_hash)


def sealer_key_id(origin: str, address: bytes) -> bytes:
    """Key ID of a sealer's checkpoint signature (see the module docstring)."""
    return key_id(origin, SEALER_SIGNATURE_TYPE, address)


def sign_checkpoint(checkpoint: Checkpoint, private_key: bytes) -> Note:
    """A checkpoint signed by a sealer key (tests and tools; the node signs with its own code)."""
    address = bytes(keys.PrivateKey(private_key).public_key.to_canonical_address())
    signature = sign_eip191(checkpoint.text.encode(), private_key)
    return Note(checkpoint.text, (SignatureLine(checkpoint.origin, sealer_key_id(checkpoint.origin, address), signature),))


def verify_sealer_signature(note: Note, sealers: Sequence[bytes]) -> bytes:
    """Return the sealer (of ``sealers``) whose signature on ``note`` verifies.

    signed-note "Signatures": lines from unknown keys are ignored; a line whose name and key ID
    match a known key must verify, and a failure rejects the note; at least one must verify.
    Raises :class:`NoteError` (check ``checkpoint``)."""
    checkpoint = parse_checkpoint(note.text)
    known = {sealer_key_id(checkpoint.origin, s): s for s in sealers}
    verified = None
    for line in note.signatures:
        if line.name != checkpoint.origin or line.key_id not in known:
            continue
        sealer = known[line.key_id]
        try:
            signer = recover_eip191(note.text.encode(), line.signature)
        except ValueError as exc:
            raise NoteError("checkpoint", f"the signature for sealer 0x{sealer.hex()} is malformed: {exc}") from exc
        if signer != sealer:
            raise NoteError("checkpoint", f"the signature with the key ID of sealer 0x{sealer.hex()} was made by 0x{signer.hex()}")
        verified = sealer
    if verified is None:
        shown = ", ".join("0x" + s.hex() for s in sealers) or "none"
        raise NoteError("checkpoint", f"no signature by a sealer in force ({shown}) on the checkpoint of size {checkpoint.size}")
    return verified


def checkpoint_signer(note: Note) -> bytes:
    """The address that signed a checkpoint with a sealer-type signature whose key ID matches it
    (for equivocation proofs, where the signer is the fact to establish)."""
    checkpoint = parse_checkpoint(note.text)
    for line in note.signatures:
        if line.name != checkpoint.origin:
            continue
        try:
            signer = recover_eip191(note.text.encode(), line.signature)
        except ValueError:
            continue
        if sealer_key_id(checkpoint.origin, signer) == line.key_id:
            return signer
    raise NoteError("checkpoint", "the checkpoint carries no verifiable sealer signature")


# --------------------------------------------------------------------------- cosignatures
@dataclass(frozen=True)
class WitnessKey:
    """A witness's Ed25519 cosigning key with its name (a vkey, tlog-cosignature "Format")."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, COSIGNATURE_TYPE, self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(COSIGNATURE_TYPE + self.public_key)}"


def parse_vkey(text: str) -> WitnessKey:
    """Parse ``<name>+<hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>``; the key ID must be
    the one the name and key give."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0] or any(c.isspace() for c in parts[0]):
        raise NoteError("cosignature", f"a witness vkey is <name>+<key ID>+<base64 key>: {text[:60]!r}")
    raw = _unb64(parts[2], "the vkey's key", "cosignature")
    if len(raw) != 33 or raw[:1] != COSIGNATURE_TYPE:
        raise NoteError("cosignature", "a witness vkey holds type 0x04 and a 32-byte Ed25519 key")
    key = WitnessKey(parts[0], raw[1:])
    if parts[1].lower() != key.key_id.hex():
        raise NoteError("cosignature", f"the vkey's key ID {parts[1]} is not {key.key_id.hex()}")
    return key


def cosigned_message(note_text: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": two header lines then the note text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + note_text.encode()


def cosign(note_text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> SignatureLine:
    """A witness cosignature line on a checkpoint's text."""
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(cosigned_message(note_text, timestamp))
    return SignatureLine(name, key_id(name, COSIGNATURE_TYPE, public), timestamp.to_bytes(8, "big") + signature)


def verify_cosignature(note_text: str, line: SignatureLine, key: WitnessKey) -> int:
    """Check a cosignature line made with ``key``; returns its timestamp. Raises
    :class:`NoteError` (check ``cosignature``)."""
    if line.name != key.name or line.key_id != key.key_id:
        raise NoteError("cosignature", f"the line of {line.name} is not by the key {key.vkey}")
    if len(line.signature) != 72:
        raise NoteError("cosignature", f"a cosignature is 8 + 64 bytes, got {len(line.signature)}")
    timestamp = int.from_bytes(line.signature[:8], "big")
    if timestamp >= 2**63:
        raise NoteError("cosignature", "the cosignature's timestamp exceeds 2^63 - 1")
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(line.signature[8:], cosigned_message(note_text, timestamp))
    except InvalidSignature as exc:
        raise NoteError("cosignature", f"the cosignature of {key.name} does not verify") from exc
    return timestamp


@dataclass(frozen=True)
class KeyBinding:
    """A witness account's signed statement that ``key`` is its cosigning key on ``origin``."""

    origin: str
    account: bytes
    key: WitnessKey
    signature: bytes

    @property
    def statement(self) -> str:
        return f"{BINDING_HEADER}\norigin {self.origin}\naccount 0x{self.account.hex()}\nkey {self.key.vkey}\n"

    def verify(self) -> None:
        """The statement's signature recovers the account; ``NoteError`` (``cosignature``) if not."""
        try:
            signer = recover_eip191(self.statement.encode(), self.signature)
        except ValueError as exc:
            raise NoteError("cosignature", f"the key binding of {self.key.name} is malformed: {exc}") from exc
        if signer != self.account:
            raise NoteError("cosignature", f"the key binding of {self.key.name} is signed by 0x{signer.hex()}, "
                                           f"not by the account 0x{self.account.hex()} it names")

    def to_json(self) -> dict[str, str]:
        return {"origin": self.origin, "account": "0x" + self.account.hex(), "vkey": self.key.vkey,
                "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, doc: object) -> KeyBinding:
        if not isinstance(doc, dict):
            raise NoteError("cosignature", "a key binding is an object {origin, account, vkey, signature}")
        try:
            return cls(str(doc["origin"]), bytes.fromhex(str(doc["account"])[2:]), parse_vkey(str(doc["vkey"])),
                       bytes.fromhex(str(doc["signature"])[2:]))
        except (KeyError, ValueError) as exc:
            raise NoteError("cosignature", f"a key binding is an object {{origin, account, vkey, signature}}: {exc!r}") from exc

    @classmethod
    def make(cls, origin: str, account_key: bytes, key: WitnessKey) -> KeyBinding:
        """Sign a binding with the witness account's secp256k1 key."""
        account = bytes(keys.PrivateKey(account_key).public_key.to_canonical_address())
        unsigned = cls(origin, account, key, b"")
        return cls(origin, account, key, sign_eip191(unsigned.statement.encode(), account_key))


@dataclass(frozen=True)
class CosignatureResult:
    """What the cosignatures on one checkpoint establish for a verifier."""

    #: Witnesses whose cosignature verified and counts (name and account or "pinned").
    counted: tuple[tuple[str, str], ...]
    #: Cosignature lines that failed: (name, reason).
    failed: tuple[tuple[str, str], ...]


def check_cosignatures(note: Note, pinned: Sequence[WitnessKey], bindings: Sequence[KeyBinding],
                       witness_accounts: Sequence[bytes] | None,
                       is_sealer_line: Callable[[SignatureLine], bool]) -> CosignatureResult:
    """Classify every non-sealer signature line of a checkpoint note.

    A line counts when it verifies with a pinned key, or with a key bound (by a verifying
    :class:`KeyBinding` for this origin) to an account in ``witness_accounts``. A line that matches
    no known key at all, or whose key is bound to an account outside the witness set, is reported
    as failed: a bundle presents every cosignature it carries as a witness's. Each witness
    (account or pinned key) counts once."""
    origin = parse_checkpoint(note.text).origin
    by_id = {(k.name, k.key_id): ("pinned", k) for k in pinned}
    rejected: dict[tuple[str, bytes], str] = {}
    for binding in bindings:
        ident = (binding.key.name, binding.key.key_id)
        try:
            if binding.origin != origin:
                raise NoteError("cosignature", f"the key binding of {binding.key.name} is for {binding.origin}, not {origin}")
            binding.verify()
        except NoteError as exc:
            rejected[ident] = exc.reason
            continue
        if witness_accounts is not None and binding.account not in witness_accounts:
            rejected.setdefault(ident, f"the key of {binding.key.name} is bound to 0x{binding.account.hex()}, "
                                       "which is not in the registry's witness set at the checkpoint")
            continue
        if ident not in by_id:
            by_id[ident] = ("0x" + binding.account.hex(), binding.key)
    counted: dict[str, tuple[str, str]] = {}
    failed = []
    for line in note.signatures:
        if is_sealer_line(line):
            continue
        ident = (line.name, line.key_id)
        if ident not in by_id:
            failed.append((line.name, rejected.get(ident, f"the key of {line.name} is neither pinned nor bound to a witness")))
            continue
        who, key = by_id[ident]
        try:
            verify_cosignature(note.text, line, key)
        except NoteError as exc:
            failed.append((line.name, exc.reason))
            continue
        counted.setdefault(who if who != "pinned" else key.vkey, (line.name, who))
    return CosignatureResult(tuple(counted.values()), tuple(failed))
