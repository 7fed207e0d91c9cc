"""Errors of the audit toolkit: one root, ``AuditError``, and one subclass per failed check.

Each message names the check that failed and, for proofs, the index of the proof node where it
failed (0 = the root node), so an auditor can read the report without a debugger. The fields carry
the same facts in typed form for code that acts on them (STYLE rule 2, after py-evm's
``eth/exceptions.py`` and httpx's ``_exceptions.py``).
"""

from typing import ClassVar


class AuditError(Exception):
    """Raised when the audit toolkit finds that something it was asked to check does not hold.

    The root of every error in ``audit/``; catch it to catch them all.
    """


def _hex(data: bytes | None) -> str:
    """Render bytes as 0x-hex for a message; ``None`` (no value) as the word ``absent``."""
    return "absent" if data is None else "0x" + data.hex()


class ProofError(AuditError):
    """Raised when a Merkle-Patricia proof does not prove what it was offered for.

    Fields: ``key`` is the trie path that was looked up (already keccak-hashed for the secure
    tries of Ethereum state and storage), ``depth`` the index in the proof of the node at which the
    check failed (0 = the root node; a node embedded in its parent reports the parent's index),
    ``reason`` what exactly was wrong, ``subject`` what the key names (for example
    ``account 0x…``) or ``""``.
    """

    check: ClassVar[str] = "proof"

    key: bytes
    depth: int
    reason: str
    subject: str

    def __init__(self, key: bytes, depth: int, reason: str, *, subject: str = "") -> None:
        self.key = key
        self.depth = depth
        self.reason = reason
        self.subject = subject
        about = f"{subject}, trie key {_hex(key)}" if subject else f"trie key {_hex(key)}"
        super().__init__(f"{self.check} check failed at proof node {depth} ({about}): {reason}")


class ProofNodeHashMismatch(ProofError):
    """Raised when a proof node's keccak256 differs from the reference that points to it.

    The reference is the trusted root for node 0 and the 32-byte child reference in the parent
    node otherwise (Yellow Paper appendix D, the node composition function ``c``). ``expected`` is
    that reference, ``actual`` the keccak256 of the node the proof supplied.
    """

    check: ClassVar[str] = "node hash"

    expected: bytes
    actual: bytes

    def __init__(
        self,
        key: bytes,
        depth: int,
        reason: str,
        *,
        expected: bytes,
        actual: bytes,
        subject: str = "",
    ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(key, depth, reason, subject=subject)


class ProofMalformed(ProofError):
    """Raised when a proof node cannot be decoded as a trie node, or the proof is not shaped as
    Yellow Paper appendix D and EIP-1186 require (bad RLP, wrong item count, bad hex-prefix path,
    a reference that is neither a 32-byte hash nor an embedded node under 32 bytes, nodes left over
    after the walk ended, a leaf value that is not what the trie stores)."""

    check: ClassVar[str] = "proof format"


class ProofValueMismatch(ProofError):
    """Raised when the value a proof proves differs from the value claimed for the key.

    ``expected`` is the claimed value and ``actual`` the proven one; ``None`` on either side
    means the key is absent from the trie.
    """

    check: ClassVar[str] = "value"

    expected: bytes | None
    actual: bytes | None

    def __init__(
        self,
        key: bytes,
        depth: int,
        reason: str,
        *,
        expected: bytes | None,
        actual: bytes | None,
        subject: str = "",
    ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(key, depth, reason, subject=subject)


class ProofIncomplete(ProofError):
    """Raised when a proof ends before the walk reaches a leaf, a value or an empty slot.

    ``missing`` is the 32-byte reference of the node the proof should have supplied next.
    """

    check: ClassVar[str] = "proof completeness"

    missing: bytes

    def __init__(
        self, key: bytes, depth: int, reason: str, *, missing: bytes, subject: str = ""
    ) -> None:
        self.missing = missing
        super().__init__(key, depth, reason, subject=subject)


class ResponseMalformed(AuditError):
    """Raised when a JSON-RPC response lacks a field or a field is not the type EIP-1186 and the
    Ethereum JSON-RPC specification require (DATA: 0x-prefixed even-length hex of a fixed size;
    QUANTITY: 0x-prefixed hex integer).

    ``field`` names the field as a path into the response (for example ``storageProof[1].value``).
    """

    field: str
    reason: str

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"response check failed for field {field!r}: {reason}")
