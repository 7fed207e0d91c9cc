"""Blocks, transactions and receipts as the audit reads them: decoded and re-encoded from the
specifications, hashed and recovered here.

* Headers (Yellow Paper 4.3, with the fields each fork appended: EIP-1559 base fee, EIP-4895
  withdrawals root, EIP-4844 blob gas, EIP-4788 parent beacon root, EIP-7685 requests hash); the
  block hash is keccak256 of the header's RLP. A header served as JSON (``eth_getBlockByNumber``,
  any client) is re-encoded field by field and must hash to the hash the node gave.
* Transactions (EIP-2718 envelopes): legacy with EIP-155, EIP-2930 (type 1), EIP-1559 (type 2),
  EIP-7702 (type 4); the sender is recovered from the signature over the signing hash of each
  type. Blob transactions (type 3) carry no blobs on these chains and are refused by name.
* Receipts (EIP-658 status, EIP-2718 envelopes): ``[status, cumulative gas, bloom, logs]``.
* The clique-layout seal (EIP-225): 32 bytes of vanity then a 65-byte secp256k1 signature over
  keccak256 of the header with extraData cut back to the vanity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak
from eth_keys import keys

from audit.errors import AuditError

VANITY = 32
SEAL = 65

HEADER_FIELDS = (
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
    "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
)
"""Header fields in RLP order (Yellow Paper 4.3 and the EIPs that appended fields)."""
_INT_FIELDS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed", "excessBlobGas"}


class ChainDataError(AuditError):
    """Raised when data a node served cannot be what it claims: a header that does not hash to
    its block hash, a transaction that does not hash to its hash or recovers no sender, an
    encoding the specifications do not allow. ``what`` names the object, ``reason`` the fault."""

    what: str
    reason: str

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


def to_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def int_bytes(value: int) -> bytes:
    """An RLP scalar: big-endian without leading zeroes (Yellow Paper appendix B)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def hexb(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ChainDataError(what, f"expected 0x-hex, got {text!r:.60}")
    try:
        return bytes.fromhex(text[2:] if len(text) % 2 == 0 else "0" + text[2:])
    except ValueError as exc:
        raise ChainDataError(what, str(exc)) from exc


def hexint(text: Any, what: str) -> int:
    if isinstance(text, int):
        return text
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ChainDataError(what, f"expected a hex quantity, got {text!r:.60}")
    return int(text, 16)


@dataclass(frozen=True)
class Header:
    """A block header: its RLP and decoded fields."""

    raw: bytes
    fields: tuple[bytes, ...]

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        try:
            fields = rlp.decode(raw)
        except Exception as exc:  # rlp raises DecodingError subclasses
            raise ChainDataError("header", f"not RLP: {exc}") from exc
        if not isinstance(fields, list) or len(fields) < 15 or not all(isinstance(f, bytes) for f in fields):
            raise ChainDataError("header", "not a list of at least 15 byte strings")
        return cls(raw, tuple(fields))

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> Header:
        """Re-encode a JSON header (execution-apis ``Block``): every field the block carries, in
        RLP order; it must hash to the block's ``hash``."""
        fields: list[bytes] = []
        for name in HEADER_FIELDS:
            if name not in block or block[name] is None:
                break
            if name in _INT_FIELDS:
                fields.append(int_bytes(hexint(block[name], name)))
            else:
                fields.append(hexb(block[name], name))
        header = cls(rlp.encode(fields), tuple(fields))
        claimed = hexb(block.get("hash"), "hash")
        if header.hash != claimed:
            raise ChainDataError(f"block {header.number}", f"its JSON header re-encodes to hash 0x{header.hash.hex()}, "
                                                           f"the node says 0x{claimed.hex()}")
        return header

    @property
    def hash(self) -> bytes:
        return keccak(self.raw)

    def field(self, name: str) -> bytes:
        index = HEADER_FIELDS.index(name)
        return self.fields[index] if index < len(self.fields) else b""

    def num(self, name: str) -> int:
        return to_int(self.field(name))

    @property
    def number(self) -> int:
        return self.num("number")

    @property
    def parent_hash(self) -> bytes:
        return self.fields[0]

    @property
    def timestamp(self) -> int:
        return self.num("timestamp")

    def has_seal(self) -> bool:
        return len(self.field("extraData")) == VANITY + SEAL

    def sealer(self) -> bytes:
        """EIP-225 layout: recover the signer of keccak256(RLP(header with extraData = vanity))."""
        extra = self.field("extraData")
        if len(extra) != VANITY + SEAL:
            raise ChainDataError(f"block {self.number}", f"extraData is {len(extra)} bytes; a sealed header has {VANITY + SEAL}")
        unsealed = list(self.fields)
        unsealed[12] = extra[:VANITY]
        try:
            public = keys.Signature(extra[VANITY:]).recover_public_key_from_msg_hash(keccak(rlp.encode(unsealed)))
        except Exception as exc:  # eth-keys raises BadSignature and ValueError
            raise ChainDataError(f"block {self.number}", f"the seal recovers no key: {exc}") from exc
        return bytes(public.to_canonical_address())


@dataclass(frozen=True)
class Transaction:
    """A signed transaction: its EIP-2718 encoding, type, hash, sender and the fields the audit
    uses."""

    raw: bytes
    type: int
    hash: bytes
    sender: bytes
    nonce: int
    to: bytes | None
    data: bytes
    gas: int


def _recover(signing_hash: bytes, y_parity: int, r: int, s: int, what: str) -> bytes:
    try:
        signature = keys.Signature(vrs=(y_parity, r, s))
        return bytes(signature.recover_public_key_from_msg_hash(signing_hash).to_canonical_address())
    except Exception as exc:  # eth-keys raises BadSignature and ValueError
        raise ChainDataError(what, f"the signature recovers no sender: {exc}") from exc


def decode_transaction(raw: bytes, what: str = "transaction") -> Transaction:
    """Decode an EIP-2718 transaction and recover its sender (EIP-155 for legacy, the typed
    signing hash ``keccak256(type || RLP(fields without signature))`` otherwise)."""
    if not raw:
        raise ChainDataError(what, "empty")
    try:
        if raw[0] >= 0xC0:
            items = rlp.decode(raw)
            nonce, gas_price, gas, to, value, data, v, r, s = items
            v_int = to_int(v)
            if v_int in (27, 28):
                unsigned = rlp.encode([nonce, gas_price, gas, to, value, data])
                parity = v_int - 27
            else:
                chain_id = (v_int - 35) // 2
                parity = v_int - 35 - 2 * chain_id
                unsigned = rlp.encode([nonce, gas_price, gas, to, value, data, int_bytes(chain_id), b"", b""])
            sender = _recover(keccak(unsigned), parity, to_int(r), to_int(s), what)
            return Transaction(raw, 0, keccak(raw), sender, to_int(nonce), to or None, data, to_int(gas))
        kind = raw[0]
        items = rlp.decode(raw[1:])
        if kind == 1:
            body, sig = items[:8], items[8:]
            nonce, gas, to, data = items[1], items[3], items[4], items[6]
        elif kind == 2:
            body, sig = items[:9], items[9:]
            nonce, gas, to, data = items[1], items[4], items[5], items[7]
        elif kind == 4:
            body, sig = items[:10], items[10:]
            nonce, gas, to, data = items[1], items[4], items[5], items[7]
        else:
            raise ChainDataError(what, f"transaction type {kind} is not used on this chain (blob transactions carry no blobs here)")
        parity, r, s = (to_int(x) for x in sig)
        sender = _recover(keccak(bytes([kind]) + rlp.encode(body)), parity, r, s, what)
        return Transaction(raw, kind, keccak(raw), sender, to_int(nonce), to or None, data, to_int(gas))
    except ChainDataError:
        raise
    except Exception as exc:  # rlp and unpacking errors: not a transaction
        raise ChainDataError(what, f"not a valid EIP-2718 transaction: {exc}") from exc


def _access_list(items: Any) -> list[Any]:
    return [[hexb(e["address"], "accessList"), [hexb(k, "storageKeys") for k in e["storageKeys"]]] for e in items or []]


def encode_transaction_json(tx: Mapping[str, Any]) -> bytes:
    """Re-encode a JSON transaction (execution-apis ``TransactionInfo``) as EIP-2718 bytes."""
    kind = hexint(tx.get("type", "0x0"), "type")

    def q(name: str) -> bytes:
        return int_bytes(hexint(tx[name], name))

    to = hexb(tx["to"], "to") if tx.get("to") else b""
    data = hexb(tx.get("input", tx.get("data", "0x")), "input")
    if kind == 0:
        return bytes(rlp.encode([q("nonce"), q("gasPrice"), q("gas"), to, q("value"), data, q("v"), q("r"), q("s")]))
    parity = int_bytes(hexint(tx.get("yParity", tx.get("v")), "yParity"))
    if kind == 1:
        body = [q("chainId"), q("nonce"), q("gasPrice"), q("gas"), to, q("value"), data, _access_list(tx.get("accessList"))]
    elif kind == 2:
        body = [q("chainId"), q("nonce"), q("maxPriorityFeePerGas"), q("maxFeePerGas"), q("gas"), to, q("value"), data,
                _access_list(tx.get("accessList"))]
    elif kind == 4:
        auths = [[int_bytes(hexint(a["chainId"], "chainId")), hexb(a["address"], "address"), int_bytes(hexint(a["nonce"], "nonce")),
                  int_bytes(hexint(a["yParity"], "yParity")), int_bytes(hexint(a["r"], "r")), int_bytes(hexint(a["s"], "s"))]
                 for a in tx.get("authorizationList") or []]
        body = [q("chainId"), q("nonce"), q("maxPriorityFeePerGas"), q("maxFeePerGas"), q("gas"), to, q("value"), data,
                _access_list(tx.get("accessList")), auths]
    else:
        raise ChainDataError(f"transaction {tx.get('hash')}", f"type {kind} is not used on this chain")
    return bytes([kind]) + bytes(rlp.encode([*body, parity, q("r"), q("s")]))


@dataclass(frozen=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """A receipt: its EIP-2718 encoding and decoded fields."""

    raw: bytes
    status: int
    cumulative_gas: int
    bloom: bytes
    logs: tuple[Log, ...]


def decode_receipt(raw: bytes, what: str = "receipt") -> Receipt:
    """Decode ``[status, cumulativeGasUsed, logsBloom, logs]`` (EIP-658), typed or legacy."""
    try:
        body = raw if raw[0] >= 0xC0 else raw[1:]
        status, cumulative, bloom, logs = rlp.decode(body)
        return Receipt(raw, to_int(status), to_int(cumulative), bytes(bloom),
                       tuple(Log(bytes(a), tuple(bytes(t) for t in ts), bytes(d)) for a, ts, d in logs))
    except Exception as exc:  # any decoding failure: not a receipt
        raise ChainDataError(what, f"not a receipt: {exc}") from exc


def encode_receipt_json(receipt: Mapping[str, Any]) -> bytes:
    """Re-encode a JSON receipt (execution-apis ``ReceiptInfo``) as EIP-2718 bytes."""
    kind = hexint(receipt.get("type", "0x0"), "type")
    logs = [[hexb(e["address"], "address"), [hexb(t, "topic") for t in e["topics"]], hexb(e["data"], "data")]
            for e in receipt.get("logs") or []]
    body = rlp.encode([int_bytes(hexint(receipt["status"], "status")), int_bytes(hexint(receipt["cumulativeGasUsed"], "gas")),
                       hexb(receipt["logsBloom"], "logsBloom"), logs])
    return bytes(body) if kind == 0 else bytes([kind]) + bytes(body)


def bloom_of(logs: Sequence[Log]) -> bytes:
    """Yellow Paper 4.3.1: the 2048-bit bloom of the logs' addresses and topics (three bits per
    item from the low 11 bits of the first three byte pairs of keccak256(item))."""
    value = 0
    for log in logs:
        for item in (log.address, *log.topics):
            digest = keccak(item)
            for i in (0, 2, 4):
                value |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return value.to_bytes(256, "big")


def encode_block_body(raw_txs: Sequence[bytes]) -> bytes:
    """The RLP list of a block's transactions as a block body holds them: a legacy transaction is
    its RLP list, a typed one the byte string of its envelope (EIP-2718)."""
    return bytes(rlp.encode([rlp.decode(t) if t[0] >= 0xC0 else t for t in raw_txs]))
