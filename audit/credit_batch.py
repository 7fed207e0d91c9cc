"""Credit batch entries, checked from the specification (``contracts/README.md``, "Batch leaves"
and "Batch tree: positional"), with nothing taken from the gateway.

A leaf is ``keccak256(keccak256(abi.encode(uint256 issuerMemberId, uint8 category, uint256
indexInBatch, bool isPublic, bytes18 uscc, uint8 severity, uint64 effectiveDate, uint64 expiryDate,
uint256 amount, bytes32 summaryHash, bytes32 evidenceCidHash, bytes32 subjectTag, bytes32
commitment)))`` — encoded here with ``eth_abi``, the ABI codec, not with the gateway's hand-rolled
encoder, so the two implementations check each other. The tree is positional: depth
``ceil(log2(entryCount))``, and at level k the running node is the left child when bit k of the
index is 0 (``H(node ‖ sibling)``), the right child otherwise (``H(sibling ‖ node)``).

An entry verifies when its path has exactly ``depth`` siblings, leads from its leaf to the
``merkleRoot`` of a proven ``BatchAnchored`` event, and its leaf carries that event's issuer and
category and an index below its ``entryCount``; a public leaf must also be well formed (a valid
USCC, zero subject tag and commitment, an expiry after its effective date), a restricted leaf must
carry nothing readable.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

LEAF_FIELDS = (("issuerMemberId", "uint256"), ("category", "uint8"), ("indexInBatch", "uint256"),
               ("isPublic", "bool"), ("uscc", "bytes18"), ("severity", "uint8"), ("effectiveDate", "uint64"),
               ("expiryDate", "uint64"), ("amount", "uint256"), ("summaryHash", "bytes32"),
               ("evidenceCidHash", "bytes32"), ("subjectTag", "bytes32"), ("commitment", "bytes32"))
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


class EntryInvalid(Exception):
    """A batch entry that does not verify; ``check`` names the failed check."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


def _value(kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise EntryInvalid("format", f"expected true or false, got {value!r:.40}")
        return value
    if kind.startswith("bytes"):
        size = int(kind[5:])
        if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
            raise EntryInvalid("format", f"expected 0x and {2 * size} hex digits, got {value!r:.80}")
        return bytes.fromhex(value[2:])
    parsed = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else -1
    if not 0 <= parsed < 1 << int(kind[4:]):
        raise EntryInvalid("format", f"expected a non-negative {kind}, got {value!r:.40}")
    return parsed


def leaf_hash(leaf: dict[str, Any]) -> bytes:
    """The leaf hash of a leaf given by its field names (bytes as 0x-hex, integers as numbers or
    decimal strings)."""
    if not isinstance(leaf, dict) or set(leaf) != {name for name, _ in LEAF_FIELDS}:
        raise EntryInvalid("format", "a leaf needs exactly the 13 BatchLeaf fields")
    values = [_value(kind, leaf[name]) for name, kind in LEAF_FIELDS]
    return bytes(keccak(keccak(abi_encode([kind for _, kind in LEAF_FIELDS], values))))


def uscc_valid(code: bytes) -> bool:
    """GB 32100-2015: 18 characters of the alphabet, the last the check character."""
    text = code.decode("ascii", errors="replace")
    if len(text) != 18 or any(c not in _USCC_ALPHABET for c in text):
        return False
    total = sum(_USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(text[:17]))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == text[17]


def depth(count: int) -> int:
    return 0 if count <= 1 else (count - 1).bit_length()


def verify_entry(entry: dict[str, Any], anchored: dict[str, Any]) -> str:
    """Check a bundle's batch entry against the decoded arguments of its proven ``BatchAnchored``
    event; returns a summary, raises :class:`EntryInvalid` naming the check that failed."""
    leaf = entry.get("leaf")
    if not isinstance(leaf, dict):
        raise EntryInvalid("format", "the batch entry has no leaf")
    computed = leaf_hash(leaf)
    issuer, category = int(leaf["issuerMemberId"]), int(leaf["category"])
    index, count = int(leaf["indexInBatch"]), int(anchored["entryCount"])
    if (issuer, category) != (int(anchored["issuerMemberId"]), int(anchored["category"])):
        raise EntryInvalid("batch-anchor", f"the leaf is issuer {issuer} category {category}; the batch was anchored "
                                           f"by {anchored['issuerMemberId']} for category {anchored['category']}")
    if entry.get("batchId") != anchored.get("batchId") or entry.get("index") != index or index >= count:
        raise EntryInvalid("batch-anchor", f"entry {entry.get('batchId')}/{entry.get('index')} with leaf index {index} "
                                           f"is not an entry of batch {anchored.get('batchId')} ({count} entries)")
    zero = "0x" + "00" * 32
    if leaf["isPublic"]:
        if not uscc_valid(_value("bytes18", leaf["uscc"])) or leaf["subjectTag"] != zero or leaf["commitment"] != zero \
                or (int(leaf["expiryDate"]) != 0 and int(leaf["expiryDate"]) <= int(leaf["effectiveDate"])):
            raise EntryInvalid("batch-leaf", "the public leaf is not well formed (USCC, hashes or dates)")
    elif leaf["subjectTag"] == zero or leaf["commitment"] == zero or leaf["uscc"] != "0x" + "00" * 18:
        raise EntryInvalid("batch-leaf", "the restricted leaf is not well formed")
    path = entry.get("path")
    if not isinstance(path, list) or len(path) != depth(count):
        raise EntryInvalid("batch-path", f"a batch of {count} entries needs a path of {depth(count)} siblings")
    node = computed
    position = index
    for sibling_hex in path:
        sibling = _value("bytes32", sibling_hex)
        node = bytes(keccak(node + sibling)) if position & 1 == 0 else bytes(keccak(sibling + node))
        position >>= 1
    root = str(anchored["merkleRoot"])
    if "0x" + node.hex() != root:
        raise EntryInvalid("batch-path", f"the leaf and path lead to 0x{node.hex()}, the anchored root is {root}")
    return f"leaf 0x{computed.hex()[:16]}… at index {index} of {count} leads to the anchored root"
