"""Execution-API JSON to consensus encodings: headers (RLP), receipts (EIP-2718), seals.

A header's field list grows with each fork (London adds ``baseFeePerGas``, Shanghai
``withdrawalsRoot``, Cancun the blob fields and ``parentBeaconBlockRoot``, Prague
``requestsHash``; Yellow Paper section 4.3 and EIPs 1559, 4895, 4844, 4788, 7685). The encoder
takes the fields the JSON carries in that order and refuses a gap, then checks that keccak256 of
the encoding is the block hash the node claimed: a node cannot make the gateway serve a header
that does not hash to its block hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.exceptions import BadSignature

from gateway.errors import ChainDataInvalid

VANITY_BYTES = 32
SEAL_BYTES = 65

_BASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "data"), ("sha3Uncles", "data"), ("miner", "data"), ("stateRoot", "data"),
    ("transactionsRoot", "data"), ("receiptsRoot", "data"), ("logsBloom", "data"),
    ("difficulty", "int"), ("number", "int"), ("gasLimit", "int"), ("gasUsed", "int"),
    ("timestamp", "int"), ("extraData", "data"), ("mixHash", "data"), ("nonce", "data"),
)
_FORK_FIELDS: tuple[tuple[str, str], ...] = (
    ("baseFeePerGas", "int"), ("withdrawalsRoot", "data"), ("blobGasUsed", "int"),
    ("excessBlobGas", "int"), ("parentBeaconBlockRoot", "data"), ("requestsHash", "data"),
)
#: Header field positions (RLP list indexes) used below.
H_PARENT, H_STATE_ROOT, H_TX_ROOT, H_RECEIPTS_ROOT, H_NUMBER, H_TIMESTAMP, H_EXTRA = 0, 3, 4, 5, 8, 11, 12


def hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise ChainDataInvalid(what, f"expected 0x-prefixed hex bytes, got {value!r:.80}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ChainDataInvalid(what, str(exc)) from exc


def hex_int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainDataInvalid(what, f"expected a hex quantity, got {value!r:.80}")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise ChainDataInvalid(what, str(exc)) from exc


def header_fields(block: Mapping[str, Any]) -> list[Any]:
    """The header's RLP field list from ``eth_getBlockBy*`` JSON (ints as ints, data as bytes)."""
    fields: list[Any] = []
    for name, kind in _BASE_FIELDS:
        if name not in block:
            raise ChainDataInvalid(f"header.{name}", "missing")
        fields.append(hex_int(block[name], f"header.{name}") if kind == "int"
                      else hex_bytes(block[name], f"header.{name}"))
    missing: str | None = None
    for name, kind in _FORK_FIELDS:
        if block.get(name) is None:
            missing = missing or name
            continue
        if missing is not None:
            raise ChainDataInvalid(f"header.{name}", f"present although the earlier fork field {missing} is not")
        fields.append(hex_int(block[name], f"header.{name}") if kind == "int"
                      else hex_bytes(block[name], f"header.{name}"))
    return fields


def encode_header(block: Mapping[str, Any]) -> bytes:
    """RLP of the header described by ``block``; its keccak256 must be ``block["hash"]``."""
    encoded = bytes(rlp.encode(header_fields(block)))
    claimed = hex_bytes(block.get("hash"), "header.hash")
    if keccak(encoded) != claimed:
        raise ChainDataInvalid(
            "header.hash", f"keccak256 of the header's fields is 0x{keccak(encoded).hex()}, "
                           f"the node said 0x{claimed.hex()}")
    return encoded


@dataclass(frozen=True)
class Header:
    """A decoded header: the fields a proof needs, and its hash."""

    raw: bytes
    hash: bytes
    parent_hash: bytes
    number: int
    timestamp: int
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    extra_data: bytes
    fields: tuple[Any, ...]

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        """Decode a header's RLP; ``ChainDataInvalid`` if it is not one."""
        try:
            items = rlp.decode(raw)
        except (rlp.DecodingError, rlp.DeserializationError) as exc:
            raise ChainDataInvalid("header", f"not RLP: {exc}") from exc
        if not isinstance(items, list) or len(items) < len(_BASE_FIELDS) or \
                not all(isinstance(item, bytes) for item in items):
            raise ChainDataInvalid("header", "not a list of at least 15 byte strings")
        return cls(
            raw=raw, hash=keccak(raw), parent_hash=items[H_PARENT],
            number=int.from_bytes(items[H_NUMBER], "big"),
            timestamp=int.from_bytes(items[H_TIMESTAMP], "big"),
            state_root=items[H_STATE_ROOT], transactions_root=items[H_TX_ROOT],
            receipts_root=items[H_RECEIPTS_ROOT], extra_data=items[H_EXTRA], fields=tuple(items))

    @property
    def sealed(self) -> bool:
        """True when extraData has room for a proof-of-authority seal (Clique layout)."""
        return len(self.extra_data) == VANITY_BYTES + SEAL_BYTES

    def seal_hash(self) -> bytes:
        """What the sealer signed: keccak256 of the header with extraData cut to its vanity."""
        items = list(self.fields)
        items[H_EXTRA] = self.extra_data[:-SEAL_BYTES]
        return keccak(rlp.encode(items))

    def sealer(self) -> bytes:
        """The address that sealed this header (Clique layout: r || s || v, v in {0, 1})."""
        if not self.sealed:
            raise ChainDataInvalid("header.extraData", f"{len(self.extra_data)} bytes carry no seal")
        raw = self.extra_data[-SEAL_BYTES:]
        try:
            signature = keys.Signature(raw)
            public = signature.recover_public_key_from_msg_hash(self.seal_hash())
        except (BadSignature, ValueError) as exc:
            raise ChainDataInvalid("header.extraData", f"seal signature is malformed: {exc}") from exc
        return bytes(public.to_canonical_address())


def encode_receipt(receipt: Mapping[str, Any]) -> bytes:
    """EIP-2718 receipt encoding from execution-API JSON: ``type || rlp([status,
    cumulativeGasUsed, logsBloom, logs])`` for typed receipts, the bare RLP for legacy ones
    (EIP-658 status: 1 encodes as 0x01, 0 as the empty string)."""
    where = f"receipt {receipt.get('transactionHash')}"
    tx_type = hex_int(receipt.get("type", "0x0"), f"{where}.type")
    status = hex_int(receipt.get("status"), f"{where}.status")
    logs = [
        [hex_bytes(log["address"], f"{where}.logs.address"),
         [hex_bytes(t, f"{where}.logs.topics") for t in log["topics"]],
         hex_bytes(log["data"], f"{where}.logs.data")]
        for log in receipt.get("logs", [])
    ]
    body = rlp.encode([
        b"\x01" if status == 1 else b"",
        hex_int(receipt.get("cumulativeGasUsed"), f"{where}.cumulativeGasUsed"),
        hex_bytes(receipt.get("logsBloom"), f"{where}.logsBloom"),
        logs,
    ])
    return bytes(body) if tx_type == 0 else bytes([tx_type]) + bytes(body)


@dataclass(frozen=True)
class Log:
    """One log as a receipt holds it."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class DecodedReceipt:
    """A receipt's consensus fields."""

    tx_type: int
    status: int
    cumulative_gas_used: int
    logs: tuple[Log, ...]


def decode_receipt(encoded: bytes) -> DecodedReceipt:
    """Inverse of :func:`encode_receipt`; ``ChainDataInvalid`` on anything else."""
    if not encoded:
        raise ChainDataInvalid("receipt", "empty")
    tx_type, body = (0, encoded) if encoded[0] >= 0xC0 else (encoded[0], encoded[1:])
    try:
        items = rlp.decode(body)
        status_raw, gas_raw, _bloom, raw_logs = items
        logs = tuple(Log(bytes(a), tuple(bytes(t) for t in topics), bytes(data))
                     for a, topics, data in raw_logs)
    except (rlp.DecodingError, rlp.DeserializationError, ValueError, TypeError) as exc:
        raise ChainDataInvalid("receipt", f"not a receipt encoding: {exc}") from exc
    return DecodedReceipt(tx_type, int.from_bytes(status_raw, "big"), int.from_bytes(gas_raw, "big"), logs)


def receipt_logs(receipt: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    logs = receipt.get("logs", [])
    return logs if isinstance(logs, list) else []
